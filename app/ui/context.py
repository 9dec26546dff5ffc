"""The window's handle on the core: the library file, the registry, the analyzer for the chosen device.

The functions below are the window's background work, the `op` of a BackgroundOp: each runs on a worker
thread, touches no widget and opens its own Store, so the GUI thread's store is never used from two threads.
Analyses go through app.jobs.analyze (the one read -> analyse -> store path, which reuses stored results)
or app.jobs.batch; a function that takes `state` polls `state.cancelled()` and may report progress.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from app.core.analyzer import AnalysisOptions, Analyzer
from app.core.documents import read_document
from app.core.errors import Cancelled, DocumentError
from app.core.registry import Registry
from app.core.runtime import RuntimeOptions
from app.core.store import RunRow, Store
from app.core.types import ANALYSIS_TASKS, Analysis, Document
from app.jobs.analyze import analyze_and_store
from app.jobs.batch import BatchReport

if TYPE_CHECKING:
    from app.ui.ops import OpContext


@dataclass(frozen=True)
class OpenedDocument:
    """A document as stored in the library, with the analysis just computed (None when only loaded)."""

    document_id: int
    stored: Analysis  # latest result of every task, as the library holds them
    fresh: Analysis | None = None  # what this run computed (its time and models); None when nothing was run
    reused: bool = False  # the library already had this result: nothing was run


def analyze_file(analyzer: Analyzer, db_path: str, path: str | Path, opts: AnalysisOptions,
                 op: OpContext | None = None) -> OpenedDocument:
    """Read one file, analyse it and keep the result in the library (worker thread).

    With an OpContext, a long document reports its progress (0..1) and stops within one model batch of a cancel."""
    document = read_document(path)
    return analyze_new(analyzer, db_path, document, opts, op)


def analyze_new(analyzer: Analyzer, db_path: str, document: Document, opts: AnalysisOptions,
                op: OpContext | None = None) -> OpenedDocument:
    """Analyse a document (read from a file, or pasted) and keep it in the library (worker thread); a result
    the library holds for the same text and settings is reused, and a failed analysis writes nothing."""
    with Store(db_path) as store:
        done = analyze_and_store(analyzer, store, document, opts, cancelled=op.cancelled if op else None,
                                 progress=op.progress if op else None)
        stored = store.load_analysis(done.document_id)
        if not done.reused:
            return OpenedDocument(done.document_id, stored, done.analysis)
        # the library's latest result of a task may have other settings (a longer summary made later): show
        # the results that match this request, and nothing as "just computed"
        return OpenedDocument(done.document_id, _with_results(stored, done.analysis), None, reused=True)


def _with_results(stored: Analysis, results: Analysis) -> Analysis:
    """`stored` with each task `results` holds taken from `results`, its model too."""
    tasks = [t for t in ANALYSIS_TASKS if getattr(results, t) is not None]
    models = tuple(m for m in stored.models if m.task not in tasks) + tuple(m for m in results.models if m.task in tasks)
    return replace(stored, models=models, **{t: getattr(results, t) for t in tasks})


def analyze_unsaved(analyzer: Analyzer, document: Document, opts: AnalysisOptions,
                    op: OpContext | None = None) -> Analysis:
    """Analyse a document that is not kept in the library (pasted text the user did not keep)."""
    analysis = analyzer.analyze(document, opts, op.cancelled if op else None, op.progress if op else None)
    if analysis.error:
        raise DocumentError(document.source, analysis.error)
    return analysis


def analyze_stored(analyzer: Analyzer, db_path: str, document_id: int, opts: AnalysisOptions,
                   op: OpContext | None = None) -> OpenedDocument:
    """Run tasks again on a document already in the library (new summary length, a translation...)."""
    with Store(db_path) as store:
        document = store.load_analysis(document_id).document
    return analyze_new(analyzer, db_path, document, opts, op)


def export_library(db_path: str, path: str | Path, fmt: str, run_id: int | None = None) -> int:
    with Store(db_path) as store:
        return store.export(path, fmt, run_id=run_id)


def analyze_shown(analyzer: Analyzer, current: Analysis, opts: AnalysisOptions,
                  op: OpContext | None = None) -> OpenedDocument:
    """Run tasks on text that is shown but not kept in the library (pasted): the new results replace those
    tasks' results, the others stay as shown."""
    fresh = analyze_unsaved(analyzer, current.document, opts, op)
    merged = replace(current, **{t: getattr(fresh, t) for t in ANALYSIS_TASKS if getattr(fresh, t) is not None})
    return OpenedDocument(None, merged, fresh)


def load_stored(db_path: str, document_id: int, prefer_models: dict[str, str], state: OpContext) -> Analysis:
    """A document of the library with its stored results (a read-only connection)."""
    if state.cancelled():
        raise Cancelled()
    with Store(db_path, readonly=True) as store:
        return store.load_analysis(document_id, prefer_models=prefer_models)


def remove_document(db_path: str, document_id: int) -> None:
    """Forget a document and its results (the file itself is not touched)."""
    with Store(db_path) as store:
        store.delete_document(document_id)


def add_label(db_path: str, text: str, label: str, document_id: int | None, sentence_index: int) -> int:
    """Keep a sentence with the label the user gave it; returns how many labels the library holds now."""
    with Store(db_path) as store:
        store.add_label(text, label, document_id, sentence_index)
        return len(store.labels())


def open_library(src: str, dest: str, move: bool) -> int:
    """Move the library file from `src` to `dest` (the source stays until the window uses the new one), or
    open `dest`, creating or upgrading it; returns how many documents it holds."""
    from app.core.library_file import move_library

    if move:
        return move_library(src, dest, remove_source=False)
    with Store(dest) as store:
        return store.count_documents()


def load_models(analyzer: Analyzer, tasks: tuple[str, ...]) -> set[str]:
    """Load the tasks' default models now (the first document then opens sooner); the providers they run on."""
    return {analyzer.model(task).model_info.provider for task in tasks}


def read_history(db_path: str, limit: int, state: OpContext) -> list[RunRow]:
    """The newest `limit` batch runs (a read-only connection)."""
    if state.cancelled():  # a newer read came while this one waited for a thread
        raise Cancelled()
    with Store(db_path, readonly=True) as store:
        return store.history(limit)


def read_run(db_path: str, run_id: int, state: OpContext
             ) -> tuple[RunRow | None, list[tuple[int, Analysis]], list[tuple[str, str]]]:
    """A past batch run: its row, its documents' (id, analysis) as far as read before a cancel, its errors."""
    with Store(db_path) as store:
        run = next((r for r in store.history(10_000) if r.id == run_id), None)
        ids = store.run_document_ids(run_id)
        rows = []
        for k, i in enumerate(ids):
            if state.cancelled():
                break
            rows.append((i, store.load_analysis(i)))
            if k % 50 == 0:
                state.progress((k + 1) / max(len(ids), 1))
        return run, rows, [(e.source, e.reason) for e in store.errors(run_id)]


def run_batch_in_library(runner: Callable[..., BatchReport], paths: list[str], analyzer: Analyzer, db_path: str,
                         opts: AnalysisOptions, state: OpContext) -> BatchReport:
    """A batch (`jobs.batch.run_batch`, or the cluster's) into the library; each result comes back as a partial
    result (document id, Analysis) and each error as a DocumentError."""
    store = Store(db_path)
    try:
        return runner(
            paths, analyzer, store, opts,
            progress=state.progress,
            # the row's document id is found here, where the row was just written
            on_result=lambda a: state.partial_result((store.find_document(a.document.content_hash), a)),
            on_error=lambda source, reason: state.partial_result(DocumentError(source, reason)),
            cancelled=state.cancelled,
        )
    finally:
        store.close()


def providers_in_use(analyzer: Analyzer, tasks: tuple[str, ...] = ("sentiment", "summary")) -> dict[str, str]:
    """Load each task's default model and say which ONNX Runtime provider it really runs on."""
    return analyzer.providers(tasks)


class AppContext:
    """Shared by every view: where the library is, which models are installed, which device to use."""

    def __init__(self, db_path: str | Path, registry: Registry | None = None, device: str = "auto",
                 threads: int = 0, neutral_band: float | None = None):
        self.db_path = str(db_path)
        self.registry = registry or Registry()
        self.store = Store(self.db_path)  # GUI-thread reads only; workers open their own
        self.device = device
        self.threads = threads
        self.neutral_band = neutral_band  # None: the sentiment model's own band
        self.analyzer = Analyzer(registry=self.registry, runtime=RuntimeOptions(device=device, intra_op_threads=threads))

    def set_device(self, device: str, threads: int | None = None) -> None:
        """Use another device (or thread count) from the next analysis on (models reload lazily)."""
        threads = self.threads if threads is None else threads
        if device == self.device and threads == self.threads:
            return
        self.device, self.threads = device, threads
        old = self.analyzer
        self.analyzer = Analyzer(registry=self.registry, runtime=RuntimeOptions(device=device, intra_op_threads=threads),
                                 model_ids=dict(old.model_ids))
        old.unload()

    def sentiment_band(self) -> float:
        """The neutral band in force: the user's, else the default sentiment model's own."""
        if self.neutral_band is not None:
            return self.neutral_band
        try:
            return self.analyzer.resolve(AnalysisOptions(tasks=("sentiment",))).neutral_band or 0.0
        except Exception:  # noqa: BLE001 - no sentiment model installed
            return 0.0

    def set_library(self, db_path: str | Path) -> None:
        """Use another library file from now on (the GUI thread's store is reopened on it)."""
        new = Store(str(db_path))
        old, self.store, self.db_path = self.store, new, str(db_path)
        old.close()

    def close(self) -> None:
        self.analyzer.unload()
        self.store.close()
