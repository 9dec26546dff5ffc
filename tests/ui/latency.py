"""An event-loop latency probe for the window tests: a short QTimer whose late ticks are the GUI's stalls."""
from __future__ import annotations

import time
from typing import Callable

from PySide6.QtCore import Qt, QTimer


GUI_WORK_LIMIT = 0.050  # s: the most CPU time the GUI thread may spend between two ticks (the window's budget)
WALL_LIMIT = 1.0  # s: the longest wall gap allowed, a sanity bound only: on a loaded machine (CI, two cores
# shared with other jobs) a tick waits for a CPU or the GIL far longer than 50 ms without any work of ours


def assert_responsive(stall: float, busy: float, what: str, detail: str = "") -> None:
    """The GUI thread never worked `GUI_WORK_LIMIT` or more without returning to the event loop, and no gap
    reached `WALL_LIMIT`. The 50 ms is asserted on the GUI thread's own CPU time, not on wall gaps, so the
    machine's load cannot fail it; the wall bound still catches a thread that holds the GIL for long."""
    detail = detail or f"longest gap {stall * 1000:.0f} ms, GUI-thread work in one gap {busy * 1000:.0f} ms at most"
    assert busy < GUI_WORK_LIMIT, f"the GUI thread worked too long without returning to the event loop {what}: {detail}"
    assert stall < WALL_LIMIT, f"the event loop stalled {what}: {detail}"


class LatencyProbe:
    """Ticks every `interval_ms` on the GUI thread while running. Each gap between two ticks is how long the
    event loop could not serve a timer; `busy` is how much of that gap the GUI thread itself spent working
    (thread CPU time). The rest of a gap it waited for a CPU or the GIL, which grows with the machine's load,
    not with the code under test: `assert_responsive` holds the GUI thread's work to 50 ms and the wall gap
    only to a generous sanity bound, and reports both, so a failure says which."""

    def __init__(self, interval_ms: int = 5):
        self._ticks: list[tuple[float, float]] = []
        self._timer = QTimer(interval=interval_ms, timeout=self._tick)
        self._timer.setTimerType(Qt.PreciseTimer)

    def _tick(self) -> None:
        self._ticks.append((time.perf_counter(), time.thread_time()))

    def start(self) -> "LatencyProbe":
        self._ticks = []
        self._tick()
        self._timer.start()
        return self

    def stop(self) -> None:
        self._timer.stop()
        self._tick()

    def __enter__(self) -> "LatencyProbe":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def ticks(self) -> int:
        return len(self._ticks)

    def gaps(self) -> list[tuple[float, float]]:
        """(wall seconds, GUI-thread CPU seconds) between each pair of ticks."""
        return [(b[0] - a[0], b[1] - a[1]) for a, b in zip(self._ticks, self._ticks[1:])]

    @property
    def stall(self) -> float:
        """The longest gap between two ticks, in seconds."""
        return max((g for g, _ in self.gaps()), default=0.0)

    @property
    def busy(self) -> float:
        """The most CPU time the GUI thread spent within one gap, in seconds."""
        return max((b for _, b in self.gaps()), default=0.0)

    def assert_responsive(self, what: str) -> None:
        """See `assert_responsive` above; `what` says when ("during the batch")."""
        assert self.ticks > 1, "the probe never ticked: was the event loop running?"
        assert_responsive(self.stall, self.busy, what, self.describe())

    def describe(self) -> str:
        worst = sorted(self.gaps(), reverse=True)[:5]
        return (f"longest gap {self.stall * 1000:.0f} ms, GUI-thread work in one gap {self.busy * 1000:.0f} ms at "
                f"most, over {self.ticks} ticks; worst gaps (wall/cpu ms): "
                + ", ".join(f"{g * 1000:.0f}/{b * 1000:.0f}" for g, b in worst))


def longest_stall(during: Callable[[], None], interval_ms: int = 5) -> tuple[float, float]:
    """Run `during()` with the probe ticking; returns (longest gap, longest GUI-thread work in one gap)."""
    with LatencyProbe(interval_ms) as probe:
        during()
    return probe.stall, probe.busy
