"""The fine-tune page at 1024x768 and 1920x1080 (issue 34): the command that enables training is shown whole and
can be copied, the page never scrolls sideways, "Start from" names the model, and the report reads whole."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from app.core.labeled_data import ClassScores, Evaluation
from app.core.registry import Registry, shipped_models_dir

CLASSES = ("business", "entertainment", "politics", "sport", "tech")  # the BBC news topics of the report seen


def _bbc_report():
    """A report as a 5-topic fine-tune writes it (the numbers are made up; the layout is what is tested)."""
    from app.jobs.finetune import FineTuneReport

    conf = tuple(tuple(40 if i == j else (3 if (i + j) % 2 else 1) for j in range(5)) for i in range(5))
    per = tuple(ClassScores(c, 0.91, 0.9, 0.905, 45) for c in CLASSES)
    ev = Evaluation(0.912, 0.907, per, conf, CLASSES, 225, "bbc-topics (fine-tuned)")
    base = Evaluation(0.85, 0.84, per, conf, CLASSES, 225, "TF-IDF + logistic regression")
    return FineTuneReport(model_id="bbc-topics", name="bbc topics", folder="", mode="few-shot",
                          base="albert-encoder-en", classes=CLASSES, n_train=900, n_val=225,
                          counts=tuple((c, 225) for c in CLASSES), evaluation=ev, baseline=base, previous=None,
                          evaluation_fp32=None, history=(), seconds=120.0, train_seconds=100.0)


@pytest.fixture
def page(qtbot, tmp_path, monkeypatch):
    """The window on the shipped models (their real, long names), opened on the Fine-tune page at a size."""
    from app.jobs import finetune as jobs
    from app.ui.context import AppContext
    from app.ui.main_window import MainWindow, Page

    reg = Registry(roots=[shipped_models_dir()], settings_file=tmp_path / "defaults.json")
    if not reg.for_task("encoder"):
        pytest.skip("no shipped encoder")
    monkeypatch.setattr(jobs, "TRAINING_PACKAGES", ("no_such_training_package",))  # the inference-only bundle
    ctx = AppContext(tmp_path / "library.db", reg, "cpu")
    win = MainWindow(ctx, QSettings(str(tmp_path / "s.ini"), QSettings.IniFormat))
    qtbot.addWidget(win)

    def open_at(w: int, h: int):
        win.resize(w, h)
        win.show()
        win.show_page(Page.FINETUNE)
        qtbot.waitUntil(lambda: win.finetune_view is not None, timeout=10000)
        qtbot.wait(50)
        return win

    yield open_at
    ctx.close()


def _area(win):
    return win.pages.currentWidget()  # the scroll area around the page


@pytest.mark.parametrize("size", [(1024, 740), (1920, 1050)])
def test_the_page_fits_its_width_and_shows_the_command_whole(page, size):
    win = page(*size)
    view = win.finetune_view
    assert _area(win).horizontalScrollBar().maximum() == 0  # never sideways
    cmd = view.training_command
    assert view.training_box.isVisible() and cmd.text() == "pip install -e '.[train]'" and cmd.isReadOnly()
    assert cmd.width() >= cmd.fontMetrics().horizontalAdvance(cmd.text()) + 8
    assert "the command below" in view.training_reason.text()
    view.copy_command.click()
    assert QGuiApplication.clipboard().text() == "pip install -e '.[train]'"


def test_start_from_names_the_model(page):
    win = page(1920, 1050)
    combo = win.finetune_view.base_combo
    assert combo.currentText().startswith(combo.currentData())  # the id first: it survives any elision
    assert combo.width() >= combo.fontMetrics().horizontalAdvance(combo.currentText()) + 24  # whole at 1920
    assert "parameters" in combo.itemData(combo.currentIndex(), 3)  # the full name is its tooltip (ToolTipRole)
    win = page(1024, 740)
    assert _area(win).horizontalScrollBar().maximum() == 0


@pytest.mark.parametrize("size", [(1024, 740), (1920, 1050)])
def test_the_report_reads_whole(page, qtbot, size):
    win = page(*size)
    view = win.finetune_view
    view.show_report(_bbc_report())
    qtbot.wait(50)
    QApplication.processEvents()
    assert _area(win).horizontalScrollBar().maximum() == 0
    for table in (view.compare_table, view.class_table):
        fm = table.horizontalHeader().fontMetrics()
        assert table.horizontalScrollBar().maximum() == 0
        for c in range(table.columnCount()):
            header = table.horizontalHeaderItem(c).text()
            assert table.columnWidth(c) >= fm.horizontalAdvance(header) + 6, header
            for r in range(table.rowCount()):
                assert table.columnWidth(c) >= table.fontMetrics().horizontalAdvance(table.item(r, c).text()) + 6
        assert table.height() >= table.horizontalHeader().height() + sum(table.rowHeight(r) for r in range(table.rowCount()))
    plot = view.confusion
    left, top, cell, rotated = plot.layout_for(plot.fontMetrics())
    assert cell >= plot.fontMetrics().horizontalAdvance("40") + 4  # the counts are written in their cells
    assert plot.fontMetrics().horizontalAdvance("rows: true class · columns: predicted") <= plot.width()
    assert left >= plot.fontMetrics().horizontalAdvance("entertainment") + 8  # row names whole
    if not rotated:
        assert cell >= max(plot.fontMetrics().horizontalAdvance(c) for c in CLASSES)


def test_picking_the_accurate_base_asks_then_adds_it_in_the_models_view(page, qtbot, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from app.jobs.model_add import ACCURATE_BASE
    from app.ui.finetune_view import INSTALL_PREFIX

    win = page(1024, 740)
    combo = win.finetune_view.base_combo
    offer = combo.findData(INSTALL_PREFIX + ACCURATE_BASE)
    assert offer >= 0
    asked, added = [], []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.No)
    monkeypatch.setattr(win.models, "add_model", lambda source, task=None: added.append(source) or object())
    combo.activated.emit(offer)
    assert "438 MB" in asked[0] and added == []  # said no: nothing starts
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Yes)
    combo.activated.emit(offer)
    from app.ui.main_window import Page

    assert added == [ACCURATE_BASE] and win.pages.currentIndex() == Page.MODELS  # its progress and Cancel show there
