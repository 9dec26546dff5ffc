"""Start the desktop window: `albert-studio gui [--db FILE]`, `python -m app.ui`, or the bare `albert-studio`."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from app.ui.application import APPLICATION, ORGANIZATION, THEMES, create_app, has_cuda, set_theme  # noqa: F401


def band_value(text: str) -> float:
    """--neutral-band: a number from 0 (no neutral) to 0.5."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= v <= 0.5:
        raise argparse.ArgumentTypeError("the neutral band is between 0 (off) and 0.5")
    return v


def add_gui_arguments(ap: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The window's options, shared by `albert-studio gui`, the bare `albert-studio` and albert-studio-gui."""
    ap.add_argument("--db", help="library file (default: Preferences, $ALBERT_STUDIO_DB or the user data folder)")
    ap.add_argument("--models", action="append", type=Path, default=None,
                    help="look for models in this folder instead of the installed ones (repeatable)")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], help="device for inference (default: Preferences)")
    ap.add_argument("--theme", choices=[*THEMES, "auto"], default=None,
                    help="system (follow the desktop), light or dark (default: Preferences, else system)")
    ap.add_argument("--neutral-band", type=band_value, default=None, metavar="B",
                    help="sentiment |p(positive) - 0.5| below B reads as neutral, 0 = off (default: Preferences, "
                         "else the model's own)")
    ap.add_argument("paths", nargs="*", help="documents or folders to open")
    return ap


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = add_gui_arguments(argparse.ArgumentParser(prog="albert-studio gui", description="Open the Albert Studio window."))
    args, _qt = ap.parse_known_args(argv)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from app.ui.platform_check import check_display_libraries

    problem = check_display_libraries()  # before Qt, which would abort naming one library at most
    if problem:
        print(problem, file=sys.stderr)
        return 1

    from PySide6.QtCore import QCoreApplication, QSettings

    QCoreApplication.setOrganizationName(ORGANIZATION)  # QSettings() reads the right file before the app exists
    QCoreApplication.setApplicationName(APPLICATION)
    settings = QSettings()
    from app.ui.preferences import Preferences

    prefs = Preferences.load(settings)
    app = create_app([], args.theme or prefs.theme)
    from app.ui.crash_report import CrashReporter

    crashes = CrashReporter()
    last_crash = crashes.start()  # a fatal error from here on leaves its stacks in the user's data folder

    from PySide6.QtWidgets import QMessageBox

    from app.core.errors import AlbertStudioError
    from app.core.registry import Registry
    from app.core.store import default_db_path
    from app.ui.context import AppContext
    from app.ui.main_window import MainWindow

    device = args.device or prefs.device
    if device not in ("auto", "cpu", "cuda") or (device == "cuda" and not args.device and not has_cuda()):
        device = "auto"  # a GPU chosen on another machine, or an old setting: fall back instead of failing
    try:
        registry = Registry(roots=args.models) if args.models else Registry()
        db = args.db or (prefs.library if prefs.library and not os.environ.get("ALBERT_STUDIO_DB") else None)
        ctx = AppContext(db or default_db_path(), registry, device, threads=prefs.threads,
                         neutral_band=args.neutral_band if args.neutral_band is not None else prefs.neutral_band)
    except AlbertStudioError as exc:
        QMessageBox.critical(None, "Albert Studio", str(exc))
        return 1
    window = MainWindow(ctx, settings)
    window.show()
    if last_crash is not None:
        window.report_crash(last_crash)
    from app.core.memory import keep_long_lived

    keep_long_lived()  # the window and the modules behind it are there for the session (app/core/memory.py)
    if args.paths:
        window.open_paths(args.paths)
    else:
        window.warm_up()  # a problem loading shows when the user opens a document, not at start
    code = app.exec()
    ctx.close()
    crashes.stop()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
