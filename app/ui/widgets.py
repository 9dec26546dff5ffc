"""Small shared widgets: the message banner, the sentiment badge, an elided label, a progress bar."""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QProgressBar, QSizePolicy, QToolButton, QWidget

from app.ui.theme import is_dark, label_color


class ProgressBar(QProgressBar):
    """A progress bar whose new value is painted at the event loop's next turn. QProgressBar.setValue repaints
    at once (QWidget::repaint), and a repaint paints every widget of the window waiting for one, inside the
    slot that set the value: during a batch that was the library pane's refresh too, 35-60 ms of GUI-thread
    work in one progress report (tests/ui/test_batch_stall.py)."""

    def setValue(self, value: int) -> None:  # noqa: N802 - Qt naming
        if value == self.value():
            return
        self.setUpdatesEnabled(False)
        try:
            super().setValue(value)
        finally:
            self.setUpdatesEnabled(True)  # which schedules the paint (QWidget::update)


class ElidedLabel(QLabel):
    """A one-line label that never widens its layout: text that does not fit ends in "…" and the whole of
    it is in the tooltip. For status lines, titles and file names, whose length the user decides."""

    def __init__(self, text: str = "", parent: QWidget | None = None, min_chars: int = 8):
        super().__init__(text, parent)
        self._min_chars = min_chars
        # Preferred: as wide as the text when there is room, down to minimumSizeHint when there is not
        self.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Preferred)
        self.setToolTip(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt naming
        super().setText(text)
        self.setToolTip(text if text else "")

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt naming
        fm = self.fontMetrics()
        return QSize(fm.averageCharWidth() * self._min_chars, fm.height())

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt naming
        fm = self.fontMetrics()
        return QSize(fm.horizontalAdvance(self.text()) + 4, fm.height())

    def elided(self) -> str:
        """The text as it is drawn at the current width."""
        return self.fontMetrics().elidedText(self.text(), Qt.ElideRight, max(self.contentsRect().width(), 0))

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt naming
        p = QPainter(self)
        p.setPen(self.palette().color(self.foregroundRole()))
        p.setFont(self.font())
        p.drawText(self.contentsRect(), int(self.alignment() | Qt.AlignVCenter), self.elided())


class MessageBanner(QFrame):
    """A dismissible line above the views for errors and notices; it never blocks the window."""

    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("messageBanner")
        self.setFrameShape(QFrame.StyledPanel)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 6, 6, 6)
        self.icon = QLabel()
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss (Esc)")
        close.clicked.connect(self.dismiss)
        lay.addWidget(self.icon)
        lay.addWidget(self.label, 1)
        lay.addWidget(close)
        self._timer = QTimer(self, singleShot=True, timeout=self.dismiss)
        self.hide()

    def show_message(self, text: str, kind: str = "error", timeout_ms: int = 0) -> None:
        colors = {"error": ("#f8d7da", "#842029", "⚠"), "info": ("#d1e7ff", "#084298", "ℹ"),
                  "ok": ("#d1f0dc", "#0f5132", "✓")}
        bg, fg, sym = colors.get(kind, colors["info"])
        if is_dark(self.palette()):
            bg, fg = fg, bg  # deep background, pale text
        self.setStyleSheet(f"#messageBanner {{ background: {bg}; border: 1px solid {fg}; border-radius: 4px; }}"
                           f" #messageBanner QLabel, #messageBanner QToolButton {{ color: {fg}; }}")
        self.icon.setText(sym)
        self.label.setText(text)
        self.kind = kind
        self.show()
        if timeout_ms:
            self._timer.start(timeout_ms)
        else:
            self._timer.stop()

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""

    def dismiss(self) -> None:
        self.hide()
        self.dismissed.emit()


class SentimentBadge(QLabel):
    """'positive 0.93' on the label's colour."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("sentimentBadge")
        self.set_result(None, None)

    def set_result(self, label: str | None, score: float | None, labels: list[str] | None = None,
                   p_positive: float | None = None) -> None:
        """The document's label; a neutral one shows the model's p(positive) instead of a probability of "neutral"."""
        if not label:
            self.setText("")
            self.hide()
            return
        c = label_color(label, labels)
        if p_positive is not None:
            score = None
            self.setText(f" {label} (p+ {p_positive:.2f}) ")
        else:
            self.setText(f" {label} {score:.2f} " if score is not None else f" {label} ")
        self.setStyleSheet(f"QLabel {{ background: {c.name()}; color: white; border-radius: 6px;"
                           " padding: 2px 6px; font-weight: bold; }")
        self.setToolTip(f"Document sentiment: {label}" + (f", probability {score:.3f}" if score is not None else "")
                        + (f"; the model's probability of positive is {p_positive:.3f}, inside the neutral band"
                           if p_positive is not None else ""))
        self.show()


_PLACEHOLDER_TITLES = {"(anonymous)", "anonymous", "untitled", "untitled document", "document", "title", "none",
                       "microsoft word", "(untitled)", "no title"}


def real_title(title: str) -> str:
    """A document's own title, or "" when it is a tool's placeholder: PDF metadata often says "(anonymous)",
    "Untitled" or "Microsoft Word - report.docx" instead of a title."""
    t = " ".join((title or "").split())
    if t.lower().startswith("microsoft word - "):
        t = t[len("microsoft word - "):]
        t = "" if t.lower().endswith((".doc", ".docx", ".rtf")) else t
    return "" if t.lower() in _PLACEHOLDER_TITLES else t


def display_name(source: str, title: str = "") -> str:
    """What a document is called in lists: its file name ("reviews.csv #3" for a table row); text that came
    from no file (pasted, standard input) by its title."""
    path, sep, row = (source or "").partition("#")
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    if not name or "." not in name and "/" not in path.replace("\\", "/"):
        return title or source or "Untitled"
    return f"{name} #{row}" if sep else name


def human_size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def human_seconds(s: float | None) -> str:
    if s is None:
        return "–"
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"
