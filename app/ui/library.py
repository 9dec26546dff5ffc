"""The library pane: documents in the store, searchable over text and results, filtered by label and folder.

A column per classification ("Topic", from a user's classifier) follows Sentiment; the label filter lists
each classification's labels after sentiment's ("Topic: sport").

Every read runs in the background (`read_library`, one full-text query for rows and snippets): with a
hundred thousand documents a query takes a second or more, and typing in the search box must not wait for
it. The newest read wins; an older one still running is cancelled and its result dropped.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
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
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import Cancelled
from app.core.language import language_name
from app.core.names import shown
from app.core.store import MATCH_END, MATCH_START, DocumentRow, LibraryPage, Store
from app.core.types import classification_title
from app.ui.ops import READS, BackgroundOp, OpContext, report_error
from app.ui.theme import label_color
from app.ui.widgets import display_name

ID_ROLE = Qt.UserRole + 1
COLUMNS = ("Document", "Sentiment", "Added", "Path", "Match", "Lang")  # then one per classification (LibraryModel.classes)


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
    classified: tuple[str, str] | None = None  # (classification name, label): only documents it labelled so
    lang: str | None = None  # an ISO code: only documents in that language ("" for not detected)


@dataclass(frozen=True)
class LibraryEntry:
    """One row of the pane, its texts ready to show."""

    id: int
    cells: tuple[str, ...]  # one text per column of COLUMNS, then one per classification
    tips: tuple[str, ...]  # the tooltip of each column
    label: str | None  # the sentiment label, for its colour


@dataclass(frozen=True)
class LibraryRead:
    page: LibraryPage
    folders: list[str] | None  # None: not asked for (a keystroke in the search box)


def from_the_match(snippet: str) -> str:
    """The snippet from its first match on (all of it is in the tooltip). The Match cell is elided on the right,
    and on a 1024 px screen a search for "delivery" showed "…March and paid…": the word searched for was cut off."""
    at = snippet.find(MATCH_START)
    if at <= 0 or not snippet[:at].strip(" …"):
        return snippet
    return "…" + snippet[at:]


def library_entry(r: DocumentRow, snippet: str, classes: tuple[str, ...] = ()) -> LibraryEntry:
    title = shown(display_name(r.source, r.title))
    added = local_time(r.added_at)
    tip = (f"{shown(r.title)}\n" if r.title and shown(r.title) != title else "") + shown(r.source)
    if snippet:
        tip += "\n\n" + snippet.replace(MATCH_START, "«").replace(MATCH_END, "»")
    # a neutral document's score is the probability of the label it was not given (negative 0.71 read as
    # "neutral 0.71" next to the document view's "neutral (p+ 0.29)"): the word alone says it
    badge = ("–" if not r.sentiment_label else r.sentiment_label if r.sentiment_label == "neutral"
             else f"{r.sentiment_label} {r.sentiment_score:.2f}")
    match = from_the_match(" ".join(snippet.split()))
    if r.sentiment_unsupported:  # no model reads the document's language: no label was made up
        badge = "unsupported"
    lang = r.lang or "–"
    lang_tip = (f"Language: {language_name(r.lang)}" if r.lang else "Language not detected yet (analyse it again)") + (
        f"; {r.sentiment_text}: no sentiment, no summary" if r.sentiment_unsupported else "")
    labels = {name: (label, score) for name, label, score in r.classifications}
    class_cells = tuple(f"{labels[n][0]} {labels[n][1]:.2f}" if n in labels else "–" for n in classes)
    tip += "".join(f"\n{classification_title(n)}: {c}" for n, c in zip(classes, class_cells) if c != "–")
    return LibraryEntry(
        r.id,
        (title, badge, added, shown(r.source), match.replace(MATCH_START, "").replace(MATCH_END, ""), lang) + class_cells,
        (tip + f"\nAdded {added}", lang_tip if r.sentiment_unsupported else "", "", shown(r.source), match.replace(MATCH_START, "«").replace(MATCH_END, "»"), lang_tip)
        + tuple(f"{classification_title(n)}: {c}" for n, c in zip(classes, class_cells)),
        r.sentiment_label,
    )


def fm_width(widget: QWidget, text: str) -> int:
    return widget.fontMetrics().horizontalAdvance(text)


def read_library(db_path: str, query: LibraryQuery, state: OpContext) -> LibraryRead:
    """One read of the library for the pane (worker thread, a read-only connection of its own)."""
    if state.cancelled():  # a newer query came while this one waited for a thread
        raise Cancelled()
    with Store(db_path, readonly=True) as store:
        folders = store.folders() if query.with_folders else None
        if state.cancelled():
            raise Cancelled()
        page = store.library_page(query.search, query.label, query.folder, prefer_model=query.prefer_model, lang=query.lang,
                                  classified=query.classified)
    return LibraryRead(page, folders)


# Plain ints: Qt passes the role as an int, and `role == Qt.DisplayRole` looked the enum up on each of the
# ~900 calls one paint of the pane makes (its cost is what a batch's once-a-second refresh took from the window)
_DISPLAY, _TOOLTIP, _BACKGROUND, _FOREGROUND = (int(r) for r in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole,
                                                                 Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ForegroundRole))
_ID = int(ID_ROLE)
_ROLES = frozenset({_DISPLAY, _TOOLTIP, _ID, _BACKGROUND, _FOREGROUND})


class LibraryModel(QAbstractTableModel):
    """The rows of one read. Qt asks only for the rows on screen and a row's texts are made when first
    asked for, so showing 500 costs what showing 20 does (a QStandardItem per cell took a third of a second
    of GUI time on a busy machine, and formatting them in the worker kept the GIL from the GUI thread)."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._rows: list[DocumentRow] = []
        self._snippets: dict[int, str] = {}
        self._entries: list[LibraryEntry | None] = []
        self.classes: tuple[str, ...] = ()  # the library's classifications, a column each after COLUMNS
        self._brushes: dict[str, QBrush] = {}
        self._white = QBrush(QColor("white"))

    def set_page(self, page: LibraryPage) -> None:
        self.beginResetModel()
        self._rows, self._snippets = list(page.rows), page.snippets
        self._entries = [None] * len(self._rows)
        self.classes = tuple(sorted(page.classifications))
        self.endResetModel()

    def entry(self, row: int) -> LibraryEntry:
        e = self._entries[row]
        if e is None:
            r = self._rows[row]
            e = self._entries[row] = library_entry(r, self._snippets.get(r.id, ""), self.classes)
        return e

    def heading(self, section: int) -> str | None:
        if 0 <= section < len(COLUMNS):
            return COLUMNS[section]
        k = section - len(COLUMNS)
        return classification_title(self.classes[k]) if 0 <= k < len(self.classes) else None

    @property
    def entries(self) -> list[LibraryEntry]:
        return [self.entry(i) for i in range(len(self._rows))]

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 - Qt naming
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS) + len(self.classes)

    def headerData(self, section: int, orientation, role: int = Qt.DisplayRole):  # noqa: N802
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return self.heading(section)
        return None

    def data(self, index: QModelIndex, role: int = _DISPLAY):
        """The view asks for eight roles per cell on each paint (about 900 calls for a pane of rows): this is
        kept to a few attribute reads, the brushes made once per label."""
        if role not in _ROLES:
            return None
        row = index.row()
        if row < 0:  # an invalid index
            return None
        e, col = self._entries[row] or self.entry(row), index.column()
        if role == _DISPLAY:
            return e.cells[col]
        if role == _TOOLTIP:
            return e.tips[col] or None
        if role == _ID:
            return e.id if col == 0 else None
        if col == 1 and e.label:
            if role == _BACKGROUND:
                brush = self._brushes.get(e.label)
                if brush is None:
                    brush = self._brushes[e.label] = QBrush(label_color(e.label))
                return brush
            return self._white  # _FOREGROUND
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.AscendingOrder) -> None:
        if not 0 <= column < len(COLUMNS) + len(self.classes):
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


class LibraryView(QTableView):
    """The library's list: a table dressed as a list (no grid, no row numbers, whole rows selected, one row
    height). Not a QTreeView: a tree lays out every row of the model on each read (two calls into Python per
    row, about 2,300 for a library of 1,000 documents) where a table asks only for the cells on screen; during
    a batch the pane re-reads every second, and the tree's layout took that time from the window's event loop."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollPerPixel)
        rows = self.verticalHeader()
        rows.hide()
        rows.setSectionResizeMode(QHeaderView.Fixed)
        rows.setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.horizontalHeader().setHighlightSections(False)
        self.horizontalHeader().setDefaultAlignment(Qt.AlignLeft | Qt.AlignVCenter)

    def header(self) -> QHeaderView:
        """The column header (QTreeView's name for it, which the pane and its tests use)."""
        return self.horizontalHeader()


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
        self._follow_again = False  # follow() came while a read was on its way: read again once it is shown
        self._stopped = False
        self.search = QLineEdit(placeholderText="Search text, summaries, translations, labels…")
        self.search.setClearButtonEnabled(True)
        self.label_filter = QComboBox()
        self.folder_filter = QComboBox()
        self.folder_filter.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.folder_filter.setMinimumContentsLength(12)
        self.lang_filter = QComboBox()  # shown once the library holds documents in two languages or more
        self.lang_filter.setToolTip("Only documents in this language")
        self.lang_filter.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.lang_filter.setMinimumContentsLength(7)  # "All langs"; the list itself is as wide as its names
        self.lang_filter.setMaximumWidth(fm_width(self.lang_filter, "All langs") + 44)  # the search keeps the room
        self.lang_filter.view().setMinimumWidth(fm_width(self.lang_filter, "Not detected") + 40)
        self.lang_filter.addItem("All langs", None)
        self.lang_filter.setVisible(False)
        self.count = QLabel()
        self.model = LibraryModel(self)
        self.view = LibraryView()
        self.view.setModel(self.model)
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
        hdr.resizeSection(5, fm.horizontalAdvance("Lang") + 18)
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
        top = QHBoxLayout()  # the language filter beside the search: the label and folder filters keep their room
        top.addWidget(self.search, 1)
        top.addWidget(self.lang_filter)
        lay.addLayout(top)
        lay.addLayout(filters)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.count)

        self._debounce = QTimer(self, singleShot=True, interval=250, timeout=lambda: self.refresh(with_folders=False))
        self.search.textChanged.connect(lambda _: self._debounce.start())
        self.label_filter.currentIndexChanged.connect(lambda _: self.refresh(with_folders=False))
        self.folder_filter.currentIndexChanged.connect(lambda _: self.refresh(with_folders=False))
        self.lang_filter.currentIndexChanged.connect(lambda _: self.refresh(with_folders=False))
        self._class_labels: dict[str, tuple[str, ...]] = {}
        self._sentiment_labels: list[str] = []
        self.set_labels(labels or ["negative", "positive"])
        self.refresh()

    def set_labels(self, labels: list[str]) -> None:
        """The sentiment labels to filter by (each classification's labels follow, from the library)."""
        self._sentiment_labels = list(labels)
        self._fill_label_filter()

    def _fill_label_filter(self) -> None:
        current = self.label_filter.currentData()
        self.label_filter.blockSignals(True)
        self.label_filter.clear()
        self.label_filter.addItem("All labels", None)
        for lab in self._sentiment_labels:
            self.label_filter.addItem(lab, lab)
        for name, labels in sorted(self._class_labels.items()):
            self.label_filter.insertSeparator(self.label_filter.count())
            for lab in labels:  # a (name, label) pair: documents whose classification `name` says `lab`
                self.label_filter.addItem(f"{classification_title(name)}: {lab}", (name, lab))
        i = self.label_filter.findData(current)
        self.label_filter.setCurrentIndex(max(i, 0))
        self.label_filter.blockSignals(False)

    def _show_classes(self, classes: dict[str, tuple[str, ...]]) -> None:
        """Columns and filter entries for the library's classifications, when they changed."""
        if classes != self._class_labels:
            self._class_labels = dict(classes)
            self._fill_label_filter()
        hdr = self.view.header()
        fm = self.fontMetrics()
        for k, _name in enumerate(self.model.classes):
            section = len(COLUMNS) + k
            hdr.moveSection(hdr.visualIndex(section), 2 + k)  # beside Sentiment, before the date
            hdr.resizeSection(section, fm.horizontalAdvance("business 0.00") + 18)

    def _show_languages(self, languages: tuple[str, ...]) -> None:
        """The language filter's entries: the library's languages, most documents first, and "not detected"."""
        current = self.lang_filter.currentData()
        self.lang_filter.blockSignals(True)
        self.lang_filter.clear()
        self.lang_filter.addItem("All langs", None)
        for code in languages:
            self.lang_filter.addItem(f"{code} – {language_name(code)}", code)
        self.lang_filter.addItem("Not detected", "")
        i = self.lang_filter.findData(current)
        self.lang_filter.setCurrentIndex(max(i, 0))
        self.lang_filter.blockSignals(False)
        self.lang_filter.setVisible(len(languages) > 1 or current is not None)

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
        self._follow_again = False  # this read sees what a waiting follow() wanted to see
        if self.read_op is not None and not self.read_op.finished:
            self.read_op.cancel()  # superseded: it stops before its query if it has not started
        chosen = self.label_filter.currentData()
        classified = tuple(chosen) if isinstance(chosen, (tuple, list)) else None
        query = LibraryQuery(self.search.text().strip() or None, None if classified else chosen,
                             self.folder_filter.currentData(), self.prefer_model, self._folders_wanted, classified)
        query = replace(query, lang=self.lang_filter.currentData())
        db_path = self.store.path
        op = BackgroundOp(self, lambda state: read_library(db_path, query, state),
                          success=lambda read: self._show(op, query, read),
                          failure=lambda exc: self._failed(op, exc), pool=READS)
        self.read_op = op
        return op.run()

    def follow(self) -> None:
        """Re-read for a batch that is storing documents (the window calls this at most once a second). A read
        on its way is left to finish and this one comes after it: superseding it, as a new search does, showed
        nothing at all for as long as each read took longer than the window's throttle (a loaded machine)."""
        if self.reading:
            self._follow_again = True
            return
        self.refresh(with_folders=False)

    def _read_again_if_followed(self) -> None:
        if self._follow_again and not self._stopped:
            self.refresh(with_folders=False)

    def _failed(self, op: BackgroundOp, exc: BaseException) -> None:
        if op is self.read_op and not isinstance(exc, Cancelled):
            report_error(self, exc)
            self._read_again_if_followed()

    def _show(self, op: BackgroundOp, query: LibraryQuery, read: LibraryRead) -> None:
        if op is not self.read_op or self._stopped:
            return  # a newer read is on its way; this one is out of date
        if read.folders is not None:
            self._folders_wanted = False
            self._show_folders(read.folders)
        page = read.page
        # one paint for the new rows, their order and the columns shown (a batch re-reads every second, and the
        # list's paint is the largest piece of GUI work in those turns): updates resume, and paint, at the end
        self.view.setUpdatesEnabled(False)
        try:
            self._show_page(page)
        finally:
            self.view.setUpdatesEnabled(True)
        listed, total = len(page.rows), page.total
        self.count.setText(f"{listed} of {total} documents" if listed != total else documents_text(total))
        self.counted.emit(total)
        if self._select_after is not None:
            self.select_document(self._select_after)
            self._select_after = None
        self._read_again_if_followed()

    def _show_page(self, page: LibraryPage) -> None:
        self.model.set_page(page)
        self._show_languages(page.languages)
        self._show_classes(page.classifications)
        header = self.view.header()
        if header.sortIndicatorSection() >= 0:  # keep the order the user clicked
            self.model.sort(header.sortIndicatorSection(), header.sortIndicatorOrder())
        self._fit_columns()
        self.view.executeDelayedItemsLayout()  # now, not inside the paint (where it marked the list dirty again)

    def _narrow(self) -> bool:
        """Too narrow for the date column: the name needs the room (the date is in the row's tooltip)."""
        return 0 < self.view.viewport().width() < 420

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self._fit_columns()

    SEARCH_WITH_SENTIMENT = 420  # px: a narrower pane shows a search's matches without the sentiment column

    def _fit_columns(self) -> None:
        """The date goes on a narrow pane and while searching (the match takes its place); on a narrow pane a
        search also hides the sentiment, and the match never takes more than half: the document's name stays
        readable (at 1024 px it shrank to "r…")."""
        width = self.view.viewport().width()
        searching = bool(self.search.text().strip())
        self.view.setColumnHidden(2, searching or self._narrow())
        self.view.setColumnHidden(4, not searching)
        self.view.setColumnHidden(5, searching and 0 < width < self.SEARCH_WITH_SENTIMENT)
        self.view.setColumnHidden(1, searching and 0 < width < self.SEARCH_WITH_SENTIMENT)
        hdr = self.view.header()
        room = width - sum(hdr.sectionSize(c) for c in range(1, len(COLUMNS)) if not self.view.isColumnHidden(c))
        for k in range(len(self.model.classes)):  # shown while the name keeps 110 px; else in the name's tooltip
            room -= hdr.sectionSize(len(COLUMNS) + k)
            self.view.setColumnHidden(len(COLUMNS) + k, 0 < width and room < 110)
        if searching and width > 0:
            sentiment = 0 if self.view.isColumnHidden(1) else self.view.header().sectionSize(1)
            self.view.header().resizeSection(4, max(60, min(260, (width - sentiment) // 2)))

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
