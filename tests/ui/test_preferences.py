"""Preferences: the dialog changes the window now and next time; the command line opens the window with the same options."""
from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from app.core.store import Store
from app.ui.preferences import Preferences

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


def _dark() -> bool:
    return QApplication.instance().palette().color(QPalette.Window).lightness() < 128


def test_preferences_dialog_applies_theme_threads_band_and_is_remembered(window, ctx, settings, wait_op, qtbot):
    from app.ui.main import set_theme

    dlg = window.open_preferences()
    assert dlg.isVisible()
    assert dlg.own_band.isChecked() and "0.25" in dlg.own_band.text()  # the model's own band, from its manifest
    dlg.theme.setCurrentIndex(dlg.theme.findData("dark"))
    dlg.threads.setValue(1)
    dlg.sentences.setValue(2)
    dlg.own_band.setChecked(False)
    dlg.band.setValue(0.4)
    try:
        dlg.accept()
        assert _dark()
        assert ctx.threads == 1 and ctx.analyzer.runtime.intra_op_threads == 1
        assert ctx.neutral_band == 0.4
        assert window.document.summary.count.value() == 2
        saved = Preferences.load(settings)
        assert (saved.theme, saved.threads, saved.neutral_band, saved.summary_sentences) == ("dark", 1, 0.4, 2)

        # the band is used by the next analysis, and p(positive) stays what the model said
        op = wait_op(window.open_file(str(SAMPLES / "glowing_review.txt")))
        s = window.document.analysis.sentiment
        assert s.neutral_band == 0.4
        for sent in s.sentences:
            assert (sent.label == "neutral") == (abs(sent.p_positive - 0.5) < 0.4)
        assert op.finished
    finally:
        set_theme(QApplication.instance(), "light")


def test_moving_the_library_keeps_its_documents(window, ctx, tmp_path, wait_op):
    wait_op(window.open_file(str(SAMPLES / "complaint.md")))
    old = Path(ctx.db_path)
    dest = tmp_path / "elsewhere" / "my-library.db"
    prefs = Preferences(library=str(dest))
    wait_op(window.apply_preferences(prefs, move_library=True))
    assert Path(ctx.db_path) == dest and not old.exists()
    wait_op(window.library.read_op)
    assert window.library.titles() == ["complaint.md"]
    with Store(dest) as store:
        assert store.count_documents() == 1
    assert "Moved the library to" in window.banner.text()


def test_a_broken_setting_falls_back_to_defaults(settings):
    settings.setValue("runtime/threads", "many")
    settings.setValue("analysis/neutral_band", "wide")
    settings.setValue("appearance/theme", "purple")
    p = Preferences.load(settings)
    assert (p.threads, p.theme) == (0, "system")
    assert p.neutral_band == 0.25


@pytest.mark.parametrize("argv", [["gui", "--theme", "dark", "--neutral-band", "0.1"], ["--theme", "dark", "--neutral-band", "0.1"]])
def test_the_cli_opens_the_window_with_the_gui_options(monkeypatch, argv):
    import app.ui.main as gui

    seen = []
    monkeypatch.setattr(gui, "main", lambda a=None: seen.append(a) or 0)
    from app.cli import main

    assert main(argv) == 0
    assert seen == [["--theme", "dark", "--neutral-band", "0.1"]]


def test_the_window_refuses_a_band_outside_0_to_half(capsys):
    from app.ui.main import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--neutral-band", "0.7"])
    assert "between 0" in capsys.readouterr().err
    assert parse_args(["--theme", "system"]).theme == "system"


def test_missing_x11_libraries_are_named_with_the_install_command(monkeypatch, capsys):
    from app.ui import main as gui
    from app.ui import platform_check as pc

    monkeypatch.setattr(pc, "_not_found", lambda binary: ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"])
    monkeypatch.setattr(pc, "_loadable", lambda soname: False)
    monkeypatch.setattr(pc.sys, "platform", "linux")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    assert gui.main([]) == 1
    err = capsys.readouterr().err
    assert "libxcb-cursor.so.0" in err and "libxcb-icccm.so.4" in err
    assert "sudo apt-get install -y libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1" in err
    assert "sudo dnf install -y xcb-util-cursor xcb-util-keysyms xcb-util-wm" in err
    # where Qt will not use xcb, nothing is checked
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert pc.check_display_libraries() is None
