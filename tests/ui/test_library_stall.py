"""Typing in the library's search box never blocks the window, even over a hundred thousand documents."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.core.store import Store
from app.core.types import Analysis, Document, ModelInfo, SentimentResult
from tests.ui.latency import assert_responsive, longest_stall

N_DOCUMENTS = 100_000
WORDS = "great terrible slow friendly broken perfect late rude parcel delivery shop order refund courier".split()
MODEL = ModelInfo("albert-sentiment-en", "1.0.0", "sentiment")


def _analyses(n: int):
    for i in range(n):
        h = (i * 2654435761) & 0xFFFFFFFF  # Knuth's multiplicative hash: words mixed without a random generator
        w = [WORDS[(h >> (6 * k)) % len(WORDS)] for k in range(5)]
        text = f"Ticket {i}: the {w[0]} {w[1]} was {w[2]}, and the {w[3]} was {w[4]}."
        # every tenth document analysed: the label filter and the sentiment column have something to show
        sentiment = SentimentResult("negative" if i % 3 else "positive", 0.9) if i % 10 == 0 else None
        yield Analysis(Document(f"/library/folder{i % 40}/ticket{i}.txt", text, title=f"ticket {i}",
                                content_hash=f"ticket-{i}"), sentiment, models=(MODEL,) if sentiment else ())


@pytest.fixture(scope="module")
def big_library(tmp_path_factory) -> str:
    db = str(tmp_path_factory.mktemp("big") / "library.db")
    with Store(db) as store:
        assert store.add_analyses(_analyses(N_DOCUMENTS)) == N_DOCUMENTS
    return db


def test_typing_a_search_over_100k_documents_never_blocks_the_event_loop(qtbot, big_library):
    from app.ui.library import LibraryPane

    store = Store(big_library)
    pane = LibraryPane(store)
    qtbot.addWidget(pane)
    pane.resize(420, 700)
    pane.show()
    qtbot.waitUntil(lambda: not pane.reading, timeout=60_000)
    assert pane.count.text() == f"500 of {N_DOCUMENTS} documents"
    assert pane.folder_filter.count() == 41  # "All folders" and the forty folders

    def type_a_search() -> None:
        for ch in "delivery late":  # a quick typist: a key every 60 ms, pauses past the 250 ms debounce
            qtbot.keyClicks(pane.search, ch)
            qtbot.wait(400 if ch == " " else 60)
        qtbot.waitUntil(lambda: not pane.reading and not pane._debounce.isActive(), timeout=60_000)

    stall, busy = longest_stall(type_a_search)
    assert pane.search.text() == "delivery late"
    titles = pane.titles()
    assert 0 < len(titles) <= 500 and pane.count.text().endswith(f"of {N_DOCUMENTS} documents")
    match = pane.model.index(0, 4)
    assert "delivery" in match.data().lower() and "«" in match.data(Qt.ToolTipRole)  # from the same read
    assert_responsive(stall, busy, "while typing")

    # a filter change reads in the background too, and the newest read wins
    def filter_and_search() -> None:
        pane.label_filter.setCurrentIndex(pane.label_filter.findData("positive"))
        pane.search.setText("refund")
        pane.refresh(with_folders=False)
        qtbot.waitUntil(lambda: not pane.reading, timeout=60_000)

    stall, busy = longest_stall(filter_and_search)
    with Store(big_library, readonly=True) as check:
        expected = check.count_documents(search="refund", label="positive")
    assert len(pane.titles()) == min(expected, 500) and expected > 0
    assert_responsive(stall, busy, "on a filter change")
    pane.stop()
    store.close()
