"""The library pane: documents in the store, searchable over text and results, filtered by label and folder."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QGuiApplication, QStandardItem, QStandardItemModel
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

from app.core.names import shown
from app.core.store import MATCH_END, MATCH_START, Store
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


class LibraryPane(QWidget):
    """Lists the library; emits open_requested(document id) on double-click or Enter."""

    open_requested = Signal(int)
    delete_requested = Signal(int)

    def __init__(self, store: Store, labels: list[str] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.store = store
        self.prefer_model: str | None = None  # the default sentiment model: its labels show where it has some
        self.search = QLineEdit(placeholderText="Search text, summaries, translations, labels…")
        self.search.setClearButtonEnabled(True)
        self.label_filter = QComboBox()
        self.folder_filter = QComboBox()
        self.folder_filter.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.folder_filter.setMinimumContentsLength(12)
        self.count = QLabel()
        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels(COLUMNS)
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

        self._debounce = QTimer(self, singleShot=True, interval=250, timeout=self.refresh)
        self.search.textChanged.connect(lambda _: self._debounce.start())
        self.label_filter.currentIndexChanged.connect(lambda _: self.refresh())
        self.folder_filter.currentIndexChanged.connect(lambda _: self.refresh())
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

    def _refresh_folders(self) -> None:
        current = self.folder_filter.currentData()
        self.folder_filter.blockSignals(True)
        self.folder_filter.clear()
        self.folder_filter.addItem("All folders", None)
        for folder in self.store.folders():
            self.folder_filter.addItem(Path(folder).name or folder, folder)
            self.folder_filter.setItemData(self.folder_filter.count() - 1, folder, Qt.ToolTipRole)
        i = self.folder_filter.findData(current)
        self.folder_filter.setCurrentIndex(max(i, 0))
        self.folder_filter.blockSignals(False)

    def refresh(self) -> None:
        """Re-read the library with the current search and filters (a quick local query)."""
        self._refresh_folders()
        query = self.search.text().strip()
        label = self.label_filter.currentData()
        folder = self.folder_filter.currentData()
        rows = self.store.list_documents(search=query or None, label=label, folder=folder,
                                         prefer_model=self.prefer_model)
        snippets = {}
        if query:
            snippets = {r.id: s for r, s in self.store.search(query, limit=200)}
        self.view.setUpdatesEnabled(False)
        sorting = self.view.isSortingEnabled()
        self.view.setSortingEnabled(False)
        self.model.setRowCount(0)
        for r in rows:
            title = QStandardItem(shown(display_name(r.source, r.title)))
            title.setData(r.id, ID_ROLE)
            tip = (f"{shown(r.title)}\n" if r.title and shown(r.title) != title.text() else "") + shown(r.source)
            if r.id in snippets:
                tip += "\n\n" + snippets[r.id].replace(MATCH_START, "«").replace(MATCH_END, "»")
            title.setToolTip(tip)
            badge = QStandardItem(f"{r.sentiment_label} {r.sentiment_score:.2f}" if r.sentiment_label else "–")
            if r.sentiment_label:
                c = label_color(r.sentiment_label)
                badge.setForeground(QBrush(QColor("white")))
                badge.setBackground(QBrush(c))
            badge.setData(r.sentiment_score if r.sentiment_score is not None else -1.0, Qt.UserRole + 2)
            added = QStandardItem(local_time(r.added_at))
            title.setToolTip(title.toolTip() + f"\nAdded {added.text()}")
            path = QStandardItem(shown(r.source))
            path.setToolTip(shown(r.source))
            snippet = " ".join(snippets.get(r.id, "").split())
            match = QStandardItem(snippet.replace(MATCH_START, "").replace(MATCH_END, ""))
            match.setToolTip(snippet.replace(MATCH_START, "«").replace(MATCH_END, "»"))
            self.model.appendRow([title, badge, added, path, match])
        self.view.setSortingEnabled(sorting)
        self.view.setUpdatesEnabled(True)
        self.view.setColumnHidden(2, bool(query) or self._narrow())
        self.view.setColumnHidden(4, not query)
        total = self.store.count_documents(prefer_model=self.prefer_model)
        listed = len(rows)
        self.count.setText(f"{listed} of {total} documents" if listed != total else documents_text(total))

    def _narrow(self) -> bool:
        """Too narrow for the date column: the name needs the room (the date is in the row's tooltip)."""
        return 0 < self.view.viewport().width() < 420

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self.view.setColumnHidden(2, bool(self.search.text().strip()) or self._narrow())

    def stop(self) -> None:
        """No more queries (the window is closing and the store is about to close)."""
        self._debounce.stop()
        self._debounce.timeout.disconnect()

    def _open_index(self, index: QModelIndex) -> None:
        doc_id = self.model.item(index.row(), 0).data(ID_ROLE)
        if doc_id is not None:
            self.open_requested.emit(int(doc_id))

    def _context_menu(self, pos) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid():
            return
        item = self.model.item(index.row(), 0)
        doc_id = item.data(ID_ROLE)
        source = self.model.item(index.row(), 3).text()
        menu = QMenu(self)
        menu.addAction("Open", lambda: self.open_requested.emit(int(doc_id)))
        menu.addAction("Copy Path", lambda: QGuiApplication.clipboard().setText(source))
        menu.addSeparator()
        menu.addAction("Remove from Library", lambda: self.delete_requested.emit(int(doc_id)))
        menu.exec(self.view.viewport().mapToGlobal(pos))
        menu.deleteLater()

    def titles(self) -> list[str]:
        return [self.model.item(r, 0).text() for r in range(self.model.rowCount())]

    def select_document(self, document_id: int) -> None:
        for r in range(self.model.rowCount()):
            if self.model.item(r, 0).data(ID_ROLE) == document_id:
                self.view.setCurrentIndex(self.model.index(r, 0))
                return
