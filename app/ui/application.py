"""The QApplication: its names (for QSettings), high-DPI policy, style and live theme; no Qt import until called.

Both the start-up code (app/ui/main.py) and the window (app/ui/main_window.py) use these, so they live here
rather than in either: main imports the window, and the window never imports main.
"""
from __future__ import annotations

import sys

ORGANIZATION = "Albert Studio"
APPLICATION = "albert-studio"
THEMES = ("system", "light", "dark")


def create_app(argv: list[str] | None = None, theme: str = "system"):
    """The QApplication with high-DPI defaults, names for QSettings and the Fusion style."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from app.ui.theme import app_icon

    app = QApplication.instance()
    if app is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication([sys.argv[0] if sys.argv else "albert-studio", *(argv or [])])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("Albert Studio")
    app.setWindowIcon(app_icon())
    set_theme(app, theme)
    return app


def set_theme(app, theme: str) -> None:
    """Apply a theme now; "system" keeps following the desktop when it switches between light and dark."""
    from app.ui.theme import apply_theme

    theme = "system" if theme in ("auto", "", None) else theme
    apply_theme(app, "auto" if theme == "system" else theme)
    follower = getattr(app, "_albert_theme_follower", None)
    if follower is not None:
        app.styleHints().colorSchemeChanged.disconnect(follower)
        app._albert_theme_follower = None
    if theme == "system":
        follower = lambda _s: apply_theme(app, "auto")
        app.styleHints().colorSchemeChanged.connect(follower)
        app._albert_theme_follower = follower


def has_cuda() -> bool:
    from app.core.runtime import available_providers

    return "CUDAExecutionProvider" in available_providers()


