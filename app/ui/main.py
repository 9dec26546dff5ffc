"""Start the desktop window: `albert-studio gui [--db FILE]`, `python -m app.ui`, or the bare `albert-studio`."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

ORGANIZATION = "Albert Studio"
APPLICATION = "albert-studio"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="albert-studio gui", description="Open the Albert Studio window.")
    ap.add_argument("--db", help="library file (default: $ALBERT_STUDIO_DB or the user data folder)")
    ap.add_argument("--models", action="append", type=Path, default=None,
                    help="look for models in this folder instead of the installed ones (repeatable)")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], help="device for inference (default: last used)")
    ap.add_argument("--theme", choices=["auto", "light", "dark"], default="auto")
    ap.add_argument("paths", nargs="*", help="documents or folders to open")
    args, _qt = ap.parse_known_args(argv)
    return args


def create_app(argv: list[str] | None = None, theme: str = "auto"):
    """The QApplication with high-DPI defaults, names for QSettings and the Fusion style."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from app.ui.theme import app_icon, apply_theme

    app = QApplication.instance()
    if app is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication([sys.argv[0] if sys.argv else "albert-studio", *(argv or [])])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("Albert Studio")
    app.setWindowIcon(app_icon())
    apply_theme(app, theme)
    if theme == "auto":  # follow the system when it switches between light and dark
        app.styleHints().colorSchemeChanged.connect(lambda _s: apply_theme(app, "auto"))
    return app


def _has_cuda() -> bool:
    from app.core.runtime import available_providers

    return "CUDAExecutionProvider" in available_providers()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = create_app([], args.theme)

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QMessageBox

    from app.core.errors import AlbertStudioError
    from app.core.registry import Registry
    from app.core.store import default_db_path
    from app.ui.context import AppContext
    from app.ui.main_window import MainWindow

    settings = QSettings()
    device = args.device or str(settings.value("device", "auto"))
    if device not in ("auto", "cpu", "cuda") or (device == "cuda" and not args.device and not _has_cuda()):
        device = "auto"  # a GPU chosen on another machine, or an old setting: fall back instead of failing
    try:
        registry = Registry(roots=args.models) if args.models else Registry()
        ctx = AppContext(args.db or default_db_path(), registry, device)
    except AlbertStudioError as exc:
        QMessageBox.critical(None, "Albert Studio", str(exc))
        return 1
    window = MainWindow(ctx, settings)
    window.show()
    if args.paths:
        window.open_paths(args.paths)
    else:
        window.warm_up()  # a problem loading shows when the user opens a document, not at start
    code = app.exec()
    ctx.close()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
