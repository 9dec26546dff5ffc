"""Translate the open document as a document: source and translation side by side, sentence by sentence.

Hover a sentence on either side and it lights up on both; Copy puts the translation on the clipboard;
Export writes .docx / .md / .txt (a .docx source keeps its styles, tables, headers and footers). The
input's detected language is shown before anything runs; an English-only model is not run on other text
unless the user says so. Long documents show sentences done and can be cancelled. Sentences the model is
not confident about are shaded, with the reason in a tooltip; the export keeps them in the original language
(highlighted) or translated and highlighted, as chosen.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from PySide6.QtCore import QEvent, QSettings, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.core.document_translation import DocumentTranslation, output_name, write_translation
from app.core.errors import Cancelled, LanguageMismatchError
from app.core.language import detect_language
from app.jobs.translate_document import TranslateProgress, TranslateRequest, run_document_translation
from app.ui.document_view import LANGUAGE_NAMES, utf16_offsets
from app.ui.ops import BackgroundOp, describe_error
from app.ui.translation_marks import LOW_BACKGROUND, LOW_FOREGROUND, confidence_tooltip
from app.ui.widgets import ProgressBar

GLOSSARY_KEY = "translation/glossary"
LOW_MODE_KEY = "translation/low_confidence"


def untranslated_paragraphs(result: DocumentTranslation, limit: int = 3) -> str:
    """Which paragraphs kept their source text, by number and opening words: 'paragraph 4 (“Die Lieferung …”)'."""
    found = []
    n = 0
    for b in result.blocks:
        if not any(ch.isalpha() for ch in b.source):
            continue
        n += 1
        if b.untranslated:
            words = " ".join(b.source.split())
            found.append(f"paragraph {n} (“{words[:60].rstrip()}{'…' if len(words) > 60 else ''}”)")
    if not found:
        return ""
    more = f" and {len(found) - limit} more" if len(found) > limit else ""
    return "Kept in the original: " + ", ".join(found[:limit]) + more + "."


class AlignedText(QTextBrowser):
    """Read-only text whose sentences are (start, end) spans; hovering one emits its index."""

    hovered = Signal(int)  # -1 when the pointer is on no sentence

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMouseTracking(True)
        self.viewport().setMouseTracking(True)
        self.viewport().installEventFilter(self)
        self.spans: list[tuple[int, int]] = []  # Qt positions
        self.tips: list[str] = []
        self._current = -1

    def set_text(self, text: str, spans: list[tuple[int, int]], low: Sequence[int] = (),
                 tips: Sequence[str] = ()) -> None:
        """Show `text`; `spans` are its sentences, those numbered in `low` are shaded, `tips[i]` is the
        tooltip of sentence i."""
        self.setPlainText(text)
        q = utf16_offsets(text)
        self.spans = [(q(a), q(b)) for a, b in spans]
        self.tips = list(tips)
        self._current = -1
        self.viewport().setToolTip("")
        if low:
            fmt = QTextCharFormat()
            fmt.setBackground(LOW_BACKGROUND)
            fmt.setForeground(LOW_FOREGROUND)
            fmt.setFontItalic(True)
            c = QTextCursor(self.document())
            c.beginEditBlock()  # one layout for all of them
            for i in low:
                if 0 <= i < len(self.spans):
                    a, b = self.spans[i]
                    c.setPosition(a)
                    c.setPosition(b, QTextCursor.KeepAnchor)
                    c.mergeCharFormat(fmt)
            c.endEditBlock()

    def index_at(self, pos: int) -> int:
        for i, (a, b) in enumerate(self.spans):
            if a <= pos < b:
                return i
        return -1

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt's name
        if obj is self.viewport():
            if event.type() == QEvent.MouseMove:
                i = self.index_at(self.cursorForPosition(event.position().toPoint()).position())
                if i != self._current:
                    self._current = i
                    self.viewport().setToolTip(self.tips[i] if 0 <= i < len(self.tips) else "")
                    self.hovered.emit(i)
            elif event.type() == QEvent.Leave and self._current != -1:
                self._current = -1
                self.hovered.emit(-1)
        return super().eventFilter(obj, event)

    def highlight(self, index: int) -> None:
        """Mark sentence `index` (none for -1) and scroll it into view."""
        sel = []
        if 0 <= index < len(self.spans):
            a, b = self.spans[index]
            c = QTextCursor(self.document())
            c.setPosition(a)
            c.setPosition(b, QTextCursor.KeepAnchor)
            fmt = QTextCharFormat()
            fmt.setBackground(QColor(255, 214, 102, 170))
            s = QTextEdit.ExtraSelection()
            s.cursor, s.format = c, fmt
            sel.append(s)
            self.setTextCursor(QTextCursor(c.block()))
            self.ensureCursorVisible()
        self.setExtraSelections(sel)

    def highlighted_text(self) -> str:
        sel = self.extraSelections()
        return sel[0].cursor.selectedText() if sel else ""


class DocumentTranslationDialog(QDialog):
    """The whole-document translator for one file (non-modal; one op at a time)."""

    def __init__(self, source: str, analyzer, languages: list[str], settings: QSettings | None = None,
                 parent: QWidget | None = None, text: str = ""):
        super().__init__(parent)
        self.setWindowTitle(f"Translate {Path(source).name}")
        self.resize(1000, 640)
        self.source_path = source
        self.analyzer = analyzer
        self.settings = settings or QSettings()
        self.result: DocumentTranslation | None = None
        self._model_note = ""  # which model ran and its validation scores, shown in the status tooltip
        self.op: BackgroundOp | None = None
        self.language = QComboBox()
        for lang in languages:
            self.language.addItem(LANGUAGE_NAMES.get(lang, lang), lang)
        self.detected = QLabel()
        self.detected.setObjectName("detectedLanguage")
        self.glossary_label = QLabel()
        self.glossary_button = QPushButton("Glossary…")
        self.glossary_button.setToolTip("Terms to keep as they are or to translate one way: one per line, "
                                        "'term' or 'term = translation', [fr]/[de] sections, or a term,fr,de CSV")
        self.glossary_button.clicked.connect(self.choose_glossary)
        self.clear_glossary = QPushButton("No glossary")
        self.clear_glossary.clicked.connect(lambda: self.set_glossary(""))
        self.any_language = QCheckBox("Translate even if the text is not in the model's language")
        self.low_mode = QComboBox()
        self.low_mode.setObjectName("lowConfidenceMode")
        self.low_mode.addItem("keep them in the original, highlighted", "keep-source")
        self.low_mode.addItem("keep the translation, highlighted", "mark")
        self.low_mode.setToolTip("What the exported document shows for sentences the model is not confident about "
                                 "(shaded here; hover one for the reason)")
        i = self.low_mode.findData(str(self.settings.value(LOW_MODE_KEY, "keep-source") or "keep-source"))
        self.low_mode.setCurrentIndex(max(i, 0))
        self.low_mode.currentIndexChanged.connect(
            lambda _i: self.settings.setValue(LOW_MODE_KEY, self.low_mode.currentData()))
        self.go = QPushButton("Translate")
        self.go.clicked.connect(self.start)
        self.cancel = QPushButton("Cancel")
        self.cancel.setEnabled(False)
        self.cancel.clicked.connect(self.stop)
        self.progress = ProgressBar()
        self.progress.setFormat("%v / %m sentences")
        self.progress.setVisible(False)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.source = AlignedText()
        self.target = AlignedText()
        self.source.setPlaceholderText("The document, sentence by sentence.")
        self.target.setPlaceholderText("The translation appears here; hover a sentence to see its counterpart.")
        self.source.hovered.connect(self._hover)
        self.target.hovered.connect(self._hover)
        self.copy = QPushButton("Copy translation")
        self.copy.setEnabled(False)
        self.copy.clicked.connect(self.copy_translation)
        self.export = QPushButton("Export…")
        self.export.setEnabled(False)
        self.export.clicked.connect(self.export_dialog)
        top = QHBoxLayout()
        top.addWidget(QLabel("Into:"))
        top.addWidget(self.language)
        top.addWidget(self.go)
        top.addWidget(self.cancel)
        top.addWidget(self.progress, 1)
        gl = QHBoxLayout()
        gl.addWidget(self.detected, 1)
        gl.addWidget(self.glossary_label)
        gl.addWidget(self.glossary_button)
        gl.addWidget(self.clear_glossary)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(self.source)
        split.addWidget(self.target)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.copy)
        bottom.addWidget(self.export)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addLayout(gl)
        opts = QHBoxLayout()
        opts.addWidget(self.any_language)
        opts.addStretch(1)
        opts.addWidget(QLabel("Low-confidence sentences on export:"))
        opts.addWidget(self.low_mode)
        lay.addLayout(opts)
        lay.addWidget(split, 1)
        lay.addLayout(bottom)
        self.set_glossary(str(self.settings.value(GLOSSARY_KEY, "") or ""), remember=False)
        if text:
            self.show_detected(text)
            self.source.setPlainText(text)

    # ---- input

    def show_detected(self, text: str) -> None:
        g = detect_language(text)
        self.detected.setText(f"Input language: {g.describe()}")

    def set_glossary(self, path: str, remember: bool = True) -> None:
        self.glossary = path or ""
        self.glossary_label.setText(f"Glossary: {Path(path).name}" if path else "No glossary")
        self.clear_glossary.setEnabled(bool(path))
        if remember:
            self.settings.setValue(GLOSSARY_KEY, self.glossary)

    def choose_glossary(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Glossary", str(Path(self.source_path).parent),
                                              "Glossary (*.txt *.tsv *.csv);;All files (*)")
        if path:
            self.set_glossary(path)

    # ---- running

    def request(self) -> TranslateRequest:
        return TranslateRequest(self.source_path, self.language.currentData() or "fr", output="",
                                glossary=self.glossary or None, check_language=not self.any_language.isChecked())

    def start(self) -> BackgroundOp | None:
        if self.op is not None and not self.op.finished:
            return None
        req, analyzer = self.request(), self.analyzer
        self.go.setEnabled(False)
        self.cancel.setEnabled(True)
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.status.setText("Reading and translating…")
        def work(ctx):  # the model's validation note is read here too: it reads the model folders
            outcome = run_document_translation(req, analyzer, progress=ctx.progress, cancelled=ctx.cancelled)
            note = analyzer.translation_note(req.target_lang) if hasattr(analyzer, "translation_note") else ""
            return outcome, note

        self.op = BackgroundOp(self, work, success=lambda r: self.show_result(r[0].result, r[1]), failure=self._failed,
                               progress=self._progress, progress_label="Translating the document…")
        return self.op.run()

    def stop(self) -> None:
        if self.op is not None:
            self.op.cancel()
            self.status.setText("Cancelling after the current batch…")

    def _progress(self, p: TranslateProgress) -> None:
        self.progress.setRange(0, max(p.total, 1))
        self.progress.setValue(p.done)
        if p.remaining is not None:
            self.status.setText(f"Translating… about {p.remaining:.0f} s left")

    def _idle(self) -> None:
        self.go.setEnabled(True)
        self.cancel.setEnabled(False)
        self.progress.setVisible(False)

    def _failed(self, exc: BaseException) -> None:
        self._idle()
        if isinstance(exc, Cancelled):
            self.status.setText("Cancelled; nothing was translated.")
        elif isinstance(exc, LanguageMismatchError):
            self.status.setText(f"{exc} Tick the box above to translate it all the same.")
        else:
            self.status.setText(describe_error(exc))

    # ---- showing

    def show_result(self, result: DocumentTranslation, model_note: str | None = None) -> None:
        """Show a translation; `model_note` says which model ran and how it measured (kept from the last run
        when None)."""
        self._idle()
        self.result = result
        if model_note is not None:
            self._model_note = model_note
        src_text, dst_text, src_spans, dst_spans, low, tips = [], [], [], [], [], []
        spos = dpos = 0
        for b in result.blocks:
            if not b.source.strip():
                continue
            if src_text:
                spos += 2
                dpos += 2
            for s in b.sentences:
                src_spans.append((spos + s.start, spos + s.end))
                if b.untranslated:
                    dst_spans.append((dpos + s.start, dpos + s.end))
                    tips.append("Kept in the original: the model gave nothing usable back for this paragraph")
                else:
                    dst_spans.append((dpos + s.target_start, dpos + s.target_end))
                    tips.append(confidence_tooltip(s))
                    if s.low_confidence:
                        low.append(len(dst_spans) - 1)
            src_text.append(b.source)
            dst_text.append(b.output)
            spos += len(b.source)
            dpos += len(b.output)
        self.source.set_text("\n\n".join(src_text), src_spans, low, tips)
        self.target.set_text("\n\n".join(dst_text), dst_spans, low, tips)
        g = result.detected
        self.detected.setText(f"Input language: {g.describe()}" if g else "Input language: not checked")
        kept = untranslated_paragraphs(result)
        quality = self._model_note
        self.status.setText(f"{result.describe()}. {result.seconds:.1f} s, {result.model.id} {result.model.version}."
                            + (" Shaded sentences are low-confidence: hover one for the reason." if low else "")
                            + (f"\n{kept}" if kept else ""))
        self.status.setToolTip("\n".join(x for x in (untranslated_paragraphs(result, limit=50), quality) if x))
        self.copy.setEnabled(bool(result.text))
        self.export.setEnabled(True)

    def _hover(self, index: int) -> None:
        self.source.highlight(index)
        self.target.highlight(index)

    def copy_translation(self) -> None:
        if self.result is not None:
            QGuiApplication.clipboard().setText(self.result.text)
            self.status.setText("The translation is on the clipboard.")

    def export_dialog(self) -> None:
        if self.result is None:
            return
        default = output_name(self.source_path, self.result.target_lang)
        path, _ = QFileDialog.getSaveFileName(self, "Export translation", str(default),
                                              "Word document (*.docx);;Markdown (*.md);;Text (*.txt)")
        if path:
            self.export_to(path)

    def export_to(self, path: str) -> Path | None:
        try:
            out = write_translation(self.result, path, low_confidence=self.low_mode.currentData() or "keep-source")
        except Exception as exc:  # noqa: BLE001 - shown, never a crash
            self.status.setText(describe_error(exc))
            return None
        note = f" {untranslated_paragraphs(self.result)}" if self.result.untranslated else ""
        quality = self.result.quality_line()
        self.status.setText(f"Wrote {out}." + (f" {quality}." if quality else "") + note)
        return out
