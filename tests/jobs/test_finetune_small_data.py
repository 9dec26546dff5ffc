"""Small data: class names as hints (SetFit's templated examples, used only when they help) and the refit on
every example after validation (the installed graphs are the refit model's; the report stays the split run's)."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from app.core.labeled_data import make_dataset
from app.training import finetune as ft


@pytest.mark.parametrize("label, phrase", [
    ("sport", "sport"), ("bug_report", "bug report"), ("BugReport", "bug report"), ("feature-request", "feature request"),
    ("Billing / Invoices", "billing invoices"),
])
def test_class_names_become_words(label, phrase):
    assert ft.label_phrase(label) == phrase


def test_name_examples_one_per_template_and_class():
    texts, y = ft.label_name_examples(("politics", "tech_news"))
    assert len(texts) == 2 * len(ft.LABEL_TEMPLATES) and y == [0] * len(ft.LABEL_TEMPLATES) + [1] * len(ft.LABEL_TEMPLATES)
    assert "This text is about tech news." in texts


def _clusters(seed: int = 0, per_class: int = 3, noise: float = 1.6):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, 32)) * 1.0
    y = np.repeat(np.arange(4), per_class)
    X = centres[y] + rng.normal(size=(len(y), 32)) * noise
    return centres, X, y


def test_names_are_used_only_when_they_predict_the_labels():
    centres, X, y = _clusters()
    name_y = np.repeat(np.arange(4), 6)
    rng = np.random.default_rng(1)
    good = centres[name_y] + rng.normal(size=(24, 32)) * 0.2  # names that sit where their class sits
    bad = centres[(name_y + 1) % 4] + rng.normal(size=(24, 32)) * 0.2  # "A", "B"...: nowhere near their class
    use, with_, without = ft.label_names_help(X, y, good, name_y, seed=13)
    assert use and with_ > without
    use, with_, without = ft.label_names_help(X, y, bad, name_y, seed=13)
    assert not use and with_ < without


def _settings(tiny_encoder, tmp_path, **kw):
    return ft.TrainSettings(base=str(tiny_encoder), models_dir=str(tmp_path), model_id="small", mode="few-shot",
                            pair_iterations=2, threads=1, **kw)


def test_few_shot_is_validated_on_the_split_then_trained_on_every_example(tiny_encoder, sst2_rows, tmp_path):
    import torch

    data = make_dataset(sst2_rows(8))
    t = ft.train_model(data, _settings(tiny_encoder, tmp_path, name_hints="never"))
    r = t.report
    assert r["n_train"] + r["n_val"] == 16 and r["refit"]["n_train"] == 16
    assert t.validated is not t.model
    assert r["evaluation"]["n"] == r["n_val"]  # the report is the split run's
    a, b = t.model.state_dict(), t.validated.state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a)
    assert r["refit"]["steps"] == ft.few_shot_steps(16, _settings(tiny_encoder, tmp_path))

    t2 = ft.train_model(data, _settings(tiny_encoder, tmp_path, name_hints="never", refit="never"))
    assert t2.report["refit"] is None and t2.validated is t2.model
    # standard recipe: no refit unless asked; asked, it trains the epochs early stopping kept
    t3 = ft.train_model(data, replace(_settings(tiny_encoder, tmp_path, refit="always"), mode="standard", epochs=2))
    assert t3.report["refit"]["n_train"] == 16 and t3.report["refit"]["epochs"] == t3.report["best_epoch"]


def test_name_hints_join_the_training_examples_when_asked(tiny_encoder, sst2_rows, tmp_path):
    data = make_dataset(sst2_rows(8))
    s = _settings(tiny_encoder, tmp_path, name_hints="always", refit="never")
    r = ft.train_model(data, s).report
    n_names = 2 * len(ft.LABEL_TEMPLATES)
    assert r["name_hints"]["used"] and r["steps"] == ft.few_shot_steps(r["n_train"] + n_names, s)
    auto = ft.train_model(data, _settings(tiny_encoder, tmp_path, refit="never")).report["name_hints"]
    assert set(auto) == {"used", "cv_accuracy_with", "cv_accuracy_without"}
    assert auto["used"] == (auto["cv_accuracy_with"] > auto["cv_accuracy_without"])


def test_the_installed_graphs_are_the_refit_model(tiny_encoder, sst2_rows, tmp_path, monkeypatch):
    import onnxruntime as ort

    kept = {}
    train = ft.train_model
    monkeypatch.setattr(ft, "train_model", lambda *a, **k: kept.setdefault("t", train(*a, **k)))
    data = make_dataset(sst2_rows(8))
    report = ft.fine_tune(data, _settings(tiny_encoder, tmp_path, name_hints="never"))
    t, folder = kept["t"], Path(report["folder"])
    seqs = t.tokenizer.encode(list(data.texts[:6]))
    ids, mask = ft._tensors(seqs)
    sess = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    onnx_logits = sess.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy(),
                                  "token_type_ids": np.zeros_like(ids.numpy())})[0]
    refit_logits = ft.logits_all(t.model, seqs).numpy()
    split_logits = ft.logits_all(t.validated, seqs).numpy()
    assert np.abs(onnx_logits - refit_logits).max() < 1e-3
    assert np.abs(onnx_logits - split_logits).max() > 1e-3
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["training"]["refit"]["n_train"] == 16
    assert 0.0 <= manifest["training"]["refit"]["int8_agreement"] <= 1.0
    assert "trained again, by the same recipe, on all 16" in (folder / "MODEL_CARD.md").read_text()
    from app.jobs.finetune import FineTuneReport

    rep = FineTuneReport.from_dict(report)
    assert rep.refit_n == 16 and "trained again" in rep.as_text()


def test_auto_epochs_give_small_data_more_passes_and_large_data_three(tmp_path):
    s = ft.TrainSettings(base="", models_dir="", model_id="x")  # epochs 0 = auto, batch 16
    assert ft.standard_epochs(205, s) == 10  # 13 steps an epoch: capped at 10
    assert ft.standard_epochs(819, s) == 8  # 52 steps an epoch: 8 passes reach 400 steps
    assert ft.standard_epochs(20_000, s) == 3  # never fewer than 3
    assert ft.standard_epochs(819, replace(s, epochs=2)) == 2  # a number the user gives is kept
