"""The Qt shell over the core: windows, views, dialogs and the Qt side of background work."""
from __future__ import annotations

import sys


def _pin_singletons() -> None:
    """Make True, False and None immortal, as CPython 3.12+ does, to survive a PySide6 refcount bug.

    With PySide6 6.12.0 on CPython 3.11, every SignalInstance.emit() returns True without taking a
    reference, and @Slot methods drop references to None; after a few hundred signals the interpreter
    aborts with "deallocating True or False" (see tests/ui/test_ops.py). These objects are never freed
    anyway, so adding a large count to their refcount changes nothing else.
    """
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return  # immortal there already
    import ctypes

    for obj in (True, False, None):
        ctypes.c_ssize_t.from_address(id(obj)).value += 1 << 40  # ob_refcnt is the first field


_pin_singletons()
