"""Sentiment and summary tasks on real ONNX graphs (tiny random models in the shipped layouts)."""
from __future__ import annotations

import numpy as np
import pytest

from app.core.analyzer import AnalysisOptions, Analyzer, parse_tasks
from app.core.documents import content_hash
from app.core.errors import ModelError
from app.core.registry import Registry
from app.core.sentiment import SentimentModel
from app.core.summary import Summarizer
from app.core.types import Document

LONG = " ".join(f"Sentence number {i} talks about the weather and the trains in some detail." for i in range(120))


@pytest.fixture(scope="module")
def registry(tiny_models, tmp_path_factory):
    return Registry(roots=[tiny_models], settings_file=tmp_path_factory.mktemp("s") / "defaults.json")


def test_sentiment_reads_long_documents_whole(registry):
    m = SentimentModel(registry.default("sentiment"))
    r = m.analyze(LONG)
    assert r.chunks > 1, "a document longer than the window must be read in several windows"
    assert len(r.sentences) == 120
    assert r.label in ("negative", "positive") and 0.5 <= r.score <= 1.0
    assert abs(sum(p for _, p in r.probabilities) - 1.0) < 1e-4
    s = r.sentences[3]
    assert LONG[s.start:s.end] == s.text


@pytest.mark.parametrize("graph,tol", [("fp32", 1e-5), ("int8", 5e-3)])
def test_sentiment_probabilities_are_batched_consistently(registry, graph, tol):
    # fp32 must not change with padding; dynamic int8 scales activations per batch, so allow a little
    m = SentimentModel(registry.default("sentiment"), graph=graph)
    texts = ["short one.", "a somewhat longer sentence with more words in it than the first.", "mid length text here."]
    together = m.probabilities(texts)
    alone = np.vstack([m.probabilities([t]) for t in texts])
    assert np.allclose(together, alone, atol=tol), "padding and length bucketing must not change results"


def test_summary_lengths_and_document_order(registry):
    s = Summarizer(registry.default("summary"))
    text = "First fact here. Second fact follows. Third one is long and detailed about something. Fourth. Fifth and last."
    out = s.summarize(text, sentences=2)
    assert len(out.sentences) == 2
    assert [x.index for x in out.sentences] == sorted(x.index for x in out.sentences)
    assert len(s.summarize(text, ratio=0.6).sentences) == 3
    assert len(s.summarize(text, sentences=50).sentences) == 5
    assert s.summarize("   ").sentences == ()
    with pytest.raises(ValueError):
        s.summarize(text, ratio=1.5)


def test_analyzer_runs_requested_tasks_and_reports_models(registry):
    a = Analyzer(registry=registry)
    doc = Document("x.txt", "I loved it. It broke the next day. I want a refund.", content_hash=content_hash("x"))
    r = a.analyze(doc, AnalysisOptions(tasks=("sentiment", "summary"), sentences=1))
    assert r.sentiment and len(r.sentiment.sentences) == 3
    assert r.summary and len(r.summary.sentences) == 1
    assert {m.task for m in r.models} == {"sentiment", "summary"}
    assert all(m.provider == "CPUExecutionProvider" for m in r.models)
    with pytest.raises(ModelError, match="translation"):
        a.analyze(doc, AnalysisOptions(tasks=("translation",), target_lang="xx"))


def test_parse_tasks():
    assert parse_tasks("sentiment,translate") == ("sentiment", "translation")
    with pytest.raises(ValueError, match="unknown task"):
        parse_tasks("sentiment,poetry")


DOCS = ["I loved it. It broke the next day. I want a refund.", LONG,
        "The council approved the new bridge on Monday. Work starts in May. It will cost four million."]


@pytest.mark.parametrize("graph,tol", [("fp32", 1e-5), ("int8", 2e-2)])
def test_many_documents_at_once_match_one_at_a_time(registry, graph, tol):
    m = SentimentModel(registry.default("sentiment"), graph=graph)
    together, alone = m.analyze_many(DOCS), [m.analyze(d) for d in DOCS]
    for a, b in zip(together, alone):
        assert (a.label, a.chunks, len(a.sentences)) == (b.label, b.chunks, len(b.sentences))
        assert abs(a.score - b.score) <= tol
        assert [s.label for s in a.sentences] == [s.label for s in b.sentences]
        assert [(s.start, s.end) for s in a.sentences] == [(s.start, s.end) for s in b.sentences]
    with pytest.raises(ValueError, match="empty"):
        m.analyze_many(["Fine.", "  "])
    s = Summarizer(registry.default("summary"))
    many = s.summarize_many(DOCS + ["  "], sentences=2)
    assert [[x.index for x in r.sentences] for r in many[:3]] == \
        [[x.index for x in s.summarize(d, sentences=2).sentences] for d in DOCS]
    assert many[3].sentences == ()
    assert [len(r.sentences) for r in s.summarize_many(DOCS, ratio=0.5)] == [2, 60, 2]


def test_analyzer_analyses_many_documents_in_order(registry):
    a = Analyzer(registry=registry)
    docs = [Document(f"{k}.txt", t, content_hash=content_hash(t)) for k, t in enumerate(DOCS[:1] + ["   "] + DOCS[2:])]
    out = a.analyze_many(docs, AnalysisOptions(tasks=("sentiment", "summary"), sentences=1))
    assert [r.document.source for r in out] == ["0.txt", "1.txt", "2.txt"]
    assert out[1].error == "no text to analyse" and out[1].sentiment is None
    assert out[0].sentiment.label == a.analyze(docs[0]).sentiment.label and len(out[2].summary.sentences) == 1
    assert out[0].seconds > 0 and out[1].seconds == 0
    assert a.analyze_many([], AnalysisOptions()) == []


def test_albert_studio_threads_sets_an_unset_thread_count(tiny_models, monkeypatch):
    from app.core.registry import read_manifest
    from app.core.runtime import RuntimeOptions, Session, default_threads

    monkeypatch.setenv("ALBERT_STUDIO_THREADS", "1")
    assert default_threads() == 1
    m = read_manifest(tiny_models / "albert-sentiment-en")
    s = Session(m.graph_file(m.default_graph), RuntimeOptions(device="cpu"))
    assert s._sess.get_session_options().intra_op_num_threads == 1
    monkeypatch.setenv("ALBERT_STUDIO_THREADS", "many")  # not a number: this machine's physical cores
    from app.core.tuning import physical_cores

    assert default_threads() == physical_cores()
