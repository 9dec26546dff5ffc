"""The results library: documents, analysis runs, results, errors and user labels in one SQLite file.

This package is the only place that knows table names and SQL. `Store` is a thin facade; each concern
lives in its own module, as functions over one open `Connection`:

    location.py    where the file is ($ALBERT_STUDIO_DB, else the user data folder)
    schema.py      the tables (listed there) as forward MIGRATIONS, applied in one transaction on open
    connection.py  the open file: lock, transactions (BEGIN IMMEDIATE), read-only mode, errors as StoreError
    runs.py        runs, their status and process, what each covered
    errors.py      documents a run could not analyse
    results.py     documents and their results: save, find a reusable one, load, delete
    payloads.py    stored JSON back to the result dataclasses
    search.py      library listing and full-text search
    labels.py      user labels for fine-tuning, the "Label next" pool
    settings.py    key/value preferences
    export.py      CSV / JSON Lines export

Threading, read-only use and locking: see connection.py. Paths that are not valid UTF-8 are kept as their
exact bytes (app.core.names) and come back as the same str. Every sqlite3 error becomes a StoreError naming
the library and what to do.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from app.core.store import errors as _errors
from app.core.store import export as _export
from app.core.store import labels as _labels
from app.core.store import results as _results
from app.core.store import runs as _runs
from app.core.store import search as _search
from app.core.store import settings as _settings
from app.core.store.connection import BUSY_TIMEOUT_S, Connection
from app.core.store.errors import ErrorRow
from app.core.store.labels import LabelRow
from app.core.store.location import ENV_VAR, default_db_path
from app.core.store.payloads import TASKS, result_from_payload
from app.core.store.runs import RUN_STATUSES, RunRow
from app.core.store.schema import MIGRATIONS, SCHEMA_VERSION, schema_version
from app.core.store.search import MATCH_END, MATCH_START, DocumentRow, LibraryPage
from app.core.types import Analysis

__all__ = [
    "BUSY_TIMEOUT_S", "ENV_VAR", "MATCH_END", "MATCH_START", "MIGRATIONS", "RUN_STATUSES", "SCHEMA_VERSION", "TASKS",
    "DocumentRow", "ErrorRow", "LabelRow", "LibraryPage", "RunRow", "Store",
    "default_db_path", "result_from_payload", "schema_version",
]

TaskModels = dict[str, tuple[str, str, str]]  # task -> (model id, model version, params key)


class Store:
    """The results library. Open with Store(path) or Store() for the default file; close when done."""

    def __init__(self, path: str | Path | None = None, *, readonly: bool = False):
        """`readonly` opens for reading only (history, search, export): no write lock, no upgrade, works on
        read-only folders and media; any write then raises StoreError."""
        self._conn = Connection(str(path) if path is not None else str(default_db_path()), readonly=readonly,
                                on_open=_runs.mark_interrupted_runs)

    @property
    def path(self) -> str:
        return self._conn.path

    @property
    def readonly(self) -> bool:
        return self._conn.readonly

    @property
    def db(self) -> Database:
        """The sqlite-utils Database (for tests and migrations; code outside the store goes through methods)."""
        return self._conn.db

    @property
    def schema_version(self) -> int:
        return self._conn.read(schema_version)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def batch(self) -> Iterator[Store]:
        """Many writes as one transaction, all or nothing: a cluster run merges each shard with one commit
        (a commit per document caps the merge at about a hundred documents a second)."""
        with self._conn.batch():
            yield self

    # -- runs (runs.py)

    def start_run(self, kind: str, params: dict, n_total: int = 0) -> int:
        """Record the start of a batch; returns its run id."""
        return _runs.start_run(self._conn, kind, params, n_total)

    def update_run_progress(self, run_id: int, n_done: int, n_failed: int) -> None:
        _runs.update_run_progress(self._conn, run_id, n_done, n_failed)

    def finish_run(self, run_id: int, status: str, n_done: int, n_failed: int) -> None:
        """Close a run as done, cancelled or failed, with its final counts."""
        _runs.finish_run(self._conn, run_id, status, n_done, n_failed)

    def history(self, limit: int = 50) -> list[RunRow]:
        """The most recent runs first (a run whose process died reads "interrupted")."""
        return _runs.history(self._conn, limit)

    def run_document_ids(self, run_id: int) -> list[int]:
        """What a run covered, analysed by it or reused from earlier runs, by document id."""
        return _runs.run_document_ids(self._conn, run_id)

    # -- errors (errors.py)

    def record_error(self, run_id: int | None, source: str, reason: str) -> int:
        """Note a file a run could not analyse; the batch goes on."""
        return _errors.record_error(self._conn, run_id, source, reason)

    def errors(self, run_id: int | None = None) -> list[ErrorRow]:
        """Errors of one run, or of all runs, oldest first."""
        return _errors.errors(self._conn, run_id)

    # -- documents and results (results.py)

    def find_document(self, content_hash: str) -> int | None:
        return _results.find_document(self._conn, content_hash)

    def has_results(self, content_hash: str, tasks: TaskModels) -> bool:
        """True when every task, as (model_id, model_version, params_key), already has a result for this text."""
        return _results.has_results(self._conn, content_hash, tasks)

    def analysed_hashes(self, tasks: TaskModels) -> set[str]:
        """Content hashes of the documents `has_results` says yes to, in one query."""
        return _results.analysed_hashes(self._conn, tasks)

    def save_analysis(self, analysis: Analysis, run_id: int | None, params_keys: dict[str, str],
                      reused: bool = False) -> int:
        """Store the document, its path and one result per task, all or nothing; returns the document id."""
        return _results.save_analysis(self._conn, analysis, run_id, params_keys, reused)

    def add_analyses(self, analyses: Iterable[Analysis], params_keys: dict[str, str] | None = None,
                     chunk: int = 5000) -> int:
        """Many new documents with their results in one transaction; returns how many were added."""
        return _results.add_analyses(self._conn, analyses, params_keys, chunk)

    def load_analysis(self, document_id: int, prefer_models: dict[str, str] | None = None) -> Analysis:
        """The document and the latest stored result of each task (`prefer_models`' where it has one)."""
        return _results.load_analysis(self._conn, document_id, prefer_models)

    def find_results(self, content_hash: str, tasks: TaskModels) -> tuple[int, Analysis] | None:
        """(document id, its Analysis) when every task has a result made with exactly that model and params."""
        return _results.find_results(self._conn, content_hash, tasks)

    def delete_document(self, document_id: int) -> None:
        """Forget a document and its results; labels taken from it are kept, unlinked."""
        _results.delete_document(self._conn, document_id)

    # -- listing and search (search.py)

    def list_documents(self, search: str | None = None, label: str | None = None, folder: str | None = None,
                       limit: int = 500, offset: int = 0, prefer_model: str | None = None,
                       lang: str | None = None) -> list[DocumentRow]:
        """Library rows, newest first (best match first when searching); `lang` keeps one language's."""
        return _search.list_documents(self._conn, search, label, folder, limit, offset, prefer_model, lang)

    def count_documents(self, search: str | None = None, label: str | None = None,
                        folder: str | None = None, prefer_model: str | None = None,
                        classified: tuple[str, str] | None = None, lang: str | None = None) -> int:
        return _search.count_documents(self._conn, search, label, folder, prefer_model, classified, lang)

    def search(self, query: str, limit: int = 50) -> list[tuple[DocumentRow, str]]:
        """Documents whose text, title, summary, translation or label match, with a snippet around the match."""
        return _search.search(self._conn, query, limit)

    def library_page(self, search: str | None = None, label: str | None = None, folder: str | None = None,
                     limit: int = 500, prefer_model: str | None = None,
                     classified: tuple[str, str] | None = None, lang: str | None = None) -> LibraryPage:
        """What the library pane shows, in one read: rows (with their classifications), snippets when
        searching, the document count, each classification's labels, the languages; `classified` =
        (name, label) and `lang` (an ISO code, "" for not detected) filter."""
        return _search.library_page(self._conn, search, label, folder, limit, prefer_model, classified, lang)

    def classification_names(self) -> list[str]:
        """The classifications the library holds results of ("topic", "urgency")."""
        return _export.classification_names(self._conn)

    def folders(self) -> list[str]:
        """Distinct folders documents were found in, sorted."""
        return _search.folders(self._conn)

    # -- export (export.py)

    def export(self, path: str | Path, fmt: str = "csv", run_id: int | None = None,
               document_ids: Sequence[int] | None = None, lang: str | None = None) -> int:
        """Write one row per document (all, a run's, or the given ids; `lang`: of one language) as CSV or
        JSON Lines; returns rows written."""
        return _export.export(self._conn, path, fmt, run_id, document_ids, lang)

    # -- labels (labels.py)

    def add_label(self, text: str, label: str, document_id: int | None = None,
                  sentence_index: int | None = None) -> int:
        """Keep a user label (a text and its class) for fine-tuning; returns its id."""
        return _labels.add_label(self._conn, text, label, document_id, sentence_index)

    def ranking_pool(self, model_id: str, limit: int = 1000) -> list[tuple[int, str, str, str, tuple | None]]:
        """(id, title, source, text, stored probabilities or None) of the newest documents, for Label next."""
        return _labels.ranking_pool(self._conn, model_id, limit)

    def labels(self) -> list[LabelRow]:
        return _labels.labels(self._conn)

    def delete_label(self, label_id: int) -> None:
        _labels.delete_label(self._conn, label_id)

    # -- settings (settings.py)

    def setting(self, key: str, default: str | None = None) -> str | None:
        return _settings.setting(self._conn, key, default)

    def set_setting(self, key: str, value: str) -> None:
        _settings.set_setting(self._conn, key, value)
