"""Leak-free train/validation splits of SST-2 (sentences) and IMDB (whole reviews).

SST-2's train.tsv holds full sentences *and* their sub-phrases. A random split would put phrases
of a validation sentence into training, so validation here is drawn from maximal rows (rows that
are no phrase of another row) and every row that is a phrase of a validation sentence is dropped
from training.
"""
from __future__ import annotations

import csv
import random

from app.training.common import DATA_DIR, read_jsonl


def clean_review(text: str) -> str:
    return text.replace("<br />", "\n").replace("<br/>", "\n")


def load_sst2() -> list[tuple[str, int]]:
    rows = []
    with open(DATA_DIR / "sst2" / "train.tsv", encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader)
        for label, sentence in ((r[0], r[1]) for r in reader if len(r) >= 2):
            rows.append((sentence.strip(), int(label)))
    return rows


def _spans(words: list[str]):
    n = len(words)
    for i in range(n):
        for j in range(i + 1, n + 1):
            if j - i < n:
                yield " ".join(words[i:j])


def sst2_splits(n_val: int = 1800, n_calib: int = 800, seed: int = 13):
    """Returns (train, calibration, validation) lists of (sentence, label)."""
    rows = load_sst2()
    texts = {t for t, _ in rows}
    inner: set[str] = set()
    for t, _ in rows:
        w = t.split()
        if len(w) > 1:
            for s in _spans(w):
                if s in texts:
                    inner.add(s)
    maximal = [(t, y) for t, y in rows if t not in inner and len(t.split()) >= 5]
    rng = random.Random(seed)
    rng.shuffle(maximal)
    val, calib = maximal[:n_val], maximal[n_val:n_val + n_calib]
    held = {t for t, _ in val + calib}
    held_spans: set[str] = set(held)
    for t in held:
        held_spans.update(_spans(t.split()))
    train = [(t, y) for t, y in rows if t not in held_spans]
    return train, calib, val


def imdb_splits(n_val: int = 1000, n_calib: int = 300, seed: int = 13):
    """Returns (train, calibration, validation) lists of (review text, label), whole reviews."""
    rows = [(clean_review(r["text"]), int(r["label"])) for r in read_jsonl(DATA_DIR / "imdb" / "train.jsonl")]
    rng = random.Random(seed)
    rng.shuffle(rows)
    return rows[n_val + n_calib:], rows[n_val:n_val + n_calib], rows[:n_val]


STACK_REVIEWS = 3000  # the last IMDB training reviews: never seen by the encoder, they train the document head


def imdb_stack_split(n_stack: int = STACK_REVIEWS):
    """(reviews the encoder trains on, reviews the document head trains on): the head is stacked on the
    encoder's window scores, so it must learn them from reviews the encoder never saw (Wolpert 1992)."""
    train, _, _ = imdb_splits()
    return train[:-n_stack], train[-n_stack:]
