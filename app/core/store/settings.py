"""Settings: small key/value preferences kept in the library."""
from __future__ import annotations

from app.core.store.connection import Connection


def setting(conn: Connection, key: str, default: str | None = None) -> str | None:
    rows = conn.read(lambda db: list(db["settings"].rows_where("key = ?", [key], select="value")))
    return rows[0]["value"] if rows else default


def set_setting(conn: Connection, key: str, value: str) -> None:
    with conn.write() as db:
        db["settings"].upsert({"key": key, "value": value}, pk="key")
