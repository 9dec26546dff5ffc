"""The library pane reads in the background: the newest query wins, and what an older one was asked for is kept."""
from __future__ import annotations

import pytest

from app.core.store import Store
from app.core.types import Analysis, Document


@pytest.fixture
def pane(qtbot, tmp_path):
    from app.ui.library import LibraryPane

    store = Store(tmp_path / "library.db")
    store.add_analyses(Analysis(Document(f"/mail/{box}/{name}.txt", text, title=name, content_hash=name))
                       for box, name, text in (("inbox", "refund", "Please refund my order."),
                                               ("inbox", "late", "The parcel came late."),
                                               ("archive", "thanks", "Thanks, the refund arrived.")))
    p = LibraryPane(store)
    qtbot.addWidget(p)
    p.show()
    qtbot.waitUntil(lambda: not p.reading, timeout=10_000)
    yield p
    p.stop()
    store.close()


def test_a_newer_query_replaces_an_older_one_still_on_its_way(pane, qtbot):
    pane.search.setText("late")
    older = pane.refresh(with_folders=False)
    pane.search.setText("refund")
    newer = pane.refresh(with_folders=False)
    assert older.cancel_event.is_set()
    qtbot.waitUntil(lambda: older.finished and newer.finished, timeout=10_000)
    assert sorted(pane.titles()) == ["refund.txt", "thanks.txt"]  # never "late", whichever finished first
    assert pane.count.text() == "2 of 3 documents"


def test_folders_and_selection_asked_for_survive_a_newer_keystroke(pane, qtbot):
    with Store(pane.store.path) as other:  # a batch elsewhere adds a folder
        other.save_analysis(Analysis(Document("/mail/spam/offer.txt", "A refund offer!", title="offer",
                                              content_hash="offer")), None, {})
    pane.refresh()  # the window asks for the folders again
    pane.search.setText("offer")
    with Store(pane.store.path, readonly=True) as check:
        offer_id = check.list_documents(search="offer")[0].id
    last = pane.refresh(select=offer_id, with_folders=False)  # a keystroke replaces it at once
    qtbot.waitUntil(lambda: last.finished, timeout=10_000)
    folders = [pane.folder_filter.itemData(i) for i in range(1, pane.folder_filter.count())]
    assert folders == ["/mail/archive", "/mail/inbox", "/mail/spam"]
    current = pane.view.currentIndex()
    assert current.isValid() and pane.model.document_id(current.row()) == offer_id


def test_the_sentiment_column_shows_a_score_only_where_it_is_the_label_s_own():
    from app.core.store import DocumentRow
    from app.ui.library import library_entry

    row = lambda label, score: DocumentRow(1, "a", "/docs/a.txt", "txt", "2026-12-06T09:00:00", label, score)
    assert library_entry(row("positive", 0.93), "").cells[1] == "positive 0.93"
    assert library_entry(row("neutral", 0.71), "").cells[1] == "neutral"  # 0.71 belongs to "negative"
    assert library_entry(row(None, None), "").cells[1] == "–"
