"""Analyse many files as one resumable job: progress callback, cancel between documents, errors recorded."""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from app.core.analyzer import AnalysisOptions, Analyzer
from app.core.documents import DEFAULT_MAX_CHARS, collect_files, iter_documents
from app.core.errors import AlbertStudioError, Cancelled, DocumentError, ModelError
from app.core.store import Store
from app.core.types import Analysis, Document
from app.jobs.recorder import Recorder


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
    job = _BatchJob(analyzer, store, options, t0=t0, progress=progress, on_result=on_result, on_error=on_error,
                    cancelled=cancelled, chunk_documents=chunk_documents, chunk_chars=chunk_chars,
                    chunk_seconds=chunk_seconds)

    def read_file(path: Path) -> Iterable[Document | DocumentError]:
        return iter_documents([path], text_field=text_field, progress=job.read_position, max_chars=max_chars)

    return job.run(paths, files, read or read_file)


class _BatchJob:
    """One run_batch: the chunk in hand, the counts and the pace, and the steps that move them."""

    def __init__(self, analyzer: Analyzer, store: Store | None, options: AnalysisOptions, *, t0: float,
                 progress: Callable[[BatchProgress], None] | None,
                 on_result: Callable[[Analysis], None] | None,
                 on_error: Callable[[str, str], None] | None,
                 cancelled: Callable[[], bool],
                 chunk_documents: int, chunk_chars: int, chunk_seconds: float):
        self.t0 = t0
        self.analyzer, self.options = analyzer, options
        self.progress, self.on_result, self.on_error, self.cancelled = progress, on_result, on_error, cancelled
        self.chunk_documents, self.chunk_chars, self.chunk_seconds = chunk_documents, chunk_chars, chunk_seconds
        self.recorder = Recorder(store, analyzer.task_models(options))
        self.report = BatchReport(None)
        self.files: list[Path] = []
        self.done_files = 0
        self.pending: list = []  # in input order: DocumentError, ("reused", Analysis) or a Document to analyse
        self.pending_chars = 0
        self.file_share = 0.0  # how far through the current file reading is, for tables of many rows
        self.pace_seconds, self.pace_documents = 0.0, 0  # analysis time per document so far, to size chunks

    def read_position(self, _path, share: float) -> None:
        self.file_share = share

    def tick(self, current: str) -> None:
        if self.progress:
            r = self.report
            self.progress(BatchProgress(len(self.files), self.done_files, r.analyses, len(r.errors), r.reused,
                                        current, time.perf_counter() - self.t0,
                                        self.file_share if current else 0.0))

    def chunk_size(self) -> int:
        """Documents per chunk: `chunk_documents`, fewer when that many would take over `chunk_seconds`."""
        if not self.pace_documents:
            return min(self.chunk_documents, 8)  # the first chunk is small: results show at once, the pace is measured
        per_doc = self.pace_seconds / self.pace_documents
        return max(1, min(self.chunk_documents, int(self.chunk_seconds / max(per_doc, 1e-6))))

    def fail(self, source: str, reason: str) -> None:
        self.report.errors.append((source, reason))
        self.recorder.error(source, reason)
        if self.on_error:
            self.on_error(source, reason)

    def run(self, paths: list, files: list[Path], read: Callable[[Path], Iterable[Document | DocumentError]]
            ) -> BatchReport:
        """Load the models, read every file and analyse it chunk by chunk; the run is recorded whatever happens."""
        self.files = files
        self.report.run_id = self.recorder.start_run(
            {"paths": [str(p) for p in paths], "tasks": list(self.options.tasks)}, len(files))
        try:
            for task in self.options.tasks:  # load and verify each model once, before any document is read
                self.analyzer.model(task, self.options.target_lang)
            for path in files:
                if not self.read_file(path, read):
                    return self.cancel(not_reached=max(0, len(files) - self.done_files - 1))
                self.done_files += 1
            self.flush()
            self.report.status = "done"
            self.tick("")
            return self.report
        except Cancelled:  # inside a chunk: keep what it read, count its documents as not analysed
            self.flush(analyze=False)
            return self.cancel(not_reached=max(0, len(files) - self.done_files - 1))
        except ModelError as exc:
            self.fail("(model)", str(exc))
            self.report.status = "failed"
            raise
        except KeyboardInterrupt:  # Ctrl+C in the CLI: what was saved stays, the run says cancelled
            self.report.status = "cancelled"
            raise
        except BaseException as exc:
            self.report.status = "failed"
            try:  # a failed run says why (unless the library itself is what failed)
                self.fail("(batch)", f"the run stopped: {type(exc).__name__}: {exc}"[:500])
            except Exception:  # noqa: BLE001 - the original error is the one to raise
                pass
            raise
        finally:
            self.report.seconds = time.perf_counter() - self.t0
            self.recorder.finish(self.report.status, self.report.analyses, len(self.report.errors))

    def cancel(self, not_reached: int) -> BatchReport:
        self.report.status = "cancelled"
        self.report.files_not_reached = not_reached
        return self.report

    def read_file(self, path: Path, read: Callable[[Path], Iterable[Document | DocumentError]]) -> bool:
        """Queue one file's documents (stored results found now), flushing full chunks; False when cancelled."""
        self.file_share = 0.0
        self.tick(str(path))
        for item in _each(read, path):
            if self.cancelled():
                self.flush(analyze=False)
                if isinstance(item, Document):
                    self.report.not_analysed += 1  # read, never analysed
                return False
            if isinstance(item, DocumentError):
                self.pending.append(item)
                continue
            found = self.recorder.reusable(item)
            if found is not None:
                self.pending.append(("reused", found[1]))
            else:
                self.pending.append(item)
                self.pending_chars += len(item.text)
            if len(self.pending) >= self.chunk_size() or self.pending_chars >= self.chunk_chars:  # reused rows count too
                self.flush(str(path))
        return True

    def analyze_one(self, doc: Document) -> Analysis | str:
        try:
            a = self.analyzer.analyze(doc, self.options, self.cancelled)
            return a.error if a.error else a
        except (Cancelled, ModelError):  # a broken model fails every document alike: stop the batch
            raise
        except AlbertStudioError as exc:
            return str(exc)
        except (ValueError, MemoryError, RuntimeError) as exc:  # a task could not handle this text
            return f"analysis failed: {exc}"

    def analyze_chunk(self, docs: list[Document]) -> list[Analysis | str]:
        """Each document's Analysis or error reason; a chunk that fails as a whole is redone one by one."""
        results: list[Analysis | str] = []
        started = time.perf_counter()
        if len(docs) == 1:
            results = [self.analyze_one(docs[0])]
        elif docs:
            try:
                results = [a.error if a.error else a
                           for a in self.analyzer.analyze_many(docs, self.options, self.cancelled)]
            except (Cancelled, ModelError):
                raise
            except (AlbertStudioError, ValueError, MemoryError, RuntimeError):
                results = [self.analyze_one(d) for d in docs]  # find the one that fails; the rest still count
        if docs:
            self.pace_seconds += time.perf_counter() - started
            self.pace_documents += len(docs)
        return results

    def flush(self, current: str = "", analyze: bool = True) -> None:
        """Analyse the chunk in hand, then report and store its entries in input order. With analyze=False
        (on cancel) only its read errors and reused results; its documents count as not analysed."""
        if not analyze:
            self.report.not_analysed += sum(isinstance(e, Document) for e in self.pending)
            self.pending = [e for e in self.pending if not isinstance(e, Document)]
        unique: dict[str, Document] = {}  # the same text twice in a chunk (repeated CSV rows) is analysed once
        for e in self.pending:
            if isinstance(e, Document):
                unique.setdefault(e.content_hash or str(id(e)), e)
        by_key = dict(zip(unique, self.analyze_chunk(list(unique.values()))))
        for entry in self.pending:
            self.record(entry, by_key)
        self.pending, self.pending_chars = [], 0
        self.recorder.progress(self.report.analyses, len(self.report.errors))
        if current:
            self.tick(current)  # document counts move inside a long file (a CSV of thousands of rows) too

    def record(self, entry, by_key: dict[str, Analysis | str]) -> None:
        """One entry of the chunk into the report, the library and the callbacks."""
        if isinstance(entry, DocumentError):
            self.fail(entry.source, entry.reason)
            return
        if isinstance(entry, Document):
            result = by_key[entry.content_hash or str(id(entry))]
            if isinstance(result, str):
                self.fail(entry.source, result)
                return
            if result.document is not entry:  # a copy of an earlier document of this chunk
                result = Analysis(entry, result.sentiment, result.summary, result.translation, result.models, 0.0)
                self.report.reused += 1
                self.recorder.save(result, reused=True)
            else:
                self.recorder.save(result)
        else:
            result = entry[1]
            self.recorder.save(result, reused=True)  # this path, and that this run covered it; results keep their run
            self.report.reused += 1
        self.report.analyses += 1
        if self.on_result:
            self.on_result(result)


def _each(read: Callable[[Path], Iterable[Document | DocumentError]], path: Path
          ) -> Iterator[Document | DocumentError]:
    """`read(path)`'s items; a reader that breaks down (a bug or input no check foresaw) becomes an error of
    that file, after the items it gave: the other files and the rows already read still count."""
    it = None
    while True:
        try:
            it = iter(read(path)) if it is None else it
            item = next(it)
        except StopIteration:
            return
        except (Cancelled, KeyboardInterrupt):
            raise
        except DocumentError as exc:  # a reader that raises its file's error instead of yielding it
            yield exc
            return
        except Exception as exc:  # noqa: BLE001 - recorded as this file's error
            yield DocumentError(path, f"reading stopped: {type(exc).__name__}: {exc}"[:500])
            return
        yield item
