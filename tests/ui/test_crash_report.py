"""Crash reports: a segfault leaves the stacks in a small file in the data folder; the next start names it."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from app.ui.crash_report import KEEP, CrashReporter, reports

ROOT = Path(__file__).resolve().parents[2]


def _crash_in_a_session(folder: Path) -> subprocess.CompletedProcess:
    code = textwrap.dedent(f"""
        import faulthandler
        from app.ui.crash_report import CrashReporter
        CrashReporter({str(folder)!r}).start()
        def deep_in_the_window():
            faulthandler._sigsegv()
        deep_in_the_window()
    """)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_a_segfault_leaves_a_report_that_the_next_start_names(tmp_path, window):
    folder = tmp_path / "crashes"
    done = _crash_in_a_session(folder)
    assert done.returncode != 0
    reporter = CrashReporter(folder)
    report = reporter.start()
    try:
        assert report is not None and report.parent == folder and report.name.startswith("crash-")
        text = report.read_text(encoding="utf-8")
        assert "Segmentation fault" in text
        assert "deep_in_the_window" in text  # the Python stack of the thread that crashed
        window.report_crash(report)
        assert str(report) in window.banner.text()
        assert "closed unexpectedly" in window.banner.text()
    finally:
        reporter.stop()
    # a clean session leaves nothing to report
    again = CrashReporter(folder)
    assert again.start() is None
    again.stop()
    assert not (folder / "running.log").exists()


def test_only_the_newest_reports_are_kept_and_each_is_small(tmp_path):
    folder = tmp_path / "crashes"
    folder.mkdir()
    for i in range(KEEP + 3):
        (folder / f"crash-20260101-0000{i:02d}.log").write_text("old\n")
    (folder / "running.log").write_bytes(b"x" * 200_000)
    reporter = CrashReporter(folder)
    newest = reporter.start()
    reporter.stop()
    kept = reports(folder)
    assert len(kept) == KEEP and newest in kept
    assert newest.stat().st_size < 70_000
