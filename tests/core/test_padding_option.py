"""RuntimeOptions.max_padding reaches the batching of every task (bench/bench_batch.py compares the two):
budget-only batches pad short sentences to the long ones, padding-aware batches keep them apart."""
from __future__ import annotations

from app.core.runtime import RuntimeOptions
from app.core.sentiment import SentimentModel


class Counting:
    """The model's session, counting the batches it is given and the padded tokens in them."""

    def __init__(self, session):
        self.session, self.options, self.output_names = session, session.options, session.output_names
        self.batches, self.padded = 0, 0

    def __call__(self, feeds, *args):
        ids = feeds["input_ids"]
        self.batches += 1
        self.padded += int(ids.size - feeds["attention_mask"].sum())
        return self.session(feeds, *args)


def _padding_with(folder, max_padding: float) -> tuple[int, int]:
    model = SentimentModel.from_folder(folder, RuntimeOptions(device="cpu", tune=False, max_padding=max_padding))
    model.session = counting = Counting(model.session)
    texts = ["Fine."] * 20 + [" ".join(["The delivery was late and the parcel was damaged again."] * 20)]
    model.probabilities(texts)
    return counting.batches, counting.padded


def test_the_padding_option_reaches_the_sentiment_batches(tiny_models):
    folder = tiny_models / "albert-sentiment-en"
    budget_batches, budget_padded = _padding_with(folder, float("inf"))
    aware_batches, aware_padded = _padding_with(folder, 0.5)
    assert budget_batches < aware_batches  # the short sentences share a batch with the long texts, or not
    assert aware_padded < budget_padded / 10
