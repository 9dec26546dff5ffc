"""Labels: texts a user labelled for fine-tuning, and the pool "Label next" ranks."""
from __future__ import annotations

import json
from dataclasses import dataclass

from app.core.errors import LabelDataError
from app.core.names import loaded
from app.core.store.connection import Connection, now


@dataclass(frozen=True)
class LabelRow:
    id: int
    text: str
    label: str
    document_id: int | None
    sentence_index: int | None
    created_at: str


def add_label(conn: Connection, text: str, label: str, document_id: int | None = None,
              sentence_index: int | None = None) -> int:
    """Keep a user label (a text and its class) for fine-tuning; returns its id."""
    if not text.strip():
        raise LabelDataError("A label needs some text to label.")
    if not label.strip():
        raise LabelDataError("Choose a label for the text.")
    with conn.write() as db:
        return db["labels"].insert(
            {"document_id": document_id, "sentence_index": sentence_index, "text": text,
             "label": label.strip(), "created_at": now()}
        ).last_pk


def labels(conn: Connection) -> list[LabelRow]:
    rows = conn.read(lambda db: list(db["labels"].rows_where(
        select="id, text, label, document_id, sentence_index, created_at", order_by="id")))
    return [LabelRow(**r) for r in rows]


def delete_label(conn: Connection, label_id: int) -> None:
    with conn.write() as db:
        db["labels"].delete_where("id = ?", [label_id])


def ranking_pool(conn: Connection, model_id: str, limit: int = 1000) -> list[tuple[int, str, str, str, tuple | None]]:
    """(id, title, source, text, stored probabilities) of the newest documents, in one query, for Label next:
    where `model_id` already labelled a document its stored class probabilities come along (no need to
    run the model again), else None."""
    rows = conn.rows(
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
