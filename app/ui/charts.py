"""Two small painted charts for batch results: how many documents per label, and how sure the model was."""
from __future__ import annotations

from collections import Counter

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.ui.theme import label_color

BINS = 10


class ResultsChart(QWidget):
    """Left: documents per label (bars). Right: score histogram, stacked by label, 0.5..1 for two labels."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.labels: list[str] = []
        self.scores: list[float] = []
        self.setMinimumSize(260, 150)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(480, 220)

    def set_data(self, labels: list[str], scores: list[float]) -> None:
        self.labels, self.scores = list(labels), list(scores)
        self.update()

    def counts(self) -> dict[str, int]:
        return dict(Counter(self.labels))

    def _low(self) -> float:
        """The histogram starts at 0.5 for two classes (a best label is never below it); neutral is not a class."""
        return 0.5 if len(set(self.labels) - {"neutral"}) <= 2 else 0.0

    def histogram(self) -> dict[str, list[int]]:
        lo = self._low()
        out: dict[str, list[int]] = {}
        for lab, s in zip(self.labels, self.scores):
            b = min(BINS - 1, max(0, int((s - lo) / (1.0 - lo) * BINS)))
            out.setdefault(lab, [0] * BINS)[b] += 1
        return out

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        pal = self.palette()
        p.fillRect(self.rect(), pal.color(QPalette.Base))
        fg = pal.color(QPalette.Text)
        fm = p.fontMetrics()
        w, h = self.width(), self.height()
        if not self.labels:
            p.setPen(pal.color(QPalette.PlaceholderText))
            p.drawText(self.rect(), Qt.AlignCenter, "Charts appear here as results come in")
            return
        half = w * 0.42
        self._bars(p, QRectF(8, 8, half - 16, h - 16), fg, fm)
        self._hist(p, QRectF(half + 8, 8, w - half - 16, h - 16), fg, fm)

    def _bars(self, p: QPainter, r: QRectF, fg, fm) -> None:
        counts = sorted(self.counts().items())
        p.setPen(fg)
        title = "Documents per label" if fm.horizontalAdvance("Documents per label") <= r.width() else "Per label"
        p.drawText(QRectF(r.left(), r.top(), r.width(), fm.height()), Qt.AlignLeft,
                   fm.elidedText(title, Qt.ElideRight, int(r.width())))
        top = r.top() + fm.height() + 6
        bottom = r.bottom() - fm.height() - 4
        peak = max(c for _, c in counts)
        slot = r.width() / max(len(counts), 1)
        for i, (lab, c) in enumerate(counts):
            bh = (bottom - top - fm.height()) * c / peak
            x = r.left() + i * slot + slot * 0.15
            bar = QRectF(x, bottom - bh, slot * 0.7, bh)
            p.fillRect(bar, label_color(lab))
            p.setPen(fg)
            p.drawText(QRectF(x, bar.top() - fm.height() - 2, slot * 0.7, fm.height()), Qt.AlignCenter, str(c))
            p.drawText(QRectF(r.left() + i * slot, bottom + 2, slot, fm.height()), Qt.AlignCenter,
                       fm.elidedText(lab, Qt.ElideRight, int(slot) - 2))

    def _hist(self, p: QPainter, r: QRectF, fg, fm) -> None:
        hist = self.histogram()
        lo = self._low()
        p.setPen(fg)
        title = "Scores (probability of the label)"
        if fm.horizontalAdvance(title) > r.width():
            title = "Scores"
        p.drawText(QRectF(r.left(), r.top(), r.width(), fm.height()), Qt.AlignLeft,
                   fm.elidedText(title, Qt.ElideRight, int(r.width())))
        top = r.top() + fm.height() + 6
        bottom = r.bottom() - fm.height() - 4
        totals = [sum(v[b] for v in hist.values()) for b in range(BINS)]
        peak = max(max(totals), 1)
        slot = r.width() / BINS
        for b in range(BINS):
            y = bottom
            for lab in sorted(hist):
                n = hist[lab][b]
                if not n:
                    continue
                bh = (bottom - top) * n / peak
                p.fillRect(QRectF(r.left() + b * slot + 1, y - bh, slot - 2, bh), label_color(lab))
                y -= bh
        p.setPen(fg)
        p.drawLine(int(r.left()), int(bottom), int(r.right()), int(bottom))
        for frac in (0.0, 0.5, 1.0):
            x = r.left() + frac * r.width()
            text = f"{lo + frac * (1 - lo):.2f}"
            tw = fm.horizontalAdvance(text)
            p.drawText(QRectF(min(max(x - tw / 2, r.left()), r.right() - tw), bottom + 2, tw + 2, fm.height()),
                       Qt.AlignLeft, text)
