"""The fine-tuning page with a real (tiny) training run in its worker process, driven like a user would."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402

from app.core.registry import Registry  # noqa: E402
from tests.jobs.conftest import _sst2_rows, make_tiny_encoder  # noqa: E402

FAST = dict(lr=1e-3, batch_size=8, patience=100, threads=1)


@pytest.fixture(scope="module")
def encoder_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("shipped")
    make_tiny_encoder(root / "albert-encoder-tiny")
    return root


@pytest.fixture
def view(qtbot, encoder_root, tmp_path):
    from app.ui.finetune_view import FineTuneView

    user = tmp_path / "user"
    reg = Registry(roots=[encoder_root, user], settings_file=user / "defaults.json")
    reg.user_dir = user
    v = FineTuneView(registry=reg, store_path=tmp_path / "library.db")
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
    view.mode_combo.setCurrentIndex(view.mode_combo.findData("standard"))
    view.epochs.setValue(8)
    view.name_edit.setText("Window model")
    with qtbot.waitSignal(view.modelRegistered, timeout=180000) as sig:
        qtbot.mouseClick(view.start_button, Qt.LeftButton)
        qtbot.waitUntil(lambda: view.cancel_button.isEnabled(), timeout=30000)
    assert sig.args == ["window-model"]
    assert len(view.plot.evals) == 9 and len(view.plot.losses) == 40  # live points for every step and epoch
    assert view.progress.value() == 100
    assert view.compare_table.rowCount() == 2  # new model and TF-IDF baseline on the same split
    assert view.compare_table.item(0, 0).text().startswith("window-model")
    assert [view.class_table.item(i, 0).text() for i in range(2)] == ["negative", "positive"]
    assert sum(map(sum, view.confusion.matrix)) == 10
    assert "window-model" in [m.id for m in view.registry.manifests()]
    assert view.base_combo.findData("window-model") >= 0  # it can be the base of the next fine-tune
    qtbot.mouseClick(view.default_button, Qt.LeftButton)
    assert view.registry.default("sentiment").id == "window-model"
    view.grab().save(str(tmp_path / "finetune.png"))


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


def test_without_pytorch_the_page_says_so_before_any_data(qtbot, encoder_root, tmp_path, monkeypatch):
    """The inference-only bundle: the page explains how to enable fine-tuning as soon as it opens."""
    from app.jobs import finetune as jobs
    from app.ui.finetune_view import FineTuneView

    monkeypatch.setattr(jobs, "TRAINING_PACKAGES", ("sklearn", "no_such_training_package"))  # one missing
    user = tmp_path / "user"
    reg = Registry(roots=[encoder_root, user], settings_file=user / "defaults.json")
    v = FineTuneView(registry=reg, store_path=tmp_path / "library.db")
    qtbot.addWidget(v)
    v.show()
    assert "PyTorch" in v.status.text() and "Missing: no_such_training_package" in v.status.text()
    assert v.status.isVisible()
    assert not v.start_button.isEnabled()


def test_zero_one_labels_get_names_and_a_worse_model_asks_before_becoming_default(qtbot, encoder_root, tiny_models,
                                                                                   tmp_path):
    from dataclasses import replace

    from PySide6.QtWidgets import QMessageBox

    from app.ui.finetune_view import FineTuneView

    user = tmp_path / "user"
    reg = Registry(roots=[encoder_root, tiny_models, user], settings_file=user / "defaults.json")
    reg.user_dir = user
    shipped = reg.default("sentiment").id
    view = FineTuneView(registry=reg, store_path=tmp_path / "library.db")
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
    with qtbot.waitSignal(view.modelRegistered, timeout=240000) as sig:
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
