"""Documents and their results: save an analysis (or many at once), find a reusable one, load, delete.

Results are keyed by (document, task, model id, model version, params key): saving the same analysis again
replaces rows instead of adding them. A document is one distinct text (by content hash); `sources` records
every real file it was found at.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict

from app.core.errors import StoreError
from app.core.names import storable, valid_text
from app.core.store.connection import Connection, now
from app.core.store.errors import insert_error
from app.core.store.payloads import TASKS, analysis_from, language_columns
from app.core.types import Analysis, Document, ModelInfo, classification_task

TaskModels = dict[str, tuple[str, str, str]]  # task -> (model id, model version, params key)

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
_INSERT_DOCUMENT = "INSERT INTO documents ({cols}) VALUES ({vals})"
_UPSERT_SOURCE = ("INSERT INTO sources (path, typed, document_id, seen_at) VALUES (:path, :typed, :document_id, :seen_at) "
                  "ON CONFLICT (path) DO UPDATE SET typed = excluded.typed, document_id = excluded.document_id, "
                  "seen_at = excluded.seen_at")


def _content_hash(document: Document) -> str:
    return document.content_hash or hashlib.sha256(document.text.encode("utf-8")).hexdigest()


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


def _source_row(doc: Document, document_id: int, seen_at: str) -> dict:
    return {"path": storable(_real_location(doc.source)), "typed": storable(doc.source),
            "document_id": document_id, "seen_at": seen_at}


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


def _result_rows(analysis: Analysis, doc_id: int, run_id: int | None, params_keys: dict[str, str],
                 created_at: str) -> Iterator[dict]:
    """One `results` row per task the analysis holds."""
    models = {m.task: m for m in analysis.models}
    results = [(task, getattr(analysis, task)) for task in TASKS]
    results += [(classification_task(c.name), c) for c in analysis.classifications]
    for task, result in results:
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
            # a result for a language no model covers has no label and no score (NULL), only its payload
            "label": (getattr(result, "label", None) if task not in ("summary", "translation")
                      else getattr(result, "lang", None)) or None,
            "score": None if getattr(result, "unsupported_lang", "") else getattr(result, "score", None),
            "text": result.text if task in ("summary", "translation") else None,
            "payload": json.dumps(asdict(result), ensure_ascii=False),
            "seconds": analysis.seconds,
            "created_at": created_at,
        }


def save_analysis(conn: Connection, analysis: Analysis, run_id: int | None, params_keys: dict[str, str],
                  reused: bool = False) -> int:
    """Store the document, its path and one result per task it holds, all or nothing; returns the document id.

    Results are keyed by (document, task, model id, model version, params_keys[task]), so saving the
    same analysis again replaces rows instead of adding them. A set `analysis.error` is recorded too.
    `reused=True` (results taken from the library) records only the path and that `run_id` covered the
    document: the results keep the run that computed them.
    """
    doc = analysis.document
    content_hash = _content_hash(doc)
    stamp = now()
    fields_ = _document_fields(doc)
    if analysis.language is not None:  # a reused analysis stored before languages were detected keeps NULL
        fields_.update(language_columns(analysis.language))
    with conn.write() as db:
        found = db.execute("SELECT id FROM documents WHERE content_hash = ?", [content_hash]).fetchone()
        if found:
            doc_id = found[0]
            db["documents"].update(doc_id, fields_)
        else:
            doc_id = db["documents"].insert(
                {**fields_, "content_hash": content_hash, "text": doc.text, "chars": len(doc.text), "added_at": stamp}
            ).last_pk
        db["sources"].upsert(_source_row(doc, doc_id, stamp), pk="path")
        if run_id is not None:
            how = "reused" if reused else "analysed"
            db.execute("INSERT INTO run_documents (run_id, document_id, how) VALUES (?, ?, ?) "
                       "ON CONFLICT (run_id, document_id) DO UPDATE SET how = 'analysed' "
                       "WHERE excluded.how = 'analysed'", [run_id, doc_id, how])
        if not reused:
            for row in _result_rows(analysis, doc_id, run_id, params_keys, stamp):
                db.execute(_UPSERT_RESULT, row)
        if analysis.error:
            insert_error(db, run_id, doc.source, analysis.error)
    return doc_id


def add_analyses(conn: Connection, analyses: Iterable[Analysis], params_keys: dict[str, str] | None = None,
                 chunk: int = 5000) -> int:
    """Many new documents with their results in one transaction: a corpus imported at once (100,000
    documents in seconds, where one save_analysis each takes minutes). A text
    the library holds already, or that comes twice, is skipped (analysing it again is save_analysis's
    job). Returns how many documents were added."""
    keys, stamp, added = params_keys or {}, now(), 0
    with conn.write() as db:
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
                docs.append({"id": next_id, **_document_fields(doc), **language_columns(analysis.language),
                             "content_hash": content_hash,
                             "text": doc.text, "chars": len(doc.text), "added_at": stamp})
                sources.append(_source_row(doc, next_id, stamp))
                results.extend(_result_rows(analysis, next_id, None, keys, stamp))
                next_id += 1
            if docs:  # executemany: insert_all's per-row type checks would take most of the time here
                db.conn.executemany(_INSERT_DOCUMENT.format(cols=", ".join(docs[0]),
                                                            vals=", ".join(f":{c}" for c in docs[0])), docs)
                db.conn.executemany(_UPSERT_SOURCE, sources)
                db.conn.executemany(_UPSERT_RESULT, results)
            added += len(docs)
    return added


def find_document(conn: Connection, content_hash: str) -> int | None:
    rows = conn.read(lambda db: list(db["documents"].rows_where("content_hash = ?", [content_hash], select="id")))
    return rows[0]["id"] if rows else None


def _document_row(conn: Connection, document_id: int) -> dict | None:
    rows = conn.read(lambda db: list(db["documents"].rows_where("id = ?", [document_id])))
    return rows[0] if rows else None


def has_results(conn: Connection, content_hash: str, tasks: TaskModels) -> bool:
    """True when every task, as (model_id, model_version, params_key), already has a result for this text."""
    doc_id = find_document(conn, content_hash)
    if doc_id is None:
        return False
    for task, (model_id, model_version, params_key) in tasks.items():
        where = "document_id = ? AND task = ? AND model_id = ? AND model_version = ? AND params_key = ?"
        args = [doc_id, task, model_id, model_version, params_key]
        if not conn.read(lambda db: db["results"].count_where(where, args)):
            return False
    return True


def _task_keys(tasks: TaskModels, table: str = "") -> tuple[str, list]:
    """A `(task, model_id, model_version, params_key) IN (VALUES ...)` condition (columns of `table`, an
    alias, when given) and its arguments."""
    keys = [(t, *k) for t, k in tasks.items()]
    columns = ", ".join(f"{table}.{c}" if table else c for c in ("task", "model_id", "model_version", "params_key"))
    return (f"({columns}) IN (VALUES " + ", ".join("(?, ?, ?, ?)" for _ in keys) + ")",
            [v for k in keys for v in k])


def analysed_hashes(conn: Connection, tasks: TaskModels) -> set[str]:
    """Content hashes of the documents `has_results` says yes to, for the whole library in one query."""
    if not tasks:
        return set()
    condition, args = _task_keys(tasks, "r")
    rows = conn.rows(
        "SELECT d.content_hash AS h FROM documents d JOIN results r ON r.document_id = d.id"
        f" WHERE {condition} GROUP BY d.id HAVING count(DISTINCT r.task) = ?",
        args + [len(tasks)],
    )
    return {r["h"] for r in rows}


def load_analysis(conn: Connection, document_id: int, prefer_models: dict[str, str] | None = None) -> Analysis:
    """The document and the latest stored result of each task, as the dataclasses that were saved; for a
    task in `prefer_models` (task -> model id), that model's result when there is one."""
    doc = _document_row(conn, document_id)
    if doc is None:
        raise StoreError(f"No document {document_id} in the library {conn.path}")
    rows = conn.rows(
        """SELECT * FROM (
             SELECT *, row_number() OVER (PARTITION BY task ORDER BY
               (task = 'sentiment' AND model_id = ?) OR (task = 'summary' AND model_id = ?) DESC,
               created_at DESC, id DESC) AS n
             FROM results WHERE document_id = ?
           ) WHERE n = 1""",
        [(prefer_models or {}).get("sentiment", ""), (prefer_models or {}).get("summary", ""), document_id],
    )
    return analysis_from(doc, rows)


def find_results(conn: Connection, content_hash: str, tasks: TaskModels) -> tuple[int, Analysis] | None:
    """(document id, its Analysis) when every task, as (model_id, model_version, params_key), has a result
    for this text, made with exactly that model and those parameters; None otherwise (`has_results` is no).
    Unlike `load_analysis`, a later result made with other parameters (a longer summary) is not taken."""
    doc_id = find_document(conn, content_hash)
    if doc_id is None or not tasks:
        return None
    condition, args = _task_keys(tasks)
    rows = conn.read(lambda db: list(db["results"].rows_where(
        f"document_id = ? AND {condition}", [doc_id, *args], order_by="created_at, id")))
    if {r["task"] for r in rows} != set(tasks):
        return None
    doc = _document_row(conn, doc_id)
    return doc_id, analysis_from(doc, list({r["task"]: r for r in rows}.values()))


def delete_document(conn: Connection, document_id: int) -> None:
    """Forget a document and its results; labels taken from it are kept, unlinked."""
    with conn.write() as db:
        for table in ("results", "sources", "run_documents"):
            db[table].delete_where("document_id = ?", [document_id])
        db.execute("UPDATE labels SET document_id = NULL, sentence_index = NULL WHERE document_id = ?",
                   [document_id])
        db["documents"].delete_where("id = ?", [document_id])
