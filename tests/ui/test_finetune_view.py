"""The fine-tuning page with a real (tiny) training run in its worker process, driven like a user would."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt

from app.core.registry import Registry
from tests.jobs.conftest import _sst2_rows, make_tiny_encoder

FAST = dict(lr=1e-3, batch_size=8, patience=100, threads=1)


@pytest.fixture(scope="module")
def encoder_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("shipped")
    make_tiny_encoder(root / "albert-encoder-tiny")
    return root


@pytest.fixture
def context(tmp_path):
    """context(registry): the AppContext the window would give the page, on tmp_path/library.db."""
    from app.ui.context import AppContext

    made = []

    def make(reg: Registry) -> AppContext:
        made.append(AppContext(tmp_path / "library.db", reg, "cpu"))
        return made[-1]

    yield make
    for c in made:
        c.close()


@pytest.fixture
def view(qtbot, encoder_root, tmp_path, context):
    from app.ui.finetune_view import FineTuneView

    user = tmp_path / "user"
    reg = Registry(roots=[encoder_root, user], settings_file=user / "defaults.json")
    reg.user_dir = user
    v = FineTuneView(context(reg))
    v.job_settings = dict(FAST)
    qtbot.addWidget(v)
    v.resize(1100, 700)
    v.show()
    return v


def _csv(path: Path, rows) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "review", "sentiment"])
        w.writerows((i, t, y) for i, (t, y) in enumerate(rows))
    return path


def test_fine_tune_from_a_file_shows_the_report_and_registers_the_model(qtbot, view, tmp_path):
    view.load_file(str(_csv(tmp_path / "reviews.csv", _sst2_rows(24))))
    qtbot.waitUntil(lambda: view.start_button.isEnabled(), timeout=60000)
    assert (view.text_col.currentText(), view.label_col.currentText()) == ("review", "sentiment")
    assert "48 examples, 2 classes" in view.data_info.text()
    assert view.base_combo.currentData() == "albert-encoder-tiny"
    assert view.refit_check.isChecked()  # 24 per class: auto picks few-shot, which trains again on every example
    view.mode_combo.setCurrentIndex(view.mode_combo.findData("standard"))
    assert not view.refit_check.isChecked()  # follows the recipe until the user sets it
    view.epochs.setValue(8)
    view.name_edit.setText("Window model")
    with qtbot.waitSignal(view.model_registered, timeout=180000) as sig:
        qtbot.mouseClick(view.start_button, Qt.LeftButton)
        qtbot.waitUntil(lambda: view.cancel_button.isEnabled(), timeout=30000)
    assert sig.args == ["window-model"]
    assert len(view.plot.evals) == 9 and len(view.plot.losses) == 40  # live points for every step and epoch
    assert view.progress.value() == view.progress.maximum()  # the whole job done
    assert view.compare_table.rowCount() == 2  # new model and TF-IDF baseline on the same split
    assert view.compare_table.item(0, 0).text().startswith("window-model")
    assert [view.class_table.item(i, 0).text() for i in range(2)] == ["negative", "positive"]
    assert sum(map(sum, view.confusion.matrix)) == 10
    assert "window-model" in [m.id for m in view.registry.manifests()]
    assert view.base_combo.findData("window-model") >= 0  # it can be the base of the next fine-tune
    qtbot.mouseClick(view.default_button, Qt.LeftButton)
    assert view.registry.default("sentiment").id == "window-model"
    view.grab().save(str(tmp_path / "finetune.png"))


def test_few_shot_in_the_window_trains_again_on_every_example_and_says_so(qtbot, view, tmp_path):
    view.job_settings = {"threads": 1, "pair_iterations": 2}
    view.load_file(str(_csv(tmp_path / "reviews.csv", _sst2_rows(8))))
    qtbot.waitUntil(lambda: view.start_button.isEnabled(), timeout=60000)
    view.mode_combo.setCurrentIndex(view.mode_combo.findData("few-shot"))
    view.hints_check.setChecked(False)
    assert view.refit_check.isChecked()
    with qtbot.waitSignal(view.model_registered, timeout=180000):
        view.start()
    assert "Then trained again on all 16 examples" in view.summary.text()
    m = view.registry.get(view.report.model_id)
    assert m.raw["training"]["refit"]["n_train"] == 16 and m.raw["training"]["name_hints"] == {"used": False}
    view.refit_check.click()  # the user's choice sticks when the recipe changes
    view.mode_combo.setCurrentIndex(view.mode_combo.findData("auto"))
    assert not view.refit_check.isChecked()


def test_cancel_from_the_window(qtbot, view, tmp_path):
    view.load_file(str(_csv(tmp_path / "reviews.csv", _sst2_rows(24))))
    qtbot.waitUntil(lambda: view.start_button.isEnabled(), timeout=60000)
    view.mode_combo.setCurrentIndex(view.mode_combo.findData("standard"))
    view.epochs.setValue(50)
    view.start()
    qtbot.waitUntil(lambda: len(view.plot.losses) > 0, timeout=120000)
    qtbot.mouseClick(view.cancel_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: view.op.finished, timeout=60000)
    assert view.status.text() == "Cancelled; no model was added."
    assert view.start_button.isEnabled() and not view.cancel_button.isEnabled()
    assert [m.id for m in view.registry.manifests()] == ["albert-encoder-tiny"]


def test_bad_file_is_explained_and_start_stays_off(qtbot, view, tmp_path):
    p = tmp_path / "one.csv"
    p.write_text("text,label\n" + "".join(f"example {i},same\n" for i in range(6)))
    view.load_file(str(p))
    qtbot.waitUntil(lambda: "same label" in view.data_info.text(), timeout=60000)
    assert not view.start_button.isEnabled()


def test_library_labels_are_a_source(qtbot, view):
    from app.core.store import Store

    with Store(view.store_path) as store:
        for i in range(10):
            store.add_label(f"ticket {i} text", "question" if i % 2 else "complaint")
    view.refresh_library_labels()
    qtbot.waitUntil(lambda: "10 labels" in view.library_info.text(), timeout=60000)
    view.use_library.setChecked(True)
    assert view.dataset is not None and view.dataset.classes == ("complaint", "question")
    assert view.start_button.isEnabled()


def test_a_killed_worker_leaves_the_window_working(qtbot, view, tmp_path):
    import os
    import signal

    view.load_file(str(_csv(tmp_path / "reviews.csv", _sst2_rows(24))))
    qtbot.waitUntil(lambda: view.start_button.isEnabled(), timeout=60000)
    view.mode_combo.setCurrentIndex(view.mode_combo.findData("standard"))
    view.epochs.setValue(50)
    view.start()
    qtbot.waitUntil(lambda: len(view.plot.losses) > 0, timeout=120000)
    os.kill(view.job.worker_pid, signal.SIGKILL)  # what an out-of-memory kill looks like
    qtbot.waitUntil(lambda: view.op.finished, timeout=15000)
    assert "stopped unexpectedly" in view.status.text()
    assert view.isVisible() and view.start_button.isEnabled()
    assert [m.id for m in view.registry.manifests()] == ["albert-encoder-tiny"]


def test_without_pytorch_the_page_says_so_before_any_data(qtbot, encoder_root, tmp_path, monkeypatch, context):
    """The inference-only bundle: the page explains how to enable fine-tuning as soon as it opens."""
    from app.jobs import finetune as jobs
    from app.ui.finetune_view import FineTuneView

    monkeypatch.setattr(jobs, "TRAINING_PACKAGES", ("sklearn", "no_such_training_package"))  # one missing
    user = tmp_path / "user"
    reg = Registry(roots=[encoder_root, user], settings_file=user / "defaults.json")
    v = FineTuneView(context(reg))
    qtbot.addWidget(v)
    v.show()
    assert "PyTorch" in v.training_reason.text() and "Missing: no_such_training_package" in v.training_reason.text()
    assert v.training_box.isVisible() and v.training_command.text() == "pip install -e '.[train]'"
    assert not v.start_button.isEnabled()


def test_zero_one_labels_get_names_and_a_worse_model_asks_before_becoming_default(qtbot, encoder_root, tiny_models,
                                                                                   tmp_path, context):
    from dataclasses import replace

    from PySide6.QtWidgets import QMessageBox

    from app.ui.finetune_view import FineTuneView

    user = tmp_path / "user"
    reg = Registry(roots=[encoder_root, tiny_models, user], settings_file=user / "defaults.json")
    reg.user_dir = user
    shipped = reg.default("sentiment").id
    view = FineTuneView(context(reg))
    view.job_settings = dict(FAST)
    qtbot.addWidget(view)
    view.show()
    rows = [(t, "1" if y == "positive" else "0") for t, y in _sst2_rows(24)]
    view.load_file(str(_csv(tmp_path / "zero-one.csv", rows)))
    qtbot.waitUntil(lambda: view.start_button.isEnabled(), timeout=60000)
    assert set(view.name_edits) == {"0", "1"}
    assert "Name the classes" in view.names_hint.text() and view.names_box.isVisible()
    view.name_edits["0"].setText("negative")
    view.name_edits["1"].setText("positive")
    view.mode_combo.setCurrentIndex(view.mode_combo.findData("standard"))
    view.epochs.setValue(2)
    view.base_combo.setCurrentIndex(view.base_combo.findData("albert-encoder-tiny"))
    with qtbot.waitSignal(view.model_registered, timeout=240000) as sig:
        view.start()
    new_id = sig.args[0]
    assert list(reg.get(new_id).labels) == ["negative", "positive"]
    assert [view.class_table.item(i, 0).text() for i in range(2)] == ["negative", "positive"]
    assert view.report.previous is not None  # named like the default, so compared with it on the same split
    assert view.compare_table.rowCount() == 3

    # a model worse than the default on the same split asks first
    prev = view.report.previous
    view.report = replace(view.report, evaluation=replace(view.report.evaluation, accuracy=prev.accuracy - 0.123))
    box = view.make_default()
    assert isinstance(box, QMessageBox) and box.isVisible()
    assert f"{prev.accuracy - 0.123:.1%}" in box.text() and f"{prev.accuracy:.1%}" in box.text()
    box.button(QMessageBox.Cancel).click()
    assert reg.default("sentiment").id == shipped
    assert view.status.text() == "The default model was not changed."
    box = view.make_default()
    box.button(QMessageBox.Yes).click()
    assert reg.default("sentiment").id == new_id


def test_label_next_lists_each_document_once_and_ranks_a_thousand_quickly(qtbot, tiny_models, tmp_path, context):
    import time

    from app.core.store import Store
    from app.core.types import Analysis, Document
    from app.ui.finetune_view import FineTuneView

    reg = Registry(roots=[tiny_models], settings_file=tmp_path / "defaults.json")
    db = tmp_path / "library.db"
    words = "great terrible slow friendly broken perfect late rude".split()
    with Store(db) as store:
        for i in range(1000):
            text = f"Ticket {i}: the delivery was {words[i % 8]} and the shop {words[(i * 3) % 8]} (order {i})."
            store.save_analysis(Analysis(Document(f"/t/ticket{i}.txt", text, title=text[:30],
                                                  content_hash=f"h{i}")), None, {})
        # the same words again, only spaced and cased differently: one entry, not two
        store.save_analysis(Analysis(Document("/t/copy.txt", "TICKET 0:  the delivery was great and the shop great "
                                              "(order 0).", content_hash="copy")), None, {})
        store.add_label("Ticket 1: the delivery was terrible and the shop broken (order 1).", "negative",
                        document_id=2)
    view = FineTuneView(context(reg))
    qtbot.addWidget(view)
    view.show()
    qtbot.waitUntil(lambda: "1 label in the library" in view.library_info.text(), timeout=30000)
    assert view.use_file.isChecked() and "cannot" not in view.data_info.text()  # no library warning here

    t0 = time.monotonic()
    op = view.suggest_documents()
    assert view.suggest_cancel.isEnabled() and not view.suggest_button.isEnabled()
    qtbot.waitUntil(lambda: op.finished, timeout=60000)
    seconds = time.monotonic() - t0
    assert seconds < 5.0, seconds
    items = [view.suggestions.item(i).data(Qt.UserRole) for i in range(view.suggestions.count())]
    assert len(items) == 30
    ids = [r.document_id for r in items]
    assert len(set(ids)) == len(ids)
    texts = {" ".join(r.snippet.lower().split()) for r in items}
    assert len(texts) == len(items)  # no text twice
    assert 2 not in ids  # the labelled one is left out
    margins = [r.margin for r in items]
    assert margins == sorted(margins)
    assert "ranked in" in view.suggest_info.text()
    # a second ranking reuses what the first computed
    op = view.suggest_documents()
    qtbot.waitUntil(lambda: op.finished, timeout=60000)
    assert [view.suggestions.item(i).data(Qt.UserRole).document_id for i in range(30)] == ids


def test_positive_negative_labels_preselect_the_sentiment_model(qtbot, encoder_root, tiny_models, tmp_path, context):
    from app.ui.finetune_view import FineTuneView

    user = tmp_path / "user"
    reg = Registry(roots=[encoder_root, tiny_models, user], settings_file=user / "defaults.json")
    reg.user_dir = user
    sentiment = reg.default("sentiment").id
    view = FineTuneView(context(reg))
    qtbot.addWidget(view)
    view.show()
    topics = [(t, "praise" if y == "positive" else "complaint") for t, y in _sst2_rows(8)]
    view.load_file(str(_csv(tmp_path / "topics.csv", topics)))
    qtbot.waitUntil(lambda: view.start_button.isEnabled(), timeout=60000)
    assert view.base_combo.currentData() == "albert-encoder-tiny" and not view.base_hint.isVisible()
    view.load_file(str(_csv(tmp_path / "polarity.csv", _sst2_rows(8))))
    qtbot.waitUntil(lambda: view.base_combo.currentData() == sentiment, timeout=60000)
    assert view.base_hint.isVisible() and sentiment in view.base_hint.text()


def test_the_accurate_base_is_offered_before_it_is_installed_and_picking_it_asks_for_the_install(qtbot, view,
                                                                                                  tmp_path):
    from app.jobs.model_add import ACCURATE_BASE
    from app.ui.finetune_view import ACCURATE_OFFER, INSTALL_PREFIX

    combo = view.base_combo
    offer = combo.findData(INSTALL_PREFIX + ACCURATE_BASE)
    assert offer >= 0 and combo.itemText(offer) == ACCURATE_OFFER
    assert "438 MB" in combo.itemData(offer, Qt.ToolTipRole)
    assert view.chosen_base() == "albert-encoder-tiny"
    with qtbot.waitSignal(view.install_requested, timeout=2000) as asked:
        combo.setCurrentIndex(offer)
        combo.activated.emit(offer)  # what a user's pick sends
    assert asked.args == [ACCURATE_BASE]
    assert view.chosen_base() == "albert-encoder-tiny"  # the pick goes back to the installed base

    # once installed (any id, known by its manifest), the offer is gone and the base is listed like the others
    import json
    import shutil

    folder = view.registry.user_dir / "my-accurate"
    shutil.copytree(next(m.folder for m in view.registry.manifests() if m.id == "albert-encoder-tiny"), folder)
    raw = json.loads((folder / "manifest.json").read_text())
    raw.update(id="my-accurate", fine_tune={"train_top_layers": 1, "speed": "accurate (slower)"})
    (folder / "manifest.json").write_text(json.dumps(raw))
    view.refresh_bases()
    assert combo.findData(INSTALL_PREFIX + ACCURATE_BASE) < 0 and combo.findData("my-accurate") >= 0
