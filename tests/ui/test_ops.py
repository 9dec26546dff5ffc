"""The background-op pattern: results on the GUI thread, errors as messages, never a crash."""
from __future__ import annotations

import threading

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


def test_errors_become_messages(window, wait_op):
    def bad():
        raise DocumentError("/tmp/x.pdf", "the PDF is encrypted; save an unlocked copy")

    wait_op(BackgroundOp(window, bad).run())
    assert window.banner.text() == "/tmp/x.pdf: the PDF is encrypted; save an unlocked copy"

    wait_op(BackgroundOp(window, lambda: 1 / 0).run())
    assert window.banner.text().startswith("Unexpected error: ZeroDivisionError")

    caught = []
    wait_op(BackgroundOp(window, lambda: 1 / 0, failure=caught.append).run())
    assert isinstance(caught[0], ZeroDivisionError)


def test_a_failing_success_callback_is_reported_not_raised(window, wait_op):
    def boom(_):
        raise RuntimeError("bug in a view")

    wait_op(BackgroundOp(window, lambda: 1, success=boom).run())
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
