"""The Qt shell over the core: windows, views, dialogs and the Qt side of background work."""
from __future__ import annotations

from app.core.memory import pin_singletons

pin_singletons()  # before any signal is sent: a PySide6 refcount bug on CPython 3.11 (app/core/memory.py)
