"""The window at 1024x768 (issue 34): search results keep the document's name readable, and the batch's counts
and status are never elided."""
from __future__ import annotations


def test_search_results_keep_the_document_name_readable_at_1024(window, batch_folder, wait_op, qtbot):
    window.resize(1024, 740)
    assert window.batch.start([str(batch_folder)])
    wait_op(window.batch.op)
    lib = window.library
    lib.search.setText("delivery")
    qtbot.waitUntil(lambda: not lib.reading and lib.view.model().rowCount() >= 1 and not lib.view.isColumnHidden(4),
                    timeout=10000)
    qtbot.wait(50)
    width = lib.view.viewport().width()
    assert width < 420  # the pane as it is at 1024 px
    name = lib.view.model().index(0, 0).data()
    assert lib.view.columnWidth(0) >= lib.view.fontMetrics().horizontalAdvance(name) + 8, name
    assert lib.view.columnWidth(4) >= 60  # the match is shown too
    # and the word searched for is in what the cell shows (it read "…March and paid…" for "delivery"), once the
    # search's own read is shown (the rows above may still be the unfiltered ones: the search waits for typing)
    from PySide6.QtCore import Qt

    qtbot.waitUntil(lambda: not lib.reading and lib.count.text().startswith("1 of "), timeout=10000)
    cell = lib.view.model().index(0, 4).data()
    shown_text = lib.view.fontMetrics().elidedText(cell, Qt.ElideRight, lib.view.columnWidth(4) - 8)
    assert "delivery" in shown_text.lower(), (cell, shown_text)
    lib.search.clear()
    qtbot.waitUntil(lambda: lib.view.isColumnHidden(4), timeout=10000)
    assert not lib.view.isColumnHidden(1)  # the sentiment is back once the search is cleared


def test_batch_counts_and_status_are_whole_at_1024(window, batch_folder, wait_op, qtbot):
    window.resize(1024, 740)
    batch = window.batch
    for _ in range(2):  # the second run reuses every document: the longest counts line
        assert batch.start([str(batch_folder)])
        wait_op(batch.op)
    qtbot.wait(50)
    assert "reused" in batch.files_label.text()
    assert batch.files_label.elided() == batch.files_label.text()
    assert batch.status_label.text() and batch.status_label.elided() == batch.status_label.text()
    assert "1 error," in batch.history.currentText() or "1 error " in batch.history.currentText()
