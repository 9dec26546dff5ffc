"""The garbage collector and the interpreter, in one place: what this app changes about them and why.

Four things, all for the same two symptoms (the window stalling, or the process crashing, under a batch):

1. Freezing what lives for the session (`keep_long_lived`, `freeze_once`). A full (generation 2) collection
   rescans every tracked object while holding the GIL. The models' vocabularies, manifests and sessions and
   the window's widgets live as long as the process; left in, full passes of 40-100 ms stopped every thread,
   the window's event loop included, during a 1,000-document batch (tests/ui/test_batch_stall.py). Frozen
   (`gc.freeze`), a full pass scans only what was made since. The freezes happen when a model loads
   (core/task_model.load_task_model), once the window is up (ui/main.py) and before the first batch
   (ui/batch_view.py).

2. Collecting on the GUI thread only, while the window is open (ui/ops.py `GuiThreadCollector`, the one
   part that needs Qt, started by the main window): automatic collection is off and a 500 ms timer runs the
   same generational collections on the GUI thread. Left automatic, a collection runs in whichever thread
   allocates, and a Qt object in an unreachable cycle could be deleted on a worker while the GUI thread used
   it (a crash in QtCore). `keep_long_lived` on a worker therefore only freezes; it collects only where
   collection is automatic or on the main thread.

3. Objects freed by reference counting are freed as before, on whatever thread drops the last reference;
   the ops release finished work on the GUI thread for that reason (ui/ops.py).

4. `pin_singletons`: PySide6 6.12.0 on CPython 3.11 drops references to True/False/None (every
   SignalInstance.emit() returns True without taking a reference, @Slot methods drop None); after a few
   hundred signals the interpreter aborts with "deallocating True or False" (tests/ui/test_ops.py). CPython
   3.12+ makes these objects immortal; here their reference counts get a large constant instead. They are
   never freed anyway, so nothing else changes. Called once when app.ui is imported.
"""
from __future__ import annotations

import gc
import sys
import threading

_frozen_once = False


def keep_long_lived() -> None:
    """Collect unreachable cycles (where this thread may), then take every object alive now out of the full
    collections (gc.freeze), so no garbage is frozen with them. Costs one full pass: call it off the GUI
    thread or where a pause does not matter (a model load, the window's start)."""
    # with automatic collection off the application collects on its main thread only (Qt objects are never
    # freed on a worker); a worker then only freezes
    if gc.isenabled() or threading.current_thread() is threading.main_thread():
        gc.collect()
    gc.freeze()


def freeze_once() -> None:
    """gc.freeze() the first time it is called, without a collection (fast enough for the GUI thread): what is
    alive before the first batch leaves the full collections; later calls do nothing, so the results of one
    batch are never frozen for good."""
    global _frozen_once
    if not _frozen_once:
        gc.freeze()
        _frozen_once = True


def pin_singletons() -> None:
    """Make True, False and None immortal on CPython before 3.12 (see point 4 above)."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return  # immortal there already
    import ctypes

    for obj in (True, False, None):
        ctypes.c_ssize_t.from_address(id(obj)).value += 1 << 40  # ob_refcnt is the first field
