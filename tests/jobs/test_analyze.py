"""Read -> analyse -> store for one document (the window's open and re-run): reuse, and nothing saved on failure."""
from __future__ import annotations

import pytest

from app.core.analyzer import AnalysisOptions, Analyzer
from app.core.documents import read_document
from app.core.errors import DocumentError
from app.core.registry import Registry
from app.core.store import Store
from app.core.types import Document
from app.jobs.analyze import analyze_and_store
from app.jobs.batch import run_batch
from app.ui.context import analyze_file, analyze_stored

TEXT = ("The hotel was lovely and the staff were kind. The room was small but clean. Breakfast was cold. "
        "We would stay again for the view. The bar closed far too early.")


class CountingAnalyzer(Analyzer):
    """The real analyzer, counting the documents it is asked to analyse."""

    def __post_init__(self):
        super().__post_init__()
        self.analysed = 0

    def analyze_many(self, documents, *args, **kw):
        self.analysed += len(documents)
        return super().analyze_many(documents, *args, **kw)


@pytest.fixture()
def analyzer(tiny_models, tmp_path):
    return CountingAnalyzer(registry=Registry(roots=[tiny_models], settings_file=tmp_path / "d.json"))


@pytest.fixture()
def review(tmp_path):
    path = tmp_path / "review.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def test_a_file_opened_twice_is_analysed_once(analyzer, review, tmp_path):
    db = str(tmp_path / "lib.db")
    opts = AnalysisOptions(tasks=("sentiment", "summary"), sentences=2)
    first = analyze_file(analyzer, db, review, opts)
    again = analyze_file(analyzer, db, review, opts)

    assert analyzer.analysed == 1
    assert not first.reused and first.fresh is not None
    assert again.reused and again.fresh is None  # nothing was run: the window shows the time "when analysed"
    assert again.document_id == first.document_id
    assert again.stored.sentiment == first.stored.sentiment and again.stored.summary == first.stored.summary


def test_other_settings_are_computed_and_the_matching_result_is_shown(analyzer, review, tmp_path):
    db = str(tmp_path / "lib.db")
    two = analyze_file(analyzer, db, review, AnalysisOptions(tasks=("summary",), sentences=2))
    four = analyze_stored(analyzer, db, two.document_id, AnalysisOptions(tasks=("summary",), sentences=4))
    assert analyzer.analysed == 2 and len(four.stored.summary.sentences) == 4
    # asking for two sentences again reuses the first summary, though the four-sentence one is the latest
    back = analyze_stored(analyzer, db, two.document_id, AnalysisOptions(tasks=("summary",), sentences=2))
    assert analyzer.analysed == 2 and back.reused
    assert back.stored.summary == two.stored.summary


def test_a_failed_analysis_writes_nothing(analyzer, tmp_path):
    empty = Document(source="empty.txt", text="   \n", title="empty", content_hash="0" * 64)
    with Store(tmp_path / "lib.db") as store:
        with pytest.raises(DocumentError, match="no text to analyse"):
            analyze_and_store(analyzer, store, empty, AnalysisOptions(tasks=("sentiment",)))
        assert store.count_documents() == 0 and store.errors() == []


def test_a_batch_result_is_reused_when_the_file_is_opened(analyzer, review, tmp_path):
    opts = AnalysisOptions(tasks=("sentiment",))
    with Store(tmp_path / "lib.db") as store:
        run_batch([review], analyzer, store, opts)
        done = analyze_and_store(analyzer, store, read_document(review), opts)
        assert done.reused and analyzer.analysed == 1
        assert store.load_analysis(done.document_id).sentiment == done.analysis.sentiment


def test_providers_name_the_runtime_provider_of_each_loaded_model(analyzer):
    assert analyzer.providers() == {}
    assert analyzer.providers(("sentiment",)) == {"sentiment": "CPUExecutionProvider"}
    analyzer.model("summary")
    assert analyzer.providers() == {"sentiment": "CPUExecutionProvider", "summary": "CPUExecutionProvider"}


def test_a_batch_reuses_the_result_with_its_own_settings_not_the_latest(analyzer, review, tmp_path):
    db = str(tmp_path / "lib.db")
    two = analyze_file(analyzer, db, review, AnalysisOptions(tasks=("summary",), sentences=2))
    analyze_stored(analyzer, db, two.document_id, AnalysisOptions(tasks=("summary",), sentences=4))  # now the latest
    seen = []
    with Store(db) as store:
        report = run_batch([review], analyzer, store, AnalysisOptions(tasks=("summary",), sentences=2),
                           on_result=seen.append)
    assert report.reused == 1 and analyzer.analysed == 2
    assert seen[0].summary == two.stored.summary and len(seen[0].summary.sentences) == 2
