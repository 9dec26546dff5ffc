"""New from Clipboard (Ctrl+V): paste or type text and analyse it like a document, kept in the library if asked."""
from __future__ import annotations

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.core.pasted import MAX_PASTED_CHARS, text_title


class PasteDialog(QDialog):
    """The text (from the clipboard, editable), an optional title, and whether to keep it in the library."""

    def __init__(self, text: str = "", keep: bool = False, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Analyse Text")
        self.text = QPlainTextEdit()
        self.text.setPlaceholderText("Paste or type the text to analyse…")
        self.text.setPlainText(text)
        self.title = QLineEdit()
        self.keep = QCheckBox("Keep it in the library (searchable, exportable, for fine-tuning labels)")
        self.keep.setChecked(keep)
        self.info = QLabel()
        self.info.setEnabled(False)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.buttons.button(QDialogButtonBox.Ok).setText("Analyse")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.text.textChanged.connect(self._changed)
        form = QFormLayout()
        form.addRow("Title:", self.title)
        lay = QVBoxLayout(self)
        lay.addWidget(self.text, 1)
        lay.addLayout(form)
        lay.addWidget(self.keep)
        lay.addWidget(self.info)
        lay.addWidget(self.buttons)
        self.resize(640, 420)
        self._changed()

    @classmethod
    def from_clipboard(cls, keep: bool = False, parent: QWidget | None = None) -> "PasteDialog":
        return cls(QGuiApplication.clipboard().text(), keep, parent)

    def _changed(self) -> None:
        text = self.text.toPlainText()
        self.title.setPlaceholderText(text_title(text) if text.strip() else "from the first words")
        n = len(text)
        self.info.setText(f"{n:,} characters" + (f" (at most {MAX_PASTED_CHARS:,})" if n > MAX_PASTED_CHARS else ""))
        self.buttons.button(QDialogButtonBox.Ok).setEnabled(bool(text.strip()) and n <= MAX_PASTED_CHARS)

    def chosen(self) -> tuple[str, str | None, bool]:
        """(text, title or None, keep)."""
        return self.text.toPlainText(), self.title.text().strip() or None, self.keep.isChecked()
