"""What the command line promises when things go wrong (docs/reliability.md): odd file names, damaged and
read-only libraries, a full disk, reruns, a killed or interrupted run, forged names, formula cells."""
from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main
from app.core.store import connection as store_connection
from app.core.store import Store
from tests.core.test_store import KEYS, make_analysis

REPO = Path(__file__).resolve().parents[1]
POSIX_NAMES = pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="needs a file system taking any bytes")


@pytest.fixture()
def env(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setenv("ALBERT_STUDIO_MODELS", str(tiny_models))
    return tmp_path


def _library(path: Path, n: int = 5) -> Path:
    with Store(path) as s:
        run = s.start_run("analyze", {})
        for i in range(n):
            s.save_analysis(make_analysis(i), run, KEYS)
        s.finish_run(run, "done", n, 0)
    return path


def _history(db: Path) -> list:
    with Store(db, readonly=True) as s:
        return s.history()


# ---------------------------------------------------------------- file names


@POSIX_NAMES
def test_a_file_name_that_is_not_utf8_is_stored_and_the_batch_goes_on(env, capsys):
    d = env / "d"
    d.mkdir()
    (d / "a.txt").write_text("Great. I love it.")
    with open(os.path.join(os.fsencode(d), b"b\xe9.txt"), "wb") as f:
        f.write(b"Awful. It broke.")
    (d / "c.txt").write_text("Fine. It works.")
    db = env / "b.db"
    assert main(["analyze", str(d), "--db", str(db), "--tasks", "sentiment"]) == 0
    out = capsys.readouterr().out
    assert "b\\xe9.txt" in out and "c.txt" in out
    with Store(db, readonly=True) as s:
        assert sorted(r.source for r in s.list_documents()) == [str(d / "a.txt"), str(d) + "/b\udce9.txt",
                                                                 str(d / "c.txt")]  # the exact name back
    assert [r.status for r in _history(db)] == ["done"]
    assert main(["analyze", str(d), "--db", str(db), "--tasks", "sentiment"]) == 0
    assert "3 analysed (3 reused from the library), 0 errors" in capsys.readouterr().err
    assert main(["analyze", str(d), "--db", str(db), "--tasks", "sentiment", "--json"]) == 0
    out = capsys.readouterr().out
    assert [json.loads(line)["source"].rsplit("/", 1)[1] for line in out.splitlines()] == ["a.txt", "b\udce9.txt",
                                                                                            "c.txt"]
    assert main(["export", str(env / "out.csv"), "--db", str(db)]) == 0
    assert "b\\xe9.txt" in (env / "out.csv").read_text(encoding="utf-8")


def test_names_cannot_forge_output_lines_or_reorder_text(env, capsys):
    d = env / "f"
    d.mkdir()
    forged = "x\n5000 analysed (0 reused from the library), 0 errors\n.txt"
    (d / forged).write_text("   ")  # empty: its name appears in the error lines
    (d / "invoice\u202etxt.exe.txt").write_text("Great service, thank you.")
    db = env / "f.db"
    main(["analyze", str(d), "--db", str(db), "--tasks", "sentiment"])
    main(["history", "--db", str(db), "--errors"])
    out, err = capsys.readouterr()
    lines = (out + err).splitlines()
    assert not [line for line in lines if line.startswith("5000 analysed")]
    assert "\u202e" not in out + err
    assert "invoice\\u202etxt.exe.txt" in out
    assert "x\\n5000 analysed (0 reused from the library), 0 errors\\n.txt" in err  # the error line
    assert [line for line in out.splitlines() if line.startswith("run 1: ") and "x\\n5000 analysed" in line]


def test_the_same_file_by_relative_absolute_and_linked_path_is_one_source(env, monkeypatch):
    (env / "in").mkdir()
    (env / "in" / "1.txt").write_text("I adore this phone.")
    (env / "link.txt").symlink_to(env / "in" / "1.txt")
    db = env / "l.db"
    monkeypatch.chdir(env)
    for typed in ("in/1.txt", str(env / "in" / "1.txt"), "in/../in/1.txt", "link.txt"):
        assert main(["analyze", typed, "--db", str(db), "--tasks", "sentiment", "-q"]) == 0
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT path, typed FROM sources").fetchall() == [(str(env / "in" / "1.txt"), "link.txt")]
    conn.close()


# ---------------------------------------------------------------- the library


def _garble_search_index(db: Path) -> None:
    """Overwrite the full-text index's pages (8 KB of 0xff at 4 KB pages) in the middle of a closed library."""
    conn = sqlite3.connect(db)
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    roots = [r for (r,) in conn.execute(
        "SELECT rootpage FROM sqlite_master WHERE name IN ('documents_fts_data', 'documents_fts_idx')")]
    conn.close()
    with open(db, "r+b") as f:
        for root in roots:
            f.seek((root - 1) * page)
            f.write(b"\xff" * page)


def test_a_damaged_library_is_a_message_with_what_to_do_not_a_traceback(tmp_path, capsys):
    db = _library(tmp_path / "lib.db", 40)
    _garble_search_index(db)
    assert main(["search", "tulips", "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert "is damaged (database disk image is malformed)" in err and ".recover" in err
    assert "Traceback" not in err


def test_export_on_a_full_disk_keeps_the_previous_export_whole(tmp_path):
    db = _library(tmp_path / "lib.db", 600)
    out = tmp_path / "out"
    out.mkdir()
    for name in ("all.csv", "all.jsonl"):
        (out / name).write_text("the previous export\n")
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))  # the disk fills after 40 KB (a 32 KB WAL index fits)\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "from app.cli import main\n"
        "raise SystemExit(main(sys.argv[1:]))\n")
    for name in ("all.csv", "all.jsonl"):
        proc = subprocess.run([sys.executable, "-c", script, "export", str(out / name), "--db", str(db)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1, proc.stderr
        assert "Could not write" in proc.stderr and "Traceback" not in proc.stderr
        assert (out / name).read_text() == "the previous export\n"
    assert sorted(p.name for p in out.iterdir()) == ["all.csv", "all.jsonl"]  # no partial files left


def test_csv_export_neutralises_formulas_and_jsonl_keeps_them(tmp_path):
    db = tmp_path / "lib.db"
    with Store(db) as s:
        a = make_analysis(1, summary='=HYPERLINK("http://evil.example","click")')
        a = type(a)(**{**a.__dict__, "document": type(a.document)(**{**a.document.__dict__, "title": "+SUM(A1:A9)"})})
        s.save_analysis(a, None, KEYS)
    assert main(["export", str(tmp_path / "x.csv"), "--db", str(db)]) == 0
    (row,) = list(csv.DictReader(open(tmp_path / "x.csv", encoding="utf-8")))
    assert row["title"] == "'+SUM(A1:A9)"
    assert row["summary"] == '\'=HYPERLINK("http://evil.example","click")'
    assert main(["export", str(tmp_path / "x.jsonl"), "--db", str(db)]) == 0
    (obj,) = [json.loads(line) for line in open(tmp_path / "x.jsonl", encoding="utf-8")]
    assert obj["summary"]["sentences"][0]["text"] == '=HYPERLINK("http://evil.example","click")'


def test_reading_commands_work_while_a_writer_holds_the_lock(tmp_path, monkeypatch, capsys):
    db = _library(tmp_path / "lib.db")
    monkeypatch.setattr(store_connection, "BUSY_TIMEOUT_S", 0.5)  # a writer holding the lock longer than this
    writer = sqlite3.connect(db)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO settings (key, value) VALUES ('busy', 'yes')")
    try:
        assert main(["search", "tulips", "--db", str(db)]) == 0
        assert main(["history", "--db", str(db)]) == 0
        assert main(["export", str(tmp_path / "e.jsonl"), "--db", str(db)]) == 0
    finally:
        writer.rollback()
        writer.close()
    out = capsys.readouterr().out
    assert "File 4" in out and "done" in out
    assert len((tmp_path / "e.jsonl").read_text().splitlines()) == 5


def _without_write_permission():
    """preexec_fn: as root, drop CAP_DAC_OVERRIDE so file permissions apply as to any user."""
    if os.geteuid() == 0:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(24, 1, 0, 0, 0) != 0:  # PR_CAPBSET_DROP, CAP_DAC_OVERRIDE
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.mark.skipif(sys.platform != "linux", reason="read-only folder check uses Linux permissions")
def test_history_search_and_export_read_a_library_in_a_read_only_folder(tmp_path):
    ro = tmp_path / "readonly"
    ro.mkdir()
    db = _library(ro / "lib.db")
    os.chmod(db, 0o444)
    os.chmod(ro, 0o555)
    out = tmp_path / "out"
    out.mkdir()
    try:
        for args in (["history"], ["search", "tulips"], ["export", str(out / "e.csv")]):
            proc = subprocess.run([sys.executable, "-m", "app.cli", *args, "--db", str(db)], cwd=REPO,
                                  capture_output=True, text=True, timeout=120, preexec_fn=_without_write_permission)
            assert proc.returncode == 0, (args, proc.stderr)
            assert "File" in proc.stdout or "done" in proc.stdout or "wrote 5 documents" in proc.stderr
        probe = subprocess.run(["sh", "-c", f"touch {ro}/x"], preexec_fn=_without_write_permission)
        assert probe.returncode != 0  # the folder really was read-only for the commands above
    finally:
        os.chmod(ro, 0o755)
    assert len(list(csv.DictReader(open(out / "e.csv", encoding="utf-8")))) == 5


# ---------------------------------------------------------------- runs


def test_export_of_an_earlier_run_returns_what_that_run_covered(env):
    table = env / "rows.csv"
    table.write_text("id,text\n" + "".join(f"{i},Review number {i} was great.\n" for i in range(10)))
    db = env / "r.db"
    for _ in range(2):
        assert main(["analyze", str(table), "--db", str(db), "--tasks", "sentiment", "-q"]) == 0
    with open(table, "a") as f:
        f.write("10,A new and terrible review.\n")
    assert main(["analyze", str(table), "--db", str(db), "--tasks", "sentiment", "-q"]) == 0
    counts = {}
    for run in (1, 2, 3):
        assert main(["export", str(env / f"run{run}.csv"), "--db", str(db), "--run", str(run)]) == 0
        counts[run] = len(list(csv.DictReader(open(env / f"run{run}.csv", encoding="utf-8"))))
    assert counts == {1: 10, 2: 10, 3: 11}
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT run_id, how, count(*) FROM run_documents GROUP BY run_id, how").fetchall() == [
        (1, "analysed", 10), (2, "reused", 10), (3, "analysed", 1), (3, "reused", 10)]
    assert conn.execute("SELECT DISTINCT run_id FROM results ORDER BY run_id").fetchall() == [(1,), (3,)]
    conn.close()


def test_a_damaged_model_stops_the_batch_with_one_error(tiny_models, tmp_path, monkeypatch, capsys):
    import shutil

    models = tmp_path / "models"
    shutil.copytree(tiny_models, models)
    onnx = models / "albert-sentiment-en" / "model.int8.onnx"
    data = bytearray(onnx.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx.write_bytes(bytes(data))
    monkeypatch.setenv("ALBERT_STUDIO_MODELS", str(models))
    d = tmp_path / "docs"
    d.mkdir()
    for i in range(30):
        (d / f"{i}.txt").write_text(f"Document {i} is fine.")
    db = tmp_path / "m.db"
    assert main(["analyze", str(d), "--db", str(db), "--tasks", "sentiment", "--model", "sentiment=albert-sentiment-en"]) == 1
    err = capsys.readouterr().err
    assert err.count("model.int8.onnx is damaged or was changed") == 1
    (run,) = _history(db)
    assert (run.status, run.n_done, run.n_failed) == ("failed", 0, 1)


def test_ctrl_c_streams_what_was_done_and_records_the_run_as_cancelled(env):
    table = env / "many.csv"
    table.write_text("id,text\n" + "".join(f"{i},Row {i} says the service was great.\n" for i in range(4000)))
    db = env / "c.db"
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "analyze", str(table), "--db", str(db),
                             "--tasks", "sentiment"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "ALBERT_STUDIO_THREADS": "1"},
                            # as from a terminal: a test run started in the background inherits SIGINT ignored
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        header = proc.stdout.readline()
        assert header.startswith("source") and "sentiment" in header, proc.stderr.read()
        proc.stdout.readline()  # ----
        first = proc.stdout.readline()
        assert "many.csv#1" in first  # printed while the batch is still running: the table streams
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    printed = 1 + len(rest.splitlines())
    assert 0 < printed < 4000
    (run,) = _history(db)
    assert run.status == "cancelled" and run.n_done >= printed
