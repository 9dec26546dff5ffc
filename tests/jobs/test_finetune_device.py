"""Fine-tuning scores its models on the device the user analyses on, not always on the CPU."""
from __future__ import annotations

import pytest

from app.core import runtime
from app.core.labeled_data import make_dataset

pytestmark = pytest.mark.slow  # fine-tuning runs


@pytest.fixture()
def asked(monkeypatch):
    """The devices sessions were opened for (every session still runs on the CPU here)."""
    seen: list[str] = []
    monkeypatch.setattr(runtime, "choose_providers", lambda device: seen.append(device) or ["CPUExecutionProvider"])
    return seen


def test_an_installed_model_is_evaluated_on_the_device_asked_for(tiny_models, sst2_rows, asked):
    from app.training.finetune import evaluate_installed

    rows = sst2_rows(6)
    ev = evaluate_installed(str(tiny_models / "albert-sentiment-en"), [t for t, _ in rows],
                            [int(y == "positive") for _, y in rows], ("negative", "positive"), device="cuda")
    assert ev is not None and ev.n == len(rows)
    assert asked and set(asked) == {"cuda"}


def test_a_fine_tune_scores_its_exported_graphs_on_the_device_asked_for(tiny_encoder, sst2_rows, tmp_path, asked):
    from app.training.finetune import TrainSettings, fine_tune

    data = make_dataset(sst2_rows(12), "reviews.csv")
    settings = TrainSettings(base=str(tiny_encoder), models_dir=str(tmp_path / "models"), model_id="on-the-gpu",
                             mode="standard", epochs=1, lr=1e-3, batch_size=8, threads=1, device="cuda")
    report = fine_tune(data, settings)
    assert report["evaluation_fp32"]["n"] == report["n_val"]
    assert asked and set(asked) == {"cuda"}  # int8 and fp32 graphs alike
    assert report["settings"]["device"] == "cuda"
