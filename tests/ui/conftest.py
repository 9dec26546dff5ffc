"""Fixtures for the window tests: a fresh library, the tiny models, and a main window on them."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


@pytest.fixture
def registry(tiny_models, tmp_path):
    from app.core.registry import Registry

    return Registry(roots=[tiny_models], settings_file=tmp_path / "defaults.json")


@pytest.fixture
def ctx(registry, tmp_path):
    from app.ui.context import AppContext

    c = AppContext(tmp_path / "library.db", registry, "cpu")
    yield c
    c.close()


@pytest.fixture
def settings(tmp_path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)


@pytest.fixture
def window(qtbot, ctx, settings):
    from app.ui.main_window import MainWindow

    win = MainWindow(ctx, settings)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    return win


@pytest.fixture
def wait_op(qtbot):
    """Block the test (not the event loop) until a BackgroundOp has delivered its result."""

    def wait(op, timeout_s: float = 60):
        assert op is not None
        qtbot.waitUntil(lambda: op.finished, timeout=int(timeout_s * 1000))
        return op

    return wait


@pytest.fixture
def batch_folder(tmp_path):
    """Four readable documents and one corrupt Word file."""
    folder = tmp_path / "batch"
    folder.mkdir()
    for name in ("complaint.md", "glowing_review.txt", "news_article.html", "mixed_review_cp1252.txt"):
        shutil.copy(SAMPLES / name, folder / name)
    (folder / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip archive")
    return folder
