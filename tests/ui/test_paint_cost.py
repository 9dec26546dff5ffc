"""What one paint costs the GUI thread: the library list asks only for the rows on screen, and a progress
bar's new value is painted at the event loop's next turn, not inside the slot that set it."""
from __future__ import annotations

from collections import Counter

from PySide6.QtCore import QModelIndex

from app.core.store.search import DocumentRow, LibraryPage
from app.ui.library import LibraryModel, LibraryView
from app.ui.widgets import ProgressBar


class CountingModel(LibraryModel):
    def __init__(self):
        super().__init__()
        self.calls = Counter()

    def data(self, index, role=0):
        self.calls["data"] += 1
        return super().data(index, role)

    def rowCount(self, parent=QModelIndex()):  # noqa: N802
        self.calls["rowCount"] += 1
        return super().rowCount(parent)

    def columnCount(self, parent=QModelIndex()):  # noqa: N802
        self.calls["columnCount"] += 1
        return super().columnCount(parent)


def _page(n: int) -> LibraryPage:
    rows = tuple(DocumentRow(i, f"Ticket {i}", f"/tickets/ticket{i:05d}.txt", "txt", "2026-12-07T10:00:00+00:00",
                             ("negative", "positive", "neutral")[i % 3], 0.8, (), "en") for i in range(n))
    return LibraryPage(rows, {}, n)


def test_a_library_paint_asks_only_for_the_rows_on_screen(qtbot):
    model = CountingModel()
    view = LibraryView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(320, 400)
    view.show()
    qtbot.waitExposed(view)
    calls = {}
    for n in (100, 10_000):
        model.set_page(_page(n))
        qtbot.wait(1)
        model.calls.clear()
        view.viewport().repaint()
        calls[n] = sum(model.calls.values())
        assert model.calls["data"] > 0  # it painted rows
    # a tree view laid out every row (two calls into Python per row: 20,000 for 10,000 documents)
    assert calls[10_000] <= calls[100] * 1.2 + 50, calls
    assert "00003" in model.data(model.index(3, 0))  # the file name (display_name: a title like "Ticket 3" is generic)
    assert model.data(model.index(0, 1), 6) is None  # a role the pane does not serve


def test_a_progress_value_is_painted_on_the_next_turn_not_inside_the_slot(qtbot):
    painted = []

    class Bar(ProgressBar):
        def paintEvent(self, event):  # noqa: N802
            painted.append(self.value())
            super().paintEvent(event)

    bar = Bar()
    qtbot.addWidget(bar)
    bar.setRange(0, 1000)
    bar.resize(300, 30)
    bar.show()
    qtbot.waitExposed(bar)
    qtbot.wait(20)
    changed = []
    bar.valueChanged.connect(changed.append)
    painted.clear()
    bar.setValue(500)
    assert bar.value() == 500 and changed == [500] and painted == []  # QProgressBar.setValue had painted here
    qtbot.waitUntil(lambda: bool(painted) and painted[-1] == 500, timeout=2000)
    bar.setValue(500)
    assert changed == [500]
    assert bar.updatesEnabled()
