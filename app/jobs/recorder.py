"""Reuse a stored result or analyse and save: how every job (one document, a batch, a cluster merge) writes
to the library.

    recorder = Recorder(store, analyzer.task_models(options))
    recorder.start_run({"paths": [...]}, n_total=len(files))
    found = recorder.reusable(document)            # (document id, Analysis) or None
    recorder.save(analysis) / recorder.save(found[1], reused=True) / recorder.error(source, reason)
    recorder.finish("done", analyses, errors)

A stored result is reused only when every task has one made with the same model id, version and params
key (`Analyzer.task_models`); nothing is written for an analysis that failed. With `store=None` every
call is a no-op that finds nothing, so a job runs the same without a library.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from app.core.store import Store
from app.core.types import Analysis, Document

TaskModels = dict[str, tuple[str, str, str]]  # task -> (model id, model version, params key)


@dataclass
class Recorder:
    """One run's writes to the library (`store`), for results made with `task_models`."""

    store: Store | None
    task_models: TaskModels
    run_id: int | None = None
    params_keys: dict[str, str] = field(init=False)  # task -> the params key its results are stored under

    def __post_init__(self):
        self.params_keys = {task: key for task, (_model_id, _version, key) in self.task_models.items()}

    def start_run(self, params: dict, n_total: int, kind: str = "analyze") -> int | None:
        """Record the start of a run (its params get the params keys); returns its id (None without a library)."""
        if self.store is not None:
            self.run_id = self.store.start_run(kind, {**params, "params": self.params_keys}, n_total)
        return self.run_id

    def reusable_by_hash(self, content_hash: str) -> tuple[int, Analysis] | None:
        """(document id, the stored Analysis) when every task has a result for this text made with the run's
        models and params keys; None when something must be computed."""
        if self.store is None:
            return None
        return self.store.find_results(content_hash, self.task_models)

    def reusable(self, document: Document) -> tuple[int, Analysis] | None:
        """As `reusable_by_hash`, the stored Analysis rebuilt around `document` (its path, title, metadata)."""
        found = self.reusable_by_hash(document.content_hash)
        if found is None:
            return None
        doc_id, stored = found
        language = stored.language
        if language is None:  # stored before languages were detected: detected now, and kept by save(reused=True)
            from app.core.language import detect_document_language

            language = detect_document_language(document.text)
        return doc_id, replace(stored, document=document, error=None, language=language)

    def save(self, analysis: Analysis, reused: bool = False) -> int | None:
        """Keep an analysis (reused=True: only its path and that this run covered it; the results keep the run
        that computed them); returns the document id (None without a library)."""
        if self.store is None:
            return None
        return self.store.save_analysis(analysis, self.run_id, self.params_keys, reused=reused)

    def error(self, source: str, reason: str) -> None:
        """Note a document the run could not analyse."""
        if self.store is not None:
            self.store.record_error(self.run_id, source, reason)

    def progress(self, analyses: int, errors: int) -> None:
        if self.store is not None and self.run_id is not None:
            self.store.update_run_progress(self.run_id, analyses, errors)

    def finish(self, status: str, analyses: int, errors: int) -> None:
        """Close the run; a status still "running" (an exception left it so) is recorded as failed."""
        if self.store is not None and self.run_id is not None:
            self.store.finish_run(self.run_id, status if status != "running" else "failed", analyses, errors)
