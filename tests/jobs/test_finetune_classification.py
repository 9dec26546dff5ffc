"""Fine-tuning labels other than positive/negative makes a classifier of its own ("topic"), beside sentiment;
the same labels and seed make the same model; progress is told in named phases over the whole job."""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from app.core.labeled_data import make_dataset
from app.core.registry import Registry
from app.jobs.finetune import FineTuneProgress, FineTuneReport, make_default
from app.training import finetune as ft

pytestmark = pytest.mark.slow  # fine-tuning runs


def _topics(sst2_rows, n: int):
    """Real sentences under labels that are not sentiment."""
    return [(t, "praise" if y == "positive" else "complaint") for t, y in sst2_rows(n)]


def _settings(tiny_encoder, tmp_path, **kw):
    return ft.TrainSettings(**{"base": str(tiny_encoder), "models_dir": str(tmp_path), "model_id": "topic",
                               "mode": "few-shot", "pair_iterations": 2, "threads": 1, "name_hints": "never", **kw})


def test_the_same_labels_in_any_order_and_the_same_seed_make_the_same_model(tiny_encoder, sst2_rows, tmp_path):
    rows = _topics(sst2_rows, 8)
    shuffled = rows[:]
    random.Random(5).shuffle(shuffled)
    probe = [t for t, _ in rows[:6]]
    outs = {}
    for key, data, seed in (("a", rows, 13), ("b", shuffled, 13), ("c", rows, 14)):
        t = ft.train_model(make_dataset(data), _settings(tiny_encoder, tmp_path, seed=seed, mode="standard", epochs=2,
                                                         lr=1e-3, batch_size=4, refit="never"))
        outs[key] = (ft.logits_all(t.model, t.tokenizer.encode(probe)).numpy(), t.report)
    assert np.array_equal(outs["a"][0], outs["b"][0])  # the file's order does not matter
    assert outs["a"][1]["evaluation"] == outs["b"][1]["evaluation"]
    assert outs["c"][1]["seed"] == 14 and np.abs(outs["a"][0] - outs["c"][0]).max() > 1e-4  # the seed is used


def test_canonical_order_depends_on_the_examples_not_their_order(sst2_rows):
    rows = _topics(sst2_rows, 6)
    a = make_dataset(rows)
    b = make_dataset(rows[::-1])
    order = lambda d, seed: [(d.texts[i], d.classes[d.label_ids[i]]) for i in ft.canonical_order(d, seed)]
    assert order(a, 13) == order(b, 13) and order(a, 13) != order(a, 14)


def test_other_labels_register_a_named_classifier_and_progress_names_each_phase(tiny_encoder, sst2_rows, tmp_path):
    events: list[dict] = []
    data = make_dataset(_topics(sst2_rows, 8), "tickets.csv")
    user = tmp_path / "user"
    user.mkdir()
    raw = ft.fine_tune(data, _settings(tiny_encoder, user, model_id="tickets", name="Tickets", task_name="Ticket kind"),
                       emit=events.append)
    manifest = json.loads((Path(raw["folder"]) / "manifest.json").read_text())
    assert manifest["task"] == "classification"
    assert manifest["classification"] == {"name": "ticket_kind", "unit": "sentence"}  # single sentences
    report = FineTuneReport.from_dict(raw)
    assert report.task == "classification" and report.classification_name == "ticket_kind"
    assert "classifier 'ticket_kind'" in report.as_text()

    progress = [FineTuneProgress.from_event(e) for e in events]
    phases = [p.phase for p in progress if p.kind == "phase"]
    assert list(dict.fromkeys(phases)) == ["preparing", "training", "checking", "refit", "exporting"]
    overall = [p.overall for p in progress]
    assert overall == sorted(overall) and overall[-1] == 1.0  # one bar over the whole job, never falling back
    steps = [p for p in progress if p.kind == "step"]
    for phase in ("training", "refit"):
        mine = [p for p in steps if p.phase == phase]
        # epochs are passes over the phase's examples, as planned (pair_iterations=2), not a 0..1 fraction
        assert mine and mine[-1].epochs > 1 and mine[-1].epoch == pytest.approx(mine[-1].epochs, rel=0.1)
    assert any(p.eta_seconds is not None for p in steps)

    # switched on, it runs beside sentiment (one per name); sentiment's default is not touched
    reg = Registry(roots=[user], settings_file=tmp_path / "defaults.json")
    make_default(reg, report)
    assert [m.id for m in reg.active_classifiers()] == ["tickets"]
    assert "sentiment" not in json.loads((tmp_path / "defaults.json").read_text())
    from app.core.task_model import load_task_model

    c = load_task_model(reg.get("tickets"))
    [r] = c.classify_many(["The film was wonderful. The plot was dull and slow."])
    assert r.name == "ticket_kind" and r.label in data.classes and len(r.sentences) == 2


def test_standard_recipe_shows_epochs_as_set(tiny_encoder, sst2_rows, tmp_path):
    events: list[dict] = []
    data = make_dataset(_topics(sst2_rows, 8))
    ft.train_model(data, _settings(tiny_encoder, tmp_path, mode="standard", epochs=3, patience=10, refit="never"),
                   emit=events.append)
    steps = [FineTuneProgress.from_event(e) for e in events if e["kind"] == "step"]
    assert {p.epochs for p in steps} == {3.0}
    assert steps[-1].epoch == pytest.approx(3.0) and steps[-1].epoch_text() == "epoch 3.0 of 3"
