"""Analyse many files as one resumable job: progress callback, cancel between documents, errors recorded."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from app.core.analyzer import AnalysisOptions, Analyzer
from app.core.documents import collect_files, iter_documents
from app.core.errors import AlbertStudioError, Cancelled, DocumentError
from app.core.store import Store
from app.core.types import Analysis, Document


@dataclass(frozen=True)
class BatchProgress:
    files_total: int
    files_done: int
    documents_done: int
    failed: int
    reused: int
    current: str
    elapsed: float
    file_share: float = 0.0  # how far through the current file reading is (tables only; 0..1)

    @property
    def fraction(self) -> float:
        if not self.files_total:
            return 1.0
        return min(1.0, (self.files_done + self.file_share) / self.files_total)

    @property
    def remaining(self) -> float | None:
        """Seconds left, estimated from the pace so far (None until some of the work is done)."""
        done = self.fraction
        if not self.files_total or done <= 0:
            return None
        return self.elapsed / done * (1.0 - done)


@dataclass
class BatchReport:
    run_id: int | None
    status: str = "running"  # done | cancelled | failed
    analyses: int = 0
    reused: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0


def run_batch(
    paths: Iterable[str | Path],
    analyzer: Analyzer,
    store: Store | None,
    options: AnalysisOptions = AnalysisOptions(),
    *,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    text_field: str | None = None,
    progress: Callable[[BatchProgress], None] | None = None,
    on_result: Callable[[Analysis], None] | None = None,
    on_error: Callable[[str, str], None] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    chunk_documents: int = 32,
    chunk_chars: int = 200_000,
) -> BatchReport:
    """Analyse every document under `paths`; results already stored for the same text and models are reused.

    Documents are analysed in chunks of up to `chunk_documents` documents (or `chunk_chars` characters) so the
    models see full batches; results and errors are still reported and stored in input order, each document
    committed on its own, so a killed process loses at most the chunk in hand and running the same batch again
    redoes only what was not committed. If a chunk fails as a whole, its documents are redone one by one, so
    one bad document cannot fail the others. Cancel takes effect between documents and between a chunk's tasks.
    """
    t0 = time.perf_counter()
    files = collect_files(list(paths), include, exclude)
    task_models = analyzer.task_models(options)
    params_keys = {t: k[2] for t, k in task_models.items()}
    run_id = store.start_run("analyze", {"paths": [str(p) for p in paths], "tasks": list(options.tasks),
                                         "params": params_keys}, len(files)) if store else None
    report = BatchReport(run_id)
    done_files = 0
    pending: list = []  # in input order: DocumentError, ("reused", Analysis) or a Document to analyse
    pending_chars = 0
    file_share = 0.0  # how far through the current file reading is, for tables of many rows

    def read_position(_path, share: float):
        nonlocal file_share
        file_share = share

    def tick(current: str):
        if progress:
            progress(BatchProgress(len(files), done_files, report.analyses, len(report.errors), report.reused,
                                   current, time.perf_counter() - t0, file_share if current else 0.0))

    def fail(source: str, reason: str):
        report.errors.append((source, reason))
        if store:
            store.record_error(run_id, source, reason)
        if on_error:
            on_error(source, reason)

    def analyse_one(doc: Document) -> Analysis | str:
        try:
            a = analyzer.analyze(doc, options, cancelled)
            return a.error if a.error else a
        except AlbertStudioError as exc:
            return str(exc)
        except (ValueError, MemoryError, RuntimeError) as exc:  # a task could not handle this text
            return f"analysis failed: {exc}"

    def flush(current: str = "", analyse: bool = True):
        """Analyse the chunk in hand, then report and store its entries in input order. With analyse=False
        (on cancel) only the entries before its first unanalysed document: errors and reused results."""
        nonlocal pending, pending_chars
        if not analyse:
            first = next((k for k, e in enumerate(pending) if isinstance(e, Document)), len(pending))
            pending = pending[:first]
        unique: dict[str, Document] = {}  # the same text twice in a chunk (repeated CSV rows) is analysed once
        for e in pending:
            if isinstance(e, Document):
                unique.setdefault(e.content_hash or str(id(e)), e)
        docs = list(unique.values())
        results: list[Analysis | str] = []
        if len(docs) == 1:
            results = [analyse_one(docs[0])]
        elif docs:
            try:
                results = [a.error if a.error else a for a in analyzer.analyze_many(docs, options, cancelled)]
            except (AlbertStudioError, ValueError, MemoryError, RuntimeError):
                results = [analyse_one(d) for d in docs]  # find the one that fails; the rest still count
        by_key = dict(zip(unique, results))
        for entry in pending:
            if isinstance(entry, DocumentError):
                fail(entry.source, entry.reason)
                continue
            if isinstance(entry, Document):
                key = entry.content_hash or str(id(entry))
                result = by_key[key]
                if isinstance(result, str):
                    fail(entry.source, result)
                    continue
                if result.document is not entry:  # a copy of an earlier document of this chunk
                    result = Analysis(entry, result.sentiment, result.summary, result.translation,
                                      result.models, 0.0)
                    report.reused += 1
                if store:
                    store.save_analysis(result, run_id, params_keys)
            else:
                result = entry[1]
                if store:
                    store.save_analysis(result, run_id, params_keys)  # records this path as a source
                report.reused += 1
            report.analyses += 1
            if on_result:
                on_result(result)
        pending, pending_chars = [], 0
        if store:
            store.update_run_progress(run_id, report.analyses, len(report.errors))
        if current:
            tick(current)  # document counts move inside a long file (a CSV of thousands of rows) too

    try:
        for path in files:
            file_share = 0.0
            tick(str(path))
            for item in iter_documents([path], text_field=text_field, progress=read_position):
                if cancelled():
                    flush(analyse=False)
                    report.status = "cancelled"
                    return report
                if isinstance(item, DocumentError):
                    pending.append(item)
                    continue
                reused = None
                if store and store.has_results(item.content_hash, task_models):
                    doc_id = store.find_document(item.content_hash)
                    stored = store.load_analysis(doc_id) if doc_id is not None else None
                    if stored is not None:
                        reused = Analysis(item, stored.sentiment, stored.summary, stored.translation,
                                          stored.models, stored.seconds)
                if reused is not None:
                    pending.append(("reused", reused))
                else:
                    pending.append(item)
                    pending_chars += len(item.text)
                if len(pending) >= chunk_documents or pending_chars >= chunk_chars:  # reused rows count too
                    flush(str(path))
            done_files += 1
        flush()
        report.status = "done"
        tick("")
        return report
    except Cancelled:
        report.status = "cancelled"
        return report
    except BaseException:
        report.status = "failed"
        raise
    finally:
        report.seconds = time.perf_counter() - t0
        if store and run_id is not None:
            store.finish_run(run_id, report.status if report.status != "running" else "failed",
                             report.analyses, len(report.errors))
