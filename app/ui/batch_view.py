"""Batch analysis of folders and many files as one background job, with progress, results, charts and errors."""
from __future__ import annotations

import functools
import time
from pathlib import Path

from PySide6.QtCore import QSortFilterProxyModel, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.analyzer import AnalysisOptions
from app.core.documents import SUPPORTED_SUFFIXES
from app.core.errors import DocumentError
from app.core.memory import freeze_once
from app.core.names import shown
from app.core.store import RunRow
from app.core.types import Analysis
from app.jobs.batch import BatchProgress, BatchReport, Eta, run_batch
from app.ui.charts import ResultsChart
from app.ui.context import AppContext, export_library, read_history, read_run, run_batch_in_library
from app.ui.ops import BackgroundOp
from app.ui.theme import label_color
from app.ui.library import local_time
from app.ui.widgets import ElidedLabel, ProgressBar, human_seconds, real_title

COLUMNS = ("Title", "Label", "Score", "Summary", "Seconds", "Source")
NEWEST_RUN = 0  # refresh_history(select=NEWEST_RUN): the newest run (run ids start at 1)
ID_ROLE = Qt.UserRole + 1
SORT_ROLE = Qt.UserRole + 2


def _short_source(source: str) -> str:
    """'folder/reviews.csv#3' -> 'reviews.csv#3' (control and bidi characters escaped, as everywhere names show)."""
    path, sep, row = source.partition("#")
    return shown(Path(path).name + sep + row)


class _Filter(QSortFilterProxyModel):
    """Rows whose title, summary or source contain the text, and whose label is the chosen one."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.text = ""
        self.label = None
        self.setSortRole(SORT_ROLE)

    def set(self, text: str, label: str | None) -> None:
        staged = hasattr(self, "beginFilterChange")  # Qt >= 6.10: invalidateFilter() is deprecated
        if staged:
            self.beginFilterChange()
        self.text, self.label = text.lower(), label
        self.endFilterChange() if staged else self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent) -> bool:
        m = self.sourceModel()
        if self.label and m.index(row, 1, parent).data() != self.label:
            return False
        if self.text:
            hay = " ".join(str(m.index(row, c, parent).data() or "") for c in (0, 3, 5)).lower()
            return self.text in hay
        return True


def _run_seconds(run: RunRow | None) -> float | None:
    """How long a recorded run took (None while it runs or when a time is missing)."""
    from datetime import datetime

    if run is None or not run.finished_at:
        return None
    try:
        return max(0.0, (datetime.fromisoformat(run.finished_at) - datetime.fromisoformat(run.started_at)).total_seconds())
    except (TypeError, ValueError):
        return None


class BatchView(QWidget):
    """Pick files or folders, run them in the background, watch progress, browse and export what came out."""

    open_requested = Signal(int)
    finished = Signal(object)  # BatchReport
    documents_stored = Signal()  # a running batch wrote documents to the library (sent per result: throttle it)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.paths: list[str] = []
        self.op: BackgroundOp | None = None
        self.report: BatchReport | None = None
        self.errors: list[tuple[str, str]] = []
        self._started = 0.0
        self._unit = "Files"  # what the progress counts: files, or a cluster run's shards
        self._last: BatchProgress | None = None
        self._eta = Eta()
        self.neutral_band: float | None = ctx.neutral_band  # Preferences; None = the model's own

        top, tasks = self._build_inputs()
        prog = self._build_progress()
        results = self._build_results()
        self._build_side(results)
        hist = self._build_history()
        self._pending: list[tuple[int | None, Analysis] | DocumentError] = []  # to show, in the order they came
        self._row_feeder = QTimer(self, interval=0, timeout=self._feed_rows)
        # progress is shown at most every 100 ms: a batch of small files reports hundreds a second
        self._shown_progress: BatchProgress | None = None
        self._progress_timer = QTimer(self, singleShot=True, interval=100, timeout=self._render_progress)
        self._history_op: BackgroundOp | None = None

        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addLayout(tasks)
        lay.addLayout(hist)
        lay.addWidget(self.paths_label)
        lay.addLayout(prog)
        lay.addWidget(self.splitter, 1)
        self._show_history(self.ctx.store.history(50))  # before the window shows: a quick local read, once

    def _build_inputs(self) -> tuple[QHBoxLayout, QHBoxLayout]:
        """What to run: the file buttons, Run and Cancel (first row) and the tasks (second row)."""
        self.add_files = QPushButton("Add Files…")
        self.add_folder = QPushButton("Add Folder…")
        self.clear_paths = QPushButton("Clear")
        self.paths_label = QLabel("No files chosen. Add files or a folder, or drop them on the window.")
        self.paths_label.setWordWrap(True)
        self.do_sentiment = QCheckBox("Sentiment", checked=True)
        self.do_summary = QCheckBox("Summary", checked=True)
        self.do_translation = QCheckBox("Translation into")
        self.batch_lang = QComboBox()
        self.batch_lang.setToolTip("Translate every document into this language (exports and the library keep it)")
        self.do_translation.toggled.connect(self.batch_lang.setEnabled)
        self.batch_lang.setEnabled(False)
        self.set_languages(self.ctx.analyzer.translation_languages())
        # shown once Preferences name a Ray cluster (app.jobs.cluster); the batch then runs there
        self.on_cluster = QCheckBox("On the Ray cluster")
        self.on_cluster.setVisible(False)
        self.cluster: tuple[str, int] | None = None  # (address, workers)
        self.run_button = QPushButton("Run Batch")
        self.run_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop after the document in hand (Esc)")
        self.add_files.clicked.connect(self._choose_files)
        self.add_folder.clicked.connect(self._choose_folder)
        self.clear_paths.clicked.connect(lambda: self.set_paths([]))
        self.run_button.clicked.connect(lambda: self.start())
        self.cancel_button.clicked.connect(self.cancel)
        top = QHBoxLayout()
        for w in (self.add_files, self.add_folder, self.clear_paths):
            top.addWidget(w)
        tasks = QHBoxLayout()  # a row of its own: the buttons above and the tasks fit a 1024 px screen
        tasks.addWidget(QLabel("Tasks:"))
        tasks.addWidget(self.do_sentiment)
        tasks.addWidget(self.do_summary)
        tasks.addWidget(self.do_translation)
        tasks.addWidget(self.batch_lang)
        tasks.addStretch(1)
        top.addWidget(self.on_cluster)
        top.addStretch(1)
        top.addWidget(self.run_button)
        top.addWidget(self.cancel_button)
        return top, tasks

    def _build_progress(self) -> QVBoxLayout:
        """The progress bar, the counts and the file in hand."""
        self.progress = ProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.files_label = ElidedLabel("Files: –", min_chars=16)
        self.current_label = ElidedLabel("Current: –")
        self.elapsed_label = QLabel("Elapsed: –")
        self.remaining_label = QLabel("Remaining: –")
        self.status_label = ElidedLabel("", min_chars=20)
        self.status_label.setAlignment(Qt.AlignRight)
        prog = QVBoxLayout()
        prog.setSpacing(2)
        prog.addWidget(self.progress)
        counts = QHBoxLayout()  # the counts, then the status beside the current file: counts and status on
        counts.setSpacing(24)   # one line elided each other at 1024 px ("reus…", "1 error…")
        counts.addWidget(self.files_label, 1)
        counts.addWidget(self.elapsed_label)
        counts.addWidget(self.remaining_label)
        prog.addLayout(counts)
        now = QHBoxLayout()
        now.setSpacing(24)
        now.addWidget(self.current_label, 1)
        now.addWidget(self.status_label)  # as wide as its text; the file being read gives way
        prog.addLayout(now)
        self._clock = QTimer(self, interval=500, timeout=self._tick)
        # the chart redraws at most a few times a second, however fast results arrive
        self._chart_timer = QTimer(self, singleShot=True, interval=250, timeout=self._update_chart)
        self._labels: list[str] = []
        self._scores: list[float] = []
        return prog

    def _build_results(self) -> QWidget:
        """The results table with its filter and export buttons."""
        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels(COLUMNS)
        self.proxy = _Filter(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.sortByColumn(-1, Qt.AscendingOrder)  # arrival order until a header is clicked
        vh = self.table.verticalHeader()
        vh.hide()
        vh.setSectionResizeMode(QHeaderView.Fixed)
        vh.setDefaultSectionSize(self.fontMetrics().height() + 8)
        hdr = self.table.horizontalHeader()
        hdr.setSectionResizeMode(QHeaderView.Interactive)
        hdr.setSectionResizeMode(3, QHeaderView.Stretch)
        for c, w in ((0, 190), (1, 72), (2, 56), (4, 60), (5, 130)):
            hdr.resizeSection(c, w)
        self.table.doubleClicked.connect(self._open_row)
        self.table.setToolTip("Double-click a result to open the document")
        self.filter_text = QLineEdit(placeholderText="Filter results…")
        self.filter_text.setClearButtonEnabled(True)
        self.filter_label = QComboBox()
        self.filter_label.addItem("All labels", None)
        self.filter_text.textChanged.connect(self._apply_filter)
        self.filter_label.currentIndexChanged.connect(self._apply_filter)
        self.export_csv = QPushButton("Export CSV…")
        self.export_jsonl = QPushButton("Export JSONL…")
        for b in (self.export_csv, self.export_jsonl):
            b.setEnabled(False)
        self.export_csv.clicked.connect(lambda: self.export_dialog("csv"))
        self.export_jsonl.clicked.connect(lambda: self.export_dialog("jsonl"))
        frow = QHBoxLayout()
        frow.addWidget(self.filter_text, 1)
        frow.addWidget(self.filter_label)
        frow.addWidget(self.export_csv)
        frow.addWidget(self.export_jsonl)
        results = QWidget()
        rl = QVBoxLayout(results)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addLayout(frow)
        rl.addWidget(self.table, 1)
        return results

    def _build_side(self, results: QWidget) -> None:
        """The chart and the errors beside (or under) the results."""
        self.chart = ResultsChart()
        self.error_table = QTableWidget(0, 2)
        self.error_table.setHorizontalHeaderLabels(["File", "Reason"])
        self.error_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Interactive)
        self.error_table.horizontalHeader().resizeSection(0, 110)
        self.error_table.horizontalHeader().setStretchLastSection(True)
        self.error_table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.error_table.setWordWrap(True)
        self.error_table.verticalHeader().hide()
        self.errors_box = QGroupBox("Errors (0)")
        el = QVBoxLayout(self.errors_box)
        el.addWidget(self.error_table)
        chart_box = QGroupBox("Label distribution and scores")
        cl = QVBoxLayout(chart_box)
        cl.addWidget(self.chart)

        self.side = right = QSplitter(Qt.Vertical)
        right.addWidget(chart_box)
        right.addWidget(self.errors_box)
        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.addWidget(results)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([640, 400])
        self.splitter.splitterMoved.connect(lambda *_: self._fit_columns())

    def _build_history(self) -> QHBoxLayout:
        """Past runs: their results and errors come back after a restart."""
        self.history = QComboBox()
        self.history.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.history.setMinimumContentsLength(24)
        self.history.setToolTip("Batches run before, newest first (also `albert-studio history`)")
        self.show_run_button = QPushButton("Show Results")
        self.show_run_button.setToolTip("Show the chosen run's results and errors in the tables below")
        self.show_run_button.clicked.connect(lambda: self.show_run(self.history.currentData()))
        hist = QHBoxLayout()
        hist.addWidget(QLabel("Past runs:"))
        hist.addWidget(self.history, 1)
        hist.addWidget(self.show_run_button)
        return hist

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self._fit_layout()
        self._fit_columns()

    NARROW = 900  # px: below this the chart and errors go under the table instead of beside it

    def _fit_layout(self) -> None:
        """Side by side on a wide window; stacked (table on top, chart | errors below) on a narrow one."""
        narrow = 0 < self.width() < self.NARROW
        want = Qt.Vertical if narrow else Qt.Horizontal
        if self.splitter.orientation() != want:
            self.splitter.setOrientation(want)
            self.side.setOrientation(Qt.Horizontal if narrow else Qt.Vertical)
            total = max(self.splitter.height() if narrow else self.splitter.width(), 2)
            self.splitter.setSizes([total * 3 // 5, total * 2 // 5])
            across = max(self.side.width() if narrow else self.side.height(), 2)
            self.side.setSizes([across // 2, across // 2])

    def _fit_columns(self) -> None:
        """On a narrow table the summary keeps its room: Seconds, then Source (also in the title's tooltip), go."""
        width = self.table.viewport().width()
        if width <= 0:
            return
        self.table.setColumnHidden(4, width < 700)
        self.table.setColumnHidden(5, width < 560)
        self.table.horizontalHeader().resizeSection(0, 190 if width >= 700 else 150)

    # -- history

    def refresh_history(self, limit: int = 50, select: int | None = None) -> BackgroundOp:
        """List past runs in the combo box, read in the background (the newest read wins); `select` picks a
        run (a batch that just ended), else the chosen one stays chosen."""
        if self._history_op is not None and not self._history_op.finished:
            self._history_op.cancel()
        db_path = self.ctx.db_path

        def shown_if_newest(runs: list[RunRow]) -> None:
            if op is self._history_op:
                self._show_history(runs, select)

        op = self._history_op = BackgroundOp(self, lambda state: read_history(db_path, limit, state),
                                             success=shown_if_newest, failure=lambda _exc: None)
        return op.run()

    def _show_history(self, runs: list[RunRow], select: int | None = None) -> None:
        current = self.history.currentData() if select is None else select
        self.history.blockSignals(True)
        self.history.clear()
        for r in runs:
            paths = r.params.get("paths") or []
            where = ", ".join(Path(str(p)).name or str(p) for p in paths[:2]) + (" …" if len(paths) > 2 else "")
            when = local_time(r.started_at)
            errors = "1 error" if r.n_failed == 1 else f"{r.n_failed} errors"
            self.history.addItem(f"#{r.id}  {when}  {r.status}: {r.n_done} analysed, {errors}  ·  {where}", r.id)
            self.history.setItemData(self.history.count() - 1, "\n".join(map(str, paths)), Qt.ToolTipRole)
        if not runs:
            self.history.addItem("No batches yet", None)
        self.history.setEnabled(bool(runs))
        self.show_run_button.setEnabled(bool(runs) and not self.running)
        i = self.history.findData(current)
        self.history.setCurrentIndex(max(i, 0))
        self.history.blockSignals(False)

    def show_run(self, run_id: int | None) -> BackgroundOp | None:
        """Load a past run's results and errors into the tables (read in the background, shown in slices)."""
        if run_id is None or self.running:
            return None
        db_path = self.ctx.db_path

        def done(result) -> None:
            run, rows, errors = result
            self._reset_results()
            status = run.status if run else "done"
            self._show_past_progress(run, len(rows))
            self._pending = [DocumentError(source, reason) for source, reason in errors] + list(rows)
            self._row_feeder.start()
            self.report = BatchReport(run_id, status, analyses=len(rows),
                                      errors=list(errors))
            self.status_label.setText(f"Run #{run_id} ({status}): {len(rows)} documents, "
                                      + ("1 error" if len(errors) == 1 else f"{len(errors)} errors"))
            self.status_label.setToolTip(self.status_label.text())
            for b in (self.export_csv, self.export_jsonl):
                b.setEnabled(True)

        return BackgroundOp(self, lambda state: read_run(db_path, run_id, state), success=done,
                            progress_label=f"Loading run #{run_id}…").run()

    def _show_past_progress(self, run: RunRow | None, documents: int) -> None:
        """A past run's own progress, status and duration (not what the last live run left in the labels)."""
        status = run.status if run else "done"
        files = run.n_total if run else 0
        self.progress.setRange(0, max(files, 1))
        if status == "done":
            self.progress.setValue(max(files, 1))
            self.progress.setFormat("100%")
        else:  # a stopped run never reads 100%; its files reached are not stored, its documents are
            self.progress.setValue(min(run.n_done + run.n_failed, max(files - 1, 0)) if run else 0)
            self.progress.setFormat(status.capitalize())
        self.files_label.setText(f"Run #{run.id if run else '?'}: {documents} documents"
                                 + (f" from {files} files" if files else ""))
        seconds = _run_seconds(run)
        self.elapsed_label.setText(f"Elapsed: {human_seconds(seconds)}")
        self.remaining_label.setText("Remaining: –")
        self.current_label.setText("Current: –")

    FEED_SECONDS = 0.012  # GUI time per turn of the event loop spent adding rows

    def _feed_rows(self, budget: float | None = FEED_SECONDS) -> None:
        """Rows and errors for about 12 ms per turn of the event loop: thousands never freeze the window."""
        start, n = time.perf_counter(), 0
        while n < len(self._pending) and (budget is None or time.perf_counter() - start < budget):
            entry = self._pending[n]
            if isinstance(entry, DocumentError):
                self._add_error(entry.source, entry.reason)
            else:
                self._add_result(entry[1], entry[0])
            n += 1
        del self._pending[:n]
        if not self._pending:
            self._row_feeder.stop()
            if not self.running:
                self._update_chart()

    # -- choosing

    def set_paths(self, paths: list[str]) -> None:
        self.paths = [str(p) for p in paths]
        if not self.paths:
            self.paths_label.setText("No files chosen. Add files or a folder, or drop them on the window.")
        else:
            names = ", ".join(Path(p).name or p for p in self.paths[:6])
            more = f" and {len(self.paths) - 6} more" if len(self.paths) > 6 else ""
            self.paths_label.setText(f"To analyse: {names}{more}")

    def _choose_files(self) -> None:
        pattern = "Documents (" + " ".join(f"*{s}" for s in SUPPORTED_SUFFIXES) + ");;All files (*)"
        files, _ = QFileDialog.getOpenFileNames(self, "Add Files", self._last_dir(), pattern)
        if files:
            self.set_paths(self.paths + files)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add Folder", self._last_dir())
        if folder:
            self.set_paths(self.paths + [folder])

    def _last_dir(self) -> str:
        win = self.window()
        return win.last_dir() if hasattr(win, "last_dir") else ""

    # -- running

    @property
    def running(self) -> bool:
        return self.op is not None and not self.op.finished

    def options(self) -> AnalysisOptions:
        boxes = (("sentiment", self.do_sentiment), ("summary", self.do_summary), ("translation", self.do_translation))
        tasks = tuple(t for t, box in boxes if box.isChecked() and box.isEnabled()) or ("sentiment",)
        return AnalysisOptions(tasks=tasks, neutral_band=self.neutral_band,
                               target_lang=self.batch_lang.currentData() or "fr")

    def set_languages(self, langs: list[str]) -> None:
        """Offer translation into the installed models' languages (none installed: the box is off)."""
        from app.ui.document_view import LANGUAGE_NAMES

        current = self.batch_lang.currentData()
        self.batch_lang.clear()
        for lang in langs:
            self.batch_lang.addItem(LANGUAGE_NAMES.get(lang, lang), lang)
        self.batch_lang.setCurrentIndex(max(0, self.batch_lang.findData(current)))
        self.do_translation.setEnabled(bool(langs))
        if not langs:
            self.do_translation.setChecked(False)
            self.do_translation.setToolTip("No translation model is installed (Models view)")

    def set_cluster(self, address: str, workers: int = 2) -> None:
        """Offer to run batches on the Ray cluster at `address` with `workers` workers ("" offers nothing)."""
        self.cluster = (address, max(1, workers)) if address else None
        self.on_cluster.setVisible(self.cluster is not None)
        if not self.cluster:
            self.on_cluster.setChecked(False)
            return
        self.on_cluster.setText(f"On the Ray cluster ({address}, {self.cluster[1]} workers)")
        self.on_cluster.setToolTip("Engine: Ray. Each worker loads its own models; results are merged into "
                                   "the library as shards finish (docs/cluster.md)")

    def start(self, paths: list[str] | None = None) -> bool:
        """Run the batch over `paths` (or the chosen ones) in the background; False if one is running."""
        if self.running:
            return False
        if paths is not None:
            self.set_paths(paths)
        if not self.paths:
            self.status_label.setText("Choose files or a folder first.")
            return False
        self._reset_results()
        freeze_once()  # what is alive before the first batch leaves the full collections (core/memory.py)
        analyzer, db_path, opts, chosen = self.ctx.analyzer, self.ctx.db_path, self.options(), list(self.paths)
        runner = run_batch
        if self.cluster and self.on_cluster.isChecked():
            from app.jobs.cluster import ClusterOptions, run_cluster_batch

            address, workers = self.cluster
            runner = functools.partial(run_cluster_batch, cluster=ClusterOptions(
                address=None if address == "local" else address, workers=workers))
        self._unit = "Shards" if runner is not run_batch else "Files"
        self.op = BackgroundOp(self, lambda state: run_batch_in_library(runner, chosen, analyzer, db_path, opts, state),
                               success=self._done, failure=self._failed, progress=self._show_progress,
                               partial_result=self._on_partial_result, coalesce=True,
                               progress_label="Batch analysis running…")
        self._started = time.monotonic()
        self._set_running(True)
        self.status_label.setText("Running on the Ray cluster…" if self._unit == "Shards" else "Running…")
        self.op.run()
        return True

    def cancel(self) -> None:
        if self.running:
            self.op.cancel()
            self.cancel_button.setEnabled(False)
            self.status_label.setText("Cancelling…")
            self._eta.clear()
            self.remaining_label.setText("Remaining: –")

    def _set_running(self, on: bool) -> None:
        self.run_button.setEnabled(not on)
        self.cancel_button.setEnabled(on)
        for w in (self.add_files, self.add_folder, self.clear_paths, self.do_sentiment, self.do_summary,
                  self.on_cluster, self.show_run_button):
            w.setEnabled(not on)
        self.do_translation.setEnabled(not on and self.batch_lang.count() > 0)
        self.batch_lang.setEnabled(not on and self.do_translation.isChecked())
        self.export_csv.setEnabled(not on and self.report is not None)
        self.export_jsonl.setEnabled(not on and self.report is not None)
        if on:
            self._clock.start()
        else:
            self._clock.stop()

    def _reset_results(self) -> None:
        self._row_feeder.stop()
        self._pending = []
        self._progress_timer.stop()
        self._shown_progress = None
        self.model.setRowCount(0)
        self.error_table.setRowCount(0)
        self.errors = []
        self.errors_box.setTitle("Errors (0)")
        self.report = None
        self._last = None
        self._eta.clear()
        self._labels, self._scores = [], []
        self.chart.set_data([], [])
        self.progress.setRange(0, 0)  # busy until the files are counted
        self.progress.setFormat("%p%")
        self.files_label.setText("Files: counting…")
        self.remaining_label.setText("Remaining: –")
        self.current_label.setText("Current: –")

    def _on_partial_result(self, item: tuple[int | None, Analysis] | DocumentError) -> None:
        """A document analysed (its id and analysis), or one that could not be (the batch records it and goes
        on): it joins the queue the row feeder shows a slice at a time."""
        self._pending.append(item)
        if not isinstance(item, DocumentError):
            self.documents_stored.emit()
        if not self._row_feeder.isActive():
            self._row_feeder.start()

    def _show_progress(self, p: BatchProgress) -> None:
        """The newest progress: shown now if none was shown in the last 100 ms, else when they are over."""
        self._last = p
        if not self._progress_timer.isActive():
            self._render_progress()
            self._progress_timer.start()

    def _render_progress(self) -> None:
        p = self._last
        if p is None or p is self._shown_progress:
            return
        self._shown_progress = p
        self.progress.setRange(0, 1000)  # per mille: a big CSV moves the bar while it is read, not only at its end
        self.progress.setValue(round(1000 * p.fraction))
        self.progress.setFormat(f"{p.fraction:.0%}")
        self.files_label.setText(f"{self._unit}: {p.files_done} / {p.files_total}  ·  documents {p.documents_done}"
                                 f"  ·  errors {p.failed}" + (f"  ·  reused {p.reused}" if p.reused else ""))
        self.current_label.setText(f"Current: {p.current}" if p.current else "Current: –")
        remaining = self._eta.update(p)
        if not self.op.cancel_event.is_set():
            self.remaining_label.setText(f"Remaining: ~{human_seconds(remaining)}" if remaining is not None
                                         else "Remaining: estimating…")
        self._tick()

    def _tick(self) -> None:
        self.elapsed_label.setText(f"Elapsed: {human_seconds(time.monotonic() - self._started)}")

    def _add_result(self, a: Analysis, doc_id: int | None) -> None:
        title = QStandardItem(shown(real_title(a.document.title) or Path(a.document.source).name))
        title.setData(doc_id, ID_ROLE)
        title.setData(title.text().lower(), SORT_ROLE)
        title.setToolTip(shown(a.document.source))
        s = a.sentiment
        unsupported = s.note if s is not None and s.unsupported_lang else ""
        if unsupported:  # no model reads the document's language: no label, no score, not in the chart
            s = None
        label = QStandardItem(s.label if s else unsupported)
        label.setData(s.label if s else unsupported, SORT_ROLE)
        if s:
            label.setForeground(QBrush(label_color(s.label, [lab for lab, _ in s.probabilities])))
            if s.p_positive is not None:
                label.setToolTip(f"p(positive) {s.p_positive:.3f}")
            f = label.font()
            f.setBold(True)
            label.setFont(f)
        score = QStandardItem(f"{s.score:.3f}" if s else "")
        score.setData(s.score if s else -1.0, SORT_ROLE)
        summary = QStandardItem(a.summary.text if a.summary else "")
        summary.setData(summary.text().lower(), SORT_ROLE)
        summary.setToolTip(summary.text())
        secs = QStandardItem(f"{a.seconds:.2f}" if a.seconds >= 0.005 else "<0.01")
        secs.setData(a.seconds, SORT_ROLE)
        secs.setToolTip("Analysis time; documents analysed together share their chunk's time by length")
        src = QStandardItem(_short_source(a.document.source))
        src.setData(shown(a.document.source), SORT_ROLE)
        src.setToolTip(shown(a.document.source))
        self.model.appendRow([title, label, score, summary, secs, src])
        if s:
            self._labels.append(s.label)
            self._scores.append(s.score)
            if self.filter_label.findData(s.label) < 0:
                self.filter_label.addItem(s.label, s.label)
        if not self._chart_timer.isActive():
            self._chart_timer.start()

    def _add_error(self, source: str, reason: str) -> None:
        self.errors.append((source, reason))
        r = self.error_table.rowCount()
        self.error_table.insertRow(r)
        name = QTableWidgetItem(_short_source(source))
        name.setToolTip(shown(source))
        why = QTableWidgetItem(shown(reason))
        why.setToolTip(shown(reason))
        self.error_table.setItem(r, 0, name)
        self.error_table.setItem(r, 1, why)
        self.error_table.resizeRowToContents(r)
        self.errors_box.setTitle(f"Errors ({len(self.errors)})")

    def _update_chart(self) -> None:
        self.chart.set_data(self._labels, self._scores)

    def _done(self, report: BatchReport) -> None:
        self.report = report
        self._progress_timer.stop()
        self._render_progress()
        self._feed_rows(budget=None)  # the last rows in hand: the table is whole once the batch is done
        self.refresh_history(select=report.run_id)  # the run just shown is the one Past runs names
        self._chart_timer.stop()
        self._update_chart()
        self._set_running(False)
        if self._last is not None and report.status == "done":
            self.progress.setRange(0, max(self._last.files_total, 1))
            self.progress.setValue(self._last.files_total)
        elif self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
        self.remaining_label.setText("Remaining: –")
        self.current_label.setText("Current: –")
        self.status_label.setText(f"{report.summary()} in {report.seconds:.1f} s")
        self.status_label.setToolTip(self.status_label.text())
        self._tick()
        self.finished.emit(report)

    def _failed(self, exc: BaseException) -> None:
        self._progress_timer.stop()
        self._render_progress()
        self._feed_rows(budget=None)
        self._set_running(False)
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
        from app.ui.ops import describe_error, report_error

        self.status_label.setText("Failed")
        self.refresh_history(select=NEWEST_RUN)
        report_error(self, describe_error(exc))

    # -- results

    def _apply_filter(self) -> None:
        self.proxy.set(self.filter_text.text(), self.filter_label.currentData())

    def _open_row(self, index) -> None:
        doc_id = self.model.item(self.proxy.mapToSource(index).row(), 0).data(ID_ROLE)
        if doc_id is not None:
            self.open_requested.emit(int(doc_id))

    def visible_rows(self) -> list[list[str]]:
        """The result table as shown (sorted and filtered), for tests and screenshots."""
        return [[self.proxy.index(r, c).data() or "" for c in range(len(COLUMNS))]
                for r in range(self.proxy.rowCount())]

    def export_dialog(self, fmt: str) -> None:
        ext = "csv" if fmt == "csv" else "jsonl"
        win = self.window()
        folder = win.export_dir() if hasattr(win, "export_dir") else str(Path.home())
        path, _ = QFileDialog.getSaveFileName(self, f"Export {ext.upper()}", str(Path(folder) / f"results.{ext}"),
                                              f"{ext.upper()} (*.{ext})")
        if path:
            self.export(path, fmt)

    def export(self, path: str, fmt: str) -> BackgroundOp:
        """Write this batch's results (or the whole library if no batch ran) in the background."""
        win = self.window()
        if hasattr(win, "remember_export"):
            win.remember_export(path)
        run_id = self.report.run_id if self.report else None
        db_path = self.ctx.db_path
        return BackgroundOp(
            self, lambda _ctx: export_library(db_path, path, fmt, run_id),
            success=lambda n: self.status_label.setText(f"Exported {n} rows to {path}"),
            progress_label=f"Exporting {fmt.upper()}…",
        ).run()
