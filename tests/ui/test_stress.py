"""The window under stress: live theme switches, default-model changes, model list refreshes and model loads,
while `albert-studio models list` runs against the same models folder in other processes (issue 34's crash).

Bounded for the suite (ALBERT_STUDIO_STRESS_ROUNDS rounds, 40 by default, well under a minute); set it to
several hundred for a long run, e.g.

    ALBERT_STUDIO_STRESS_ROUNDS=600 MALLOC_PERTURB_=165 QT_QPA_PLATFORM=offscreen \
        .venv/bin/python -X faulthandler -m pytest -q tests/ui/test_stress.py

(MALLOC_PERTURB_ fills freed memory with junk, so a use after free crashes at once instead of now and then.)
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.core.registry import write_manifest

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = int(os.environ.get("ALBERT_STUDIO_STRESS_ROUNDS") or 40)
CLI_AT_ONCE = 2


@pytest.fixture
def shared_models(tiny_models, tmp_path, monkeypatch):
    """The user's models folder, read by the window and the CLI alike: two sentiment models and a summary one."""
    user = tmp_path / "user-models"
    user.mkdir()
    for name in ("albert-sentiment-en", "albert-summary-en"):
        shutil.copytree(tiny_models / name, user / name)
    alt = user / "albert-sentiment-en-fast"
    shutil.copytree(tiny_models / "albert-sentiment-en", alt)
    raw = json.loads((alt / "manifest.json").read_text())
    raw.update(id="albert-sentiment-en-fast", version="2.0.0", files=list(raw["files"]))
    write_manifest(alt, raw)
    monkeypatch.setenv("ALBERT_STUDIO_MODELS", str(user))
    return user


@pytest.fixture
def stress_window(qtbot, shared_models, tmp_path, settings):
    from app.core.registry import Registry
    from app.ui.context import AppContext
    from app.ui.main_window import MainWindow

    registry = Registry(roots=[shared_models])  # defaults.json in the user folder, as the CLI reads it
    ctx = AppContext(tmp_path / "library.db", registry, "cpu")
    win = MainWindow(ctx, settings)
    qtbot.addWidget(win)
    win.resize(1024, 740)
    win.show()
    yield win
    ctx.close()


def _cli(db: Path) -> subprocess.Popen:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONFAULTHANDLER="1")
    return subprocess.Popen([sys.executable, "-m", "app", "models", "list"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_theme_default_and_model_list_churn_with_the_cli_running(stress_window, shared_models, tmp_path, qtbot, wait_op):
    from app.ui.main_window import Page
    from app.ui.preferences import Preferences

    win = stress_window
    app = QApplication.instance()
    prefs = Preferences.load(win.settings)
    running: list[subprocess.Popen] = []
    outputs: list[tuple[int, str, str]] = []
    chosen: list[str] = []
    ops = []

    def reap(block: bool = False) -> None:
        for p in list(running):
            if block or p.poll() is not None:
                out, err = p.communicate(timeout=120)
                outputs.append((p.returncode, out, err))
                running.remove(p)

    try:
        for i in range(ROUNDS):
            reap()
            while len(running) < CLI_AT_ONCE:
                running.append(_cli(tmp_path / "library.db"))
            # a live theme switch, as Preferences > OK does it
            win.apply_preferences(replace(prefs, theme="dark" if i % 2 == 0 else "light"))
            win.show_page(Page.DOCUMENT if i % 3 == 0 else Page.BATCH)
            QApplication.processEvents()
            win.show_page(Page.MODELS)
            QApplication.processEvents()
            # the default sentiment model chosen with the keyboard, as a person does in the combo box
            combo = win.models.default_combos["sentiment"]
            combo.setFocus()
            QTest.keyClick(combo, Qt.Key_Down if combo.currentIndex() == 0 else Qt.Key_Up)
            assert shiboken6.isValid(combo), "the combo box was deleted while it handled the key press"
            chosen.append(combo.currentData())
            if i % 4 == 1:
                win.models.refresh_button.click()
            if i % 5 == 2:  # load the models on a worker thread (Check Device), as the window does
                ops.append(win.models.check_device())
            if i % 7 == 3:
                win.models.table.selectRow(i % max(win.models.table.rowCount(), 1))
            qtbot.wait(5)
            assert app.style() is not None
        for op in ops:
            wait_op(op)
    finally:
        reap(block=True)

    assert win.ctx.registry.default("sentiment").id == chosen[-1]
    assert win.models.default_combos["sentiment"].currentData() == chosen[-1]
    ticks = [win.models.table.item(r, 0).text() for r in range(win.models.table.rowCount())
             if win.models.table.item(r, 8).text() == "✓"]
    assert chosen[-1] in ticks
    assert len(outputs) >= ROUNDS // 10
    for code, out, err in outputs:
        assert code == 0, err
        assert "albert-sentiment-en-fast" in out and "albert-summary-en" in out, out
