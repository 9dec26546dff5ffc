"""Window-wide behaviour: settings, recent files, shortcuts, About, fine-tune fallback, screenshots."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

from app.ui.main_window import MainWindow, Page
from tests.ui.conftest import SAMPLES


def test_layout_and_recent_files_persist(qtbot, ctx, settings, wait_op):
    win = MainWindow(ctx, settings)
    qtbot.addWidget(win)
    win.show()
    win.resize(1000, 700)
    wait_op(win.open_file(str(SAMPLES / "complaint.md")))
    win.document.summary.count.setValue(5)
    win.pages.setCurrentIndex(2)
    win.close()
    assert settings.value("window/geometry") is not None

    again = MainWindow(ctx, settings)
    qtbot.addWidget(again)
    assert again.recent_files()[0] == str(SAMPLES / "complaint.md")
    assert again.document.summary.count.value() == 5
    assert again.pages.currentIndex() == 2
    assert again.last_dir() == str(SAMPLES)
    again._fill_recent()
    assert "complaint.md" in again.recent_menu.actions()[0].text()


def test_shortcuts_for_common_actions(window):
    shortcuts = {a.shortcut().toString() for a in window.actions() if not a.shortcut().isEmpty()}
    for key in ("Ctrl+O", "Ctrl+Shift+O", "Ctrl+E", "F5", "Ctrl+B", "Esc", "Ctrl+T", "Ctrl+M", "Ctrl+1", "Ctrl+3"):
        assert key in shortcuts, key
    assert window.act_open.shortcut() == QKeySequence(QKeySequence.Open)


def test_about_box_lists_versions_and_model_licences(window):
    dlg = window.show_about()
    text = dlg.text.toPlainText()
    for word in ("Albert Studio", "Qt", "PySide6", "ONNX Runtime", "albert-sentiment-en", "Apache-2.0"):
        assert word in text
    dlg.close()


def test_finetune_tab_is_the_real_view_on_the_window_library(window, ctx, qtbot, wait_op):
    from app.ui.finetune_view import FineTuneView

    wait_op(window.open_file(str(SAMPLES / "complaint.md")))
    doc_id = window.document.document_id
    window.document.show_analysis(None)
    qtbot.keyClick(window, Qt.Key_4, Qt.ControlModifier)
    qtbot.waitUntil(lambda: window.finetune_view is not None, timeout=30000)
    view = window.finetune_view
    assert isinstance(view, FineTuneView)
    assert view.registry is ctx.registry and view.store_path == ctx.db_path
    # its signals reach the window: a suggested document opens in the document view
    view.document_requested.emit(doc_id)
    qtbot.waitUntil(lambda: window.document.document_id == doc_id, timeout=10000)
    assert window.pages.currentIndex() == Page.DOCUMENT
    assert window.document.title.text() == "complaint.md"
    # and a model it registered refreshes the models view
    window.models.refresh = lambda: refreshed.append(True)
    refreshed = []
    view.model_registered.emit("albert-sentiment-en")
    assert refreshed == [True]


def test_finetune_tab_explains_when_its_packages_are_missing(window, qtbot, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "app.ui.finetune_view", None)  # import fails like a bundle without it
    window.show_page(Page.FINETUNE)
    qtbot.waitUntil(lambda: window.finetune_view is not None, timeout=30000)
    assert window.finetune_view.text().startswith("Fine-tuning is not available: ")


def test_starting_with_no_models_says_what_to_do(qtbot, tmp_path, settings):
    from app.core.registry import Registry
    from app.ui.context import AppContext

    ctx = AppContext(tmp_path / "lib.db", Registry(roots=[tmp_path / "none"], settings_file=tmp_path / "d.json"))
    win = MainWindow(ctx, settings)
    qtbot.addWidget(win)
    win.show()
    assert "No sentiment or summary model is installed" in win.banner.text()
    assert not win.document.translation.go.isEnabled()
    ctx.close()


def test_screenshots_script_renders_every_view(tmp_path, tiny_models):
    from app.ui import screenshots

    shots = screenshots.render(tmp_path / "shots", theme="dark", models=tiny_models)
    names = {p.name for p in shots}
    for name in ("01-document", "02-summary", "03-translation", "05-batch", "06-models", "09-about"):
        assert f"{name}-dark.png" in names
    assert all(p.stat().st_size > 10_000 for p in shots)


def test_application_setup_names_style_and_dark_palette(qapp):
    from PySide6.QtGui import QPalette

    from app.ui.main import create_app, parse_args
    from app.ui.theme import apply_theme, is_dark

    app = create_app([], "dark")
    assert app is qapp
    assert app.applicationName() == "albert-studio" and app.organizationName() == "Albert Studio"
    assert app.style().name().lower() == "fusion"
    assert is_dark(app.palette())
    assert app.palette().color(QPalette.Text).lightness() > 180
    apply_theme(app, "light")
    assert not is_dark(app.palette())
    args = parse_args(["--db", "x.db", "--device", "cpu", "a.txt"])
    assert (args.db, args.device, args.paths) == ("x.db", "cpu", ["a.txt"])


def test_core_and_jobs_do_not_import_qt():
    """The layer rule: everything below app/ui works without Qt."""
    import subprocess
    import sys

    code = ("import sys, app.core.analyzer, app.core.store, app.core.registry, app.jobs.batch, app.cli; "
            "print(sorted(m for m in sys.modules if m.startswith(('PySide6', 'shiboken6'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_warm_up_loads_the_models_in_the_background(window, wait_op):
    wait_op(window.warm_up())
    assert window.device_label.text() == "Device: cpu (running on CPU)"
    assert not window.busy_bar.isVisible()


def test_the_window_fits_1024x700_with_every_tab_opened(window, qtbot, wait_op):
    from PySide6.QtCore import QPoint

    wait_op(window.open_file(str(SAMPLES / "complaint.md")))
    for i in range(window.pages.count()):
        window.pages.setCurrentIndex(i)
        qtbot.wait(20)
    qtbot.waitUntil(lambda: window.finetune_view is not None, timeout=30000)
    qtbot.wait(50)
    # long messages in the status bar and the banner must not widen the window
    window.set_busy(object(), "Analysing " + "a-very-long-file-name-" * 12 + ".txt…")
    window.report_error("Something went wrong with " + "a very long path/" * 20)
    window.batch.status_label.setText("Cancelled: 34 analysed, 0 errors, 12 documents and 150 files not analysed "
                                      "(run again to resume) in 12.3 s")
    hint = window.minimumSizeHint()
    assert hint.width() <= 1024 and hint.height() <= 700, hint
    window.resize(1024, 700)
    qtbot.wait(50)
    assert (window.width(), window.height()) == (1024, 700)
    for i in range(window.pages.count()):  # and stays so on every tab, the Fine-tune one included
        window.pages.setCurrentIndex(i)
        qtbot.wait(20)
        assert window.minimumSizeHint().width() <= 1024 and window.minimumSizeHint().height() <= 700
    window.pages.setCurrentIndex(0)
    qtbot.wait(20)
    inside = window.rect()
    button = window.document.summary.apply
    window.document.tabs.setCurrentWidget(window.document.summary)
    qtbot.wait(20)
    corner = button.mapTo(window, QPoint(button.width() - 1, button.height() - 1))
    assert inside.contains(corner), corner  # the Summarize button is on screen
    assert inside.contains(window.statusBar().geometry())
    assert window.library_dock.width() >= 250  # library titles stay readable


def test_help_explains_usage_shortcuts_and_where_things_live(window, ctx, qtbot):
    """Issue 34: Help had only About. F1 opens a help window with the README's usage, the window's real
    shortcuts, the library and model folders, and the documentation."""
    from PySide6.QtCore import Qt

    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    assert [a.text() for a in help_menu.actions() if not a.isSeparator()] == ["Albert Studio &Help", "&About Albert Studio"]
    qtbot.keyClick(window, Qt.Key_F1)
    dlg = window.help_dialog
    assert dlg.isVisible()
    text = dlg.text.toPlainText()
    for words in ("Open Folder", "Esc", "pip install -e '.[train]'", "albert-studio analyze"):
        assert words in text
    assert "Ctrl+B" in text and "Run Batch" in text  # read from the window's own actions
    assert str(ctx.db_path) in text
    assert str(ctx.registry.user_dir) in text
    assert "finetuning.md" in text  # docs/ in the source tree (or the bundle)
    assert window.show_help() is dlg  # raised again, not a second window
