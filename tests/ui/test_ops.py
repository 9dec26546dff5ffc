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


def test_finished_ops_are_freed_on_the_gui_thread_even_when_a_worker_collects(window, wait_op, qtbot):
    """Issue 34's crash: a finished op (a QObject of the GUI thread) was freed on a worker thread, either because
    the worker held the last reference to it or because a cyclic collection ran there (a model load calls
    gc.collect). Each op here is in a reference cycle (its callback refers back to it), like the history read."""
    import gc
    import weakref

    freed_on: list[str] = []
    for i in range(20):
        holder = {}

        def done(_value, holder=holder):
            holder["seen"] = holder["op"]  # the cycle: op -> callback -> holder -> op

        op = BackgroundOp(window, lambda _ctx, i=i: i, success=done)
        holder["op"] = op
        weakref.finalize(op, lambda: freed_on.append(threading.current_thread().name))
        wait_op(op.run())
        del op, holder, done
    # a worker that collects garbage, as loading a model does (core/task_model.keep_long_lived)
    wait_op(BackgroundOp(window, lambda _ctx: gc.collect()).run())
    gui = threading.main_thread().name
    qtbot.waitUntil(lambda: len(freed_on) == 20 or any(t != gui for t in freed_on), timeout=10000)
    assert freed_on == [gui] * 20


def test_gc_is_run_by_the_gui_thread_while_the_window_is_open(window, qtbot):
    import gc

    assert not gc.isenabled()  # automatic collection would run on whichever thread allocates
    before = gc.get_stats()[0]["collections"]
    junk = []
    for _ in range(5000):
        a: list = []
        a.append(a)
        junk.append(a)
    del junk, a
    qtbot.waitUntil(lambda: gc.get_stats()[0]["collections"] > before, timeout=3000)
    window.close()
    assert gc.isenabled()
