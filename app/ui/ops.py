"""One way to run slow work off the GUI thread, after Anki's QueryOp and Orange's TaskState.

    BackgroundOp(parent, op=lambda ctx: analyzer.analyze(doc), success=show, progress_label="Analysing…").run()

`op` runs on a worker thread of POOL (READS for a quick read of the store) and must never touch a widget. It is always called with one argument,
an OpContext, through which it reports progress (`ctx.progress(value)`), results as they come
(`ctx.partial_result(value)`) and what it is doing (`ctx.status(text)`), and polls for cancellation
(`ctx.cancelled()`); an op that needs none of it ignores the argument (`lambda _ctx: ...`). Each report
has its own signal, delivered in the order sent: `progress`, `partial_result` and `status` are called on
the GUI thread, then `success` or `failure`. Without `failure`, an AlbertStudioError is shown as its
message and any other exception as "Unexpected error", never a crash. Without `status`, a status text
replaces the op's label in the window's status bar.

An op that reports faster than a person can read (a batch: a progress record per file, a result per
document) passes `coalesce=True`: at most one delivery of each kind then waits in the GUI's event queue.
Progress sent while one waits replaces it (the GUI gets the newest value); partial results sent while one
waits join it and are handed over in order, several per turn of the event loop, still all before `success`.
"""
from __future__ import annotations

import logging
import threading
import traceback
from typing import Any, Callable

import shiboken6
from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, QTimer, Signal, Slot
from PySide6.QtWidgets import QMessageBox, QWidget

from app.core.errors import AlbertStudioError, Cancelled

log = logging.getLogger(__name__)

POOL = QThreadPool()
POOL.setMaxThreadCount(2)  # the machines this runs on have few cores; inference uses them anyway
# Reads of the library and of past runs take milliseconds, and must not queue behind an analysis, a translation
# or a batch that holds POOL's threads for minutes (with both taken, the library pane stopped following a batch).
READS = QThreadPool()
READS.setMaxThreadCount(2)


class OpContext:
    """What an op may use from its worker thread (Orange's TaskState): reports to the GUI thread and a cancel flag.

    Tests call an op's function with a plain stand-in for it (tests/ui/test_finetune_ops.py has one)."""

    def __init__(self, signals: "_Signals", cancel: threading.Event, mailbox: "_Mailbox | None" = None):
        self._signals = signals
        self.cancel_event = cancel
        self._mailbox = mailbox

    def cancelled(self) -> bool:
        """True once the user (or a newer request) asked the op to stop; check it between steps."""
        return self.cancel_event.is_set()

    def progress(self, value: Any) -> None:
        """How far the op is: a fraction, or a progress record the caller's `progress` understands."""
        if self._mailbox is None or self._mailbox.put_progress(value):
            self._emit(self._signals.progress, value)

    def partial_result(self, value: Any) -> None:
        """One piece of the result, shown before the op ends (a batch's document, or its error)."""
        if self._mailbox is None or self._mailbox.put_partial(value):
            self._emit(self._signals.partial_result, value)

    def status(self, text: str) -> None:
        """What the op is doing now, in words."""
        self._emit(self._signals.status, text)

    def _emit(self, signal, value: Any) -> None:
        try:
            signal.emit(value)
        except RuntimeError:  # the window is gone (application exiting): nobody is listening any more
            self.cancel_event.set()


_EMPTY = object()


class _Mailbox:
    """What a coalescing op has sent and the GUI has not taken yet. Each put says whether a delivery must be
    signalled (nothing of that kind was waiting); each take empties that kind, so a signal sent after it
    finds the newer values."""

    def __init__(self):
        self._lock = threading.Lock()
        self._progress: Any = _EMPTY
        self._partial: list[Any] = []

    def put_progress(self, value: Any) -> bool:
        with self._lock:
            waiting, self._progress = self._progress is not _EMPTY, value
            return not waiting

    def take_progress(self) -> Any:
        with self._lock:
            value, self._progress = self._progress, _EMPTY
            return value

    def put_partial(self, value: Any) -> bool:
        with self._lock:
            self._partial.append(value)
            return len(self._partial) == 1

    def take_partial(self) -> list[Any]:
        with self._lock:
            values, self._partial = self._partial, []
            return values


class _Signals(QObject):
    done = Signal(object)
    failed = Signal(object, str)
    progress = Signal(object)
    partial_result = Signal(object)
    status = Signal(str)


class _Runnable(QRunnable):
    """The worker thread's side of an op. It never drops the last reference to a Qt object: the op and its
    signals live on the GUI thread, and a QObject deleted from another thread while the GUI thread delivers
    its events is a use after free in QtCore. So `run` takes them out of this object into locals, clears the
    locals once the last report is sent, and only then sets `released`; the GUI thread keeps the op (and so
    its signals) until it sees `released` (BackgroundOp._retire)."""

    def __init__(self, fn: Callable[[], Any], signals: _Signals, released: threading.Event):
        super().__init__()
        self.setAutoDelete(True)
        self._fn = fn
        self._signals = signals
        self._released = released

    def run(self) -> None:
        fn, signals, released = self._fn, self._signals, self._released
        self._fn = self._signals = None
        result: Any = None
        try:
            try:
                result = fn()
            except BaseException as exc:  # noqa: BLE001 - everything is reported on the GUI thread
                signals.failed.emit(exc, traceback.format_exc())
            else:
                signals.done.emit(result)
        except RuntimeError:  # the interpreter is exiting and took the signals with it: nobody to tell
            log.debug("background op finished after its receiver was deleted")
        finally:
            fn = signals = result = None  # a traceback keeps this frame: its locals must be empty
            released.set()


def describe_error(exc: BaseException) -> str:
    """The sentence a person sees for an exception."""
    if isinstance(exc, AlbertStudioError):
        return str(exc)
    return f"Unexpected error: {type(exc).__name__}: {exc}"


def report_error(parent: QWidget | None, exc_or_message: BaseException | str) -> None:
    """Show an error without blocking: the window's banner when there is one, else a non-modal box."""
    message = exc_or_message if isinstance(exc_or_message, str) else describe_error(exc_or_message)
    win = parent.window() if parent is not None and shiboken6.isValid(parent) else None
    if win is not None and hasattr(win, "report_error"):
        win.report_error(message)
        return
    box = QMessageBox(QMessageBox.Warning, "Albert Studio", message, QMessageBox.Ok, win)
    box.setAttribute(Qt.WA_DeleteOnClose)
    box.open()


class BackgroundOp(QObject):
    """A slow call run on POOL; its callbacks come back on the GUI thread."""

    _running: set["BackgroundOp"] = set()
    _retiring: list["BackgroundOp"] = []  # finished, kept until their worker has let go of them

    def __init__(self, parent: QWidget | None, op: Callable[[OpContext], Any],
                 success: Callable[[Any], None] | None = None,
                 failure: Callable[[BaseException], None] | None = None,
                 progress: Callable[[Any], None] | None = None, progress_label: str | None = None,
                 partial_result: Callable[[Any], None] | None = None, status: Callable[[str], None] | None = None,
                 coalesce: bool = False, pool: QThreadPool | None = None):
        super().__init__()
        self._pool = pool or POOL  # READS for a quick read of the store
        self._parent = parent
        self._op = op
        self._success = success
        self._failure = failure
        self._progress = progress
        self._partial = partial_result
        self._status = status
        self.progress_label = progress_label
        self.cancel_event = threading.Event()
        self._released = threading.Event()  # set by the worker once it holds no reference to this op
        self.finished = False
        self.abandoned = False
        self._mailbox = _Mailbox() if coalesce else None
        self._signals = _Signals()
        self._signals.done.connect(self._on_done)
        self._signals.failed.connect(self._on_failed)
        self._signals.progress.connect(self._on_progress)
        self._signals.partial_result.connect(self._on_partial_result)
        self._signals.status.connect(self._on_status)

    # -- the op's side

    def _call(self) -> Any:
        return self._op(OpContext(self._signals, self.cancel_event, self._mailbox))

    # -- the GUI's side

    def run(self) -> "BackgroundOp":
        BackgroundOp._running.add(self)
        self._busy(True)
        self._pool.start(_Runnable(self._call, self._signals, self._released))
        return self

    def cancel(self) -> None:
        self.cancel_event.set()

    def _alive(self) -> bool:
        return not self.abandoned and (self._parent is None or shiboken6.isValid(self._parent))

    def _busy(self, on: bool, label: str | None = None) -> None:
        if not self._alive():
            return
        win = self._parent.window() if self._parent is not None else None
        if win is not None and hasattr(win, "set_busy"):
            win.set_busy(self, (label or self.progress_label) if on else None)

    def _finish(self) -> None:
        self.finished = True
        BackgroundOp._running.discard(self)
        BackgroundOp._retiring.append(self)
        self._busy(False)

    def _let_go(self) -> None:
        """After the last callback: drop the callbacks and the parent (closures that refer back to this op or to
        a widget holding it make reference cycles, and Python's collector may free a cycle on any thread),
        then release the op on the GUI thread once its worker is done with it."""
        self._op = self._success = self._failure = self._progress = self._partial = self._status = None
        self._parent = None
        QTimer.singleShot(0, BackgroundOp._retire)

    @classmethod
    def _retire(cls) -> None:
        """Drop finished ops whose worker has let go of them (GUI thread); check again soon for the others."""
        cls._retiring = [op for op in cls._retiring if not op._released.is_set()]
        if cls._retiring:
            QTimer.singleShot(20, cls._retire)

    @Slot(object)
    def _on_done(self, result: Any) -> None:
        self._finish()
        try:
            if self._alive() and self._success is not None:
                try:
                    self._success(result)
                except Exception as exc:  # a bug in a success callback must not take the window down
                    log.exception("success callback failed")
                    report_error(self._parent, exc)
        finally:
            self._let_go()

    @Slot(object, str)
    def _on_failed(self, exc: BaseException, tb: str) -> None:
        self._finish()
        try:
            if not isinstance(exc, AlbertStudioError):
                log.error("background op failed:\n%s", tb)
            if not self._alive():
                return
            if self._failure is not None:
                self._failure(exc)
            elif not isinstance(exc, Cancelled):
                report_error(self._parent, exc)
        finally:
            self._let_go()

    @Slot(object)
    def _on_progress(self, value: Any) -> None:
        if self._mailbox is not None:
            value = self._mailbox.take_progress()
            if value is _EMPTY:
                return
        if self._alive() and self._progress is not None and not self.finished:
            self._progress(value)

    @Slot(object)
    def _on_partial_result(self, value: Any) -> None:
        # sent before the op returned, so delivered before _on_done: every piece arrives
        values = [value] if self._mailbox is None else self._mailbox.take_partial()
        for v in values:
            if self._alive() and self._partial is not None:
                self._partial(v)

    @Slot(str)
    def _on_status(self, text: str) -> None:
        if not self._alive() or self.finished:
            return
        if self._status is not None:
            self._status(text)
        elif self.progress_label is not None:  # a silent op (no label) stays silent
            self._busy(True, text)

    # -- all ops

    @classmethod
    def running(cls) -> list["BackgroundOp"]:
        return list(cls._running)

    @classmethod
    def shutdown(cls, timeout_ms: int = 5000) -> bool:
        """Cancel every op, wait for the workers, and drop callbacks still queued (the window is closing)."""
        for op in list(cls._running):
            op.cancel()
            op.abandoned = True
        reads_done = READS.waitForDone(timeout_ms)
        return POOL.waitForDone(timeout_ms) and reads_done


class GuiThreadCollector(QObject):
    """Python's cyclic garbage collection moved to the GUI thread (the way pyqtgraph's GarbageCollector does it).

    Left automatic, a collection runs in whichever thread happens to allocate, often a worker in the middle of a
    batch or a model load; a Qt object owned by Python that sits in an unreachable reference cycle (an op whose
    callback refers back to it, a widget's closure) is then deleted on that worker while the GUI thread may be
    using it. Here automatic collection is off and this timer runs the same generational collections on the GUI
    thread, about as often as the thresholds would. Objects freed by reference counting are freed as before.
    The Qt half of the policy written down in app/core/memory.py (freezing what lives for the session).
    """

    def __init__(self, parent: QObject, interval_ms: int = 500):
        super().__init__(parent)
        import gc

        self._gc = gc
        self.threshold = gc.get_threshold()
        gc.disable()
        self.timer = QTimer(self, interval=interval_ms, timeout=self.collect)
        self.timer.start()

    @Slot()
    def collect(self) -> None:
        gc = self._gc
        n0, n1, n2 = gc.get_count()
        if n0 > self.threshold[0]:
            gc.collect(0)
            if n1 > self.threshold[1]:
                gc.collect(1)
                if n2 > self.threshold[2]:
                    gc.collect(2)

    def stop(self) -> None:
        """Give collection back to Python (the window is closing)."""
        self.timer.stop()
        self._gc.enable()


_COLLECTOR: GuiThreadCollector | None = None


def collect_garbage_on_gui_thread(parent: QObject) -> GuiThreadCollector:
    """Start collecting on the GUI thread (once: a running collector is returned as it is)."""
    global _COLLECTOR
    if _COLLECTOR is None or not shiboken6.isValid(_COLLECTOR) or not _COLLECTOR.timer.isActive():
        _COLLECTOR = GuiThreadCollector(parent)
    return _COLLECTOR


def stop_collecting_on_gui_thread() -> None:
    """Automatic collection again (the window closed: no GUI thread to run it)."""
    global _COLLECTOR
    if _COLLECTOR is not None and shiboken6.isValid(_COLLECTOR):
        _COLLECTOR.stop()
        _COLLECTOR.deleteLater()
    _COLLECTOR = None
    import gc

    gc.enable()
