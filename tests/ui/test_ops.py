"""The background-op pattern: results on the GUI thread, errors as messages, never a crash."""
from __future__ import annotations

import threading
import time

from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication

from app.core.errors import DocumentError
from app.ui.ops import BackgroundOp


def test_op_runs_off_the_gui_thread_and_reports_on_it(window, wait_op):
    seen = {}

    def op(ctx):
        seen["worker"] = threading.current_thread() is not threading.main_thread()
        ctx.progress(1)
        return 42

    def success(value):
        seen["value"] = value
        seen["gui"] = QThread.currentThread() is QApplication.instance().thread()

    progress = []
    wait_op(BackgroundOp(window, op, success=success, progress=progress.append).run())
    assert seen == {"worker": True, "value": 42, "gui": True}
    assert progress == [1]
    assert not window.busy_bar.isVisible()


def test_every_op_gets_a_context_and_each_report_its_own_callback(window, wait_op):
    """Orange's TaskState: progress, partial results and status come back separately, in the order sent."""
    seen = []

    def op(ctx):
        ctx.status("reading")
        for i in range(3):
            ctx.partial_result(f"doc {i}")
            ctx.progress((i + 1) / 3)
        ctx.status("writing")
        return "all"

    wait_op(BackgroundOp(window, op, success=lambda v: seen.append(("done", v)),
                         progress=lambda v: seen.append(("progress", v)),
                         partial_result=lambda v: seen.append(("partial", v)),
                         status=lambda t: seen.append(("status", t))).run())
    assert seen == [("status", "reading"), ("partial", "doc 0"), ("progress", 1 / 3), ("partial", "doc 1"),
                    ("progress", 2 / 3), ("partial", "doc 2"), ("progress", 1.0), ("status", "writing"),
                    ("done", "all")]


def test_a_status_without_a_callback_shows_in_the_status_bar(window, qtbot):
    release = threading.Event()

    def op(ctx):
        ctx.status("Reading page 3 of 9…")
        release.wait(10)

    running = BackgroundOp(window, op, progress_label="Reading…").run()
    qtbot.waitUntil(lambda: window.busy_label.text() == "Reading page 3 of 9…", timeout=5000)
    release.set()
    qtbot.waitUntil(lambda: running.finished, timeout=5000)
    assert window.busy_label.text() == ""


def test_cancel_reaches_the_op_within_a_second(window, qtbot):
    stopped = []

    def op(ctx):
        while not ctx.cancelled():
            time.sleep(0.01)
        stopped.append(time.monotonic())

    running = BackgroundOp(window, op, progress_label="Working…").run()
    qtbot.wait(50)
    asked = time.monotonic()
    running.cancel()
    qtbot.waitUntil(lambda: running.finished, timeout=5000)
    assert stopped and stopped[0] - asked < 1.0


def test_errors_become_messages(window, wait_op):
    def bad(_ctx):
        raise DocumentError("/tmp/x.pdf", "the PDF is encrypted; save an unlocked copy")

    wait_op(BackgroundOp(window, bad).run())
    assert window.banner.text() == "/tmp/x.pdf: the PDF is encrypted; save an unlocked copy"

    wait_op(BackgroundOp(window, lambda _ctx: 1 / 0).run())
    assert window.banner.text().startswith("Unexpected error: ZeroDivisionError")

    caught = []
    wait_op(BackgroundOp(window, lambda _ctx: 1 / 0, failure=caught.append).run())
    assert isinstance(caught[0], ZeroDivisionError)


def test_an_op_that_takes_no_context_is_a_bug_reported_not_guessed(window, wait_op):
    wait_op(BackgroundOp(window, lambda: 1).run())
    assert "TypeError" in window.banner.text()


def test_a_failing_success_callback_is_reported_not_raised(window, wait_op):
    def boom(_):
        raise RuntimeError("bug in a view")

    wait_op(BackgroundOp(window, lambda _ctx: 1, success=boom).run())
    assert "bug in a view" in window.banner.text()


def test_many_signals_do_not_exhaust_refcounts(qapp):
    """PySide6 6.12.0 on CPython 3.11 drops a reference to True on every emit(); app.ui pins it.

    Without the guard in app/ui/__init__.py this aborts the interpreter ("deallocating True or False").
    """
    import sys

    from PySide6.QtCore import QObject, Signal, Slot

    import app.ui  # noqa: F401

    class Sender(QObject):
        sig = Signal(object)

    class Receiver(QObject):
        n = 0

        @Slot(object)
        def got(self, _value):
            Receiver.n += 1

    sender, receiver = Sender(), Receiver()
    sender.sig.connect(receiver.got)
    for _ in range(50_000):
        sender.sig.emit(1)
    assert Receiver.n == 50_000
    assert sys.getrefcount(True) > 1000 and sys.getrefcount(None) > 1000
