"""Read -> analyse -> store for one document: the path the window takes to open a file or re-run a task.

    opened = analyze_and_store(analyzer, store, read_document("report.docx"), AnalysisOptions())
    opened.document_id, opened.analysis, opened.reused

A result the library already holds for the same text, models and parameters (the same params key) is
reused instead of computed again, as `run_batch` reuses it; nothing is written unless the analysis worked.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from app.core.analyzer import AnalysisOptions, Analyzer
from app.core.errors import DocumentError
from app.core.store import Store
from app.core.types import Analysis, Document
from app.jobs.recorder import Recorder


@dataclass(frozen=True)
class StoredAnalysis:
    """A document's analysis as the library now holds it."""

    document_id: int
    analysis: Analysis  # what was computed now, or the stored result it reused
    reused: bool = False  # True: taken from the library, nothing was run


def analyze_and_store(analyzer: Analyzer, store: Store, document: Document, opts: AnalysisOptions, *,
                      cancelled: Callable[[], bool] | None = None,
                      progress: Callable[[float], None] | None = None,
                      run_id: int | None = None) -> StoredAnalysis:
    """Analyse one document and keep the result in the library, or reuse the result it already has.

    A reused result still records the document's path (the same text under a new name or folder). An
    analysis that fails (no text, a task that cannot handle it) raises DocumentError and writes nothing;
    `cancelled` raises Cancelled within one model batch, `progress(fraction)` follows the batches."""
    recorder = Recorder(store, analyzer.task_models(opts), run_id)
    found = recorder.reusable(document)
    if found is not None:
        doc_id, analysis = found
        recorder.save(analysis, reused=True)
        return StoredAnalysis(doc_id, analysis, reused=True)
    analysis = analyzer.analyze(document, opts, cancelled, progress)
    if analysis.error:
        raise DocumentError(document.source, analysis.error)
    return StoredAnalysis(recorder.save(analysis), analysis)
