"""Runs: one row per batch, its counts and status, the process that runs it, and what it covered."""
from __future__ import annotations

import json
import os
import socket
import sys
from dataclasses import dataclass, field

from app.core.store.connection import Connection, now

RUN_STATUSES = ("running", "done", "cancelled", "failed", "interrupted")  # interrupted: its process died
HOST = socket.gethostname()


@dataclass(frozen=True)
class RunRow:
    id: int
    kind: str
    status: str
    started_at: str
    finished_at: str | None
    n_total: int
    n_done: int
    n_failed: int
    params: dict = field(default_factory=dict, compare=False, hash=False)


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (a reused id reads as alive: never a false "interrupted")."""
    if pid <= 0:
        return False
    if sys.platform == "win32":
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        ctypes.windll.kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        ctypes.windll.kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def _died(run: dict) -> bool:
    """A run still "running" whose process on this machine is gone."""
    pid = run.get("pid")
    return (run["status"] == "running" and run.get("host") == HOST and pid is not None
            and pid != os.getpid() and not process_alive(pid))


def mark_interrupted_runs(conn: Connection) -> None:
    """Runs still "running" whose process on this machine is gone were killed: say so."""
    running = conn.db.execute("SELECT id, pid FROM runs WHERE status = 'running' AND host = ?", [HOST]).fetchall()
    dead = [run_id for run_id, pid in running if _died({"status": "running", "host": HOST, "pid": pid})]
    if dead:
        with conn.write() as db:
            for run_id in dead:
                db.execute("UPDATE runs SET status = 'interrupted', finished_at = ? WHERE id = ? "
                           "AND status = 'running'", [now(), run_id])


def start_run(conn: Connection, kind: str, params: dict, n_total: int = 0) -> int:
    """Record the start of a batch; returns its run id."""
    row = {
        "kind": kind,
        "params": json.dumps(params, sort_keys=True, default=str),
        "status": "running",
        "n_total": n_total,
        "started_at": now(),
        "pid": os.getpid(),
        "host": HOST,
    }
    with conn.write() as db:
        return db["runs"].insert(row).last_pk


def update_run_progress(conn: Connection, run_id: int, n_done: int, n_failed: int) -> None:
    with conn.write() as db:
        db.execute("UPDATE runs SET n_done = ?, n_failed = ? WHERE id = ?", [n_done, n_failed, run_id])


def finish_run(conn: Connection, run_id: int, status: str, n_done: int, n_failed: int) -> None:
    """Close a run as done, cancelled or failed, with its final counts."""
    if status not in RUN_STATUSES[1:]:
        raise ValueError(f"a run finishes as one of {', '.join(RUN_STATUSES[1:])}, not {status!r}")
    with conn.write() as db:
        db.execute("UPDATE runs SET status = ?, n_done = ?, n_failed = ?, finished_at = ? WHERE id = ?",
                   [status, n_done, n_failed, now(), run_id])


def history(conn: Connection, limit: int = 50) -> list[RunRow]:
    """The most recent runs first; a "running" run whose process on this machine is gone reads "interrupted"
    (a writer records that when it next opens the library; a read-only reader only shows it)."""
    rows = conn.read(lambda db: list(db["runs"].rows_where(order_by="started_at DESC, id DESC", limit=limit)))
    return [
        RunRow(
            id=r["id"], kind=r["kind"], status="interrupted" if _died(r) else r["status"],
            started_at=r["started_at"], finished_at=r["finished_at"], n_total=r["n_total"], n_done=r["n_done"],
            n_failed=r["n_failed"], params=json.loads(r["params"] or "{}"),
        )
        for r in rows
    ]


def run_document_ids(conn: Connection, run_id: int) -> list[int]:
    """What a run covered, analysed by it or reused from earlier runs, by document id."""
    table = "run_documents" if conn.has_table("run_documents") else "results"  # a read-only v2 library
    return [r["document_id"] for r in conn.rows(
        f"SELECT DISTINCT document_id FROM {table} WHERE run_id = ? ORDER BY document_id", [run_id])]
