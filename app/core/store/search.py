"""Listing and search: the library pane's rows (latest sentiment and classifications, folder, full-text match
with snippets)."""
from __future__ import annotations

import os
import re
import sqlite3
import json
from dataclasses import dataclass, field, replace

from app.core.names import loaded
from app.core.store.connection import Connection

# Around matched words in search() snippets; the UI may swap them for highlighting.
MATCH_START, MATCH_END = "[", "]"


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
    classifications: tuple[tuple[str, str, float], ...] = ()  # (name, label, score), latest per classification
    lang: str | None = None  # the document's language (ISO 639-1; None: not detected yet)
    sentiment_unsupported: str | None = None  # the language no sentiment model covered (then no label)

    @property
    def sentiment_text(self) -> str:
        """The sentiment cell: its label, 'unsupported language (es)', or '' when there is no result."""
        if self.sentiment_unsupported:
            return f"unsupported language ({self.sentiment_unsupported})"
        return self.sentiment_label or ""


@dataclass(frozen=True)
class LibraryPage:
    """One read of the library pane: rows (best match first when searching), match snippets by document id
    (MATCH_START/MATCH_END around the matched words), and the number of documents in the library."""

    rows: tuple[DocumentRow, ...]
    snippets: dict[int, str]
    total: int
    classifications: dict[str, tuple[str, ...]] = field(default_factory=dict)  # name -> its labels in the library
    languages: tuple[str, ...] = ()  # the documents' languages, most documents first (the language filter)


# Latest sentiment per document: the one of the preferred model (the default one, so switching back to it
# shows its labels again) when it has one, else the most recently saved, whichever model produced it.
_LATEST_SENTIMENT = """
sentiment AS (
  SELECT document_id, label, score, unsupported FROM (
    SELECT document_id, label, score, json_extract(payload, '$.unsupported_lang') AS unsupported, row_number() OVER (
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


# Documents whose latest result of one classification (task "classification:NAME") has a given label.
_CLASSIFIED = """d.id IN (SELECT document_id FROM (
  SELECT document_id, label, row_number() OVER (PARTITION BY document_id ORDER BY created_at DESC, id DESC) AS n
  FROM results WHERE task = :class_task) WHERE n = 1 AND label = :class_label)"""


def _select(conn: Connection, columns: str, search: str | None, label: str | None, folder: str | None,
            tail: str = "", extra: dict | None = None, prefer_model: str | None = None,
            classified: tuple[str, str] | None = None, lang: str | None = None) -> list[dict]:
    """Documents filtered by FTS query (plain words as prefixes), latest sentiment label (of `prefer_model`
    where it has one), a classification's latest label (`classified` = (name, label)), folder and language
    (an ISO code; "" for documents whose language is not known); bad FTS syntax becomes a phrase."""
    search = (search or "").strip()
    where, params = [], {**(extra or {}), "prefer_model": prefer_model or ""}
    if label is not None:
        where.append("sentiment.label = :label")
        params["label"] = label
    if lang is not None:
        where.append("coalesce(d.lang, '') = :lang")
        params["lang"] = lang
    if classified is not None:
        where.append(_CLASSIFIED)
        params.update(class_task=f"classification:{classified[0]}", class_label=classified[1])
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
        return conn.rows(sql, params)
    params.update(mark_start=MATCH_START, mark_end=MATCH_END)
    try:
        return conn.rows(sql, {**params, "query": _prefix_query(search)}, raw=True)
    except sqlite3.OperationalError:
        # "fts5: syntax error", "no such column" (from "word:"), unbalanced quotes...
        return conn.rows(sql, {**params, "query": _phrase(search)})


_ROW_COLUMNS = (
    "d.id AS id, d.title AS title, d.source AS source, d.format AS format, d.added_at AS added_at,"
    " sentiment.label AS sentiment_label, sentiment.score AS sentiment_score, d.lang AS lang,"
    " sentiment.unsupported AS sentiment_unsupported"
)


def list_documents(conn: Connection, search: str | None = None, label: str | None = None, folder: str | None = None,
                   limit: int = 500, offset: int = 0, prefer_model: str | None = None,
                   lang: str | None = None) -> list[DocumentRow]:
    """Library rows, newest first (best match first when searching); the sentiment shown is
    `prefer_model`'s where it labelled the document, else the latest."""
    order = "hits.rank, d.id" if (search or "").strip() else "d.added_at DESC, d.id DESC"
    rows = _select(conn, _ROW_COLUMNS, search, label, folder, f"ORDER BY {order} LIMIT :limit OFFSET :offset",
                   {"limit": limit, "offset": offset}, prefer_model, lang=lang)
    return [DocumentRow(**{**r, "source": loaded(r["source"])}) for r in rows]


def count_documents(conn: Connection, search: str | None = None, label: str | None = None,
                    folder: str | None = None, prefer_model: str | None = None,
                    classified: tuple[str, str] | None = None, lang: str | None = None) -> int:
    return _select(conn, "count(*) AS n", search, label, folder, prefer_model=prefer_model,
                   classified=classified, lang=lang)[0]["n"]


def search(conn: Connection, query: str, limit: int = 50) -> list[tuple[DocumentRow, str]]:
    """Documents whose text, title, summary, translation or label match, with a snippet around the match."""
    if not query.strip():
        return []
    rows = _select(conn, _ROW_COLUMNS + ", hits.snippet AS snippet", query, None, None,
                   "ORDER BY hits.rank, d.id LIMIT :limit", {"limit": limit})
    return [(DocumentRow(**{**{k: v for k, v in r.items() if k != "snippet"}, "source": loaded(r["source"])}),
             r["snippet"]) for r in rows]


def library_page(conn: Connection, search: str | None = None, label: str | None = None, folder: str | None = None,
                 limit: int = 500, prefer_model: str | None = None,
                 classified: tuple[str, str] | None = None, lang: str | None = None) -> LibraryPage:
    """What the library pane shows, in one read: the rows list_documents gives, each with the snippet
    around its match when searching (one full-text query, not one for the rows and one for snippets) and
    its latest label of each classification, how many documents the library holds, and each classification's
    labels (its column and filter)."""
    searching = bool((search or "").strip())
    columns = _ROW_COLUMNS + (", hits.snippet AS snippet" if searching else "")
    order = "hits.rank, d.id" if searching else "d.added_at DESC, d.id DESC"
    found = _select(conn, columns, search, label, folder, f"ORDER BY {order} LIMIT :limit",
                    {"limit": limit}, prefer_model, classified, lang)
    rows, snippets = [], {}
    for r in found:
        snippet = r.pop("snippet", None)
        if snippet:
            snippets[r["id"]] = snippet
        rows.append(DocumentRow(**{**r, "source": loaded(r["source"])}))
    total = conn.rows("SELECT count(*) AS n FROM documents")[0]["n"]
    labels: dict[str, list[str]] = {}
    for r in conn.rows("SELECT task, label FROM results WHERE task LIKE 'classification:%' AND label IS NOT NULL"
                       " GROUP BY task, label ORDER BY task, label"):
        labels.setdefault(r["task"].split(":", 1)[1], []).append(r["label"])
    if labels and rows:
        rows = _with_classifications(conn, rows)
    languages = tuple(r["lang"] for r in conn.rows(
        "SELECT lang FROM documents WHERE lang IS NOT NULL AND lang != '' GROUP BY lang ORDER BY count(*) DESC, lang"))
    return LibraryPage(tuple(rows), snippets, total, {k: tuple(v) for k, v in labels.items()}, languages)


def _with_classifications(conn: Connection, rows: list[DocumentRow]) -> list[DocumentRow]:
    """`rows`, each with the latest label of every classification it has."""
    found: dict[int, list[tuple[str, str, float]]] = {}
    for r in conn.rows(
            "SELECT document_id, task, label, score FROM (SELECT document_id, task, label, score, row_number() OVER ("
            "  PARTITION BY document_id, task ORDER BY created_at DESC, id DESC) AS n FROM results"
            "  WHERE task LIKE 'classification:%' AND document_id IN (SELECT value FROM json_each(:ids)))"
            " WHERE n = 1 ORDER BY task", {"ids": json.dumps([r.id for r in rows])}):
        found.setdefault(r["document_id"], []).append((r["task"].split(":", 1)[1], r["label"], r["score"] or 0.0))
    return [replace(r, classifications=tuple(found.get(r.id, ()))) for r in rows]


def folders(conn: Connection) -> list[str]:
    """Distinct folders documents were found in, sorted."""
    paths = conn.rows("SELECT DISTINCT path FROM sources")
    return sorted({os.path.dirname(loaded(r["path"])) for r in paths} - {""})
