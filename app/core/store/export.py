"""Export: one row per document (all, a run's, or chosen ones) as CSV or JSON Lines (`app.core.export`); CSV
gets a label and a score column for each classification the library holds."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from app.core.errors import StoreError
from app.core.export import FORMATS, write_analyses
from app.core.store.connection import Connection
from app.core.store.results import load_analysis
from app.core.store.runs import run_document_ids


def classification_names(conn: Connection) -> list[str]:
    """The names of the classifications the library holds results of ("topic", "urgency"), sorted."""
    rows = conn.rows("SELECT DISTINCT task FROM results WHERE task LIKE 'classification:%' ORDER BY task")
    return [r["task"].split(":", 1)[1] for r in rows]


def export(conn: Connection, path: str | Path, fmt: str = "csv", run_id: int | None = None,
           document_ids: Sequence[int] | None = None, lang: str | None = None) -> int:
    """Write one row per document (all, a run's, or the given ids; of one language with `lang`, "" for
    documents whose language is not known) as CSV or JSON Lines; returns rows written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (expected one of {', '.join(FORMATS)})")
    if run_id is not None:
        ids = run_document_ids(conn, run_id)
    else:
        ids = [r["id"] for r in conn.read(lambda db: list(db["documents"].rows_where(select="id", order_by="id")))]
    if lang is not None:
        wanted_lang = {r["id"] for r in conn.rows("SELECT id FROM documents WHERE coalesce(lang, '') = ?", [lang])}
        ids = [i for i in ids if i in wanted_lang]
    if document_ids is not None:
        wanted = set(document_ids)
        ids = [i for i in ids if i in wanted]
    try:
        return write_analyses(path, (load_analysis(conn, i) for i in ids), fmt, classification_names(conn))
    except OSError as exc:
        raise StoreError(f"Could not write {path}: {exc.strerror or exc}") from exc
