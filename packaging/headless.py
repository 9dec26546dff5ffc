"""A display for the smoke test's window on a machine without one: Xvfb where installed, else Qt offscreen.

With Xvfb the bundle's own X11 (xcb) platform plugin and the system's X11 libraries are exercised, as on
a desktop; Qt's offscreen platform checks the window but not that path. CI installs Xvfb (.ci/run).
"""
from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator


@dataclass
class Display:
    """How the window is shown: the environment to add (and the names to drop) and a description."""

    name: str  # "xcb on Xvfb :5" or "offscreen"
    platform: str  # the Qt platform plugin expected: "xcb" or "offscreen"
    env: dict[str, str] = field(default_factory=dict)
    drop: tuple[str, ...] = ()
    note: str = ""

    def apply(self, env: dict[str, str]) -> dict[str, str]:
        out = {k: v for k, v in env.items() if k not in self.drop}
        out.update(self.env)
        return out


OFFSCREEN = Display("offscreen", "offscreen", {"QT_QPA_PLATFORM": "offscreen"}, ("DISPLAY", "WAYLAND_DISPLAY"))


def _start_xvfb(xvfb: str, timeout: float, log: Path) -> tuple[subprocess.Popen, str]:
    """Start Xvfb on a free display number (it picks one and writes it to a pipe); (process, ":N")."""
    read_fd, write_fd = os.pipe()
    with open(log, "wb") as out:  # a file, not a pipe nobody reads: a full pipe would stall the X server
        proc = subprocess.Popen([xvfb, "-displayfd", str(write_fd), "-screen", "0", "1280x1024x24", "-nolisten", "tcp",
                                 "-noreset"],  # without it, the server resets when its last client leaves
                                pass_fds=(write_fd,), stdout=out, stderr=out)
    os.close(write_fd)
    try:
        ready, _, _ = select.select([read_fd], [], [], timeout)
        number = os.read(read_fd, 64).strip() if ready else b""
    except BaseException:
        os.close(read_fd)
        raise
    if not number:
        os.close(read_fd)
        proc.kill()
        proc.wait(timeout=5)
        err = log.read_text(errors="replace").strip()[-300:]
        raise RuntimeError(f"Xvfb did not start within {timeout:.0f}s{': ' + err if err else ''}")
    # The read end stays open while the server runs: Xvfb writes its display number again on a new server
    # generation, and a closed pipe makes that write fatal ("Cannot write display number to fd 4": the server
    # died under the smoke test's window check). virtual_display closes it after the server has stopped.
    _DISPLAY_PIPES[proc.pid] = read_fd
    return proc, f":{number.decode()}"


_DISPLAY_PIPES: dict[int, int] = {}


@contextmanager
def virtual_display(mode: str = "auto", log: Path | None = None, timeout: float = 15.0) -> Iterator[Display]:
    """mode "auto": Xvfb if installed and it starts (Linux), else offscreen with a note saying why;
    "xvfb": Xvfb or RuntimeError; "offscreen": Qt's offscreen platform. Xvfb's output goes to `log`."""
    xvfb = shutil.which("Xvfb") if sys.platform.startswith("linux") else None
    proc, note = None, ""
    if mode == "xvfb" and xvfb is None:
        raise RuntimeError("Xvfb is not installed (apt-get install xvfb)")
    if mode != "offscreen" and xvfb is not None:
        try:
            proc, display = _start_xvfb(xvfb, timeout, log or Path(os.devnull))
        except (OSError, RuntimeError) as exc:
            if mode == "xvfb":
                raise
            note = f"Xvfb failed ({exc}): the window is checked with Qt's offscreen platform instead"
    elif mode == "auto":
        note = ("Xvfb is not installed: the window is checked with Qt's offscreen platform, so the X11 plugin "
                "is not exercised (apt-get install xvfb)")
    if proc is None:
        yield Display(OFFSCREEN.name, OFFSCREEN.platform, dict(OFFSCREEN.env), OFFSCREEN.drop, note)
        return
    try:
        yield Display(f"xcb on Xvfb {display}", "xcb", {"DISPLAY": display}, ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY"))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        fd = _DISPLAY_PIPES.pop(proc.pid, None)
        if fd is not None:
            os.close(fd)
