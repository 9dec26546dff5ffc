"""Render the main views to PNG files so anyone can look at them without running the app.

    python -m app.ui.screenshots OUTDIR [--models FOLDER] [--theme light|dark|both]

Opens the window on a fresh library in a temporary folder, analyses the sample documents in
resources/samples with the installed models (or only those in --models FOLDER: tiny test models are built
with `python tests/fixtures_models.py runs/tiny_models`; the app never imports the tests), and saves:
the document with sentiment highlighting, the summary and translation tabs,
the batch view with results, chart and errors, the models view and the About box.
Works offscreen (QT_QPA_PLATFORM=offscreen) or under Xvfb.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "resources" / "samples"


def wait_until(app, predicate, timeout: float = 120.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app.processEvents()
        if predicate():
            return True
        time.sleep(0.02)
    return False


def wait_op(app, op, timeout: float = 300.0) -> None:
    if op is not None and not wait_until(app, lambda: op.finished, timeout):
        raise TimeoutError("background work did not finish in time")
    app.processEvents()


def _registry(tmp: Path, models: Path | list[Path] | None = None):
    from app.core.registry import Registry

    if models:
        roots = [Path(m) for m in (models if isinstance(models, (list, tuple)) else [models])]
        return Registry(roots=roots, settings_file=tmp / "defaults.json"), ", ".join(map(str, roots))
    reg = Registry(settings_file=tmp / "defaults.json")
    if not (reg.for_task("sentiment") and reg.for_task("summary")):
        raise SystemExit("No sentiment and summary models are installed: pass --models FOLDER (tiny test models: "
                         "python tests/fixtures_models.py runs/tiny_models)")
    return reg, "installed"


def batch_folder(tmp: Path) -> Path:
    """The samples plus one corrupt and one empty file, so the error list has something to show."""
    folder = tmp / "batch"
    folder.mkdir()
    for f in SAMPLES.iterdir():
        if f.suffix.lower() in {".txt", ".md", ".html", ".docx", ".csv"}:
            shutil.copy(f, folder / f.name)
    (folder / "corrupt.docx").write_bytes(b"PK\x03\x04 this is not really a Word file")
    (folder / "empty.txt").write_text("   \n", encoding="utf-8")
    return folder


def settle(app, seconds: float = 0.3) -> None:
    """Let layouts and deferred paints run before a grab."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def grab(widget, path: Path) -> Path:
    widget.grab().save(str(path))
    print(path)
    return path


def render(outdir: Path, theme: str = "light", models: Path | list[Path] | None = None) -> list[Path]:
    from PySide6.QtCore import QSettings

    from app.ui.context import AppContext
    from app.ui.application import create_app
    from app.ui.main_window import MainWindow
    from app.ui.theme import apply_theme

    app = create_app([], theme)
    apply_theme(app, theme)
    outdir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="albert-shots-"))
    shots: list[Path] = []
    try:
        registry, kind = _registry(tmp, models)
        ctx = AppContext(tmp / "library.db", registry, "cpu")
        settings = QSettings(str(tmp / "settings.ini"), QSettings.IniFormat)
        win = MainWindow(ctx, settings)
        win.resize(1440, 900)
        win.show()
        app.processEvents()
        suffix = "" if theme == "light" else f"-{theme}"

        wait_op(app, win.open_file(str(SAMPLES / "mixed_review_cp1252.txt")))
        wait_op(app, win.open_file(str(SAMPLES / "complaint.md")))
        win.document.tabs.setCurrentWidget(win.document.summary)
        shots.append(grab(win, outdir / f"01-document{suffix}.png"))
        wait_op(app, win.summarize(sentences=2))
        shots.append(grab(win, outdir / f"02-summary{suffix}.png"))
        langs = ctx.analyzer.translation_languages()
        if langs:
            wait_op(app, win.translate(langs[0]))
        win.document.tabs.setCurrentWidget(win.document.translation)
        shots.append(grab(win, outdir / f"03-translation{suffix}.png"))
        win.document.tabs.setCurrentWidget(win.document.details)
        shots.append(grab(win, outdir / f"04-details{suffix}.png"))

        win.open_paths([str(batch_folder(tmp))])
        wait_op(app, win.batch.op, 600)
        shots.append(grab(win, outdir / f"05-batch{suffix}.png"))
        win.pages.setCurrentIndex(2)
        app.processEvents()
        wait_op(app, win.models.check_device())
        shots.append(grab(win, outdir / f"06-models{suffix}.png"))
        win.pages.setCurrentIndex(3)
        wait_until(app, lambda: win.finetune_view is not None, 60)
        settle(app)
        shots.append(grab(win, outdir / f"07-finetune{suffix}.png"))
        win.pages.setCurrentWidget(win.document)
        win.library.search.setText("delivery")
        wait_op(app, win.library.refresh())
        shots.append(grab(win, outdir / f"08-library-search{suffix}.png"))
        about = win.show_about()
        about.resize(620, 560)
        app.processEvents()
        shots.append(grab(about, outdir / f"09-about{suffix}.png"))
        about.close()
        bad = tmp / "quarterly-report.pdf"
        bad.write_bytes(b"%PDF-1.7 truncated and damaged")
        wait_op(app, win.open_file(str(bad)))
        shots.append(grab(win, outdir / f"10-bad-file{suffix}.png"))
        print(f"models: {kind}", file=sys.stderr)
        win.close()
        ctx.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return shots


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--theme", choices=["light", "dark", "both"], default="both")
    ap.add_argument("--models", type=Path, action="append",
                    help="use only the models in this folder (repeatable)")
    args = ap.parse_args(argv)
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    for theme in (["light", "dark"] if args.theme == "both" else [args.theme]):
        render(args.outdir, theme, args.models)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
