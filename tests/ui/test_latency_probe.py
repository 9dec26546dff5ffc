"""The stall probe itself: GUI-thread work of 50 ms or more between two ticks fails, however idle the
machine; a gap in which the GUI thread only waited (a loaded machine) passes up to the 1 s sanity bound."""
from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QTimer

from tests.ui.latency import GUI_WORK_LIMIT, WALL_LIMIT, LatencyProbe


def _work(seconds: float) -> None:
    """Keep the GUI thread busy for `seconds` of its own CPU time."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_work_on_the_gui_thread_fails_the_probe(qtbot):
    with LatencyProbe(5) as probe:
        QTimer.singleShot(20, lambda: _work(2 * GUI_WORK_LIMIT))
        qtbot.wait(400)
    assert probe.busy >= 2 * GUI_WORK_LIMIT * 0.9
    with pytest.raises(AssertionError, match="worked too long without returning to the event loop while testing"):
        probe.assert_responsive("while testing")


def test_waiting_is_not_work_up_to_the_wall_bound(qtbot):
    with LatencyProbe(5) as probe:  # a sleep stands for a machine too loaded to run the GUI thread
        QTimer.singleShot(20, lambda: time.sleep(0.2))
        qtbot.wait(400)
    assert probe.stall >= 0.2 and probe.busy < GUI_WORK_LIMIT
    probe.assert_responsive("while waiting")
    with LatencyProbe(5) as probe:
        QTimer.singleShot(20, lambda: time.sleep(WALL_LIMIT + 0.1))
        qtbot.wait(WALL_LIMIT * 1000 + 400)
    with pytest.raises(AssertionError, match="the event loop stalled while waiting"):
        probe.assert_responsive("while waiting")
