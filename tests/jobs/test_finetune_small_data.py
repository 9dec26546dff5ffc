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

pytestmark = pytest.mark.slow  # fine-tuning runs


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


def test_names_are_used_only_when_they_label_the_examples_better_than_chance():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 32))
    y = np.repeat(np.arange(4), 5)
    X = centres[y] + rng.normal(size=(20, 32)) * 0.8
    name_y = np.repeat(np.arange(4), 6)
    good = centres[name_y] + rng.normal(size=(24, 32)) * 0.2  # names that sit where their class sits
    codes = rng.normal(size=32) + rng.normal(size=(24, 32)) * 0.2  # "C0", "C1"...: all alike, near no class
    use, acc, p = ft.label_names_help(X, y, good, name_y)
    assert use and acc >= 0.8 and p < 0.001
    use, acc, p = ft.label_names_help(X, y, codes, name_y)
    assert not use and p > ft.NAME_HINT_P


TOPICS = [("The striker scored twice as the home side won the cup final", "sport"),
          ("The coach praised the defence after a hard-fought away draw", "sport"),
          ("She set a new national record in the 400 metres", "sport"),
          ("The minister resigned after the vote in parliament", "politics"),
          ("The opposition party promised lower taxes before the election", "politics"),
          ("MPs debated the new immigration bill late into the night", "politics"),
          ("The new phone has a faster chip and a better camera", "tech"),
          ("Engineers released a software update that fixes the security flaw", "tech"),
          ("The start-up built a search engine for scientific papers", "tech")]


def test_real_topic_names_help_and_codes_do_not():
    """With the shipped encoder: sport / politics / tech label such sentences; C0 / C1 / C2 do not."""
    import torch

    from app.core.encoder_text import EncoderTokenizer
    from app.training.common import REPO_ROOT

    enc = REPO_ROOT / "models" / "albert-encoder-en"
    torch.set_num_threads(1)
    model = ft.load_base(enc, ("politics", "sport", "tech"))
    tok = EncoderTokenizer(ft._tokenizer_file(enc), 128)
    classes = ["politics", "sport", "tech"]
    X = ft.embed_all(model, tok.encode([t for t, _ in TOPICS])).numpy()
    y = [classes.index(c) for _, c in TOPICS]
    for names, helps in ((classes, True), (["C0", "C1", "C2"], False)):
        texts, ny = ft.label_name_examples(names)
        use, acc, p = ft.label_names_help(X, y, ft.embed_all(model, tok.encode(texts)).numpy(), ny)
        assert use is helps, (names, acc, p)


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
    assert set(auto) == {"used", "names_alone_accuracy", "p_value"}
    assert auto["used"] == (auto["p_value"] < ft.NAME_HINT_P)


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


def test_few_shot_keeps_the_embedding_tables_and_the_refit_starts_where_the_split_run_did(tiny_encoder, sst2_rows,
                                                                                            tmp_path):
    """The embeddings stay the base's (a quarter of every step's time went to their gradient and update); the
    layers above them learn; the refit starts from the same untrained model (kept in memory, not read again)."""
    import torch

    data = make_dataset(sst2_rows(8))
    base = ft.load_base(tiny_encoder, data.classes)
    s = _settings(tiny_encoder, tmp_path, name_hints="never")
    t = ft.train_model(data, s)
    before = base.albert.embeddings.state_dict()
    for trained in (t.model, t.validated):
        after = trained.albert.embeddings.state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before)
        layers, start = trained.albert.encoder.state_dict(), base.albert.encoder.state_dict()
        assert any(not torch.equal(start[k], layers[k]) for k in start)
    free = ft.train_model(data, replace(s, few_shot_freeze_embeddings=False, refit="never"))
    moved = free.model.albert.embeddings.state_dict()
    assert any(not torch.equal(before[k], moved[k]) for k in before)
    again = ft.train_model(data, s)  # same labels, same settings: the same model, refit included
    a, b = t.model.state_dict(), again.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_graphs_a_fine_tune_scores_are_opened_without_session_tuning(tiny_models, monkeypatch):
    """Tuning probes a new graph's session settings first (5.7 s a load on two cores); a score-once load skips
    it, and the app tunes the model the first time it opens it."""
    import app.core.task_model as task_model

    seen = []
    real = task_model.load_task_model
    monkeypatch.setattr(task_model, "load_task_model", lambda m, o, **k: seen.append(o) or real(m, o, **k))
    ft.installed_classifier(tiny_models / "albert-sentiment-en", graph="int8")
    assert seen and seen[0].tune is False
