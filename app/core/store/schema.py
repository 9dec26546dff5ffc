"""The library's schema: forward migrations, applied in one transaction when a writable Store opens.

    documents  one row per distinct text (content_hash unique); `source` is the latest path seen, as typed;
               its language: lang, lang_confidence, lang_reliable, lang_spans (v5)
    sources    every real file a document was found at (resolved path -> document_id; `typed` as given)
    runs       one row per batch: kind, params, status running/done/cancelled/failed/interrupted, counts,
               and the process (pid, host) that runs it, so a run whose process died reads "interrupted"
    run_documents  which documents each run covered, and whether it analysed or reused them
    results    one row per (document, task, model id, model version, params_key); re-analysis
               replaces the row, never duplicates it. `payload` is the full result dataclass as JSON;
               a user's classifier stores under task "classification:NAME" (v4 moved older ones there)
    errors     files a run could not analyse, with the reason
    labels     user labels (text + label, optionally tied to a document sentence) for fine-tuning
    settings   small key/value preferences
    meta       the schema version
    *_fts      FTS5 indexes, kept current by triggers: documents(title, text), results(text, label)
"""
from __future__ import annotations

from collections.abc import Callable

from sqlite_utils import Database

from app.core.errors import StoreError
from app.core.store.location import ENV_VAR


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


def _v4_classifications_own_task(db: Database) -> None:
    """A user's classifier ("topic", "urgency") stored its results as sentiment before classification was its
    own task: a sentiment result whose labels are not negative/positive(/neutral) moves to
    "classification:NAME" (NAME from the model id, as the registry names such a model), its payload to a
    ClassificationResult's. Sentiment results of real sentiment models stay."""
    import json

    from app.core.store.payloads import sentiment_as_classification
    from app.core.types import classification_name, classification_task

    polar = (["negative", "positive"], ["negative", "neutral", "positive"])
    rows = db.execute("SELECT id, model_id, payload FROM results WHERE task = 'sentiment'").fetchall()
    for rid, model_id, payload in rows:
        try:
            data = json.loads(payload)
            labels = sorted(str(k) for k, _ in data.get("probabilities", ()))
        except (ValueError, TypeError, AttributeError):
            continue  # unreadable: left as it was
        if len(labels) < 2 or labels in polar:
            continue
        name = classification_name(model_id or "classification")
        db.execute("UPDATE OR REPLACE results SET task = ?, payload = ? WHERE id = ?",
                   [classification_task(name), json.dumps(sentiment_as_classification(name, data),
                                                          ensure_ascii=False), rid])


def _v5_document_language(db: Database) -> None:
    """Each document's language (ISO 639-1 code, detector confidence, whether it is reliable enough to act
    on, and the paragraphs in other languages as JSON [[start, end, code, confidence], ...]); NULL until a
    document is analysed again (detecting a whole library here would make opening it take minutes)."""
    db["documents"].add_column("lang", str)
    db["documents"].add_column("lang_confidence", float)
    db["documents"].add_column("lang_reliable", int)
    db["documents"].add_column("lang_spans", str)
    db["documents"].create_index(["lang"])


# Forward only, applied in order; never edit a shipped step, append a new one.
MIGRATIONS: list[tuple[int, Callable[[Database], None]]] = [
    (1, _v1_library),
    (2, _v2_labels_settings_result_search),
    (3, _v3_run_coverage_processes_real_paths),
    (4, _v4_classifications_own_task),
    (5, _v5_document_language),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


def schema_version(db: Database) -> int:
    """The version recorded in `meta` (0 for a new, empty file)."""
    if not db["meta"].exists():
        return 0
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(db: Database, path: str) -> None:
    """Bring a writable library up to SCHEMA_VERSION in one transaction; a failing step leaves it unchanged."""
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
