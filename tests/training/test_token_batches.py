"""The one token-budget batcher every recipe uses (app.training.common.token_budget_batches)."""
from __future__ import annotations

import random

from app.training.common import token_budget_batches


def test_batches_cover_every_example_once_within_the_budget():
    rng = random.Random(0)
    lengths = [rng.randint(3, 200) for _ in range(500)]
    batches = token_budget_batches(lengths, max_tokens=1024, seed=7)
    flat = sorted(k for b in batches for k in b)
    assert flat == list(range(500))
    for b in batches:
        assert len(b) == 1 or max(lengths[k] for k in b) * len(b) <= 1024
    # similar lengths travel together: the spread inside a batch is small next to the whole range
    assert sum(max(lengths[k] for k in b) - min(lengths[k] for k in b) for b in batches) / len(batches) < 20
    assert token_budget_batches(lengths, 1024, seed=7) == batches  # deterministic per seed
    assert token_budget_batches(lengths, 1024, seed=8) != batches  # and different per epoch seed


def test_one_example_longer_than_the_budget_gets_a_batch_of_its_own():
    batches = token_budget_batches([5, 5000, 5], max_tokens=100, seed=0)
    assert [1] in batches and sorted(k for b in batches for k in b) == [0, 1, 2]
