"""Against a head node started with `ray start --head` (token auth, 127.0.0.1): the CLI's --engine ray, its driver
SIGKILLed mid-run, then the same command again: every document exactly once, the local engine's results."""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.core.analyzer import Analyzer
from app.core.registry import Registry
from app.jobs.batch import run_batch
from app.jobs.cluster import read_results
from tests.jobs.test_cluster import OPTS, SCORE_TOLERANCE, make_folder

pytestmark = pytest.mark.slow  # a real local Ray runtime starts per test

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from app.cli import main; raise SystemExit(main())"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def head(tmp_path, tiny_models):
    """A one-node Ray cluster of its own (2 CPUs, the tiny models installed on it), stopped after the test."""
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
           "ALBERT_STUDIO_MODELS": str(tiny_models), "PYTHONPATH": str(ROOT),
           "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "2"}  # the test's own node: no need to drain for 30 s
    port = _free_port()
    log = open(tmp_path / "head.log", "w")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "ray"), "start", "--head", "--block",
                             f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=2",
                             "--include-dashboard=false", "--disable-usage-stats"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "head.log").read_text()
                time.sleep(0.2)
        yield f"127.0.0.1:{port}", env
    finally:
        proc.terminate()  # `ray start --block` stops every process of its node on SIGTERM
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_cli_on_a_head_node_survives_a_killed_driver(head, tiny_models, tmp_path):
    address, env = head
    folder = make_folder(tmp_path, n_files=20, n_rows=240)
    out, db = tmp_path / "out", tmp_path / "lib.db"
    cmd = CLI + ["analyze", str(folder), "--engine", "ray", "--address", address, "--workers", "2",
                 "--shard-documents", "6", "--out", str(out), "--db", str(db), "--json"]
    first = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while len(list(out.glob("shard-*.jsonl"))) < 2:
        assert first.poll() is None, f"the first run ended before it could be killed: {first.stderr.read()}"
        time.sleep(0.01)
    first.kill()  # SIGKILL: no cleanup at all on the driver
    first.wait()
    committed = {p.name: p.stat().st_mtime_ns for p in out.glob("shard-*.jsonl")}

    again = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert again.returncode == 3, again.stderr  # 3: done, some files failed (the broken ones)
    shards = {p.name: p.stat().st_mtime_ns for p in out.glob("shard-*.jsonl")}
    assert len(shards) > len(committed) >= 2
    assert {name: shards[name] for name in committed} == committed  # committed shards were not redone
    printed = [json.loads(line) for line in again.stdout.splitlines()]

    analyzer = Analyzer(registry=Registry(roots=[tiny_models], settings_file=tmp_path / "d.json"))
    local = []
    run_batch([folder], analyzer, None, OPTS, on_result=local.append, on_error=lambda s, r: local.append((s, r)))
    assert [p["source"] for p in printed] == [x[0] if isinstance(x, tuple) else x.document.source for x in local]
    assert [r["source"] for r in read_results(out)] == [p["source"] for p in printed]  # each once, in order
    for p, a in zip(printed, local):
        if isinstance(a, tuple):
            assert p["error"] == a[1]
        else:
            assert p["sentiment"]["label"] == a.sentiment.label
            assert abs(p["sentiment"]["score"] - a.sentiment.score) < SCORE_TOLERANCE
            assert [s["text"] for s in p["summary"]["sentences"]] == [s.text for s in a.summary.sentences]
