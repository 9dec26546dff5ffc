"""One open library file: the connection, its lock, transactions, and sqlite3 errors as StoreErrors.

Threading: a Connection (and so a Store) is used from one thread at a time (the UI's worker jobs take
turns); an internal lock makes an accidental overlap wait instead of corrupting a transaction. Writes take
the database's write lock up front (BEGIN IMMEDIATE), so two processes (window and CLI) wait for each other
up to the busy timeout instead of failing mid-save. A reader (`readonly=True`: history, search, export)
opens the file read-only and never takes the write lock, so it works on read-only media and while a writer
holds the lock.
"""
from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database

from app.core.errors import StoreError
from app.core.store import schema
from app.core.store.location import ENV_VAR

BUSY_TIMEOUT_S = 10.0

T = TypeVar("T")


def now() -> str:
    """The time a row is written, as the library stores it (UTC, ISO 8601, microseconds)."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class Connection:
    """The library file at `path`, opened (and upgraded unless `readonly`); `on_open` runs once it is."""

    def __init__(self, path: str, *, readonly: bool = False,
                 on_open: Callable[[Connection], None] | None = None):
        self.path = path
        self.readonly = readonly
        self.lock = threading.RLock()
        self.in_batch = False  # inside batch(): every write joins its one transaction
        conn = None
        try:
            if readonly:
                conn = self._connect_readonly()
                self.db = Database(conn, execute_plugins=False)
                self._check_readable()
            else:
                if self.path != ":memory:":
                    Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
                self.db = Database(conn, execute_plugins=False)
                self.db.execute("PRAGMA foreign_keys = ON")
                self.db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
                self.db.enable_wal()
                schema.migrate(self.db, self.path)
                if on_open:
                    on_open(self)
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
                    f"Move it aside or set {ENV_VAR} to another file. {self.recover_hint()}"
                ) from exc
            raise StoreError(f"Cannot open the library {self.path}: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"Cannot create the library {self.path}: {exc.strerror or exc}") from exc

    def _check_readable(self) -> None:
        version = schema.schema_version(self.db)
        if version == 0:
            raise StoreError(f"{self.path} is not an Albert Studio library (it has no tables).")
        if version > schema.SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer Albert Studio (library version {version}; this "
                f"version reads up to {schema.SCHEMA_VERSION}). Update Albert Studio.")

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

    def recover_hint(self) -> str:
        return (f"To save what can be read, keep a copy of the file and run: sqlite3 \"{self.path}\" .recover "
                f"| sqlite3 recovered.db, then use recovered.db (--db recovered.db or {ENV_VAR}).")

    def failure(self, exc: sqlite3.Error, doing: str) -> StoreError:
        """A StoreError for a failed read or write that says what to do about it."""
        msg = str(exc)
        if "malformed" in msg or "not a database" in msg or "corrupt" in msg:
            return StoreError(f"The library {self.path} is damaged ({msg}). {self.recover_hint()}")
        if self.readonly and "readonly" in msg.replace("-", "").replace(" ", ""):
            return StoreError(f"The library {self.path} was opened read-only and cannot be changed.")
        return StoreError(f"Could not {doing} the library {self.path}: {msg}")

    def close(self) -> None:
        with self.lock:
            self.db.close()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Many writes as one transaction, all or nothing."""
        with self.write():
            self.in_batch = True
            try:
                yield
            finally:
                self.in_batch = False

    @contextmanager
    def write(self) -> Iterator[Database]:
        """One transaction holding the write lock; rolled back whole on any error."""
        with self.lock:
            if self.in_batch:
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
                raise self.failure(exc, "write to") from exc

    def read(self, fn: Callable[[Database], T], raw: bool = False) -> T:
        """Run a read under the lock; `raw` lets sqlite3.OperationalError through for callers that handle it."""
        with self.lock:
            try:
                return fn(self.db)
            except sqlite3.OperationalError as exc:
                if raw and "malformed" not in str(exc):
                    raise
                raise self.failure(exc, "read") from exc
            except sqlite3.Error as exc:
                raise self.failure(exc, "read") from exc

    def rows(self, sql: str, params: Sequence | dict | None = None, raw: bool = False) -> list[dict[str, Any]]:
        """The rows of a SELECT as dicts (see `read`)."""
        return self.read(lambda db: list(db.query(sql, params)), raw)

    def has_table(self, name: str) -> bool:
        return bool(self.rows("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]))
