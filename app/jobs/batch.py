"""Analyse many files as one resumable job: progress callback, cancel between documents, errors recorded."""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from app.core.analyzer import AnalysisOptions, Analyzer, params_keys
from app.core.documents import DEFAULT_MAX_CHARS, collect_files, iter_documents
from app.core.errors import AlbertStudioError, Cancelled, DocumentError, ModelError
from app.core.store import Store
from app.core.types import Analysis, Document
from app.jobs.analyze import stored_result


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
    documents_total: int = 0  # documents (and row errors) expected in all, when known up front; else 0

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


class Eta:
    """Time left from the pace of the last `window_s` seconds, not of the whole run: a resumed batch
    races through documents already in the library, then slows to the real pace, and an estimate from
    the average would stay far too low."""

    def __init__(self, window_s: float = 20.0, warmup_s: float = 2.0):
        self.window_s, self.warmup_s = window_s, warmup_s
        self._samples: deque[tuple[float, float]] = deque()

    def update(self, p: BatchProgress) -> float | None:
        """Feed a progress report; returns the seconds left (None until the pace is known)."""
        t, f = p.elapsed, p.fraction
        self._samples.append((t, f))
        while len(self._samples) > 2 and self._samples[1][0] < t - self.window_s:
            self._samples.popleft()
        t0, f0 = self._samples[0]
        if f >= 1.0:
            return 0.0
        if t - t0 < self.warmup_s or f <= f0:
            return None
        return (1.0 - f) * (t - t0) / (f - f0)

    def clear(self) -> None:
        self._samples.clear()


@dataclass
class BatchReport:
    run_id: int | None
    status: str = "running"  # done | cancelled | failed
    analyses: int = 0
    reused: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    not_analysed: int = 0  # documents read but left when the batch was cancelled (not errors)
    files_not_reached: int = 0  # files not opened before the cancel

    def summary(self) -> str:
        """'Cancelled: 34 analysed, 0 errors, 166 files not analysed (run again to resume)' and the like."""
        words = {"done": "Finished", "cancelled": "Cancelled", "failed": "Failed"}
        text = f"{words.get(self.status, self.status)}: {self.analyses} analysed, {len(self.errors)} errors"
        if self.status == "cancelled":
            left = []
            if self.not_analysed:
                left.append(f"{self.not_analysed} documents")
            if self.files_not_reached:
                left.append(f"{self.files_not_reached} files")
            if left:
                text += f", {' and '.join(left)} not analysed (run again to resume)"
        return text


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
    read: Callable[[Path], Iterable[Document | DocumentError]] | None = None,
    chunk_seconds: float = 0.5,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> BatchReport:
    """Analyse every document under `paths`; results already stored for the same text and models are reused.

    Documents are analysed in chunks of up to `chunk_documents` documents (or `chunk_chars` characters) so the
    models see full batches; results and errors are still reported and stored in input order, each document
    committed on its own, so a killed process loses at most the chunk in hand and running the same batch again
    redoes only what was not committed. If a chunk fails as a whole, its documents are redone one by one, so
    one bad document cannot fail the others. A chunk also ends once it holds about `chunk_seconds` of work
    at the pace measured so far, so results arrive every half second or so however long the documents are.
    Cancel takes effect between documents and after every model batch inside a chunk (within a second); the
    chunk's unfinished documents are then "not analysed" (report.not_analysed), not errors, and the read
    errors and reused results in hand are still recorded.
    `read(path)`, if given, replaces the file reader (a cluster worker reads one span of a big table with it).
    A document longer than `max_chars` characters is an error (too long), like an unreadable file.
    Every model is loaded and verified once, before the first document: a model that cannot load or fails
    while running stops the batch with one error (run "failed", ModelError raised), not one per document.
    Ctrl+C (KeyboardInterrupt) records the run as cancelled and is raised again.
    """
    t0 = time.perf_counter()
    paths = list(paths)  # iterated twice below (listing, the run's record): a generator must not run dry
    files = collect_files(paths, include, exclude)
    task_models = analyzer.task_models(options)
    keys = params_keys(task_models)
    run_id = store.start_run("analyze", {"paths": [str(p) for p in paths], "tasks": list(options.tasks),
                                         "params": keys}, len(files)) if store else None
    report = BatchReport(run_id)
    done_files = 0
    pending: list = []  # in input order: DocumentError, ("reused", Analysis) or a Document to analyse
    pending_chars = 0
    file_share = 0.0  # how far through the current file reading is, for tables of many rows
    pace = {"seconds": 0.0, "documents": 0}  # analysis time per document so far, to size chunks by time

    def read_position(_path, share: float):
        nonlocal file_share
        file_share = share

    def tick(current: str):
        if progress:
            progress(BatchProgress(len(files), done_files, report.analyses, len(report.errors), report.reused,
                                   current, time.perf_counter() - t0, file_share if current else 0.0))

    def chunk_size() -> int:
        """Documents per chunk: `chunk_documents`, fewer when that many would take over `chunk_seconds`."""
        if not pace["documents"]:
            return min(chunk_documents, 8)  # the first chunk is small: results show at once, the pace is measured
        per_doc = pace["seconds"] / pace["documents"]
        return max(1, min(chunk_documents, int(chunk_seconds / max(per_doc, 1e-6))))

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
        except (Cancelled, ModelError):  # a broken model fails every document alike: stop the batch
            raise
        except AlbertStudioError as exc:
            return str(exc)
        except (ValueError, MemoryError, RuntimeError) as exc:  # a task could not handle this text
            return f"analysis failed: {exc}"

    def flush(current: str = "", analyse: bool = True):
        """Analyse the chunk in hand, then report and store its entries in input order. With analyse=False
        (on cancel) only its read errors and reused results; its documents count as not analysed."""
        nonlocal pending, pending_chars
        if not analyse:
            report.not_analysed += sum(isinstance(e, Document) for e in pending)
            pending = [e for e in pending if not isinstance(e, Document)]
        unique: dict[str, Document] = {}  # the same text twice in a chunk (repeated CSV rows) is analysed once
        for e in pending:
            if isinstance(e, Document):
                unique.setdefault(e.content_hash or str(id(e)), e)
        docs = list(unique.values())
        results: list[Analysis | str] = []
        started = time.perf_counter()
        if len(docs) == 1:
            results = [analyse_one(docs[0])]
        elif docs:
            try:
                results = [a.error if a.error else a for a in analyzer.analyze_many(docs, options, cancelled)]
            except (Cancelled, ModelError):
                raise
            except (AlbertStudioError, ValueError, MemoryError, RuntimeError):
                results = [analyse_one(d) for d in docs]  # find the one that fails; the rest still count
        if docs:
            pace["seconds"] += time.perf_counter() - started
            pace["documents"] += len(docs)
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
                        store.save_analysis(result, run_id, keys, reused=True)
                elif store:
                    store.save_analysis(result, run_id, keys)
            else:
                result = entry[1]
                if store:  # records this path as a source and that this run covered it; results keep their run
                    store.save_analysis(result, run_id, keys, reused=True)
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
        for task in options.tasks:  # load and verify each model once, before any document is read
            analyzer.model(task, options.target_lang)
        for path in files:
            file_share = 0.0
            tick(str(path))
            items = read(path) if read else iter_documents([path], text_field=text_field, progress=read_position,
                                                           max_chars=max_chars)
            for item in items:
                if cancelled():
                    flush(analyse=False)
                    if isinstance(item, Document):
                        report.not_analysed += 1  # read, never analysed
                    report.status = "cancelled"
                    report.files_not_reached = max(0, len(files) - done_files - 1)
                    return report
                if isinstance(item, DocumentError):
                    pending.append(item)
                    continue
                found = stored_result(store, item, task_models) if store else None
                if found is not None:
                    pending.append(("reused", found[1]))
                else:
                    pending.append(item)
                    pending_chars += len(item.text)
                if len(pending) >= chunk_size() or pending_chars >= chunk_chars:  # reused rows count too
                    flush(str(path))
            done_files += 1
        flush()
        report.status = "done"
        tick("")
        return report
    except Cancelled:  # inside a chunk: keep what it read, count its documents as not analysed
        flush(analyse=False)
        report.status = "cancelled"
        report.files_not_reached = max(0, len(files) - done_files - 1)
        return report
    except ModelError as exc:
        fail("(model)", str(exc))
        report.status = "failed"
        raise
    except KeyboardInterrupt:  # Ctrl+C in the CLI: what was saved stays, the run says cancelled
        report.status = "cancelled"
        raise
    except BaseException:
        report.status = "failed"
        raise
    finally:
        report.seconds = time.perf_counter() - t0
        if store and run_id is not None:
            store.finish_run(run_id, report.status if report.status != "running" else "failed",
                             report.analyses, len(report.errors))
