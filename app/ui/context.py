"""The window's handle on the core: the library file, the registry, the analyzer for the chosen device.

The functions below run inside background ops. They read a file and hand it to app.jobs.analyze (the one
read -> analyse -> store path, which reuses stored results), each opening its own Store, so the GUI
thread's store is never used from two threads.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from app.core.analyzer import AnalysisOptions, Analyzer
from app.core.documents import read_document
from app.core.errors import DocumentError
from app.core.registry import Registry
from app.core.runtime import RuntimeOptions
from app.core.store import Store
from app.core.types import ANALYSIS_TASKS, Analysis, Document
from app.jobs.analyze import analyze_and_store

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
