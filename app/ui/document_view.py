"""The open document: sentences coloured by sentiment, and tabs for the summary, the translation and details."""
from __future__ import annotations

import bisect

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QTextCharFormat, QTextCursor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from app.core.names import shown
from app.core.language import describe_document_language, language_name
from app.core.types import Analysis, classification_title
from app.ui.theme import highlight_color, legend_html
from app.ui.widgets import ElidedLabel, SentimentBadge, display_name, real_title


def utf16_offsets(text: str):
    """Map Python string indices to QTextDocument positions (Qt counts UTF-16 code units)."""
    if all(ord(c) < 0x10000 for c in text):
        return lambda i: i
    astral = [i for i, c in enumerate(text) if ord(c) >= 0x10000]
    return lambda i: i + bisect.bisect_left(astral, i)


def sentence_classifications(analysis: Analysis) -> dict[tuple[int, int], list[str]]:
    """(start, end) of a sentence -> "Topic: sport 0.81" for each classifier trained on sentences."""
    out: dict[tuple[int, int], list[str]] = {}
    for c in analysis.classifications:
        for x in c.sentences:
            out.setdefault((x.start, x.end), []).append(f"{classification_title(c.name)}: {x.label} {x.score:.2f}")
    return out


def classifications_html(analysis: Analysis | None) -> str:
    """The document's classifications in one line: "<b>Topic</b> sport 0.93 · <b>Urgency</b> now 0.71"."""
    if analysis is None:
        return ""
    return " · ".join(f"<b>{_esc(classification_title(c.name))}</b> {_esc(c.label)} {c.score:.2f}"
                      for c in analysis.classifications)


class DocumentText(QTextBrowser):
    """Read-only text with one coloured span per sentence; hovering a sentence shows its label and score.

    Right-click a sentence to label it for fine-tuning (label_requested(sentence index, text, label)).
    """

    label_requested = Signal(int, str, str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setUndoRedoEnabled(False)
        self.spans: list[tuple[int, int, str]] = []  # (qt start, qt end, tooltip)
        self.sentences: list[tuple[int, int, int, str]] = []  # (qt start, qt end, sentence index, text)
        self.labels: list[str] = []
        self.highlighted: list[tuple[str, str, float]] = []  # (sentence text, label, score)
        self.summary_marked: list[str] = []
        f = self.font()
        f.setPointSizeF(f.pointSizeF() * 1.1)
        self.setFont(f)
        self.setPlaceholderText("Open a document (Ctrl+O) or drop files here.")

    def show_analysis(self, analysis: Analysis | None) -> None:
        self.spans, self.highlighted, self.summary_marked, self.sentences = [], [], [], []
        self.setExtraSelections([])
        if analysis is None:
            self.clear()
            return
        text = analysis.document.text
        # setPlainText() applies the current char format, i.e. the one under the cursor of the
        # previous document (often a coloured, underlined first sentence): start from a plain one.
        self.clear()
        self.setCurrentCharFormat(QTextCharFormat())
        self.setPlainText(text)
        at = utf16_offsets(text)
        cursor = QTextCursor(self.document())
        # one edit block: the document is laid out once at the end, not after each of thousands of
        # sentence formats (a 180 KB document took 97 s of GUI-thread time without it)
        cursor.beginEditBlock()
        sent = analysis.sentiment
        n_labels = max(len(sent.probabilities), 2) if sent else 2
        # an abstractive summary is the model's own text: nothing in the document is marked as picked
        extractive = analysis.summary if analysis.summary and not analysis.summary.abstractive else None
        chosen = {(s.start, s.end) for s in extractive.sentences} if extractive else set()
        classes = sentence_classifications(analysis)
        if sent:
            self.labels = [lab for lab, _ in sent.probabilities] or self.labels
            for i, s in enumerate(sent.sentences):
                self.sentences.append((at(s.start), at(s.end), i, s.text))
                fmt = QTextCharFormat()
                fmt.setBackground(highlight_color(s.label, s.score, n_labels, self.labels))
                tip = (f"neutral · p(positive) {s.p_positive:.2f}" if s.label == "neutral" and s.p_positive is not None
                       else f"{s.label} · {s.score:.2f}")
                if (s.start, s.end) in chosen:
                    tip += " · in the summary"
                tip += "".join(f" · {c}" for c in classes.get((s.start, s.end), ()))
                fmt.setToolTip(tip)
                self._apply(cursor, at(s.start), at(s.end), fmt)
                self.spans.append((at(s.start), at(s.end), tip))
                self.highlighted.append((s.text, s.label, s.score))
        if extractive:
            for s in extractive.sentences:
                fmt = QTextCharFormat()
                fmt.setFontUnderline(True)
                fmt.setUnderlineStyle(QTextCharFormat.SingleUnderline)
                fmt.setFontWeight(QFont.Bold)
                self._apply(cursor, at(s.start), at(s.end), fmt)
                self.summary_marked.append(s.text)
                if not sent:
                    self.spans.append((at(s.start), at(s.end), f"in the summary · score {s.score:.2f}"))
        cursor.endEditBlock()
        self.spans.sort()
        self.moveCursor(QTextCursor.Start)

    def highlight_words(self, words: list[str], limit: int = 500) -> int:
        """Mark where the search words occur (as word beginnings, like the library search); returns the count."""
        from PySide6.QtCore import QRegularExpression
        from PySide6.QtGui import QColor
        from PySide6.QtWidgets import QTextEdit

        selections = []
        doc = self.document()
        for word in words:
            word = "".join(ch for ch in word if ch.isalnum())
            if not word:
                continue
            rx = QRegularExpression(rf"\b{QRegularExpression.escape(word)}\w*",
                                    QRegularExpression.CaseInsensitiveOption | QRegularExpression.UseUnicodePropertiesOption)
            cursor = doc.find(rx, 0)
            while not cursor.isNull() and len(selections) < limit:
                sel = QTextEdit.ExtraSelection()
                sel.cursor = cursor
                sel.format.setBackground(QColor(255, 214, 0, 170))
                sel.format.setForeground(QColor(0, 0, 0))
                selections.append(sel)
                cursor = doc.find(rx, cursor)
        self.setExtraSelections(selections)
        if selections:
            self.setTextCursor(QTextCursor(selections[0].cursor.block()))
            self.ensureCursorVisible()
        return len(selections)

    @staticmethod
    def _apply(cursor: QTextCursor, start: int, end: int, fmt: QTextCharFormat) -> None:
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.KeepAnchor)
        cursor.mergeCharFormat(fmt)

    def tooltip_at(self, position: int) -> str | None:
        """The tooltip of the sentence at a document position (None between sentences)."""
        i = bisect.bisect_right(self.spans, (position, float("inf"), "")) - 1
        if i >= 0 and self.spans[i][0] <= position < self.spans[i][1]:
            return self.spans[i][2]
        return None

    def sentence_at(self, position: int) -> tuple[int, str] | None:
        """(index, text) of the sentence at a document position."""
        for start, end, index, text in self.sentences:
            if start <= position < end:
                return index, text
        return None

    def contextMenuEvent(self, event) -> None:
        menu = self.createStandardContextMenu(event.pos())
        hit = self.sentence_at(self.cursorForPosition(event.pos()).position())
        if hit is not None and self.labels:
            index, text = hit
            menu.addSeparator()
            sub = menu.addMenu("Label This Sentence for Fine-tuning")
            for label in self.labels:
                sub.addAction(label, lambda i=index, t=text, lab=label: self.label_requested.emit(i, t, lab))
        menu.exec(event.globalPos())
        menu.deleteLater()

    def viewportEvent(self, event: QEvent) -> bool:
        if event.type() == QEvent.ToolTip:
            pos = self.cursorForPosition(event.pos()).position()
            tip = self.tooltip_at(pos)
            if tip:
                QToolTip.showText(event.globalPos(), tip, self.viewport())
            else:
                QToolTip.hideText()
            return True
        return super().viewportEvent(event)


class SummaryPane(QWidget):
    """Summary length (sentences or ratio) and the chosen sentences with their scores."""

    requested = Signal(object, object)  # sentences: int | None, ratio: float | None

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.by_count = QRadioButton("Sentences")
        self.by_ratio = QRadioButton("Ratio")
        self.by_count.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.by_count)
        group.addButton(self.by_ratio)
        self.count = QSpinBox(minimum=1, maximum=50, value=3)
        self.ratio = QDoubleSpinBox(minimum=0.05, maximum=1.0, singleStep=0.05, value=0.2, decimals=2)
        self.ratio.setEnabled(False)
        self.by_ratio.toggled.connect(self.ratio.setEnabled)
        self.by_count.toggled.connect(self.count.setEnabled)
        self.apply = QPushButton("Summarize")
        self.apply.setToolTip("Summarize the open document with this length (Ctrl+M)")
        self.apply.clicked.connect(self._request)
        self.length_box = QWidget()  # the length of an extractive summary (an abstractive model picks its own)
        row = QHBoxLayout(self.length_box)  # two rows, so the pane fits beside the text on a 1024 px screen
        row.setContentsMargins(0, 0, 0, 0)
        for w in (self.by_count, self.count, self.by_ratio, self.ratio):
            row.addWidget(w)
        row.addStretch(1)
        row2 = QHBoxLayout()
        row2.addStretch(1)
        row2.addWidget(self.apply)
        self.text = QTextBrowser()
        self.text.setPlaceholderText("The summary of the open document appears here.")
        lay = QVBoxLayout(self)
        lay.addWidget(self.length_box)
        lay.addLayout(row2)
        lay.addWidget(self.text, 1)
        self.note = note = QLabel(self.EXTRACTIVE_NOTE)
        note.setWordWrap(True)
        note.setEnabled(False)
        lay.addWidget(note)
        self.sentences: list[str] = []

    def length(self) -> tuple[int | None, float | None]:
        return (None, round(self.ratio.value(), 2)) if self.by_ratio.isChecked() else (self.count.value(), None)

    def _request(self) -> None:
        self.requested.emit(*self.length())

    EXTRACTIVE_NOTE = "Summary sentences are bold and underlined in the document."

    def show_analysis(self, analysis: Analysis | None) -> None:
        summary = analysis.summary if analysis else None
        self.sentences = [s.text for s in summary.sentences] if summary else []
        abstractive = bool(summary is not None and summary.abstractive)
        self.length_box.setEnabled(not abstractive)
        self.length_box.setToolTip("The summary model writes its summary at its own length" if abstractive else "")
        self.note.setText("Written by the summary model (abstractive): nothing is marked in the document."
                          if abstractive else self.EXTRACTIVE_NOTE)
        if summary is not None and summary.unsupported_lang:
            self.text.setHtml(f"<p><i>No summary: {_esc(summary.note)}. No installed summary model reads "
                              "this language.</i></p>")
            return
        if not summary:
            self.text.setHtml("<p><i>No summary yet. Choose a length and press Summarize.</i></p>")
            return
        if summary.abstractive:
            self.text.setHtml(abstractive_html(summary))
            return
        items = "".join(
            f"<li style='margin-bottom:6px'>{_esc(s.text)} <span style='color:gray'>"
            f"(sentence {s.index + 1}, score {s.score:.2f})</span></li>" for s in summary.sentences
        )
        self.text.setHtml(f"<ol>{items}</ol>")


def abstractive_html(summary) -> str:
    """An abstractive summary: the model's text, paragraph by part of the document, and what it is."""
    parts: dict[tuple[int, int], list] = {}
    for s in summary.sentences:
        parts.setdefault((s.start, s.end), []).append(s)
    paras = "".join(f"<p>{_esc(' '.join(s.text for s in group))} <span style='color:gray'>"
                    f"(model confidence {group[0].score:.2f})</span></p>" for group in parts.values())
    if not parts:  # every part decoded to nothing (special tokens only): say so, not an empty pane
        paras = "<p><i>The summary model wrote nothing for this document.</i></p>"
    more = f" in {len(parts)} parts (the document is longer than the model reads at once)" if len(parts) > 1 else ""
    return (paras + "<p style='color:gray'><i>Abstractive summary: written by the summary model" + more +
            ", not sentences taken from the document. Check names and numbers against the text. "
            "The length is the model's own.</i></p>")


class TranslationPane(QWidget):
    """Target language from the installed models, and the translation beside the source, sentence by sentence."""

    requested = Signal(str)
    document_requested = Signal(str)  # translate the whole file as a document (side by side, export)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.language = QComboBox()
        self.language.setMinimumContentsLength(6)
        self.go = QPushButton("Translate")
        self.go.setToolTip("Translate the open document (Ctrl+T)")
        self.go.clicked.connect(lambda: self.requested.emit(self.language.currentData() or ""))
        self.whole = QPushButton("As document…")
        self.whole.setToolTip("Translate the whole file side by side, with a glossary, and export it as "
                              ".docx, .md or .txt")
        self.whole.clicked.connect(lambda: self.document_requested.emit(self.language.currentData() or ""))
        # the input's language, detected when a document is shown: an English-only model is not run on
        # French text, and the user sees why before pressing anything
        self.detected = QLabel()
        self.detected.setObjectName("detectedLanguage")
        self.note = QLabel()
        self.note.setWordWrap(True)
        # what the chosen model was trained on, always in view: a caption model fed a contract
        # produces fluent nonsense, and the user must know before trusting a line of it
        self.domain = QLabel()
        self.domain.setWordWrap(True)
        self.domain.setObjectName("translationDomain")
        self.domain.setStyleSheet("QLabel#translationDomain { background: palette(alternate-base); "
                                  "border-left: 3px solid #c98a00; padding: 4px 6px; }")
        self._notes: dict[str, str] = {}
        # how many sentences the model is confident about, and which model ran: the shaded rows are the others
        self.quality = QLabel()
        self.quality.setWordWrap(True)
        self.quality.setObjectName("translationQuality")
        self.quality.setVisible(False)
        self.language.currentIndexChanged.connect(self._show_domain)
        row = QHBoxLayout()  # language, then the buttons: the pane fits beside the text on a 1024 px screen
        row.addWidget(QLabel("Target language:"))
        row.addWidget(self.language, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.go)
        buttons.addWidget(self.whole)
        buttons.addStretch(1)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Source", "Translation"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.setWordWrap(True)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addLayout(buttons)
        lay.addWidget(self.detected)
        lay.addWidget(self.domain)
        lay.addWidget(self.note)
        lay.addWidget(self.quality)
        lay.addWidget(self.table, 1)
        self.set_languages([])

    def set_languages(self, langs: list[str], notes: dict[str, str] | None = None) -> None:
        """Offer `langs`; `notes` says per language what its model was trained on (shown under the row)."""
        self._notes = dict(notes or {})
        current = self.language.currentData()
        self.language.clear()
        for lang in langs:
            self.language.addItem(LANGUAGE_NAMES.get(lang, lang), lang)
        i = self.language.findData(current)
        if i >= 0:
            self.language.setCurrentIndex(i)
        self.go.setEnabled(bool(langs))
        self.whole.setEnabled(bool(langs))
        self.language.setEnabled(bool(langs))
        self.note.setText("" if langs else "No translation model is installed. Import one in the Models view.")
        self.note.setVisible(not langs)
        self._show_domain()

    def _show_domain(self, *_args) -> None:
        text = self._notes.get(self.language.currentData() or "", "")
        self.domain.setText(f"\u26a0 {text}" if text else "")
        self.domain.setVisible(bool(text))

    def show_analysis(self, analysis: Analysis | None) -> None:
        tr = analysis.translation if analysis else None
        self.table.setRowCount(0)
        self._show_detected(analysis)
        if self.go.isEnabled():
            self.note.setText("" if tr or not analysis else "Choose a language and press Translate.")
            self.note.setVisible(bool(analysis) and not tr)
        if tr is not None and tr.note:  # nothing was translated, and this says why
            self.note.setText(tr.note)
            self.note.setVisible(True)
        self.quality.setVisible(False)
        if not tr:
            return
        from app.ui.translation_marks import confidence_tooltip, mark_low_confidence, quality_summary

        pairs = [(s.source, s.text, s) for s in tr.sentences] or [(analysis.document.text, tr.text, None)]
        self.table.setRowCount(len(pairs))
        for r, (src, dst, sent) in enumerate(pairs):
            items = (QTableWidgetItem(src), QTableWidgetItem(dst))
            if sent is not None and sent.confidence is not None:
                for item in items:
                    item.setToolTip(confidence_tooltip(sent))
                if sent.low_confidence:
                    mark_low_confidence(items)
            self.table.setItem(r, 0, items[0])
            self.table.setItem(r, 1, items[1])
        model = next((m for m in analysis.models if m.task == "translation"), None)
        summary = quality_summary(tr.sentences, model)
        self.quality.setText(summary)
        self.quality.setVisible(bool(summary))
        self.table.setHorizontalHeaderLabels(
            [f"Source ({tr.source_lang})", f"Translation ({tr.lang})"])
        self.table.resizeRowsToContents()
        i = self.language.findData(tr.lang)
        if i >= 0:
            self.language.setCurrentIndex(i)

    def rows(self) -> list[tuple[str, str]]:
        return [(self.table.item(r, 0).text(), self.table.item(r, 1).text()) for r in range(self.table.rowCount())]

    def _show_detected(self, analysis: Analysis | None) -> None:
        self._detect_token = None
        if analysis is None or not analysis.document.text.strip():
            self.detected.setText("")
            self.detected.setVisible(False)
            return
        # off the GUI thread: the first call loads the detector's model (~0.75 s)
        from app.core.language import detect_language
        from app.ui.ops import BackgroundOp

        text = analysis.document.text
        self._detect_token = token = object()
        self.detected.setText("Input language: detecting…")
        self.detected.setVisible(True)

        def done(guess) -> None:
            if getattr(self, "_detect_token", None) is token:
                self._set_detected(guess)

        self._detect_op = BackgroundOp(None, lambda _ctx: detect_language(text), success=done).run()

    def _set_detected(self, guess) -> None:
        self.detected.setText(f"Input language: {guess.describe()}")
        self.detected.setVisible(True)


LANGUAGE_NAMES = {"fr": "French (fr)", "de": "German (de)", "es": "Spanish (es)", "it": "Italian (it)",
                  "en": "English (en)", "nl": "Dutch (nl)", "pt": "Portuguese (pt)"}


def language_line(analysis: Analysis | None) -> str:
    """The line under the title: the document's language, and what that meant for its analysis."""
    if analysis is None or (analysis.language is None and analysis.sentiment is None):
        return ""
    line = "Language: " + describe_document_language(analysis.language)
    notes = list(dict.fromkeys(r.note for r in (analysis.sentiment, analysis.summary) if r is not None and r.note))
    if any(r is not None and r.unsupported_lang for r in (analysis.sentiment, analysis.summary)):
        notes = [n + ": no sentiment, no summary" for n in notes]
    elif analysis.language is not None and analysis.sentiment is not None and analysis.sentiment.sentences:
        starts = [x.start for x in analysis.sentiment.sentences]  # the analyzer left uncovered paragraphs out
        skipped = [sp.code for sp in analysis.language.spans if not any(sp.start <= x < sp.end for x in starts)]
        if skipped:
            names = ", ".join(language_name(c) for c in dict.fromkeys(skipped))
            notes.append(f"{names} not coloured (no model reads it)")
    return " · ".join([line] + notes)


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class DetailsPane(QWidget):
    """Which models ran, on which device, how long it took, and what the file was."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.form = QFormLayout(self)
        self.form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.fields: dict[str, QLabel] = {}
        for name in ("Source", "Format", "Characters", "Sentences", "Sentiment", "Probabilities",
                     "Classifications", "Model windows", "Models", "Device", "Time taken"):
            lab = QLabel("–")
            lab.setWordWrap(True)
            lab.setTextInteractionFlags(Qt.TextSelectableByMouse)
            self.fields[name] = lab
            self.form.addRow(f"{name}:", lab)
        lab = QLabel("–")  # the document's language, under its source
        lab.setWordWrap(True)
        lab.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.fields["Language"] = lab
        self.form.insertRow(1, "Language:", lab)

    def show_analysis(self, analysis: Analysis | None, fresh: Analysis | None = None) -> None:
        for lab in self.fields.values():
            lab.setText("–")
        if analysis is None:
            return
        doc = analysis.document
        f = self.fields
        f["Source"].setText(shown(doc.source))
        f["Format"].setText(f"{doc.format}, {doc.encoding}")
        f["Characters"].setText(f"{len(doc.text):,}")
        f["Language"].setText(describe_document_language(analysis.language))
        sent = analysis.sentiment
        if sent:
            f["Sentences"].setText(str(len(sent.sentences)))
            f["Sentiment"].setText(f"neutral (p(positive) {sent.p_positive:.3f}, inside the band ±{sent.neutral_band:.2f})"
                                   if sent.label == "neutral" and sent.p_positive is not None
                                   else f"{sent.label} ({sent.score:.3f})")
            f["Probabilities"].setText(", ".join(f"{k} {v:.3f}" for k, v in sent.probabilities))
            f["Model windows"].setText(str(sent.chunks))
        if analysis.classifications:
            f["Classifications"].setText("\n".join(
                f"{classification_title(c.name)}: {c.label} ({c.score:.3f}); "
                + ", ".join(f"{k} {v:.3f}" for k, v in c.scores) for c in analysis.classifications))
        unread = {task for task, r in (("sentiment", sent), ("summary", analysis.summary))
                  if r is not None and r.unsupported_lang}  # tasks whose model does not read the language
        if sent is not None and sent.unsupported_lang:
            f["Sentiment"].setText(sent.note + " (no label)")
            f["Sentences"].setText("– (not analysed)")
            f["Probabilities"].setText("–")
            f["Model windows"].setText("–")
        models = (fresh or analysis).models
        f["Models"].setText("\n".join(f"{m.task}: {m.id} {m.version}"
                                      + (" (does not read this language; not run)" if m.task in unread else "")
                                      for m in analysis.models) or "–")
        providers = sorted({m.provider for m in models if m.provider})
        f["Device"].setText(", ".join(providers) or "–")
        seconds = fresh.seconds if fresh else analysis.seconds
        f["Time taken"].setText(f"{seconds:.2f} s" + ("" if fresh else " (when analysed)"))

    def value(self, name: str) -> str:
        return self.fields[name].text()


class DocumentPage(QWidget):
    """Title and badge, the coloured text, and the Summary / Translation / Details tabs beside it."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = ElidedLabel(min_chars=10)  # the file name; a long one ends in "…", whole in the tooltip
        tf = self.title.font()
        tf.setPointSizeF(tf.pointSizeF() * 1.35)
        tf.setBold(True)
        self.title.setFont(tf)
        self.subtitle = ElidedLabel(min_chars=10)  # the document's own title (first heading), when it has one
        sf = self.subtitle.font()
        sf.setItalic(True)
        self.subtitle.setFont(sf)
        self.badge = SentimentBadge()
        self.source = ElidedLabel(min_chars=10)
        self.source.setEnabled(False)
        self.classes = QLabel()  # the user's classifications of the document, beside its sentiment
        self.classes.setWordWrap(True)
        self.classes.setTextFormat(Qt.RichText)
        self.language = QLabel()  # "Language: French (97%)", and why there is no label when no model covers it
        self.language.setObjectName("documentLanguage")
        self.language.setWordWrap(True)
        self.classes.setToolTip("What your classifiers (fine-tuned models with your own labels) say about this document")
        self.legend = legend = QLabel()
        legend.setWordWrap(True)
        self.set_legend([], 0.0)
        self.text = DocumentText()
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.badge, 0, Qt.AlignTop)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addLayout(head)
        ll.addWidget(self.subtitle)
        ll.addWidget(self.classes)
        ll.addWidget(self.language)
        ll.addWidget(self.source)
        ll.addWidget(legend)
        ll.addWidget(self.text, 1)
        self.summary = SummaryPane()
        self.translation = TranslationPane()
        self.details = DetailsPane()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.summary, "Summary")
        self.tabs.addTab(self.translation, "Translation")
        self.tabs.addTab(self.details, "Details")
        self.splitter = QSplitter(Qt.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.splitter)
        self.document_id: int | None = None
        self.analysis: Analysis | None = None
        self.show_analysis(None)

    def set_legend(self, labels: list[str], neutral_band: float) -> None:
        """The colour key of the model that labelled the open document (its own labels, or the sentiment pair)."""
        self.legend_labels = list(labels)
        self.legend.setText(legend_html(labels, neutral_band) + "&nbsp; stronger colour = surer · "
                            "<b><u>bold underlined</u></b> = in the summary · hover for the score")

    def show_analysis(self, analysis: Analysis | None, document_id: int | None = None,
                      fresh: Analysis | None = None) -> None:
        self.analysis, self.document_id = analysis, document_id
        if analysis is None:
            self.title.setText("No document open")
            self.subtitle.setText("")
            self.subtitle.hide()
            self.source.setText("")
            self.badge.set_result(None, None)
        else:
            doc = analysis.document
            name = shown(display_name(doc.source, doc.title))
            self.title.setText(name)
            title = shown(real_title(doc.title))
            self.subtitle.setText(title if title and title != name else "")
            self.subtitle.setVisible(bool(self.subtitle.text()))
            self.source.setText(shown(doc.source))
            s = analysis.sentiment
            self.badge.set_result(s.label if s else None, s.score if s else None,
                                  [lab for lab, _ in s.probabilities] if s else None,
                                  s.p_positive if s and s.label == "neutral" else None)
            self.set_legend([lab for lab, _ in s.probabilities] if s else [], s.neutral_band if s else 0.0)
        # nothing is coloured in a document no model reads: no colour key
        self.legend.setVisible(not (analysis is not None and analysis.sentiment is not None
                                    and analysis.sentiment.unsupported_lang))
        self.classes.setText(classifications_html(analysis))
        self.classes.setVisible(bool(self.classes.text()))
        self.language.setText(language_line(analysis))
        self.language.setVisible(bool(self.language.text()))
        self.text.show_analysis(analysis)
        self.summary.show_analysis(analysis)
        self.translation.show_analysis(analysis)
        self.details.show_analysis(analysis, fresh)
