"""A corpus imported in one transaction, and the library pane's one read (rows, snippets, total)."""
from __future__ import annotations

import pytest

from app.core.store import Store
from app.core.types import Analysis, Document, ModelInfo, SentimentResult

MODEL = ModelInfo("albert-sentiment-en", "1.0.0", "sentiment", "CPUExecutionProvider")


def _analysis(i: int, text: str, label: str | None = None) -> Analysis:
    doc = Document(f"/corpus/{'a' if i % 2 else 'b'}/doc{i}.txt", text, title=f"Doc {i}", content_hash=f"hash-{i}")
    if label is None:
        return Analysis(doc)
    return Analysis(doc, SentimentResult(label, 0.8), models=(MODEL,))


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "library.db")
    yield s
    s.close()


def test_adding_many_analyses_stores_documents_sources_and_results_like_one_save_each(store):
    store.save_analysis(_analysis(0, "The parcel arrived early."), None, {})
    added = store.add_analyses([
        _analysis(0, "The parcel arrived early."),  # already in the library: skipped
        _analysis(1, "The courier was rude and late.", "negative"),
        _analysis(2, "A friendly shop with a perfect refund policy.", "positive"),
        _analysis(1, "The courier was rude and late.", "negative"),  # twice in the batch: once
    ], params_keys={"sentiment": "band=0.2"}, chunk=2)
    assert added == 2
    assert store.count_documents() == 3
    rows = {r.title: r for r in store.list_documents()}
    assert (rows["Doc 1"].sentiment_label, rows["Doc 1"].sentiment_score) == ("negative", 0.8)
    assert rows["Doc 0"].sentiment_label is None
    assert store.folders() == ["/corpus/a", "/corpus/b"]
    loaded = store.load_analysis(rows["Doc 2"].id)
    assert loaded.document.text == "A friendly shop with a perfect refund policy."
    assert loaded.sentiment == SentimentResult("positive", 0.8) and loaded.models == (MODEL,)
    assert store.has_results("hash-2", {"sentiment": (MODEL.id, MODEL.version, "band=0.2")})
    assert [r.title for r, _ in store.search("courier")] == ["Doc 1"]  # the full-text index has them
    assert store.list_documents(label="positive")[0].title == "Doc 2"


def test_a_failing_import_writes_nothing(store):
    bad = Analysis(Document("/corpus/bad.txt", "text", content_hash="bad"), SentimentResult("positive", 0.5))
    with pytest.raises(Exception):
        store.add_analyses([_analysis(1, "fine"), bad, object()], chunk=1)  # the third fails, two chunks in
    assert store.count_documents() == 0


def test_library_page_gives_rows_snippets_and_total_in_one_read(store):
    store.add_analyses([_analysis(i, f"Ticket {i}: the delivery was {'late' if i % 3 else 'early'}.",
                                  "negative" if i % 3 else "positive") for i in range(30)])
    page = store.library_page("late", limit=10)
    assert page.total == 30
    assert len(page.rows) == 10
    assert [r.id for r in page.rows] == [r.id for r in store.list_documents(search="late", limit=10)]
    assert set(page.snippets) == {r.id for r in page.rows}
    assert all("[late]" in s for s in page.snippets.values())
    assert store.library_page("late", label="positive").rows == ()  # no "late" document is positive
    assert len(store.library_page("early", label="positive").rows) == 10
    plain = store.library_page(folder="/corpus/a")
    assert plain.snippets == {} and len(plain.rows) == 15 and plain.total == 30
    assert store.library_page('late" OR').rows == ()  # bad syntax is searched as a phrase, as everywhere
