"""An event-loop latency probe for the window tests: a short QTimer whose late ticks are the GUI's stalls."""
from __future__ import annotations

import time
from typing import Callable

from PySide6.QtCore import Qt, QTimer


class LatencyProbe:
    """Ticks every `interval_ms` on the GUI thread while running. Each gap between two ticks is how long the
    event loop could not serve a timer; `busy` is how much of that gap the GUI thread itself spent working
    (thread CPU time). The rest of a gap it waited for a CPU or the GIL, which grows with the machine's load,
    not with the code under test: report both, so a failure says which."""

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
