"""The results library: documents, analysis runs, results, errors and user labels in one SQLite file.

This module is the only place that knows table names and SQL. The schema is the list of forward
MIGRATIONS below, applied in one transaction when a Store opens; the version lives in `meta`.

    documents  one row per distinct text (content_hash unique); `source` is the latest path seen, as typed
    sources    every real file a document was found at (resolved path -> document_id; `typed` as given)
    runs       one row per batch: kind, params, status running/done/cancelled/failed/interrupted, counts,
               and the process (pid, host) that runs it, so a run whose process died reads "interrupted"
    run_documents  which documents each run covered, and whether it analysed or reused them
    results    one row per (document, task, model id, model version, params_key); re-analysis
               replaces the row, never duplicates it. `payload` is the full result dataclass as JSON
    errors     files a run could not analyse, with the reason
    labels     user labels (text + label, optionally tied to a document sentence) for fine-tuning
    settings   small key/value preferences
    *_fts      FTS5 indexes, kept current by triggers: documents(title, text), results(text, label)

Threading: a Store holds one connection. Use a Store from one thread at a time (the UI's worker
jobs take turns); an internal lock makes an accidental overlap wait instead of corrupting a
transaction. Writes take the database's write lock up front (BEGIN IMMEDIATE), so two processes
(window and CLI) wait for each other up to the busy timeout instead of failing mid-save. A reader
(`Store(path, readonly=True)`: history, search, export) opens the file read-only and never takes the
write lock, so it works on read-only media and while a writer holds the lock.

Paths that are not valid UTF-8 are kept as their exact bytes (app.core.names) and come back as the
same str. Every sqlite3 error becomes a StoreError naming the library and what to do.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import socket
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from app.core.errors import LabelDataError, StoreError
from app.core.export import FORMATS, write_analyses
from app.core.names import loaded, storable, valid_text
from app.core.types import ANALYSIS_TASKS
from app.core.types import (
    Analysis,
    Document,
    ModelInfo,
    SentenceSentiment,
    SentimentResult,
    Summary,
    SummarySentence,
    TranslatedSentence,
    Translation,
)

ENV_VAR = "ALBERT_STUDIO_DB"
BUSY_TIMEOUT_S = 10.0
TASKS = ANALYSIS_TASKS
RUN_STATUSES = ("running", "done", "cancelled", "failed", "interrupted")  # interrupted: its process died
# Around matched words in search() snippets; the UI may swap them for highlighting.
MATCH_START, MATCH_END = "[", "]"


def default_db_path() -> Path:
    """The library file: $ALBERT_STUDIO_DB, else library.db in the user data folder (created if missing)."""
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_data_dir("albert-studio")) / "library.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------- schema


def _v1_library(db: Database) -> None:
    """Documents, where they were found, runs, results and errors; full-text search over documents."""
    db["documents"].create(
        {
            "id": int,
            "content_hash": str,
            "source": str,
            "title": str,
            "format": str,
            "encoding": str,
            "text": str,
            "chars": int,
            "mtime": float,
            "metadata": str,  # JSON list of [key, value] pairs
            "added_at": str,
        },
        pk="id",
        not_null={"content_hash", "source", "text", "added_at"},
    )
    db["documents"].create_index(["content_hash"], unique=True)
    db["sources"].create(
        {"path": str, "document_id": int, "seen_at": str},
        pk="path",
        not_null={"document_id"},
        foreign_keys=[("document_id", "documents", "id")],
    )
    db["sources"].create_index(["document_id"])
    db["runs"].create(
        {
            "id": int,
            "kind": str,
            "params": str,  # JSON object
            "status": str,
            "n_total": int,
            "n_done": int,
            "n_failed": int,
            "started_at": str,
            "finished_at": str,
        },
        pk="id",
        not_null={"kind", "status", "started_at"},
        defaults={"status": "running", "n_total": 0, "n_done": 0, "n_failed": 0, "params": "{}"},
    )
    db["results"].create(
        {
            "id": int,
            "document_id": int,
            "run_id": int,
            "task": str,
            "model_id": str,
            "model_version": str,
            "provider": str,
            "params_key": str,
            "label": str,
            "score": float,
            "text": str,
            "payload": str,  # the result dataclass as JSON
            "seconds": float,
            "created_at": str,
        },
        pk="id",
        not_null={"document_id", "task", "model_id", "model_version", "params_key", "payload", "created_at"},
        defaults={"model_id": "", "model_version": "", "params_key": ""},
        foreign_keys=[("document_id", "documents", "id"), ("run_id", "runs", "id")],
    )
    db["results"].create_index(
        ["document_id", "task", "model_id", "model_version", "params_key"], unique=True
    )
    db["results"].create_index(["run_id"])
    db["errors"].create(
        {"id": int, "run_id": int, "source": str, "reason": str, "created_at": str},
        pk="id",
        not_null={"source", "reason", "created_at"},
        foreign_keys=[("run_id", "runs", "id")],
    )
    db["errors"].create_index(["run_id"])
    db["documents"].enable_fts(["title", "text"], create_triggers=True, tokenize="porter")


def _v2_labels_settings_result_search(db: Database) -> None:
    """User labels for fine-tuning, settings, and search over summaries and translations."""
    db["labels"].create(
        {
            "id": int,
            "document_id": int,
            "sentence_index": int,
            "text": str,
            "label": str,
            "created_at": str,
        },
        pk="id",
        not_null={"text", "label", "created_at"},
        foreign_keys=[("document_id", "documents", "id")],
    )
    db["settings"].create({"key": str, "value": str}, pk="key")
    db["results"].enable_fts(["text", "label"], create_triggers=True, tokenize="porter")


def _v3_run_coverage_processes_real_paths(db: Database) -> None:
    """Which run analysed or reused each document, the process running each run, the typed path of a source."""
    db["runs"].add_column("pid", int)
    db["runs"].add_column("host", str)
    db["sources"].add_column("typed", str)
    db["run_documents"].create(
        {"run_id": int, "document_id": int, "how": str},
        pk=("run_id", "document_id"),
        not_null={"how"},
        foreign_keys=[("run_id", "runs", "id"), ("document_id", "documents", "id")],
    )
    db["run_documents"].create_index(["document_id"])
    db.execute("INSERT OR IGNORE INTO run_documents (run_id, document_id, how) "
               "SELECT DISTINCT run_id, document_id, 'analysed' FROM results WHERE run_id IS NOT NULL")


# Forward only, applied in order; never edit a shipped step, append a new one.
MIGRATIONS: list[tuple[int, Callable[[Database], None]]] = [
    (1, _v1_library),
    (2, _v2_labels_settings_result_search),
    (3, _v3_run_coverage_processes_real_paths),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


def schema_version(db: Database) -> int:
    """The version recorded in `meta` (0 for a new, empty file)."""
    if not db["meta"].exists():
        return 0
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def _migrate(db: Database, path: str) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        current = schema_version(db)
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{path} was written by a newer Albert Studio (library version {current}; this "
                f"version reads up to {SCHEMA_VERSION}). Update Albert Studio, or set {ENV_VAR} "
                f"to use another library file."
            )
        if current < SCHEMA_VERSION:
            db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
            for version, step in MIGRATIONS:
                if version <= current:
                    continue
                try:
                    step(db)
                except Exception as exc:
                    raise StoreError(
                        f"Could not upgrade the library {path} from version {current} to {version}: "
                        f"{exc}. The file was left unchanged."
                    ) from exc
            db["meta"].upsert({"key": "schema_version", "value": str(SCHEMA_VERSION)}, pk="key")
    except BaseException:
        db.rollback()
        raise
    db.commit()


# ---------------------------------------------------------------- rows


@dataclass(frozen=True)
class DocumentRow:
    """A document as the library lists it, with its latest sentiment."""

    id: int
    title: str
    source: str
    format: str
    added_at: str
    sentiment_label: str | None = None
    sentiment_score: float | None = None


@dataclass(frozen=True)
class LibraryPage:
    """One read of the library pane: rows (best match first when searching), match snippets by document id
    (MATCH_START/MATCH_END around the matched words), and the number of documents in the library."""

    rows: tuple[DocumentRow, ...]
    snippets: dict[int, str]
    total: int


@dataclass(frozen=True)
class RunRow:
    id: int
    kind: str
    status: str
    started_at: str
    finished_at: str | None
    n_total: int
    n_done: int
    n_failed: int
    params: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class ErrorRow:
    id: int
    run_id: int | None
    source: str
    reason: str
    created_at: str


@dataclass(frozen=True)
class LabelRow:
    id: int
    text: str
    label: str
    document_id: int | None
    sentence_index: int | None
    created_at: str


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _content_hash(document: Document) -> str:
    return document.content_hash or hashlib.sha256(document.text.encode("utf-8")).hexdigest()


def _make(cls: type, data: dict) -> Any:
    """Build a dataclass from a JSON dict, ignoring keys it does not know (written by a newer version)."""
    return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def _sentiment(data: dict) -> SentimentResult:
    return SentimentResult(
        label=data["label"],
        score=data["score"],
        probabilities=tuple((str(k), float(v)) for k, v in data.get("probabilities", ())),
        sentences=tuple(_make(SentenceSentiment, s) for s in data.get("sentences", ())),
        chunks=data.get("chunks", 1),
        neutral_band=float(data.get("neutral_band", 0.0)),
    )


def _summary(data: dict) -> Summary:
    return Summary(sentences=tuple(_make(SummarySentence, s) for s in data.get("sentences", ())))


def _translation(data: dict) -> Translation:
    return Translation(
        lang=data["lang"],
        text=data["text"],
        sentences=tuple(_make(TranslatedSentence, s) for s in data.get("sentences", ())),
        source_lang=data.get("source_lang", "en"),
    )


_REBUILD = {"sentiment": _sentiment, "summary": _summary, "translation": _translation}


def result_from_payload(task: str, payload: dict) -> SentimentResult | Summary | Translation:
    """A task's result dataclass from its JSON payload (`dataclasses.asdict` of it, as `results.payload` holds)."""
    return _REBUILD[task](payload)

_RESULT_COLUMNS = (
    "document_id", "run_id", "task", "model_id", "model_version", "provider", "params_key",
    "label", "score", "text", "payload", "seconds", "created_at",
)
_RESULT_KEY = ("document_id", "task", "model_id", "model_version", "params_key")
_UPSERT_RESULT = "INSERT INTO results ({cols}) VALUES ({vals}) ON CONFLICT ({key}) DO UPDATE SET {sets}".format(
    cols=", ".join(_RESULT_COLUMNS),
    vals=", ".join(f":{c}" for c in _RESULT_COLUMNS),
    key=", ".join(_RESULT_KEY),
    sets=", ".join(f"{c} = excluded.{c}" for c in _RESULT_COLUMNS if c not in _RESULT_KEY),
)


def _document_fields(doc: Document) -> dict:
    """A document's row, less its id, text and hash (what a later save of the same text updates)."""
    return {
        "source": storable(doc.source),
        "title": valid_text(doc.title),
        "format": doc.format,
        "encoding": doc.encoding,
        "mtime": doc.mtime,
        # ASCII escapes: a JSONL cell may hold a lone surrogate, which SQLite's UTF-8 cannot
        "metadata": json.dumps([list(p) for p in doc.metadata]),
    }


def _result_rows(analysis: Analysis, doc_id: int, run_id: int | None, params_keys: dict[str, str],
                 now: str) -> Iterator[dict]:
    """One `results` row per task the analysis holds."""
    models = {m.task: m for m in analysis.models}
    for task in TASKS:
        result = getattr(analysis, task)
        if result is None:
            continue
        model = models.get(task) or ModelInfo(id="", version="", task=task, provider="")
        yield {
            "document_id": doc_id,
            "run_id": run_id,
            "task": task,
            "model_id": model.id,
            "model_version": model.version,
            "provider": model.provider,
            "params_key": params_keys.get(task, ""),
            "label": getattr(result, "label", None) if task == "sentiment" else getattr(result, "lang", None),
            "score": getattr(result, "score", None),
            "text": None if task == "sentiment" else result.text,
            "payload": json.dumps(asdict(result), ensure_ascii=False),
            "seconds": analysis.seconds,
            "created_at": now,
        }


_INSERT_DOCUMENT = "INSERT INTO documents ({cols}) VALUES ({vals})"
_UPSERT_SOURCE = ("INSERT INTO sources (path, typed, document_id, seen_at) VALUES (:path, :typed, :document_id, :seen_at) "
                  "ON CONFLICT (path) DO UPDATE SET typed = excluded.typed, document_id = excluded.document_id, "
                  "seen_at = excluded.seen_at")

# Latest sentiment per document: the one of the preferred model (the default one, so switching back to it
# shows its labels again) when it has one, else the most recently saved, whichever model produced it.
_LATEST_SENTIMENT = """
sentiment AS (
  SELECT document_id, label, score FROM (
    SELECT document_id, label, score, row_number() OVER (
      PARTITION BY document_id ORDER BY model_id = :prefer_model DESC, created_at DESC, id DESC) AS n
    FROM results WHERE task = 'sentiment'
  ) WHERE n = 1
)"""

# Documents matching an FTS query in their own text or in any of their results, best rank first.
# The bare `snippet` next to min(rank) comes from the best-ranked row (SQLite's min/max rule).
_HITS = """
hits AS (
  SELECT document_id, min(rank) AS rank, snippet FROM (
    SELECT documents_fts.rowid AS document_id, documents_fts.rank AS rank,
      snippet(documents_fts, -1, :mark_start, :mark_end, '…', 12) AS snippet
    FROM documents_fts WHERE documents_fts MATCH :query
    UNION ALL
    SELECT results.document_id, results_fts.rank,
      snippet(results_fts, -1, :mark_start, :mark_end, '…', 12)
    FROM results_fts JOIN results ON results.id = results_fts.rowid
    WHERE results_fts MATCH :query
  ) GROUP BY document_id
)"""


def _process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (a reused id reads as alive: never a false "interrupted")."""
    if pid <= 0:
        return False
    if sys.platform == "win32":
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        ctypes.windll.kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        ctypes.windll.kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def _real_location(source: str) -> str:
    """The resolved path of a file (symlinks and "..", relative to absolute), keeping a table row's "#N";
    a source that is not a file on this machine is kept as given."""
    path, row = source, ""
    if not os.path.lexists(path):
        head, sep, tail = source.rpartition("#")
        if not (sep and tail.isdigit() and os.path.lexists(head)):
            return source
        path, row = head, sep + tail
    return os.path.realpath(path) + row


_HOST = socket.gethostname()


_PLAIN_WORDS = re.compile(r"^[\w\s'’.,-]+$")


def _prefix_query(query: str) -> str:
    """Plain words match as prefixes ("saxo" finds "saxophone"): each becomes a quoted prefix term. A query
    with FTS5 syntax of its own (quotes, AND/OR/NOT, *, column:) is left as written."""
    if not _PLAIN_WORDS.match(query) or re.search(r"\b(AND|OR|NOT|NEAR)\b", query):
        return query
    words = [w for w in re.split(r"[^\w]+", query) if w]
    return " ".join(f'"{w}"*' for w in words) or query


def _phrase(query: str) -> str:
    """The whole query as one FTS5 phrase: every operator and quote becomes plain text."""
    return '"' + query.replace('"', '""') + '"'


# ---------------------------------------------------------------- the store


class Store:
    """The results library. Open with Store(path) or Store() for the default file; close when done."""

    def __init__(self, path: str | Path | None = None, *, readonly: bool = False):
        """`readonly` opens for reading only (history, search, export): no write lock, no upgrade, works on
        read-only folders and media; any write then raises StoreError."""
        self.path = str(path) if path is not None else str(default_db_path())
        self.readonly = readonly
        self._lock = threading.RLock()
        conn = None
        try:
            if readonly:
                conn = self._connect_readonly()
                self.db = Database(conn, execute_plugins=False)
                version = schema_version(self.db)
                if version == 0:
                    raise StoreError(f"{self.path} is not an Albert Studio library (it has no tables).")
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"{self.path} was written by a newer Albert Studio (library version {version}; this "
                        f"version reads up to {SCHEMA_VERSION}). Update Albert Studio.")
            else:
                if self.path != ":memory:":
                    Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
                self.db = Database(conn, execute_plugins=False)
                self.db.execute("PRAGMA foreign_keys = ON")
                self.db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
                self.db.enable_wal()
                _migrate(self.db, self.path)
                self._mark_interrupted_runs()
        except StoreError:
            if conn is not None:
                conn.close()
            raise
        except sqlite3.DatabaseError as exc:
            if conn is not None:
                conn.close()
            if "not a database" in str(exc) or "malformed" in str(exc):
                raise StoreError(
                    f"{self.path} is not an Albert Studio library (not a SQLite database, or damaged). "
                    f"Move it aside or set {ENV_VAR} to another file. {self._recover_hint()}"
                ) from exc
            raise StoreError(f"Cannot open the library {self.path}: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"Cannot create the library {self.path}: {exc.strerror or exc}") from exc

    def _connect_readonly(self) -> sqlite3.Connection:
        """mode=ro, query_only; on a read-only folder or medium, where SQLite cannot create the WAL index
        beside the file, the file is opened as immutable (nobody can be writing to it there)."""
        file = Path(self.path)
        if not file.is_file():
            raise StoreError(f"No library at {self.path} yet (nothing was analysed into it); check --db or {ENV_VAR}.")
        uri = file.resolve().as_uri()
        for suffix in ("?mode=ro", "?mode=ro&immutable=1"):
            conn = sqlite3.connect(uri + suffix, uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA query_only = 1")
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                return conn
            except sqlite3.OperationalError:
                conn.close()
                writable = os.access(file.parent, os.W_OK) and os.access(file, os.W_OK)
                if "immutable" in suffix or writable:
                    raise
        raise AssertionError("unreachable")

    def _recover_hint(self) -> str:
        return (f"To save what can be read, keep a copy of the file and run: sqlite3 \"{self.path}\" .recover "
                f"| sqlite3 recovered.db, then use recovered.db (--db recovered.db or {ENV_VAR}).")

    def _failure(self, exc: sqlite3.Error, doing: str) -> StoreError:
        """A StoreError for a failed read or write that says what to do about it."""
        msg = str(exc)
        if "malformed" in msg or "not a database" in msg or "corrupt" in msg:
            return StoreError(f"The library {self.path} is damaged ({msg}). {self._recover_hint()}")
        if self.readonly and "readonly" in msg.replace("-", "").replace(" ", ""):
            return StoreError(f"The library {self.path} was opened read-only and cannot be changed.")
        return StoreError(f"Could not {doing} the library {self.path}: {msg}")

    def _mark_interrupted_runs(self) -> None:
        """Runs still "running" whose process on this machine is gone were killed: say so."""
        rows = self.db.execute("SELECT id, pid FROM runs WHERE status = 'running' AND host = ?", [_HOST]).fetchall()
        dead = [run_id for run_id, pid in rows if pid is not None and pid != os.getpid() and not _process_alive(pid)]
        if dead:
            with self._write() as db:
                for run_id in dead:
                    db.execute("UPDATE runs SET status = 'interrupted', finished_at = ? WHERE id = ? "
                               "AND status = 'running'", [_now(), run_id])

    # -- plumbing

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        with self._lock:
            return schema_version(self.db)

    def _has_table(self, name: str) -> bool:
        return bool(self._rows("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]))

    _in_batch = False  # inside batch(): every write joins its one transaction

    @contextmanager
    def batch(self) -> Iterator[Store]:
        """Many writes as one transaction, all or nothing: a cluster run merges each shard with one commit
        (a commit per document caps the merge at about a hundred documents a second)."""
        with self._write():
            self._in_batch = True
            try:
                yield self
            finally:
                self._in_batch = False

    @contextmanager
    def _write(self) -> Iterator[Database]:
        """One transaction holding the write lock; rolled back whole on any error."""
        with self._lock:
            if self._in_batch:
                yield self.db
                return
            try:
                if self.db.conn.in_transaction:
                    # Ctrl+C can land between BEGIN and the try below, or inside sqlite-utils' own statements,
                    # leaving a write half-done and open: it never committed, so drop it before the next one
                    # (otherwise recording the run as cancelled fails with "transaction within a transaction").
                    self.db.conn.rollback()
                self.db.execute("BEGIN IMMEDIATE")
                try:
                    yield self.db
                except BaseException:
                    self.db.rollback()
                    raise
                self.db.execute("COMMIT")
            except sqlite3.Error as exc:
                try:
                    self.db.rollback()
                except sqlite3.Error:
                    pass
                raise self._failure(exc, "write to") from exc

    def _rows(self, sql: str, params: Sequence | dict | None = None, raw: bool = False) -> list[dict]:
        """Run a read; `raw` lets sqlite3.OperationalError through for callers that handle it."""
        with self._lock:
            try:
                return list(self.db.query(sql, params))
            except sqlite3.OperationalError as exc:
                if raw and "malformed" not in str(exc):
                    raise
                raise self._failure(exc, "read") from exc
            except sqlite3.Error as exc:
                raise self._failure(exc, "read") from exc

    # -- runs

    def start_run(self, kind: str, params: dict, n_total: int = 0) -> int:
        """Record the start of a batch; returns its run id."""
        row = {
            "kind": kind,
            "params": json.dumps(params, sort_keys=True, default=str),
            "status": "running",
            "n_total": n_total,
            "started_at": _now(),
            "pid": os.getpid(),
            "host": _HOST,
        }
        with self._write() as db:
            return db["runs"].insert(row).last_pk

    def update_run_progress(self, run_id: int, n_done: int, n_failed: int) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE runs SET n_done = ?, n_failed = ? WHERE id = ?", [n_done, n_failed, run_id]
            )

    def finish_run(self, run_id: int, status: str, n_done: int, n_failed: int) -> None:
        """Close a run as done, cancelled or failed, with its final counts."""
        if status not in RUN_STATUSES[1:]:
            raise ValueError(f"a run finishes as one of {', '.join(RUN_STATUSES[1:])}, not {status!r}")
        with self._write() as db:
            db.execute(
                "UPDATE runs SET status = ?, n_done = ?, n_failed = ?, finished_at = ? WHERE id = ?",
                [status, n_done, n_failed, _now(), run_id],
            )

    def history(self, limit: int = 50) -> list[RunRow]:
        """The most recent runs first; a "running" run whose process on this machine is gone reads "interrupted"
        (a writer records that when it next opens the library; a read-only reader only shows it)."""
        rows = self._rows("SELECT * FROM runs ORDER BY started_at DESC, id DESC LIMIT ?", [limit])

        def status(r: dict) -> str:
            if (r["status"] == "running" and r.get("host") == _HOST and r.get("pid") is not None
                    and r["pid"] != os.getpid() and not _process_alive(r["pid"])):
                return "interrupted"
            return r["status"]

        return [
            RunRow(
                id=r["id"], kind=r["kind"], status=status(r), started_at=r["started_at"],
                finished_at=r["finished_at"], n_total=r["n_total"], n_done=r["n_done"],
                n_failed=r["n_failed"], params=json.loads(r["params"] or "{}"),
            )
            for r in rows
        ]

    # -- errors

    def record_error(self, run_id: int | None, source: str, reason: str) -> int:
        """Note a file a run could not analyse; the batch goes on."""
        with self._write() as db:
            return self._insert_error(db, run_id, source, reason)

    @staticmethod
    def _insert_error(db: Database, run_id: int | None, source: str, reason: str) -> int:
        return db["errors"].insert(
            {"run_id": run_id, "source": storable(source), "reason": valid_text(reason), "created_at": _now()}
        ).last_pk

    def errors(self, run_id: int | None = None) -> list[ErrorRow]:
        """Errors of one run, or of all runs, oldest first."""
        if run_id is None:
            rows = self._rows("SELECT * FROM errors ORDER BY id")
        else:
            rows = self._rows("SELECT * FROM errors WHERE run_id = ? ORDER BY id", [run_id])
        return [ErrorRow(**{**r, "source": loaded(r["source"])}) for r in rows]

    # -- documents and results

    def find_document(self, content_hash: str) -> int | None:
        rows = self._rows("SELECT id FROM documents WHERE content_hash = ?", [content_hash])
        return rows[0]["id"] if rows else None

    def has_results(self, content_hash: str, tasks: dict[str, tuple[str, str, str]]) -> bool:
        """True when every task, as (model_id, model_version, params_key), already has a result for this text."""
        doc_id = self.find_document(content_hash)
        if doc_id is None:
            return False
        for task, (model_id, model_version, params_key) in tasks.items():
            rows = self._rows(
                "SELECT 1 FROM results WHERE document_id = ? AND task = ? AND model_id = ?"
                " AND model_version = ? AND params_key = ?",
                [doc_id, task, model_id, model_version, params_key],
            )
            if not rows:
                return False
        return True

    def analysed_hashes(self, tasks: dict[str, tuple[str, str, str]]) -> set[str]:
        """Content hashes of the documents `has_results` says yes to, for the whole library in one query."""
        if not tasks:
            return set()
        keys = [(t, *k) for t, k in tasks.items()]
        rows = self._rows(
            "SELECT d.content_hash AS h FROM documents d JOIN results r ON r.document_id = d.id"
            " WHERE (r.task, r.model_id, r.model_version, r.params_key) IN (VALUES "
            + ", ".join("(?, ?, ?, ?)" for _ in keys) + ") GROUP BY d.id HAVING count(DISTINCT r.task) = ?",
            [v for k in keys for v in k] + [len(keys)],
        )
        return {r["h"] for r in rows}

    def save_analysis(self, analysis: Analysis, run_id: int | None, params_keys: dict[str, str],
                      reused: bool = False) -> int:
        """Store the document, its path and one result per task it holds, all or nothing; returns the document id.

        Results are keyed by (document, task, model id, model version, params_keys[task]), so saving the
        same analysis again replaces rows instead of adding them. A set `analysis.error` is recorded too.
        `reused=True` (results taken from the library) records only the path and that `run_id` covered the
        document: the results keep the run that computed them.
        """
        doc = analysis.document
        content_hash = _content_hash(doc)
        now = _now()
        fields_ = _document_fields(doc)
        with self._write() as db:
            found = db.execute("SELECT id FROM documents WHERE content_hash = ?", [content_hash]).fetchone()
            if found:
                doc_id = found[0]
                db["documents"].update(doc_id, fields_)
            else:
                doc_id = db["documents"].insert(
                    {**fields_, "content_hash": content_hash, "text": doc.text,
                     "chars": len(doc.text), "added_at": now}
                ).last_pk
            db["sources"].upsert(
                {"path": storable(_real_location(doc.source)), "typed": storable(doc.source),
                 "document_id": doc_id, "seen_at": now}, pk="path"
            )
            if run_id is not None:
                how = "reused" if reused else "analysed"
                db.execute("INSERT INTO run_documents (run_id, document_id, how) VALUES (?, ?, ?) "
                           "ON CONFLICT (run_id, document_id) DO UPDATE SET how = 'analysed' "
                           "WHERE excluded.how = 'analysed'", [run_id, doc_id, how])
            if not reused:
                for row in _result_rows(analysis, doc_id, run_id, params_keys, now):
                    db.execute(_UPSERT_RESULT, row)
            if analysis.error:
                self._insert_error(db, run_id, doc.source, analysis.error)
        return doc_id

    def add_analyses(self, analyses: Iterable[Analysis], params_keys: dict[str, str] | None = None,
                     chunk: int = 5000) -> int:
        """Many new documents with their results in one transaction: a corpus imported at once (100,000
        documents in seconds, where one save_analysis each takes minutes). A text
        the library holds already, or that comes twice, is skipped (analysing it again is save_analysis's
        job). Returns how many documents were added."""
        keys, now, added = params_keys or {}, _now(), 0
        with self._write() as db:
            next_id = (db.execute("SELECT max(id) FROM documents").fetchone()[0] or 0) + 1
            seen: set[str] = set()
            it = iter(analyses)
            while part := list(itertools.islice(it, chunk)):
                hashes = [_content_hash(a.document) for a in part]
                known = {r[0] for r in db.execute(
                    "SELECT content_hash FROM documents WHERE content_hash IN (SELECT value FROM json_each(?))",
                    [json.dumps(hashes)])}
                docs, sources, results = [], [], []
                for analysis, content_hash in zip(part, hashes):
                    if content_hash in known or content_hash in seen:
                        continue
                    seen.add(content_hash)
                    doc = analysis.document
                    docs.append({"id": next_id, **_document_fields(doc), "content_hash": content_hash,
                                 "text": doc.text, "chars": len(doc.text), "added_at": now})
                    sources.append({"path": storable(_real_location(doc.source)), "typed": storable(doc.source),
                                    "document_id": next_id, "seen_at": now})
                    results.extend(_result_rows(analysis, next_id, None, keys, now))
                    next_id += 1
                if docs:  # executemany: insert_all's per-row type checks would take most of the time here
                    db.conn.executemany(_INSERT_DOCUMENT.format(cols=", ".join(docs[0]),
                                                                vals=", ".join(f":{c}" for c in docs[0])), docs)
                    db.conn.executemany(_UPSERT_SOURCE, sources)
                    db.conn.executemany(_UPSERT_RESULT, results)
                added += len(docs)
        return added

    def load_analysis(self, document_id: int, prefer_models: dict[str, str] | None = None) -> Analysis:
        """The document and the latest stored result of each task, as the dataclasses that were saved; for a
        task in `prefer_models` (task -> model id), that model's result when there is one."""
        docs = self._rows("SELECT * FROM documents WHERE id = ?", [document_id])
        if not docs:
            raise StoreError(f"No document {document_id} in the library {self.path}")
        rows = self._rows(
            """SELECT * FROM (
                 SELECT *, row_number() OVER (PARTITION BY task ORDER BY
                   (task = 'sentiment' AND model_id = ?) OR (task = 'summary' AND model_id = ?) DESC,
                   created_at DESC, id DESC) AS n
                 FROM results WHERE document_id = ?
               ) WHERE n = 1""",
            [(prefer_models or {}).get("sentiment", ""), (prefer_models or {}).get("summary", ""), document_id],
        )
        return _analysis_from(docs[0], rows)

    def find_results(self, content_hash: str, tasks: dict[str, tuple[str, str, str]]) -> tuple[int, Analysis] | None:
        """(document id, its Analysis) when every task, as (model_id, model_version, params_key), has a result
        for this text, made with exactly that model and those parameters; None otherwise (`has_results` is no).
        Unlike `load_analysis`, a later result made with other parameters (a longer summary) is not taken."""
        doc_id = self.find_document(content_hash)
        if doc_id is None or not tasks:
            return None
        keys = [(t, *k) for t, k in tasks.items()]
        rows = self._rows(
            "SELECT * FROM results WHERE document_id = ? AND (task, model_id, model_version, params_key) IN (VALUES "
            + ", ".join("(?, ?, ?, ?)" for _ in keys) + ") ORDER BY created_at, id",
            [doc_id] + [v for k in keys for v in k],
        )
        if {r["task"] for r in rows} != set(tasks):
            return None
        docs = self._rows("SELECT * FROM documents WHERE id = ?", [doc_id])
        return doc_id, _analysis_from(docs[0], list({r["task"]: r for r in rows}.values()))

    def delete_document(self, document_id: int) -> None:
        """Forget a document and its results; labels taken from it are kept, unlinked."""
        with self._write() as db:
            db.execute("DELETE FROM results WHERE document_id = ?", [document_id])
            db.execute("DELETE FROM sources WHERE document_id = ?", [document_id])
            db.execute("DELETE FROM run_documents WHERE document_id = ?", [document_id])
            db.execute(
                "UPDATE labels SET document_id = NULL, sentence_index = NULL WHERE document_id = ?",
                [document_id],
            )
            db.execute("DELETE FROM documents WHERE id = ?", [document_id])

    # -- listing and search

    def _select(self, columns: str, search: str | None, label: str | None, folder: str | None,
                tail: str = "", extra: dict | None = None, prefer_model: str | None = None) -> list[dict]:
        """Documents filtered by FTS query (plain words as prefixes), latest sentiment label (of `prefer_model`
        where it has one) and folder; bad FTS syntax becomes a phrase."""
        search = (search or "").strip()
        where, params = [], {**(extra or {}), "prefer_model": prefer_model or ""}
        if label is not None:
            where.append("sentiment.label = :label")
            params["label"] = label
        if folder:
            prefix = folder.rstrip("/\\")
            where.append(
                "d.id IN (SELECT document_id FROM sources WHERE substr(path, 1, :n) IN (:slash, :backslash))"
            )
            params.update(n=len(prefix) + 1, slash=prefix + "/", backslash=prefix + "\\")
        sql = (
            f"WITH {_LATEST_SENTIMENT}{', ' + _HITS if search else ''}\n"
            f"SELECT {columns} FROM documents d\n"
            f"{'JOIN hits ON hits.document_id = d.id' if search else ''}\n"
            "LEFT JOIN sentiment ON sentiment.document_id = d.id\n"
            f"{'WHERE ' + ' AND '.join(where) if where else ''}\n{tail}"
        )
        if not search:
            return self._rows(sql, params)
        params.update(mark_start=MATCH_START, mark_end=MATCH_END)
        try:
            return self._rows(sql, {**params, "query": _prefix_query(search)}, raw=True)
        except sqlite3.OperationalError:
            # "fts5: syntax error", "no such column" (from "word:"), unbalanced quotes...
            return self._rows(sql, {**params, "query": _phrase(search)})

    _ROW_COLUMNS = (
        "d.id AS id, d.title AS title, d.source AS source, d.format AS format, d.added_at AS added_at,"
        " sentiment.label AS sentiment_label, sentiment.score AS sentiment_score"
    )

    def list_documents(self, search: str | None = None, label: str | None = None, folder: str | None = None,
                       limit: int = 500, offset: int = 0, prefer_model: str | None = None) -> list[DocumentRow]:
        """Library rows, newest first (best match first when searching); the sentiment shown is
        `prefer_model`'s where it labelled the document, else the latest."""
        order = "hits.rank, d.id" if (search or "").strip() else "d.added_at DESC, d.id DESC"
        rows = self._select(self._ROW_COLUMNS, search, label, folder,
                            f"ORDER BY {order} LIMIT :limit OFFSET :offset",
                            {"limit": limit, "offset": offset}, prefer_model)
        return [DocumentRow(**{**r, "source": loaded(r["source"])}) for r in rows]

    def count_documents(self, search: str | None = None, label: str | None = None,
                        folder: str | None = None, prefer_model: str | None = None) -> int:
        return self._select("count(*) AS n", search, label, folder, prefer_model=prefer_model)[0]["n"]

    def search(self, query: str, limit: int = 50) -> list[tuple[DocumentRow, str]]:
        """Documents whose text, title, summary, translation or label match, with a snippet around the match."""
        if not query.strip():
            return []
        rows = self._select(self._ROW_COLUMNS + ", hits.snippet AS snippet", query, None, None,
                            "ORDER BY hits.rank, d.id LIMIT :limit", {"limit": limit})
        return [(DocumentRow(**{**{k: v for k, v in r.items() if k != "snippet"}, "source": loaded(r["source"])}),
                 r["snippet"]) for r in rows]

    def library_page(self, search: str | None = None, label: str | None = None, folder: str | None = None,
                     limit: int = 500, prefer_model: str | None = None) -> LibraryPage:
        """What the library pane shows, in one read: the rows list_documents gives, each with the snippet
        around its match when searching (one full-text query, not one for the rows and one for snippets),
        and how many documents the library holds."""
        searching = bool((search or "").strip())
        columns = self._ROW_COLUMNS + (", hits.snippet AS snippet" if searching else "")
        order = "hits.rank, d.id" if searching else "d.added_at DESC, d.id DESC"
        found = self._select(columns, search, label, folder, f"ORDER BY {order} LIMIT :limit",
                             {"limit": limit}, prefer_model)
        rows, snippets = [], {}
        for r in found:
            snippet = r.pop("snippet", None)
            if snippet:
                snippets[r["id"]] = snippet
            rows.append(DocumentRow(**{**r, "source": loaded(r["source"])}))
        total = self._rows("SELECT count(*) AS n FROM documents")[0]["n"]
        return LibraryPage(tuple(rows), snippets, total)

    def folders(self) -> list[str]:
        """Distinct folders documents were found in, sorted."""
        paths = self._rows("SELECT DISTINCT path FROM sources")
        return sorted({os.path.dirname(loaded(r["path"])) for r in paths} - {""})

    # -- export

    def run_document_ids(self, run_id: int) -> list[int]:
        """What a run covered, analysed by it or reused from earlier runs, by document id."""
        table = "run_documents" if self._has_table("run_documents") else "results"  # a read-only v2 library
        return [r["document_id"] for r in self._rows(
            f"SELECT DISTINCT document_id FROM {table} WHERE run_id = ? ORDER BY document_id", [run_id])]

    def export(self, path: str | Path, fmt: str = "csv", run_id: int | None = None,
               document_ids: Sequence[int] | None = None) -> int:
        """Write one row per document (all, a run's, or the given ids) as CSV or JSON Lines; returns rows written."""
        if fmt not in FORMATS:
            raise ValueError(f"unknown export format {fmt!r} (expected one of {', '.join(FORMATS)})")
        if run_id is not None:
            ids = self.run_document_ids(run_id)
        else:
            ids = [r["id"] for r in self._rows("SELECT id FROM documents ORDER BY id")]
        if document_ids is not None:
            wanted = set(document_ids)
            ids = [i for i in ids if i in wanted]
        try:
            return write_analyses(path, (self.load_analysis(i) for i in ids), fmt)
        except OSError as exc:
            raise StoreError(f"Could not write {path}: {exc.strerror or exc}") from exc

    # -- labels

    def add_label(self, text: str, label: str, document_id: int | None = None,
                  sentence_index: int | None = None) -> int:
        """Keep a user label (a text and its class) for fine-tuning; returns its id."""
        if not text.strip():
            raise LabelDataError("A label needs some text to label.")
        if not label.strip():
            raise LabelDataError("Choose a label for the text.")
        with self._write() as db:
            return db["labels"].insert(
                {"document_id": document_id, "sentence_index": sentence_index, "text": text,
                 "label": label.strip(), "created_at": _now()}
            ).last_pk

    def ranking_pool(self, model_id: str, limit: int = 1000) -> list[tuple[int, str, str, str, tuple | None]]:
        """(id, title, source, text, stored probabilities) of the newest documents, in one query, for Label next:
        where `model_id` already labelled a document its stored class probabilities come along (no need to
        run the model again), else None."""
        rows = self._rows(
            """SELECT d.id AS id, d.title AS title, d.source AS source, d.text AS text,
                 (SELECT r.payload FROM results r WHERE r.document_id = d.id AND r.task = 'sentiment'
                    AND r.model_id = :model ORDER BY r.created_at DESC, r.id DESC LIMIT 1) AS payload
               FROM documents d ORDER BY d.added_at DESC, d.id DESC LIMIT :limit""",
            {"model": model_id, "limit": limit},
        )
        out = []
        for r in rows:
            probs = None
            if r["payload"]:
                probs = tuple((str(k), float(v)) for k, v in json.loads(r["payload"]).get("probabilities", ()))
            out.append((r["id"], r["title"] or "", loaded(r["source"]), r["text"], probs or None))
        return out

    def labels(self) -> list[LabelRow]:
        rows = self._rows(
            "SELECT id, text, label, document_id, sentence_index, created_at FROM labels ORDER BY id"
        )
        return [LabelRow(**r) for r in rows]

    def delete_label(self, label_id: int) -> None:
        with self._write() as db:
            db.execute("DELETE FROM labels WHERE id = ?", [label_id])

    # -- settings

    def setting(self, key: str, default: str | None = None) -> str | None:
        rows = self._rows("SELECT value FROM settings WHERE key = ?", [key])
        return rows[0]["value"] if rows else default

    def set_setting(self, key: str, value: str) -> None:
        with self._write() as db:
            db["settings"].upsert({"key": key, "value": value}, pk="key")


def _analysis_from(d: dict, rows: list[dict]) -> Analysis:
    """A documents row and at most one results row per task as the Analysis that was saved."""
    document = Document(
        source=loaded(d["source"]), text=d["text"], title=d["title"] or "", format=d["format"] or "txt",
        encoding=d["encoding"] or "utf-8", content_hash=d["content_hash"], mtime=d["mtime"] or 0.0,
        metadata=tuple((str(k), str(v)) for k, v in json.loads(d["metadata"] or "[]")),
    )
    by_task = {r["task"]: r for r in rows if r["task"] in _REBUILD}
    results = {task: _REBUILD[task](json.loads(r["payload"])) for task, r in by_task.items()}
    models = tuple(
        ModelInfo(id=r["model_id"], version=r["model_version"], task=task,
                  provider=r["provider"] or "CPUExecutionProvider")
        for task, r in sorted(by_task.items(), key=lambda kv: TASKS.index(kv[0]))
    )
    seconds = max((r["seconds"] or 0.0 for r in by_task.values()), default=0.0)
    return Analysis(document=document, models=models, seconds=seconds, **results)
