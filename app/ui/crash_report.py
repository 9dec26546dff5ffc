"""Crash reports: a fatal error (a segfault in Qt, an abort) leaves the Python stacks of every thread in a small
file in the user's data folder, and the next start says where it is.

While the window runs, faulthandler writes into `running.log` in the crash folder, which stays empty unless the
process dies of a fatal signal. A clean exit removes it. At the next start a non-empty `running.log` is the
report of the last session: it is kept as `crash-YYYYMMDD-HHMMSS.log` (the newest KEEP only, each cut to
MAX_BYTES) and the window names it.
"""
from __future__ import annotations

import faulthandler
import os
import sys
import time
from pathlib import Path
from typing import IO

KEEP = 5  # crash reports kept; older ones are deleted
MAX_BYTES = 64 * 1024  # a report is the stacks of a few threads: a few KB; never keep more than this
RUNNING = "running.log"


def crash_folder() -> Path:
    """`crashes` in the user's data folder ($ALBERT_STUDIO_CRASH_DIR overrides it)."""
    env = os.environ.get("ALBERT_STUDIO_CRASH_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("albert-studio")) / "crashes"


def reports(folder: Path) -> list[Path]:
    """The kept crash reports, oldest first."""
    return sorted(folder.glob("crash-*.log"))


class CrashReporter:
    """`start()` at launch: keeps the last session's report if it crashed, then arms faulthandler for this one."""

    def __init__(self, folder: Path | None = None):
        self.folder = Path(folder) if folder is not None else crash_folder()
        self.previous: Path | None = None  # the report the last session left, if it crashed
        self._file: IO[str] | None = None
        self._was_enabled = False

    @property
    def running_file(self) -> Path:
        return self.folder / RUNNING

    def start(self) -> Path | None:
        """Returns the last session's crash report (None if it ended cleanly). Never raises: a folder that
        cannot be written only means no report."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.previous = self._keep_previous()
            self._file = open(self.running_file, "w", encoding="utf-8")  # noqa: SIM115 - open for the whole session
        except OSError:
            self._file = None
            return self.previous
        self._was_enabled = faulthandler.is_enabled()
        faulthandler.enable(file=self._file, all_threads=True)
        return self.previous

    def _keep_previous(self) -> Path | None:
        run = self.running_file
        try:
            size = run.stat().st_size
        except FileNotFoundError:
            return None
        if size == 0:
            run.unlink()
            return None
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(run.stat().st_mtime))
        dest = self.folder / f"crash-{stamp}.log"
        n = 1
        while dest.exists():
            n += 1
            dest = self.folder / f"crash-{stamp}-{n}.log"
        with open(run, "rb") as f:
            data = f.read(MAX_BYTES)
        header = (f"Albert Studio stopped unexpectedly (report written {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(run.stat().st_mtime))}).\n"
                  "The stacks of its threads at that moment follow.\n\n").encode("utf-8")
        dest.write_bytes(header + data + (b"\n[cut at %d bytes]\n" % MAX_BYTES if size > MAX_BYTES else b""))
        run.unlink()
        for old in reports(self.folder)[:-KEEP]:
            old.unlink(missing_ok=True)
        return dest

    def stop(self) -> None:
        """A clean exit: no report."""
        if self._file is None:
            return
        faulthandler.disable()
        if self._was_enabled and sys.__stderr__ is not None:  # as it was (python -X faulthandler, pytest)
            faulthandler.enable(file=sys.__stderr__, all_threads=True)
        self._file.close()
        self._file = None
        try:
            self.running_file.unlink()
        except OSError:
            pass


def crash_message(report: Path) -> str:
    """What the window says at the start after a crash."""
    return (f"Albert Studio closed unexpectedly last time. A crash report was saved to {report} — "
            "please attach it when you report the problem.")
