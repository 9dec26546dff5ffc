"""The results library on real SQLite files: schema, migrations, round trips, search, export, durability."""
from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlite_utils import Database

from app.core.store import schema as store_schema
from app.core.errors import LabelDataError, StoreError
from app.core.store import SCHEMA_VERSION, Store, default_db_path
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

REPO = Path(__file__).resolve().parents[2]
KEYS = {"sentiment": "", "summary": "sentences=1", "translation": "lang=fr"}


def make_analysis(i: int = 0, *, source: str | None = None, text: str | None = None,
                  label: str = "positive", version: str = "1.0.0", summary: str | None = None,
                  translation: str | None = None) -> Analysis:
    """A full analysis of a small two-sentence document; `i` makes the text distinct."""
    first = f"Document number {i} talks about gardens."
    second = summary or f"The tulips in bed {i} were wonderful."
    text = text or f"{first} {second}"
    doc = Document(source=source or f"/library/docs/file{i}.txt", text=text, title=f"File {i}",
                   content_hash=f"hash-{i}-{len(text)}", mtime=1700000000.0 + i,
                   metadata=(("author", "Ada"),))
    return Analysis(
        document=doc,
        sentiment=SentimentResult(
            label=label, score=0.91,
            probabilities=(("negative", 0.09), ("positive", 0.91)) if label == "positive" else (("negative", 0.91), ("positive", 0.09)),
            sentences=(SentenceSentiment(first, "positive", 0.6, 0, len(first)),
                       SentenceSentiment(second, label, 0.95, len(first) + 1, len(text))),
            chunks=1,
        ),
        summary=Summary((SummarySentence(second, 0.77, 1, len(first) + 1, len(text)),)),
        translation=Translation(lang="fr", text=translation or f"Le document {i} parle de jardins.",
                                sentences=(TranslatedSentence(first, f"Le document {i} parle de jardins."),)),
        models=(ModelInfo("albert-sentiment-en", version, "sentiment"),
                ModelInfo("albert-summary-en", "1.0.0", "summary"),
                ModelInfo("opus-mt-en-fr", "1.0.0", "translation", "CUDAExecutionProvider")),
        seconds=0.25,
    )


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "library.db") as s:
        yield s


def count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


# ---------------------------------------------------------------- opening and schema


def test_new_library_gets_current_schema_wal_and_foreign_keys(tmp_path):
    path = tmp_path / "sub" / "library.db"
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION == store_schema.MIGRATIONS[-1][0]
        assert s.db.journal_mode == "wal"
        assert s.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert s.db.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
        tables = set(s.db.table_names())
    assert {"meta", "documents", "sources", "runs", "results", "errors", "labels", "settings",
            "documents_fts", "results_fts"} <= tables
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (str(SCHEMA_VERSION),)


def test_default_path_is_user_data_folder_unless_env_overrides(tmp_path, monkeypatch):
    import platformdirs

    monkeypatch.delenv("ALBERT_STUDIO_DB", raising=False)
    monkeypatch.setattr(platformdirs, "user_data_dir", lambda app: str(tmp_path / "data" / app))
    assert default_db_path() == tmp_path / "data" / "albert-studio" / "library.db"
    assert (tmp_path / "data" / "albert-studio").is_dir()
    monkeypatch.setenv("ALBERT_STUDIO_DB", str(tmp_path / "elsewhere" / "mine.db"))
    assert default_db_path() == tmp_path / "elsewhere" / "mine.db"
    with Store() as s:
        s.start_run("batch", {})
    assert (tmp_path / "elsewhere" / "mine.db").is_file()


def _v1_library_with_one_document(path: Path) -> None:
    db = Database(path)
    db["meta"].create({"key": str, "value": str}, pk="key")
    store_schema.MIGRATIONS[0][1](db)
    db["meta"].insert({"key": "schema_version", "value": "1"})
    db.execute(
        "INSERT INTO documents (id, content_hash, source, title, format, encoding, text, chars, mtime, metadata, added_at)"
        " VALUES (1, 'old-hash', '/old/a.txt', 'Old', 'txt', 'utf-8', 'An old letter about lighthouses.', 32, 0, '[]', '2024-01-01T00:00:00+00:00')"
    )
    db.execute("INSERT INTO sources VALUES ('/old/a.txt', 1, '2024-01-01T00:00:00+00:00')")
    db.execute("INSERT INTO runs (id, kind, started_at) VALUES (1, 'batch', '2024-01-01T00:00:00+00:00')")
    payload = json.dumps({"sentences": [{"text": "Keepers polish brass lamps.", "score": 0.5, "index": 0}]})
    db.execute(
        "INSERT INTO results (document_id, run_id, task, model_id, model_version, params_key, text, payload, created_at)"
        " VALUES (1, 1, 'summary', 'sum', '1', 'sentences=1', 'Keepers polish brass lamps.', ?, '2024-01-01T00:00:00+00:00')",
        [payload],
    )
    db.close()


def test_opening_a_v1_library_upgrades_it_and_keeps_its_data(tmp_path):
    path = tmp_path / "old.db"
    _v1_library_with_one_document(path)
    assert "labels" not in Database(path).table_names()
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert [d.source for d in s.list_documents()] == ["/old/a.txt"]
        # results_fts arrived in v2: it must index results written before it existed
        assert [d.id for d, _ in s.search("brass")] == [1]
        assert s.add_label("Great lamp.", "positive") == 1
        assert s.load_analysis(1).summary.text == "Keepers polish brass lamps."


def test_a_failing_migration_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "library.db"
    Store(path).close()

    def broken(db):
        db["half_done"].create({"id": int}, pk="id")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store_schema, "MIGRATIONS", [*store_schema.MIGRATIONS, (SCHEMA_VERSION + 1, broken)])
    monkeypatch.setattr(store_schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(StoreError, match="disk on fire"):
        Store(path)
    db = Database(path)
    assert "half_done" not in db.table_names()
    assert store_schema.schema_version(db) == SCHEMA_VERSION


def test_library_from_a_newer_version_is_refused_untouched(tmp_path):
    path = tmp_path / "library.db"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="newer") as info:
        Store(path)
    assert str(path) in str(info.value)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta").fetchone() == ("99",)


def test_a_file_that_is_not_a_database_is_named_in_the_error(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"Shopping list: eggs, flour, sugar.\n" * 100)
    with pytest.raises(StoreError) as info:
        Store(path)
    assert str(path) in str(info.value)
    assert "not" in str(info.value) and "SQLite" in str(info.value)
    assert path.read_bytes().startswith(b"Shopping list")
    with pytest.raises(StoreError, match="Cannot open") as info:
        Store(tmp_path)  # a folder, not a file
    assert str(tmp_path) in str(info.value)


# ---------------------------------------------------------------- saving and loading


def test_full_analysis_round_trips_to_equal_dataclasses(store):
    a = make_analysis(1, text="Ünïcode “quotes” — and a naïve café. Second sentence here.")
    run = store.start_run("batch", {"tasks": ["sentiment"]})
    doc_id = store.save_analysis(a, run, KEYS)
    back = store.load_analysis(doc_id)
    assert back == a
    assert back.models[2].provider == "CUDAExecutionProvider"
    assert isinstance(back.sentiment.sentences, tuple) and isinstance(back.sentiment.sentences[0], SentenceSentiment)
    assert back.summary.text == a.summary.text
    assert back.document.metadata == (("author", "Ada"),)


def test_only_tasks_present_are_stored_and_loaded(store):
    a = make_analysis(2)
    partial = Analysis(document=a.document, sentiment=a.sentiment, models=a.models[:1])
    doc_id = store.save_analysis(partial, None, {})
    back = store.load_analysis(doc_id)
    assert back.sentiment == a.sentiment and back.summary is None and back.translation is None
    assert store.db["results"].count == 1


def test_same_text_at_two_paths_is_one_document_showing_the_latest_path(store):
    run = store.start_run("batch", {})
    first = store.save_analysis(make_analysis(3, source="/a/one.txt"), run, KEYS)
    second = store.save_analysis(make_analysis(3, source="/b/copy.txt"), run, KEYS)
    assert first == second == store.find_document(make_analysis(3).document.content_hash)
    assert [d.source for d in store.list_documents()] == ["/b/copy.txt"]
    assert store.count_documents() == 1
    assert store.db["results"].count == 3
    assert store.folders() == ["/a", "/b"]
    assert store.find_document("no-such-hash") is None


def test_reanalysis_replaces_same_model_and_keeps_other_versions(store):
    run = store.start_run("batch", {})
    doc_id = store.save_analysis(make_analysis(4, label="positive"), run, KEYS)
    store.save_analysis(make_analysis(4, label="negative"), run, KEYS)
    assert store.db["results"].count == 3
    assert store.list_documents()[0].sentiment_label == "negative"
    store.save_analysis(make_analysis(4, label="positive", version="2.0.0"), run, KEYS)
    assert store.db["results"].count == 4
    assert store.list_documents()[0].sentiment_label == "positive"
    assert store.load_analysis(doc_id).models[0].version == "2.0.0"


def test_has_results_only_when_every_task_matches_model_version_and_params(store):
    a = make_analysis(5)
    h = a.document.content_hash
    wanted = {"sentiment": ("albert-sentiment-en", "1.0.0", ""),
              "summary": ("albert-summary-en", "1.0.0", "sentences=1")}
    assert not store.has_results(h, wanted)
    store.save_analysis(a, None, KEYS)
    assert store.has_results(h, wanted)
    assert store.has_results(h, {**wanted, "translation": ("opus-mt-en-fr", "1.0.0", "lang=fr")})
    assert not store.has_results(h, {**wanted, "summary": ("albert-summary-en", "1.0.0", "sentences=3")})
    assert not store.has_results(h, {**wanted, "sentiment": ("albert-sentiment-en", "1.1.0", "")})
    assert not store.has_results(h, {**wanted, "translation": ("opus-mt-en-de", "1.0.0", "lang=de")})


def test_a_save_that_fails_midway_writes_nothing(store):
    run = store.start_run("batch", {})
    a = make_analysis(6)
    with pytest.raises(StoreError):
        store.save_analysis(a, run + 100, KEYS)  # no such run: the results insert violates the foreign key
    assert store.count_documents() == 0
    assert store.db["sources"].count == 0


def test_analysis_error_is_recorded_with_its_run(store):
    run = store.start_run("batch", {})
    a = make_analysis(7)
    failed = Analysis(document=a.document, sentiment=a.sentiment, models=a.models, error="translation model missing")
    store.save_analysis(failed, run, KEYS)
    store.record_error(run, "/library/docs/locked.pdf", "The PDF is encrypted")
    other = store.start_run("batch", {})
    store.record_error(other, "/x.docx", "Not a Word file")
    assert [(e.source, e.reason) for e in store.errors(run)] == [
        ("/library/docs/file7.txt", "translation model missing"),
        ("/library/docs/locked.pdf", "The PDF is encrypted"),
    ]
    assert len(store.errors()) == 3 and store.errors(other)[0].run_id == other


def test_runs_progress_finish_and_history(store):
    first = store.start_run("batch", {"folder": "/docs", "tasks": ["sentiment"]}, n_total=10)
    store.update_run_progress(first, 4, 1)
    second = store.start_run("finetune", {}, n_total=1)
    store.finish_run(first, "cancelled", 5, 1)
    runs = store.history()
    assert [r.id for r in runs] == [second, first]
    assert (runs[1].status, runs[1].n_total, runs[1].n_done, runs[1].n_failed) == ("cancelled", 10, 5, 1)
    assert runs[1].params == {"folder": "/docs", "tasks": ["sentiment"]}
    assert runs[1].finished_at and runs[0].finished_at is None and runs[0].status == "running"
    with pytest.raises(ValueError):
        store.finish_run(second, "exploded", 0, 0)
    assert len(store.history(limit=1)) == 1



def test_a_write_left_open_by_ctrl_c_is_dropped_and_the_run_still_closes(store):
    """Ctrl+C can land between BEGIN and the write's try: the next write (recording the run as cancelled)
    must not fail with "cannot start a transaction within a transaction", and the half write is not kept."""
    run = store.start_run("analyze", {}, n_total=3)
    store.db.execute("BEGIN IMMEDIATE")  # what an interrupted write leaves behind
    store.db.execute("UPDATE runs SET n_done = 99 WHERE id = ?", [run])
    store.finish_run(run, "cancelled", 2, 0)
    (row,) = store.history()
    assert (row.status, row.n_done) == ("cancelled", 2)
    assert not store.db.conn.in_transaction


# ---------------------------------------------------------------- listing and search


@pytest.fixture
def library(store):
    run = store.start_run("batch", {})
    store.save_analysis(make_analysis(10, source="/home/ann/letters/a.txt", label="positive",
                                      summary="The orchestra played magnificently."), run, KEYS)
    store.save_analysis(make_analysis(11, source="/home/ann/letters/old/b.txt", label="negative",
                                      translation="Le fromage était délicieux."), run, KEYS)
    store.save_analysis(make_analysis(12, source="/home/ann/lettersbis/c.txt", label="negative",
                                      text="Zebras graze quietly near the river. Nothing else happened."), run, KEYS)
    return store


def test_search_finds_words_from_summaries_translations_and_document_text(library):
    (row, snippet), = library.search("orchestra")
    assert row.source == "/home/ann/letters/a.txt" and "[orchestra]" in snippet
    (row, snippet), = library.search("fromage")
    assert row.source == "/home/ann/letters/old/b.txt" and "[fromage]" in snippet
    (row, snippet), = library.search("zebras")
    assert row.source == "/home/ann/lettersbis/c.txt" and "[Zebras]" in snippet
    assert [d.title for d, _ in library.search("File 11")] == ["File 11"]
    assert library.search("xylophone") == [] and library.search("   ") == []
    assert [d.source for d in library.list_documents(search="river")] == ["/home/ann/lettersbis/c.txt"]


@pytest.mark.parametrize("query, found", [
    ('"zebras', True), ('zebras graze"', True), ("zebras:graze", True), ("(zebras", True),
    ("NEAR(", True),  # the text says "near the river"
    ("zebras AND", False), ("AND", False), ("(", False), ("-", False), ("*", False), ("'", False),
])
def test_bad_search_syntax_is_searched_as_plain_text(library, query, found):
    hits = library.search(query)
    assert library.count_documents(search=query) == len(hits)
    assert [d.source for d, _ in hits] == (["/home/ann/lettersbis/c.txt"] if found else [])


def test_label_and_folder_filters(library):
    assert {d.source for d in library.list_documents(label="negative")} == {
        "/home/ann/letters/old/b.txt", "/home/ann/lettersbis/c.txt"}
    assert {d.source for d in library.list_documents(folder="/home/ann/letters/")} == {
        "/home/ann/letters/a.txt", "/home/ann/letters/old/b.txt"}
    assert [d.source for d in library.list_documents(label="negative", folder="/home/ann/letters")] == [
        "/home/ann/letters/old/b.txt"]
    assert library.count_documents(label="positive") == 1
    assert library.count_documents() == 3
    assert library.folders() == ["/home/ann/letters", "/home/ann/letters/old", "/home/ann/lettersbis"]
    newest_first = library.list_documents()
    assert [d.title for d in newest_first] == ["File 12", "File 11", "File 10"]
    assert [d.title for d in library.list_documents(limit=1, offset=1)] == ["File 11"]
    assert newest_first[0].sentiment_label == "negative" and newest_first[0].sentiment_score == pytest.approx(0.91)


def test_deleting_a_document_removes_it_from_list_and_search_but_keeps_labels(library):
    doc = library.search("orchestra")[0][0]
    label_id = library.add_label("The orchestra played magnificently.", "positive", doc.id, 1)
    library.delete_document(doc.id)
    assert library.search("orchestra") == []
    assert library.count_documents() == 2
    assert "/home/ann/letters/a.txt" not in {d.source for d in library.list_documents()}
    (label,) = library.labels()
    assert (label.id, label.document_id, label.sentence_index) == (label_id, None, None)
    with pytest.raises(StoreError):
        library.load_analysis(doc.id)


# ---------------------------------------------------------------- export


def test_export_csv_reads_back_with_quoting_and_no_bom(library, tmp_path):
    tricky = make_analysis(13, source="/home/ann/q.txt", summary='She said "no, never",\nthen left.')
    library.save_analysis(tricky, None, KEYS)
    path = tmp_path / "out.csv"
    assert library.export(path, "csv") == 4
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["source", "title", "lang", "lang_confidence", "lang_note",
                             "sentiment_label", "sentiment_score", "sentiment_p_positive",
                             "summary", "summary_model", "translation_lang", "translation"]
    by_source = {r["source"]: r for r in rows}
    assert by_source["/home/ann/q.txt"]["summary"] == 'She said "no, never",\nthen left.'
    assert by_source["/home/ann/letters/old/b.txt"]["translation"] == "Le fromage était délicieux."
    assert by_source["/home/ann/letters/old/b.txt"]["sentiment_label"] == "negative"
    assert float(by_source["/home/ann/letters/a.txt"]["sentiment_score"]) == pytest.approx(0.91)
    assert by_source["/home/ann/letters/a.txt"]["translation_lang"] == "fr"


def test_export_jsonl_matches_cli_shape_and_filters(store, tmp_path):
    run = store.start_run("batch", {})
    full = store.save_analysis(make_analysis(20), run, KEYS)
    a = make_analysis(21)
    store.save_analysis(Analysis(document=a.document, sentiment=a.sentiment, models=a.models), None, {})
    path = tmp_path / "out.jsonl"
    assert store.export(path, "jsonl") == 2
    objs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert set(objs[0]) == {"source", "sentiment", "summary", "translation"}
    assert set(objs[1]) == {"source", "sentiment"}
    assert objs[0]["sentiment"]["label"] == "positive"
    assert objs[0]["sentiment"]["sentences"][1] == {
        "text": "The tulips in bed 20 were wonderful.", "label": "positive", "score": 0.95}
    assert objs[0]["summary"]["sentences"][0]["text"] == "The tulips in bed 20 were wonderful."
    assert objs[0]["translation"] == {"lang": "fr", "text": "Le document 20 parle de jardins."}
    assert store.export(path, "jsonl", run_id=run) == 1
    assert json.loads(path.read_text(encoding="utf-8"))["source"] == "/library/docs/file20.txt"
    assert store.export(path, "csv", document_ids=[full]) == 1
    with pytest.raises(ValueError):
        store.export(path, "xlsx")


# ---------------------------------------------------------------- labels


def test_labels_add_list_delete(store):
    doc_id = store.save_analysis(make_analysis(30), None, KEYS)
    first = store.add_label("The tulips were wonderful.", "positive", doc_id, 1)
    second = store.add_label("Dreadful service.", "negative")
    assert [(lab.text, lab.label, lab.document_id, lab.sentence_index) for lab in store.labels()] == [
        ("The tulips were wonderful.", "positive", doc_id, 1), ("Dreadful service.", "negative", None, None)]
    store.delete_label(first)
    assert [lab.id for lab in store.labels()] == [second]
    with pytest.raises(LabelDataError):
        store.add_label("   ", "positive")
    with pytest.raises(LabelDataError):
        store.add_label("Fine text", "")
    assert len(store.labels()) == 1


def test_settings_persist(tmp_path):
    with Store(tmp_path / "l.db") as s:
        assert s.setting("theme", "light") == "light"
        s.set_setting("theme", "dark")
    with Store(tmp_path / "l.db") as s:
        assert s.setting("theme") == "dark"


# ---------------------------------------------------------------- durability and threads


CHILD = r"""
import sys, time
sys.path.insert(0, sys.argv[2])
from tests.core.test_store import KEYS, make_analysis
from app.core.store import Store

store = Store(sys.argv[1])
run = store.start_run("batch", {}, n_total=8)
hang = {"on": False}

def tracer(sql, params):
    # the 4th save stalls inside its transaction, after its document row is written
    if hang["on"] and sql.startswith("INSERT INTO results"):
        print("inside", flush=True)
        time.sleep(60)

with store.db.tracer(tracer):
    for i in range(8):
        hang["on"] = i == 3
        store.save_analysis(make_analysis(i), run, KEYS)
        store.update_run_progress(run, i + 1, 0)
        print("saved", i, flush=True)
        time.sleep(0.05)
"""


@pytest.mark.slow  # kills a batch process and runs it again: ~10 s
def test_killed_batch_keeps_committed_work_and_rerun_has_no_duplicates(tmp_path):
    path = tmp_path / "library.db"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.Popen([sys.executable, str(script), str(path), str(REPO)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        timer = threading.Timer(60, proc.kill)
        timer.start()
        for line in proc.stdout:
            lines.append(line.strip())
            if line.strip() == "inside":
                os.kill(proc.pid, signal.SIGKILL)
                break
        timer.cancel()
    finally:
        proc.wait(timeout=30)
    assert lines == ["saved 0", "saved 1", "saved 2", "inside"], proc.stderr.read()
    assert proc.returncode == -signal.SIGKILL

    with Store(path, readonly=True) as reader:  # a reader shows it without writing
        assert [(r.status, r.n_done) for r in reader.history()] == [("interrupted", 3)]
    with Store(path) as s:
        assert s.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        docs = s.list_documents()
        assert sorted(d.title for d in docs) == ["File 0", "File 1", "File 2"]
        for d in docs:
            assert s.load_analysis(d.id) == make_analysis(int(d.title.split()[1]))
        assert s.db["results"].count == 9 and s.db["sources"].count == 3
        assert s.find_document(make_analysis(3).document.content_hash) is None
        (run,) = s.history()
        assert (run.status, run.n_done) == ("interrupted", 3)  # its process is gone: recorded on open
        assert s.db.execute("SELECT status FROM runs").fetchone()[0] == "interrupted"

        rerun = s.start_run("batch", {})
        for i in range(8):
            s.save_analysis(make_analysis(i), rerun, KEYS)
        assert s.count_documents() == 8
        assert s.db["results"].count == 24 and s.db["sources"].count == 8
        assert len(s.search("tulips")) == 8


def test_worker_threads_sharing_a_store_save_everything(store):
    failures = []

    def work(start):
        try:
            for i in range(start, start + 10):
                store.save_analysis(make_analysis(i), None, KEYS)
                store.list_documents(search="gardens")
        except Exception as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n * 10,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert store.count_documents() == 30 and store.db["results"].count == 90
