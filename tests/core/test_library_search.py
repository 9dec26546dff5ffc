"""Library search matches word beginnings; the sentiment shown is the chosen model's where it has one."""
from __future__ import annotations

import pytest

from app.core.store import Store
from app.core.types import Analysis, Document, ModelInfo, SentimentResult


def _doc(text: str, source: str) -> Document:
    import hashlib

    return Document(source, text, title=source, content_hash=hashlib.sha256(text.encode()).hexdigest())


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "lib.db")
    yield s
    s.close()


def test_a_word_beginning_finds_the_word(store):
    store.save_analysis(Analysis(_doc("She played the saxophone all night.", "/d/a.txt")), None, {})
    store.save_analysis(Analysis(_doc("The saxophonist and the pianist.", "/d/b.txt")), None, {})
    store.save_analysis(Analysis(_doc("Nothing to see here.", "/d/c.txt")), None, {})
    assert {r.source for r in store.list_documents(search="saxo")} == {"/d/a.txt", "/d/b.txt"}
    assert {r.source for r in store.list_documents(search="saxophonis")} == {"/d/b.txt"}
    assert store.count_documents(search="sax nig") == 1  # every word, each as a prefix
    assert [r.source for r, _ in store.search("pian")] == ["/d/b.txt"]
    assert "[saxophone]" in store.search("saxo")[0][1] or "[saxophonist]" in store.search("saxo")[0][1]
    # FTS syntax typed on purpose still works, and broken syntax still does not fail
    assert store.count_documents(search='"played the saxophone"') == 1
    assert store.count_documents(search='saxo" OR') == 0


def test_switching_back_to_a_model_shows_its_labels(store):
    doc = _doc("The parcel came on time.", "/d/p.txt")
    shipped = ModelInfo("albert-sentiment-en", "1.2.1", "sentiment")
    tuned = ModelInfo("my-tickets", "1", "sentiment")
    store.save_analysis(Analysis(doc, SentimentResult("positive", 0.8), models=(shipped,)), None, {})
    doc_id = store.save_analysis(Analysis(doc, SentimentResult("1", 0.63), models=(tuned,)), None, {})
    # the fine-tuned model ran last; with it as the default its label shows
    assert store.list_documents(prefer_model="my-tickets")[0].sentiment_label == "1"
    # back to the shipped model: its label, not the "1" of the other model
    row = store.list_documents(prefer_model="albert-sentiment-en")[0]
    assert (row.sentiment_label, row.sentiment_score) == ("positive", 0.8)
    assert store.count_documents(label="positive", prefer_model="albert-sentiment-en") == 1
    assert store.count_documents(label="1", prefer_model="albert-sentiment-en") == 0
    a = store.load_analysis(doc_id, prefer_models={"sentiment": "albert-sentiment-en"})
    assert a.sentiment.label == "positive" and a.models[0].id == "albert-sentiment-en"
    assert store.load_analysis(doc_id).sentiment.label == "1"  # without a preference: the latest
