"""Batches larger than one machine: the same analysis as run_batch, spread over a Ray cluster.

The driver (this process) lists the documents as run_batch does and cuts them into shards: runs of files,
or spans of one big CSV/JSONL table (`table_spans`, so a 10 GB file spreads over the workers). Shards an
earlier run already committed to the same output folder are skipped; the rest go to a Ray Data actor pool.
Each actor holds one Analyzer (ONNX Runtime threads = the actor's CPUs) whose model files it first checks
against the driver's sha256 sums, analyses a shard with run_batch itself (same chunks, same per-document
errors), skips texts the library already holds (by content hash, as run_batch does), and commits the shard
as one JSON Lines file, written then renamed. The driver reports progress and, with a library, merges the
shards into it in input order: the SQLite library stays a single-writer file on the driver.

Ray is imported only when a run starts (`pip install 'albert-studio[cluster]'`); app.core never imports it.
Shard rows, in input order within a shard and shard files in input order by name:

    {"source": ..., "document": {...}, "sentiment": {...}, "summary": {...}, "translation": {...},
     "language": {...}, "classifications": [...], "models": [...], "seconds": ...}
                                                  analysed (each result as the library's payload holds it)
    {"source": ..., "error": "..."}               a document that could not be read or analysed
    {"source": ..., "reused": true, "document": {...}}    already in the library when the run started
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator

from app.core.analyzer import AnalysisOptions, Analyzer
from app.core.documents import (DEFAULT_MAX_CHARS, TABLE_SUFFIXES, TableSpan, collect_files, iter_documents,
                                read_table, table_spans)
from app.core.errors import AlbertStudioError, DocumentError, ModelError
from app.core.registry import Manifest, Registry, read_manifest, verify
from app.core.runtime import RuntimeOptions
from app.core.store import Store, result_from_payload
from app.core.store.payloads import language_columns, language_from
from app.core.types import Analysis, Document, ModelInfo, classification_task
from app.jobs.batch import BatchProgress, BatchReport, run_batch
from app.jobs.recorder import Recorder

PLAN_FILE = "plan.json"
DRIVER_LOG = "ray-driver.log"  # what Ray prints in the driver process (app.jobs.cluster._Driver)
PLAN_FORMAT = 1
INSTALL_HINT = "pip install 'albert-studio[cluster]' (or: pip install 'ray[data]')"


class ClusterError(AlbertStudioError):
    """A cluster run cannot start or go on: Ray missing, no cluster at the address, a worker's models wrong..."""


@dataclass(frozen=True)
class ClusterOptions:
    address: str | None = None  # None: a Ray runtime started here; "auto", "HOST:6379" or "ray://HOST:10001"
    workers: int = 2  # actors in the pool, each with its own Analyzer
    cpus_per_worker: float = 1.0  # Ray CPUs per actor; also its ONNX Runtime threads
    shard_documents: int = 256  # documents per shard (files, or rows of a big table)
    shard_bytes: int = 16_000_000
    runtime_env: dict | None = None  # for the worker actors (env_vars, py_modules, pip...), see Ray's docs


@dataclass(frozen=True)
class Shard:
    """One unit of work: whole files (read as run_batch reads them), or one span of one table file."""

    index: int
    files: tuple[str, ...] = ()
    span: TableSpan | None = None  # with exactly one file: the rows of that table between two offsets
    documents: int = 0  # documents (and row errors) expected; 0 when not known

    def to_json(self) -> dict:
        return {"index": self.index, "files": list(self.files), "documents": self.documents,
                "span": asdict(self.span) if self.span else None}

    @staticmethod
    def from_json(d: dict) -> Shard:
        return Shard(d["index"], tuple(d["files"]), TableSpan(**d["span"]) if d.get("span") else None,
                     d.get("documents", 0))


@dataclass
class ClusterReport(BatchReport):
    out: str = ""
    shards: int = 0
    shards_done_before: int = 0  # committed by an earlier run into the same folder, not redone
    workers: set = field(default_factory=set)  # (host, pid) of every actor that committed a shard


def shard_name(index: int) -> str:
    return f"shard-{index:06d}.jsonl"


# ---------------------------------------------------------------- rows


def analysis_row(a: Analysis) -> dict:
    d = a.document
    row = {"source": d.source, "document": _document_fields(d, with_text=True)}
    for task in ("sentiment", "summary", "translation"):
        result = getattr(a, task)
        if result is not None:
            row[task] = asdict(result)
    if a.language is not None:  # the library's language columns, as the local engine stores them
        row["language"] = language_columns(a.language)
    if a.classifications:
        row["classifications"] = [asdict(c) for c in a.classifications]
    row["models"] = [asdict(m) for m in a.models]
    row["seconds"] = a.seconds
    return row


def _document_fields(d: Document, with_text: bool) -> dict:
    out = {"title": d.title, "format": d.format, "encoding": d.encoding, "content_hash": d.content_hash,
           "mtime": d.mtime, "metadata": [list(p) for p in d.metadata]}
    if with_text:
        out["text"] = d.text
    return out


def row_document(row: dict, text: str | None = None) -> Document:
    d = row["document"]
    return Document(source=row["source"], text=d["text"] if text is None else text, title=d["title"],
                    format=d["format"], encoding=d["encoding"], content_hash=d["content_hash"], mtime=d["mtime"],
                    metadata=tuple((str(k), str(v)) for k, v in d["metadata"]))


def row_analysis(row: dict) -> Analysis:
    """The Analysis an analysed shard row holds."""
    results = {t: result_from_payload(t, row[t]) for t in ("sentiment", "summary", "translation") if row.get(t)}
    classes = tuple(result_from_payload(classification_task(c["name"]), c) for c in row.get("classifications", ()))
    return Analysis(row_document(row), models=tuple(ModelInfo(**m) for m in row.get("models", ())),
                    seconds=row.get("seconds", 0.0), language=language_from(row.get("language") or {}),
                    classifications=classes, **results)


def read_shard(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_results(out: str | Path) -> Iterator[dict]:
    """Every row of a run's output folder, in input order."""
    for p in sorted(Path(out).glob("shard-*.jsonl")):
        yield from read_shard(p)


def _commit(path: Path, rows: Iterable[dict]) -> None:
    """Write then rename: a shard file is there whole or not at all, whoever is killed when."""
    tmp = path.with_name(f".{path.name}.{socket.gethostname()}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ---------------------------------------------------------------- planning (driver)


def plan_shards(files: list[Path], text_field: str | None, shard_documents: int, shard_bytes: int) -> list[Shard]:
    """Consecutive files grouped into shards of about `shard_documents`; big tables cut into spans."""
    shards: list[Shard] = []
    group: list[str] = []
    group_docs = group_bytes = 0

    def close():
        nonlocal group, group_docs, group_bytes
        if group:
            shards.append(Shard(len(shards), tuple(group), None, group_docs))
        group, group_docs, group_bytes = [], 0, 0

    for f in files:
        docs, size = 1, _size(f)
        if f.suffix.lower() in TABLE_SUFFIXES:
            spans = table_spans(f, text_field, rows_per_span=shard_documents, bytes_per_span=shard_bytes)
            if len(spans) > 1:
                close()
                first = len(shards)
                shards.extend([Shard(first + k, (str(f),), s, s.rows) for k, s in enumerate(spans)])
                continue
            docs = spans[0].rows or 1
        if group and (group_docs + docs > shard_documents or group_bytes + size > shard_bytes):
            close()
        group.append(str(f))
        group_docs += docs
        group_bytes += size
    close()
    return shards


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _stat_key(path: Path) -> list:
    try:
        st = path.stat()
        return [str(path), st.st_size, st.st_mtime_ns]
    except OSError:
        return [str(path), None, None]


def _model_specs(analyzer: Analyzer, options: AnalysisOptions) -> list[dict]:
    """What each worker must load: id, version, the driver's folder and the sha256 of every file."""
    specs = []

    def add(task: str, key: str, man: Manifest) -> None:
        verify(man, check_graphs=False)  # a damaged install on the driver fails here, before the cluster starts
        specs.append({"task": task, "key": key, "id": man.id, "version": man.version,
                      "folder": str(Path(man.folder).resolve()), "files": dict(man.files)})

    for task in options.tasks:
        man = analyzer.manifest_for(task, options.target_lang)
        add(task, f"translation:{options.target_lang}" if task == "translation" else task, man)
        shared = man.raw.get("shared_encoder") if task == "summary" else None
        if isinstance(shared, dict) and isinstance(shared.get("model"), str):
            # heads on another model's encoder: the worker needs that model too (with --tasks summary alone,
            # no sentiment spec brings it, and every worker failed to load the summary model)
            add("summary-encoder", "summary-encoder", analyzer.registry.get(shared["model"]))
    return specs


def default_out_dir(key: str, store: Store | None = None) -> Path:
    """Next to the library (or in the user data folder without one), named after the run."""
    if store is not None and store.path != ":memory:":
        return Path(store.path).resolve().parent / "cluster-runs" / key[:16]
    import platformdirs

    return Path(platformdirs.user_data_dir("albert-studio")) / "cluster-runs" / key[:16]


def _load_or_plan(out: Path, key: str, files: list[Path], text_field, cluster: ClusterOptions) -> list[Shard]:
    plan_file = out / PLAN_FILE
    if plan_file.exists():
        try:
            plan = json.loads(plan_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ClusterError(f"{plan_file} cannot be read ({exc}); remove the folder or choose another --out")
        if plan.get("key") != key:
            raise ClusterError(f"{out} holds the output of a different run (other files, options or models); "
                               "choose another --out, or remove that folder to start over")
        return [Shard.from_json(s) for s in plan["shards"]]
    shards = plan_shards(files, text_field, cluster.shard_documents, cluster.shard_bytes)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{PLAN_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"format": PLAN_FORMAT, "key": key, "shards": [s.to_json() for s in shards]}),
                   encoding="utf-8")
    os.replace(tmp, plan_file)
    return shards


# ---------------------------------------------------------------- the worker (one per actor)


def _find_model(spec: dict, roots: list[Path]) -> Manifest:
    """The worker's copy of a model: its own installed one of that id and version if it has one, else the
    driver's folder (a shared path); either way every file must match the driver's sha256 sums."""
    host = socket.gethostname()
    folders = [m.parent for root in roots if root.is_dir() for m in sorted(root.glob("*/manifest.json"))]
    folders.append(Path(spec["folder"]))
    for folder in folders:
        try:
            man = read_manifest(folder)
        except ModelError:
            continue
        if man.id != spec["id"] or man.version != spec["version"]:
            continue
        try:
            if dict(man.files) != spec["files"]:
                raise ModelError(f"{man.id}: its manifest lists other files or sha256 sums than the driver's")
            verify(man, check_graphs=False)
        except ModelError as exc:
            raise ClusterError(f"worker {host}: {spec['id']} {spec['version']} at {folder} cannot be used: {exc}. "
                               "Install the same model version on every node (or share the driver's models folder)."
                               ) from None
        return man
    raise ClusterError(f"worker {host}: model {spec['id']} {spec['version']} is not installed on this node "
                       f"(looked in {', '.join(map(str, roots))} and {spec['folder']}); install it there or put the "
                       "models on a path every node shares")


class _Pinned(Registry):
    """A registry of exactly the models a worker checked, so the Analyzer can load nothing else."""

    def __init__(self, manifests: list[Manifest]):
        super().__init__(roots=[], settings_file=Path(os.devnull))
        self._pinned = manifests

    def manifests(self) -> list[Manifest]:
        return list(self._pinned)


def analyse_shard(shard: Shard, analyzer: Analyzer, options: AnalysisOptions, text_field: str | None,
                  known: set[str] = frozenset(), max_chars: int = DEFAULT_MAX_CHARS) -> list[dict]:
    """The rows of one shard, in input order, analysed by run_batch (texts in `known` are marked reused),
    read with the local engine's bounds (`max_chars` as --max-chars gives it)."""
    position: dict[str, int] = {}
    rows: list[tuple[int, dict]] = []

    def place(source: str) -> int:
        return position.setdefault(source, len(position))

    def read(path: Path) -> Iterator[Document | DocumentError]:
        try:
            items = (read_table(path, text_field, span=shard.span, max_chars=max_chars) if shard.span is not None
                     else iter_documents([path], text_field=text_field, max_chars=max_chars))
            for item in items:
                k = place(item.source)
                if isinstance(item, Document) and item.content_hash in known:
                    rows.append((k, {"source": item.source, "reused": True,
                                     "document": _document_fields(item, with_text=False)}))
                    continue
                yield item
        except DocumentError as exc:  # read_table raises for the whole file (iter_documents yields it)
            place(exc.source)
            yield exc

    run_batch(list(shard.files), analyzer, None, options, text_field=text_field, read=read, max_chars=max_chars,
              on_result=lambda a: rows.append((place(a.document.source), analysis_row(a))),
              on_error=lambda source, reason: rows.append((place(source), {"source": source, "error": reason})))
    rows.sort(key=lambda r: r[0])
    return [r for _, r in rows]


class ShardWorker:
    """A Ray Data actor: one Analyzer, its models checked on this node, then one shard per call."""

    def __init__(self, job: dict):
        self.job = job
        self.host, self.pid = socket.gethostname(), os.getpid()
        cwd = job.get("cwd")
        if cwd and Path(cwd).is_dir():
            os.chdir(cwd)  # relative paths given on the driver mean the same files here (a shared path)
        threads = max(1, int(job["cpus_per_worker"]))
        manifests = [_find_model(spec, Registry().roots) for spec in job["models"]]
        self.analyzer = Analyzer(registry=_Pinned(manifests),
                                 runtime=RuntimeOptions(device=job["device"], intra_op_threads=threads),
                                 model_ids={spec["key"]: spec["id"] for spec in job["models"]})
        opts = AnalysisOptions(**{k: tuple(v) if isinstance(v, list) else v for k, v in job["options"].items()})
        for task in opts.tasks:  # load now: a model that cannot load fails this worker before any shard
            self.analyzer.model(task, opts.target_lang if task == "translation" else None)
        self.options = opts
        self.known = set(job.get("known", ()))
        self.max_chars = int(job.get("max_chars", DEFAULT_MAX_CHARS))

    def __call__(self, batch: dict) -> dict:
        out: dict[str, list] = {"index": [], "documents": [], "errors": [], "reused": [], "host": [], "pid": [],
                                "seconds": []}
        for spec in batch["shard"]:
            t0 = time.perf_counter()
            shard = Shard.from_json(json.loads(spec))
            path = Path(self.job["out"]) / shard_name(shard.index)
            if path.exists():  # a retry after this shard was committed: nothing to redo
                rows = read_shard(path)
            else:
                rows = analyse_shard(shard, self.analyzer, self.options, self.job["text_field"], self.known,
                                     self.max_chars)
                _commit(path, rows)
            counts = _count(rows)
            out["index"].append(shard.index)
            for k in ("documents", "errors", "reused"):
                out[k].append(counts[k])
            out["host"].append(self.host)
            out["pid"].append(self.pid)
            out["seconds"].append(time.perf_counter() - t0)
        return out


def _count(rows: list[dict]) -> dict[str, int]:
    errors = sum(1 for r in rows if "error" in r)
    reused = sum(1 for r in rows if r.get("reused"))
    return {"documents": len(rows) - errors, "errors": errors, "reused": reused}


# ---------------------------------------------------------------- the driver


def _ray():
    try:
        import ray
        import ray.data
    except ImportError:
        raise ClusterError(f"--engine ray needs Ray, which is not installed here: {INSTALL_HINT}") from None
    return ray


def _connect(ray, cluster: ClusterOptions) -> bool:
    """Connect to (or start) Ray unless this process already is; True when this call connected."""
    if ray.is_initialized():
        return False
    import logging

    try:
        # "local": a fresh runtime here, never a cluster some earlier `ray start` left recorded in /tmp/ray
        ray.init(address=cluster.address or "local", include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = cluster.address or "a local Ray runtime"
        raise ClusterError(f"cannot connect to the Ray cluster at {where}: {exc}. Start one with "
                           "`ray start --head` (see docs/cluster.md) or check --address") from None
    return True


def run_cluster_batch(
    paths: Iterable[str | Path],
    analyzer: Analyzer,
    store: Store | None,
    options: AnalysisOptions = AnalysisOptions(),
    *,
    cluster: ClusterOptions = ClusterOptions(),
    out: str | Path | None = None,
    include: list[str] | None = None,
    exclude: list[str] | None = None,
    text_field: str | None = None,
    progress: Callable[[BatchProgress], None] | None = None,
    on_result: Callable[[Analysis], None] | None = None,
    on_error: Callable[[str, str], None] | None = None,
    on_shard: Callable[[dict], None] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> ClusterReport:
    """run_batch on a Ray cluster: same documents, same results and errors, in input order, into `out`.

    `out` (default: a folder next to the library, named after the run) receives one committed JSON Lines
    file per shard; running the same batch again skips the shards already there. With a `store`, texts it
    already holds are not analysed again and every shard is merged into it, in input order, as soon as the
    shards before it are. `on_shard` hears each worker's summary of a finished shard (index, documents,
    errors, reused, host, pid, seconds). Cancel (or Ctrl-C) stops at once (within 0.2 s, plus half a second
    for the driver process); committed shards stay and the next run merges them. Workers read with the local
    engine's bounds (`max_chars`, as run_batch). If the cluster fails mid-run (a node or a Ray component
    killed, even one that ends the Ray driver process), every shard a worker committed is still merged, the
    run ends "failed" with the reason among its errors, and ClusterError says it in one line. Unless this
    process already holds a Ray connection, the driver runs in a child process (_Driver).
    """
    t0 = time.perf_counter()
    paths = [str(p) for p in paths]
    task_models = analyzer.task_models(options)
    recorder = Recorder(store, task_models)
    models = _model_specs(analyzer, options)
    files = collect_files(paths, include, exclude)
    job_options = asdict(options)  # every option reaches the workers (a new one too)
    key = _plan_key(files, text_field, {**job_options, "max_chars": max_chars}, models, cluster)
    out = Path(out) if out is not None else default_out_dir(key, store)
    shards = _load_or_plan(out, key, files, text_field, cluster)
    for stale in out.glob(".shard-*.tmp"):  # left by a worker killed while writing
        stale.unlink(missing_ok=True)
    finished = {s.index for s in shards if (out / shard_name(s.index)).exists()}
    report = ClusterReport(None, out=str(out), shards=len(shards), shards_done_before=len(finished))
    merger = _ShardMerger(shards, out, recorder, report, t0, progress=progress, on_result=on_result,
                          on_error=on_error, on_shard=on_shard)
    report.run_id = recorder.start_run({"paths": paths, "tasks": list(options.tasks), "engine": "ray", "out": str(out)},
                                       len(files))
    pipeline = None
    ray = None
    try:
        merger.tick("listing")
        for s in shards:
            if s.index in finished:
                merger.finish({"index": s.index, **_count(read_shard(out / shard_name(s.index)))})
        todo = [s for s in shards if s.index not in finished]
        if todo and not cancelled():
            ray = _ray()
            known = sorted(store.analysed_hashes(task_models)) if store else []
            job = {"out": str(out.resolve()), "cwd": os.getcwd(), "models": models, "options": job_options,
                   "text_field": text_field, "device": analyzer.runtime.device,
                   "cpus_per_worker": cluster.cpus_per_worker, "known": known, "max_chars": max_chars}
            if ray.is_initialized():  # the caller holds a Ray connection: drive the pool from this process
                pipeline = _pipeline(ray, todo, job, cluster)
            else:  # a child process drives it, so a Ray component that dies cannot end this one (see _Driver)
                ray, pipeline = None, _Driver(todo, job, cluster, cancelled).summaries()
            for summary in pipeline:
                merger.finish(summary)
                if cancelled():
                    break
        if cancelled() and len(merger.done) < len(shards):
            report.status = "cancelled"
            return report
        report.status = "done"
        return report
    except KeyboardInterrupt:
        report.status = "cancelled"
        raise
    except AlbertStudioError as exc:
        _fail(merger, recorder, report, str(exc))
        raise
    except _DriverFailed as exc:
        reason = str(exc) if exc.typed or str(exc).startswith(_UNTYPED) else f"{_UNTYPED}({exc})"
        raise ClusterError(_fail(merger, recorder, report, reason, untyped=not exc.typed)) from None
    except Exception as exc:  # the cluster broke down (a node or a Ray component died) or a worker's typed error
        error = _explain(exc)
        raise ClusterError(_fail(merger, recorder, report, str(error), untyped=str(error).startswith(_UNTYPED))
                           ) from exc
    finally:
        for step in ((pipeline.close if pipeline is not None else None),):
            try:
                if step is not None:
                    step()
            except Exception:  # noqa: BLE001 - a dead cluster may fail to close; the run's record comes first
                pass
        report.seconds = time.perf_counter() - t0
        recorder.finish(report.status, report.analyses, len(report.errors))


def _fail(merger: _ShardMerger, recorder: Recorder, report: ClusterReport, reason: str, untyped: bool = False
          ) -> str:
    """The run failed: merge what the workers committed (whatever happened to the cluster since), then record
    why and return it; after an `untyped` breakdown the reason also says what was kept and what to do, in the
    same line."""
    report.status = "failed"
    try:
        merger.collect_committed()
    except Exception:  # noqa: BLE001 - the shards stay on disk; the next run merges them
        pass
    if untyped:
        reason = f"{reason}; {_kept(merger)}"
    report.errors.append(("(cluster)", reason))
    try:
        recorder.error("(cluster)", reason)
    except Exception:  # noqa: BLE001 - the library itself failed (disk full): the error raised says why
        pass
    return reason


def _kept(merger: _ShardMerger) -> str:
    """'2 of 6 shards are saved and in the library; run the same batch again to finish the other 4 ...'."""
    total, done, merged = len(merger.shards), len(merger.done), len(merger.delivered)
    where = f" in {merger.out}"
    if merger.recorder.store is not None:
        where = " and in the library" if merged == done else f" ({merged} of them in the library)"
    if done >= total:
        return f"all {total} shards are saved{where}"
    return (f"{done} of {total} shards are saved{where}; run the same batch again to finish the other "
            f"{total - done} (saved shards are not redone)")


def _plan_key(files: list[Path], text_field: str | None, job_options: dict, models: list[dict],
              cluster: ClusterOptions) -> str:
    """What names a run's output folder and plan: the files as they are now, the options, models and shard sizes."""
    return hashlib.sha256(json.dumps(
        {"format": PLAN_FORMAT, "cwd": os.getcwd(), "files": [_stat_key(f) for f in files], "text_field": text_field,
         "options": job_options, "models": models,
         "shard": [cluster.shard_documents, cluster.shard_bytes]}, sort_keys=True).encode()).hexdigest()


class _ShardMerger:
    """The driver's side of a cluster run: finished shards counted, then merged into the report, the library
    and the callbacks in input order."""

    def __init__(self, shards: list[Shard], out: Path, recorder: Recorder, report: ClusterReport, t0: float, *,
                 progress: Callable[[BatchProgress], None] | None,
                 on_result: Callable[[Analysis], None] | None,
                 on_error: Callable[[str, str], None] | None,
                 on_shard: Callable[[dict], None] | None):
        self.shards, self.out, self.recorder, self.report, self.t0 = shards, out, recorder, report, t0
        self.progress, self.on_result, self.on_error, self.on_shard = progress, on_result, on_error, on_shard
        self.documents_total = sum(s.documents for s in shards)
        self.counts = {"documents": 0, "errors": 0, "reused": 0}
        self.done: set[int] = set()
        self.merged = 0  # shards [0, merged) have been delivered (callbacks, library) in input order
        self.delivered: set[int] = set()  # positions delivered (after a failure, some past a gap too)

    def tick(self, current: str) -> None:
        if self.progress:
            c = self.counts
            self.progress(BatchProgress(len(self.shards), len(self.done), c["documents"], c["errors"], c["reused"],
                                        current, time.perf_counter() - self.t0, 0.0, self.documents_total))

    def collect_committed(self) -> None:
        """After a failure: every shard file a worker committed but whose summary never reached the driver is
        counted and merged, and so are finished shards after a gap (in input order, skipping the gap)."""
        for s in self.shards:
            if s.index not in self.done and (self.out / shard_name(s.index)).exists():
                self.done.add(s.index)
                for k, v in _count(read_shard(self.out / shard_name(s.index))).items():
                    self.counts[k] += v
        self.deliver()
        for position in range(self.merged, len(self.shards)):
            if self.shards[position].index in self.done and position not in self.delivered:
                self._deliver_one(position)

    def deliver(self) -> None:
        """Hand over every finished shard whose predecessors are all handed over, in input order."""
        while self.merged < len(self.shards) and self.shards[self.merged].index in self.done:
            if self.merged not in self.delivered:
                self._deliver_one(self.merged)
            self.merged += 1

    def _deliver_one(self, position: int) -> None:
        """Merge one finished shard into the report, the library (one commit) and the callbacks."""
        report, store = self.report, self.recorder.store
        rows = read_shard(self.out / shard_name(self.shards[position].index))
        before = (report.analyses, report.reused, len(report.errors))
        try:
            with store.batch() if store else contextlib.nullcontext():  # one commit per shard
                items = [_merge_row(row, self.recorder, report) for row in rows]
        except BaseException:  # rolled back: the counts go back too; the next run merges the shard again
            report.analyses, report.reused = before[:2]
            del report.errors[before[2]:]
            raise
        for item in items:
            if isinstance(item, tuple):
                if self.on_error:
                    self.on_error(*item)
            elif self.on_result:
                self.on_result(item)
        self.delivered.add(position)
        self.recorder.progress(report.analyses, len(report.errors))

    def finish(self, summary: dict) -> None:
        """A shard is committed (by a worker now, or by an earlier run): count it and merge what can be."""
        self.done.add(summary["index"])
        for k in self.counts:
            self.counts[k] += summary[k]
        if "host" in summary:
            self.report.workers.add((summary["host"], summary["pid"]))
            if self.on_shard:
                self.on_shard(summary)
        self.deliver()
        self.tick(f"shard {len(self.done)}/{len(self.shards)}"
                  + (f" on {summary['host']}" if "host" in summary else ""))


def _pipeline(ray, todo: list[Shard], job: dict, cluster: ClusterOptions) -> Iterator[dict]:
    """Finished-shard summaries as the actor pool commits them (in completion order)."""
    import logging

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # our progress line, not Ray Data's log lines
    ds = ray.data.from_items([{"shard": json.dumps(s.to_json())} for s in todo], override_num_blocks=len(todo))
    ds = ds.map_batches(
        ShardWorker, fn_constructor_kwargs={"job": job}, batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=max(1, min(cluster.workers, len(todo)))),
        num_cpus=cluster.cpus_per_worker, runtime_env=cluster.runtime_env,
    )  # Ray Data starts pool actors with max_restarts=-1 and max_task_retries=-1: a killed worker is restarted
    # and its shard retried (tests/jobs/test_cluster.py kills one); shard files make a retry idempotent
    for row in ds.iter_rows():
        yield {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}


class _DriverFailed(Exception):
    """The driver process reported a failure (`typed`: a worker's own error, e.g. wrong models) or died."""

    def __init__(self, reason: str, typed: bool) -> None:
        super().__init__(reason)
        self.typed = typed


class _Driver:
    """The Ray driver in a child process (multiprocessing's spawn context, as fine-tuning uses).

    When a Ray component on the driver's node dies (a `kill -9` of ray::DashboardAgent ends the raylet), Ray's
    core worker ends the driver process at once: no Python code runs after it. In a child, that ends only the
    child: this process sees the pipe close, merges every shard the workers committed, records the run as
    failed and says so in one line. Finished-shard summaries come back over the pipe in completion order; a
    cancel ends the child with SIGTERM (it closes Ray on the way out) and does not wait for it."""

    def __init__(self, todo: list[Shard], job: dict, cluster: ClusterOptions,
                 cancelled: Callable[[], bool]) -> None:
        self.todo, self.job, self.cluster, self.cancelled = todo, job, cluster, cancelled

    def summaries(self) -> Iterator[dict]:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        mine, theirs = ctx.Pipe()
        proc = ctx.Process(target=_drive, args=(self.todo, self.job, self.cluster, theirs), daemon=False,
                           name="albert-studio-ray-driver")
        proc.start()
        theirs.close()
        finished = False
        try:
            while True:
                if self.cancelled():
                    return
                if not mine.poll(0.2):
                    continue
                try:
                    kind, value = mine.recv()
                except (EOFError, OSError):  # the child ended without a word: Ray ended it, or a kill
                    proc.join(5)
                    raise _DriverFailed(
                        f"the Ray driver process ended unexpectedly (exit code {proc.exitcode}: a Ray component "
                        f"on this machine stopped, or the process was killed; Ray's log: "
                        f"{Path(self.job['out']) / DRIVER_LOG})", typed=False) from None
                if kind == "shard":
                    yield value
                elif kind == "done":
                    finished = True
                    return
                else:
                    raise _DriverFailed(value, typed=kind == "typed")
        finally:  # done: it is closing Ray; otherwise (cancel, Ctrl-C, failure) SIGTERM, which it turns into
            # an exit that closes Ray too; a shard in flight is lost or committed whole, and the next run merges it
            if not finished and proc.is_alive():
                proc.terminate()
            proc.join(10 if finished else 0.5)
            if finished and proc.is_alive():
                proc.terminate()
            mine.close()


def _drive(todo: list[Shard], job: dict, cluster: ClusterOptions, conn) -> None:
    """The child's side of _Driver: connect, run the pool, send each finished shard's summary, then close."""
    import signal

    import threading

    def stop(*_) -> None:  # once: closing Ray below is not interrupted by a second one
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise SystemExit(0)

    def orphaned() -> None:  # the parent never writes: recv returns or fails only when the parent is gone
        with contextlib.suppress(Exception):
            conn.recv()
        os.kill(os.getpid(), signal.SIGTERM)

    with contextlib.suppress(OSError):  # Ray's own log lines go to a file, not between the app's lines
        log = os.open(Path(job["out"]) / DRIVER_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops this process with SIGTERM
    signal.signal(signal.SIGTERM, stop)
    threading.Thread(target=orphaned, daemon=True, name="parent-watch").start()
    ray, pipeline = None, None
    try:
        ray = _ray()
        _connect(ray, cluster)
        pipeline = _pipeline(ray, todo, job, cluster)
        for summary in pipeline:
            conn.send(("shard", summary))
        conn.send(("done", None))
    except AlbertStudioError as exc:
        with contextlib.suppress(Exception):
            conn.send(("typed", str(exc)))
    except Exception as exc:  # noqa: BLE001 - the cluster broke down, or a worker's typed error inside Ray's
        err = _explain(exc)
        with contextlib.suppress(Exception):
            conn.send(("untyped" if str(err).startswith(_UNTYPED) else "typed", str(err)))
    finally:
        for step in ((pipeline.close if pipeline is not None else None),
                     (ray.shutdown if ray is not None and ray.is_initialized() else None)):
            with contextlib.suppress(Exception):
                if step is not None:
                    step()
        conn.close()


_UNTYPED = "the cluster stopped mid-run "


def _explain(exc: Exception) -> AlbertStudioError:
    """A worker's typed error (wrong model, ...) as the message a person can act on, not a Ray traceback."""
    seen, cur = set(), exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, AlbertStudioError):
            return ClusterError(str(cur))
        cause = getattr(cur, "cause", None)
        cur = cause if isinstance(cause, BaseException) else (cur.__cause__ or cur.__context__)
    text = str(exc)
    for marker in ("ClusterError: ", "ModelError: "):
        if marker in text:
            return ClusterError(text.split(marker, 1)[1].strip().splitlines()[0])
    first = text.strip().splitlines()[0].strip() if text.strip() else ""
    return ClusterError(f"{_UNTYPED}({type(exc).__name__}: {first[:200]})")


def _merge_row(row: dict, recorder: Recorder, report: BatchReport) -> Analysis | tuple[str, str]:
    """One shard row into the report and the library, as run_batch records a document; returns the Analysis
    (or the failed source and reason) for the callbacks. A reused row takes the stored results made with
    the run's models and settings (`recorder.task_models`), as run_batch reuses them."""
    if "error" in row or (row.get("reused") and recorder.store is None):
        reason = row.get("error") or "was in the library when the run started, but no library is open now"
        report.errors.append((row["source"], reason))
        recorder.error(row["source"], reason)
        return row["source"], reason
    if row.get("reused"):
        found = recorder.reusable_by_hash(row["document"]["content_hash"])
        if found is None:
            reason = "was in the library when the run started but is gone now; run again to analyse it"
            report.errors.append((row["source"], reason))
            recorder.error(row["source"], reason)
            return row["source"], reason
        stored = found[1]
        analysis = replace(stored, document=row_document(row, stored.document.text), error=None)
        recorder.save(analysis, reused=True)  # this path; results keep their run
        report.reused += 1
    else:
        analysis = row_analysis(row)
        recorder.save(analysis)
    report.analyses += 1
    return analysis
