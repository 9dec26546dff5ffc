"""The library pane: documents in the store, searchable over text and results, filtered by label and folder.

Every read runs in the background (`read_library`, one full-text query for rows and snippets): with a
hundred thousand documents a query takes a second or more, and typing in the search box must not wait for
it. The newest read wins; an older one still running is cancelled and its result dropped.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import Cancelled
from app.core.names import shown
from app.core.store import MATCH_END, MATCH_START, DocumentRow, LibraryPage, Store
from app.ui.ops import BackgroundOp, OpContext, report_error
from app.ui.theme import label_color
from app.ui.widgets import display_name

ID_ROLE = Qt.UserRole + 1
COLUMNS = ("Document", "Sentiment", "Added", "Path", "Match")


_LOCAL_TZ = datetime.now().astimezone().tzinfo


def local_time(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone(_LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return iso or ""


def documents_text(n: int) -> str:
    return f"{n} document" if n == 1 else f"{n} documents"


@dataclass(frozen=True)
class LibraryQuery:
    """What the pane asks for: the search words, the label and folder filters, and whether to list folders."""

    search: str | None = None
    label: str | None = None
    folder: str | None = None
    prefer_model: str | None = None
    with_folders: bool = True


@dataclass(frozen=True)
class LibraryEntry:
    """One row of the pane, its texts ready to show."""

    id: int
    cells: tuple[str, ...]  # one text per column of COLUMNS
    tips: tuple[str, ...]  # the tooltip of each column
    label: str | None  # the sentiment label, for its colour


@dataclass(frozen=True)
class LibraryRead:
    page: LibraryPage
    folders: list[str] | None  # None: not asked for (a keystroke in the search box)


def library_entry(r: DocumentRow, snippet: str) -> LibraryEntry:
    title = shown(display_name(r.source, r.title))
    added = local_time(r.added_at)
    tip = (f"{shown(r.title)}\n" if r.title and shown(r.title) != title else "") + shown(r.source)
    if snippet:
        tip += "\n\n" + snippet.replace(MATCH_START, "«").replace(MATCH_END, "»")
    # a neutral document's score is the probability of the label it was not given (negative 0.71 read as
    # "neutral 0.71" next to the document view's "neutral (p+ 0.29)"): the word alone says it
    badge = ("–" if not r.sentiment_label else r.sentiment_label if r.sentiment_label == "neutral"
             else f"{r.sentiment_label} {r.sentiment_score:.2f}")
    match = " ".join(snippet.split())
    return LibraryEntry(
        r.id,
        (title, badge, added, shown(r.source), match.replace(MATCH_START, "").replace(MATCH_END, "")),
        (tip + f"\nAdded {added}", "", "", shown(r.source), match.replace(MATCH_START, "«").replace(MATCH_END, "»")),
        r.sentiment_label,
    )


def read_library(db_path: str, query: LibraryQuery, state: OpContext) -> LibraryRead:
    """One read of the library for the pane (worker thread, a read-only connection of its own)."""
    if state.cancelled():  # a newer query came while this one waited for a thread
        raise Cancelled()
    with Store(db_path, readonly=True) as store:
        folders = store.folders() if query.with_folders else None
        if state.cancelled():
            raise Cancelled()
        page = store.library_page(query.search, query.label, query.folder, prefer_model=query.prefer_model)
    return LibraryRead(page, folders)


_ROLES = frozenset({Qt.DisplayRole, Qt.ToolTipRole, ID_ROLE, Qt.BackgroundRole, Qt.ForegroundRole})


class LibraryModel(QAbstractTableModel):
    """The rows of one read. Qt asks only for the rows on screen and a row's texts are made when first
    asked for, so showing 500 costs what showing 20 does (a QStandardItem per cell took a third of a second
    of GUI time on a busy machine, and formatting them in the worker kept the GIL from the GUI thread)."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._rows: list[DocumentRow] = []
        self._snippets: dict[int, str] = {}
        self._entries: list[LibraryEntry | None] = []

    def set_page(self, page: LibraryPage) -> None:
        self.beginResetModel()
        self._rows, self._snippets = list(page.rows), page.snippets
        self._entries = [None] * len(self._rows)
        self.endResetModel()

    def entry(self, row: int) -> LibraryEntry:
        e = self._entries[row]
        if e is None:
            r = self._rows[row]
            e = self._entries[row] = library_entry(r, self._snippets.get(r.id, ""))
        return e

    @property
    def entries(self) -> list[LibraryEntry]:
        return [self.entry(i) for i in range(len(self._rows))]

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 - Qt naming
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation, role: int = Qt.DisplayRole):  # noqa: N802
        if orientation == Qt.Horizontal and role == Qt.DisplayRole and 0 <= section < len(COLUMNS):
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if role not in _ROLES or not index.isValid():  # the view asks for eight roles per cell on each paint
            return None
        e, col = self.entry(index.row()), index.column()
        if role == Qt.DisplayRole:
            return e.cells[col]
        if role == Qt.ToolTipRole:
            return e.tips[col] or None
        if role == ID_ROLE and col == 0:
            return e.id
        if col == 1 and e.label:
            if role == Qt.BackgroundRole:
                return QBrush(label_color(e.label))
            if role == Qt.ForegroundRole:
                return QBrush(QColor("white"))
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.AscendingOrder) -> None:
        if not 0 <= column < len(COLUMNS):
            return  # -1: the order of the read (best match, or newest, first)
        self.layoutAboutToBeChanged.emit()
        keyed = sorted(zip(self.entries, self._rows), key=lambda er: er[0].cells[column],
                       reverse=order == Qt.DescendingOrder)
        self._entries = [e for e, _ in keyed]
        self._rows = [r for _, r in keyed]
        self.layoutChanged.emit()

    def document_id(self, row: int) -> int | None:
        return self._rows[row].id if 0 <= row < len(self._rows) else None

    def row_of(self, document_id: int) -> int | None:
        return next((i for i, r in enumerate(self._rows) if r.id == document_id), None)


class LibraryPane(QWidget):
    """Lists the library; emits open_requested(document id) on double-click or Enter."""

    open_requested = Signal(int)
    delete_requested = Signal(int)
    counted = Signal(int)  # documents in the library, after each read

    def __init__(self, store: Store, labels: list[str] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.store = store  # its file is read; the store itself stays the GUI thread's
        self.prefer_model: str | None = None  # the default sentiment model: its labels show where it has some
        self.read_op: BackgroundOp | None = None
        self._select_after: int | None = None  # select this document once the next read is shown
        self._folders_wanted = True  # the folder list is read with the next read (kept if a newer one replaces it)
        self._stopped = False
        self.search = QLineEdit(placeholderText="Search text, summaries, translations, labels…")
        self.search.setClearButtonEnabled(True)
        self.label_filter = QComboBox()
        self.folder_filter = QComboBox()
        self.folder_filter.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.folder_filter.setMinimumContentsLength(12)
        self.count = QLabel()
        self.model = LibraryModel(self)
        self.view = QTreeView()
        self.view.setModel(self.model)
        self.view.setRootIsDecorated(False)
        self.view.setUniformRowHeights(True)
        self.view.setAlternatingRowColors(True)
        self.view.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.view.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(-1, Qt.AscendingOrder)
        hdr = self.view.header()
        hdr.setSectionResizeMode(0, QHeaderView.Stretch)
        fm = self.fontMetrics()  # fixed widths: measuring every row on each refresh is slow for big libraries
        hdr.resizeSection(1, fm.horizontalAdvance("negative 0.00") + 18)
        hdr.resizeSection(2, fm.horizontalAdvance("2026-11-29 00:00") + 18)
        hdr.setStretchLastSection(False)
        hdr.resizeSection(4, 140)
        self.view.hideColumn(3)  # the path is shown in the title's tooltip
        self.view.hideColumn(4)  # shown while searching, instead of the date
        self.view.setContextMenuPolicy(Qt.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.view.setToolTip("Double-click a document to open it; right-click for more")
        self.view.doubleClicked.connect(self._open_index)
        self.view.activated.connect(self._open_index)

        filters = QHBoxLayout()
        filters.addWidget(self.label_filter)
        filters.addWidget(self.folder_filter, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.search)
        lay.addLayout(filters)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.count)

        self._debounce = QTimer(self, singleShot=True, interval=250, timeout=lambda: self.refresh(with_folders=False))
        self.search.textChanged.connect(lambda _: self._debounce.start())
        self.label_filter.currentIndexChanged.connect(lambda _: self.refresh(with_folders=False))
        self.folder_filter.currentIndexChanged.connect(lambda _: self.refresh(with_folders=False))
        self.set_labels(labels or ["negative", "positive"])
        self.refresh()

    def set_labels(self, labels: list[str]) -> None:
        current = self.label_filter.currentData()
        self.label_filter.blockSignals(True)
        self.label_filter.clear()
        self.label_filter.addItem("All labels", None)
        for lab in labels:
            self.label_filter.addItem(lab, lab)
        i = self.label_filter.findData(current)
        self.label_filter.setCurrentIndex(max(i, 0))
        self.label_filter.blockSignals(False)

    def _show_folders(self, folders: list[str]) -> None:
        current = self.folder_filter.currentData()
        self.folder_filter.blockSignals(True)
        self.folder_filter.clear()
        self.folder_filter.addItem("All folders", None)
        for folder in folders:
            self.folder_filter.addItem(Path(folder).name or folder, folder)
            self.folder_filter.setItemData(self.folder_filter.count() - 1, folder, Qt.ToolTipRole)
        i = self.folder_filter.findData(current)
        self.folder_filter.setCurrentIndex(max(i, 0))
        self.folder_filter.blockSignals(False)

    @property
    def reading(self) -> bool:
        """A read is on its way (tests wait for it; the rows shown are the previous read's until then)."""
        return self.read_op is not None and not self.read_op.finished

    def refresh(self, select: int | None = None, with_folders: bool = True) -> BackgroundOp | None:
        """Re-read the library with the current search and filters in the background, then select document
        `select` if given; the folder list is read again too unless only the search or a filter changed."""
        if self._stopped:
            return None
        if select is not None:
            self._select_after = select
        self._folders_wanted = self._folders_wanted or with_folders
        if self.read_op is not None and not self.read_op.finished:
            self.read_op.cancel()  # superseded: it stops before its query if it has not started
        query = LibraryQuery(self.search.text().strip() or None, self.label_filter.currentData(),
                             self.folder_filter.currentData(), self.prefer_model, self._folders_wanted)
        db_path = self.store.path
        op = BackgroundOp(self, lambda state: read_library(db_path, query, state),
                          success=lambda read: self._show(op, query, read),
                          failure=lambda exc: self._failed(op, exc))
        self.read_op = op
        return op.run()

    def _failed(self, op: BackgroundOp, exc: BaseException) -> None:
        if op is self.read_op and not isinstance(exc, Cancelled):
            report_error(self, exc)

    def _show(self, op: BackgroundOp, query: LibraryQuery, read: LibraryRead) -> None:
        if op is not self.read_op or self._stopped:
            return  # a newer read is on its way; this one is out of date
        if read.folders is not None:
            self._folders_wanted = False
            self._show_folders(read.folders)
        searching, page = query.search is not None, read.page
        self.model.set_page(page)
        header = self.view.header()
        if header.sortIndicatorSection() >= 0:  # keep the order the user clicked
            self.model.sort(header.sortIndicatorSection(), header.sortIndicatorOrder())
        self.view.setColumnHidden(2, searching or self._narrow())
        self.view.setColumnHidden(4, not searching)
        listed, total = len(page.rows), page.total
        self.count.setText(f"{listed} of {total} documents" if listed != total else documents_text(total))
        self.counted.emit(total)
        if self._select_after is not None:
            self.select_document(self._select_after)
            self._select_after = None

    def _narrow(self) -> bool:
        """Too narrow for the date column: the name needs the room (the date is in the row's tooltip)."""
        return 0 < self.view.viewport().width() < 420

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self.view.setColumnHidden(2, bool(self.search.text().strip()) or self._narrow())

    def stop(self) -> None:
        """No more queries (the window is closing and the store is about to close)."""
        self._stopped = True
        self._debounce.stop()
        if self.read_op is not None:
            self.read_op.cancel()

    def _open_index(self, index: QModelIndex) -> None:
        doc_id = self.model.document_id(index.row())
        if doc_id is not None:
            self.open_requested.emit(int(doc_id))

    def _context_menu(self, pos) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid():
            return
        doc_id = self.model.document_id(index.row())
        source = self.model.index(index.row(), 3).data()
        menu = QMenu(self)
        menu.addAction("Open", lambda: self.open_requested.emit(int(doc_id)))
        menu.addAction("Copy Path", lambda: QGuiApplication.clipboard().setText(source))
        menu.addSeparator()
        menu.addAction("Remove from Library", lambda: self.delete_requested.emit(int(doc_id)))
        menu.exec(self.view.viewport().mapToGlobal(pos))
        menu.deleteLater()

    def titles(self) -> list[str]:
        return [e.cells[0] for e in self.model.entries]

    def select_document(self, document_id: int) -> None:
        row = self.model.row_of(document_id)
        if row is not None:
            self.view.setCurrentIndex(self.model.index(row, 0))
