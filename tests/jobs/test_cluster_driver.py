"""The CLI's --engine ray on a Ray runtime of its own, when a Ray component dies mid-run (issue 35 item 5).

A `kill -9` of ray::DashboardAgent ends the raylet, and Ray's core worker then ends the driver process at once.
The driver therefore runs in a child process (app/jobs/cluster.py, _Driver): the CLI merges every committed
shard, records the run as failed with the reason, prints one line a user can act on, and the same command
finishes the batch."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.core.store import Store
from app.jobs.cluster import read_shard
from tests.jobs.test_cluster import make_folder

pytestmark = pytest.mark.slow  # a real local Ray runtime starts (twice)

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from app.cli import main; raise SystemExit(main())"]


def _descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every process below `pid`, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            try:
                cmd = (Path("/proc") / str(child) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            out.append((child, cmd.strip()))
            todo.append(child)
    return out


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds Ray's processes through /proc (Linux)")
def test_a_killed_ray_component_ends_the_run_failed_in_one_line_and_keeps_committed_shards(tiny_models, tmp_path):
    folder = make_folder(tmp_path, n_files=60, n_rows=20)
    out, db = tmp_path / "out", tmp_path / "lib.db"
    env = {**os.environ, "ALBERT_STUDIO_MODELS": str(tiny_models), "PYTHONPATH": str(ROOT),
           "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "2"}
    cmd = CLI + ["analyze", str(folder), "--engine", "ray", "--workers", "1", "--shard-documents", "2",
                 "--out", str(out), "--db", str(db), "--json"]
    first = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
    deadline = time.monotonic() + 300
    while len(list(out.glob("shard-*.jsonl"))) < 2:
        assert first.poll() is None, f"the run ended before the kill: {first.stderr.read()}"
        assert time.monotonic() < deadline, "no shard committed in 300 s"
        time.sleep(0.05)
    procs = _descendants(first.pid)
    agents = [pid for pid, cmdline in procs if "DashboardAgent" in cmdline or "dashboard/agent.py" in cmdline]
    drivers = [pid for pid, cmdline in procs if "multiprocessing" in cmdline and "spawn" in cmdline]
    assert drivers, f"no driver child process under the CLI: {procs}"
    print(f"killing {'ray::DashboardAgent' if agents else 'the driver process'}")
    for pid in agents or drivers:  # the agent when this Ray runs one; else the driver itself, the same effect
        os.kill(pid, signal.SIGKILL)
    try:
        _, err = first.communicate(timeout=180)
    finally:
        if first.poll() is None:
            first.kill()
    lines = [line for line in err.splitlines() if line.strip()]
    assert first.returncode == 1, err
    assert len(lines) == 1, err  # Ray's own lines went to its log file
    message = lines[0]
    assert message.startswith("albert-studio: the cluster stopped mid-run"), err
    assert "shards are saved" in message and "run the same batch again" in message, message
    assert str(out / "ray-driver.log") in message and (out / "ray-driver.log").stat().st_size > 0

    committed = sorted(out.glob("shard-*.jsonl"))
    documents = sum(1 for p in committed for row in read_shard(p) if "error" not in row)
    with Store(db) as store:
        assert store.count_documents() == documents  # every committed shard is merged
        run = store.history(1)[0]
        reasons = [e.reason for e in store.errors(run.id)]
    assert run.status == "failed", run
    assert any("cluster stopped mid-run" in r for r in reasons), reasons

    again = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=400)
    assert again.returncode in (0, 3), again.stderr  # 3: done, some files failed (the broken ones)
    assert len(list(out.glob("shard-*.jsonl"))) == len(json.loads((out / "plan.json").read_text())["shards"])
