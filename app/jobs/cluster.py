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
     "models": [...], "seconds": ...}             analysed (each result as the library's payload holds it)
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

from app.core.analyzer import AnalysisOptions, Analyzer, params_keys as stored_params_keys
from app.core.documents import TABLE_SUFFIXES, TableSpan, collect_files, iter_documents, read_table, table_spans
from app.core.errors import AlbertStudioError, DocumentError, ModelError
from app.core.registry import Manifest, Registry, read_manifest, verify
from app.core.runtime import RuntimeOptions
from app.core.store import Store, result_from_payload
from app.core.types import Analysis, Document, ModelInfo
from app.jobs.batch import BatchProgress, BatchReport, run_batch

PLAN_FILE = "plan.json"
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
    return Analysis(row_document(row), models=tuple(ModelInfo(**m) for m in row.get("models", ())),
                    seconds=row.get("seconds", 0.0), **results)


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
    for task in options.tasks:
        man = analyzer.manifest_for(task, options.target_lang)
        verify(man, check_graphs=False)  # a damaged install on the driver fails here, before the cluster starts
        specs.append({"task": task, "key": f"translation:{options.target_lang}" if task == "translation" else task,
                      "id": man.id, "version": man.version, "folder": str(Path(man.folder).resolve()),
                      "files": dict(man.files)})
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
                  known: set[str] = frozenset()) -> list[dict]:
    """The rows of one shard, in input order, analysed by run_batch (texts in `known` are marked reused)."""
    position: dict[str, int] = {}
    rows: list[tuple[int, dict]] = []

    def place(source: str) -> int:
        return position.setdefault(source, len(position))

    def read(path: Path) -> Iterator[Document | DocumentError]:
        try:
            items = (read_table(path, text_field, span=shard.span) if shard.span is not None
                     else iter_documents([path], text_field=text_field))
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

    run_batch(list(shard.files), analyzer, None, options, text_field=text_field, read=read,
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
                rows = analyse_shard(shard, self.analyzer, self.options, self.job["text_field"], self.known)
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
        import ray.data  # noqa: F401
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
) -> ClusterReport:
    """run_batch on a Ray cluster: same documents, same results and errors, in input order, into `out`.

    `out` (default: a folder next to the library, named after the run) receives one committed JSON Lines
    file per shard; running the same batch again skips the shards already there. With a `store`, texts it
    already holds are not analysed again and every shard is merged into it, in input order, as soon as the
    shards before it are. `on_shard` hears each worker's summary of a finished shard (index, documents,
    errors, reused, host, pid, seconds). Cancel (or Ctrl-C) stops between shards; committed shards stay.
    """
    t0 = time.perf_counter()
    paths = [str(p) for p in paths]
    task_models = analyzer.task_models(options)
    params_keys = stored_params_keys(task_models)
    models = _model_specs(analyzer, options)
    files = collect_files(paths, include, exclude)
    job_options = asdict(options)  # every option reaches the workers (a new one too)
    key = hashlib.sha256(json.dumps(
        {"format": PLAN_FORMAT, "cwd": os.getcwd(), "files": [_stat_key(f) for f in files], "text_field": text_field,
         "options": job_options, "models": models,
         "shard": [cluster.shard_documents, cluster.shard_bytes]}, sort_keys=True).encode()).hexdigest()
    out = Path(out) if out is not None else default_out_dir(key, store)
    shards = _load_or_plan(out, key, files, text_field, cluster)
    for stale in out.glob(".shard-*.tmp"):  # left by a worker killed while writing
        stale.unlink(missing_ok=True)
    finished = {s.index for s in shards if (out / shard_name(s.index)).exists()}
    report = ClusterReport(None, out=str(out), shards=len(shards), shards_done_before=len(finished))
    documents_total = sum(s.documents for s in shards)
    counts = {"documents": 0, "errors": 0, "reused": 0}
    done: set[int] = set()
    merged = 0  # shards [0, merged) have been delivered (callbacks, library) in input order

    def tick(current: str):
        if progress:
            progress(BatchProgress(len(shards), len(done), counts["documents"], counts["errors"], counts["reused"],
                                   current, time.perf_counter() - t0, 0.0, documents_total))

    def deliver():
        """Hand over every finished shard whose predecessors are all handed over, in input order."""
        nonlocal merged
        while merged < len(shards) and shards[merged].index in done:
            rows = read_shard(out / shard_name(shards[merged].index))
            before = (report.analyses, report.reused, len(report.errors))
            try:
                with store.batch() if store else contextlib.nullcontext():  # one commit per shard
                    items = [_merge_row(row, store, report, task_models) for row in rows]
            except BaseException:  # rolled back: the counts go back too; the next run merges the shard again
                report.analyses, report.reused = before[:2]
                del report.errors[before[2]:]
                raise
            for item in items:
                if isinstance(item, tuple):
                    if on_error:
                        on_error(*item)
                elif on_result:
                    on_result(item)
            merged += 1
            if store:
                store.update_run_progress(report.run_id, report.analyses, len(report.errors))

    def finish(summary: dict):
        done.add(summary["index"])
        for k in counts:
            counts[k] += summary[k]
        if "host" in summary:
            report.workers.add((summary["host"], summary["pid"]))
            if on_shard:
                on_shard(summary)
        deliver()
        tick(f"shard {len(done)}/{len(shards)}" + (f" on {summary['host']}" if "host" in summary else ""))

    report.run_id = store.start_run("analyze", {"paths": paths, "tasks": list(options.tasks), "params": params_keys,
                                                "engine": "ray", "out": str(out)}, len(files)) if store else None
    pipeline = None
    connected = False
    ray = None
    try:
        tick("listing")
        for s in shards:
            if s.index in finished:
                finish({"index": s.index, **_count(read_shard(out / shard_name(s.index)))})
        todo = [s for s in shards if s.index not in finished]
        if todo and not cancelled():
            ray = _ray()
            connected = _connect(ray, cluster)
            known = sorted(store.analysed_hashes(task_models)) if store else []
            job = {"out": str(out.resolve()), "cwd": os.getcwd(), "models": models, "options": job_options,
                   "text_field": text_field, "device": analyzer.runtime.device,
                   "cpus_per_worker": cluster.cpus_per_worker, "known": known}
            pipeline = _pipeline(ray, todo, job, cluster)
            for summary in pipeline:
                finish(summary)
                if cancelled():
                    report.status = "cancelled"
                    return report
        report.status = "done"
        return report
    except KeyboardInterrupt:
        report.status = "cancelled"
        raise
    except AlbertStudioError:
        report.status = "failed"
        raise
    except Exception as exc:
        report.status = "failed"
        raise _explain(exc) from exc
    finally:
        if pipeline is not None:
            pipeline.close()
        if connected:
            ray.shutdown()
        report.seconds = time.perf_counter() - t0
        if store and report.run_id is not None:
            store.finish_run(report.run_id, report.status if report.status != "running" else "failed",
                             report.analyses, len(report.errors))


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
    return ClusterError(f"the cluster run failed: {type(exc).__name__}: {text.splitlines()[0] if text else ''}")


def _merge_row(row: dict, store: Store | None, report: BatchReport,
               task_models: dict[str, tuple[str, str, str]]) -> Analysis | tuple[str, str]:
    """One shard row into the report and the library, as run_batch records a document; returns the Analysis
    (or the failed source and reason) for the callbacks. A reused row takes the stored results made with
    the run's models and settings (`task_models`), as run_batch reuses them."""
    params_keys = stored_params_keys(task_models)
    if "error" in row or (row.get("reused") and not store):
        reason = row.get("error") or "was in the library when the run started, but no library is open now"
        report.errors.append((row["source"], reason))
        if store:
            store.record_error(report.run_id, row["source"], reason)
        return row["source"], reason
    if row.get("reused"):
        found = store.find_results(row["document"]["content_hash"], task_models)
        if found is None:
            reason = "was in the library when the run started but is gone now; run again to analyse it"
            report.errors.append((row["source"], reason))
            store.record_error(report.run_id, row["source"], reason)
            return row["source"], reason
        stored = found[1]
        analysis = replace(stored, document=row_document(row, stored.document.text), error=None)
        store.save_analysis(analysis, report.run_id, params_keys, reused=True)  # this path; results keep their run
        report.reused += 1
    else:
        analysis = row_analysis(row)
        if store:
            store.save_analysis(analysis, report.run_id, params_keys)
    report.analyses += 1
    return analysis
