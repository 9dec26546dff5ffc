"""Errors: the documents a run could not read or analyse, with the reason (the batch goes on)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlite_utils import Database

from app.core.names import loaded, storable, valid_text
from app.core.store.connection import Connection, now


@dataclass(frozen=True)
class ErrorRow:
    id: int
    run_id: int | None
    source: str
    reason: str
    created_at: str


def insert_error(db: Database, run_id: int | None, source: str, reason: str) -> int:
    """Add an error row inside the caller's transaction; returns its id."""
    return db["errors"].insert(
        {"run_id": run_id, "source": storable(source), "reason": valid_text(reason), "created_at": now()}
    ).last_pk


def record_error(conn: Connection, run_id: int | None, source: str, reason: str) -> int:
    """Note a file a run could not analyse; the batch goes on."""
    with conn.write() as db:
        return insert_error(db, run_id, source, reason)


def errors(conn: Connection, run_id: int | None = None) -> list[ErrorRow]:
    """Errors of one run, or of all runs, oldest first."""
    if run_id is None:
        rows = conn.read(lambda db: list(db["errors"].rows_where(order_by="id")))
    else:
        rows = conn.read(lambda db: list(db["errors"].rows_where("run_id = ?", [run_id], order_by="id")))
    return [ErrorRow(**{**r, "source": loaded(r["source"])}) for r in rows]
