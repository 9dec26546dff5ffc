"""Small painted charts: batch results (documents per label, how sure the model was) and fine-tuning
(the live training plot, the confusion matrix)."""
from __future__ import annotations

from collections import Counter

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPalette, QPen
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


LOSS_COLOR = QColor("#3b6fb6")
ACC_COLOR = QColor("#d9822b")
F1_COLOR = QColor("#3a9a5b")


class TrainingPlot(QWidget):
    """Training loss per step (left axis) and validation accuracy / macro-F1 (right axis, 0..1), drawn live; one
    line per phase (the run on the split, then the one on every example), each over its own epochs."""

    PHASE_STYLE = {"refit": Qt.DashLine}  # a later phase draws dashed: two runs, never one line joined across
    PHASE_NAMES = {"training": "training", "refit": "all examples"}

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumSize(320, 180)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.clear()

    def clear(self) -> None:
        self.losses: list[tuple[float, float]] = []  # (epoch, loss)
        self.evals: list[tuple[float, float, float]] = []  # (epoch, accuracy, macro-F1)
        self.phases: list[str] = []  # the phase of each loss point
        self.eval_phases: list[str] = []
        self.update()

    def add_loss(self, epoch: float, loss: float, phase: str = "") -> None:
        self.losses.append((epoch, loss))
        self.phases.append(phase)
        self.update()

    def add_eval(self, epoch: float, accuracy: float, macro_f1: float, phase: str = "") -> None:
        self.evals.append((epoch, accuracy, macro_f1))
        self.eval_phases.append(phase)
        self.update()

    def loss_lines(self) -> dict[str, list[tuple[float, float]]]:
        """The loss points of each phase, in the order the phases ran: one line each."""
        out: dict[str, list[tuple[float, float]]] = {}
        for phase, point in zip(self.phases, self.losses):
            out.setdefault(phase, []).append(point)
        return out

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        pal = self.palette()
        p.fillRect(self.rect(), pal.base())
        m_l, m_r, m_t, m_b = 46, 46, 22, 28
        area = QRectF(m_l, m_t, max(1, self.width() - m_l - m_r), max(1, self.height() - m_t - m_b))
        p.setPen(QPen(pal.mid().color(), 1))
        p.drawRect(area)
        small = QFont(self.font())
        small.setPointSizeF(max(7.0, small.pointSizeF() * 0.85))
        p.setFont(small)
        text_pen = QPen(pal.text().color())
        if not self.losses and not self.evals:
            p.setPen(text_pen)
            p.drawText(area, Qt.AlignCenter | Qt.TextWordWrap, "Loss and validation scores appear here while training runs")
            return
        x_max = max([e for e, _ in self.losses] + [e for e, _, _ in self.evals] + [1e-9])
        losses = [v for _, v in self.losses]
        l_max = max(losses) * 1.05 if losses else 1.0
        l_min = 0.0

        def X(e: float) -> float:
            return area.left() + area.width() * e / x_max

        def YL(v: float) -> float:
            return area.bottom() - area.height() * (v - l_min) / max(1e-9, l_max - l_min)

        def YR(v: float) -> float:
            return area.bottom() - area.height() * v

        p.setPen(text_pen)
        for k in range(5):
            v = k / 4
            y = area.bottom() - area.height() * v
            p.setPen(QPen(pal.midlight().color(), 1, Qt.DotLine))
            p.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
            p.setPen(text_pen)
            p.drawText(QRectF(0, y - 8, m_l - 4, 16), Qt.AlignRight | Qt.AlignVCenter, f"{l_min + v * (l_max - l_min):.2f}")
            p.drawText(QRectF(area.right() + 4, y - 8, m_r - 4, 16), Qt.AlignLeft | Qt.AlignVCenter, f"{v:.2f}")
        p.drawText(QRectF(area.left(), area.bottom() + 4, area.width(), 20), Qt.AlignCenter, f"epoch (0 – {x_max:.2g})")
        lines = self.loss_lines()
        for phase, points in lines.items():
            if len(points) < 2:
                continue
            # a running mean keeps the line readable when batches are small and the loss is noisy
            path = QPainterPath()
            avg = None
            for i, (e, v) in enumerate(points):
                avg = v if avg is None else 0.8 * avg + 0.2 * v
                pt = QPointF(X(e), YL(avg))
                path.moveTo(pt) if i == 0 else path.lineTo(pt)
            p.setPen(QPen(LOSS_COLOR, 2, self.PHASE_STYLE.get(phase, Qt.SolidLine)))
            p.setBrush(Qt.NoBrush)
            p.drawPath(path)
        for color, idx in ((ACC_COLOR, 1), (F1_COLOR, 2)):
            by_phase: dict[str, list[QPointF]] = {}
            for phase, ev in zip(self.eval_phases, self.evals):
                by_phase.setdefault(phase, []).append(QPointF(X(ev[0]), YR(ev[idx])))
            for pts in by_phase.values():
                p.setPen(QPen(color, 2))
                for a, b in zip(pts, pts[1:]):
                    p.drawLine(a, b)
                p.setBrush(color)
                for pt in pts:
                    p.drawEllipse(pt, 3, 3)
        x = area.left() + 6
        keys = [(LOSS_COLOR, f"loss, {self.PHASE_NAMES.get(ph, ph)}", self.PHASE_STYLE.get(ph, Qt.SolidLine))
                for ph in lines] if len(lines) > 1 else [(LOSS_COLOR, "training loss", Qt.SolidLine)]
        keys += [(ACC_COLOR, "val accuracy", Qt.SolidLine), (F1_COLOR, "val macro-F1", Qt.SolidLine)]
        for color, name, style in keys:
            p.setPen(QPen(color, 3, style))
            p.drawLine(QPointF(x, 10), QPointF(x + 16, 10))
            p.setPen(text_pen)
            p.drawText(QPointF(x + 20, 14), name)
            x += 30 + p.fontMetrics().horizontalAdvance(name)


class ConfusionPlot(QWidget):
    """Confusion matrix as a heat map: rows are the true class, columns the predicted one."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.classes: tuple[str, ...] = ()
        self.matrix: tuple[tuple[int, ...], ...] = ()  # its least size: minimumSizeHint, from the classes

    MIN_CELL = 26  # px: room for a count of up to three digits

    def set_matrix(self, classes, matrix) -> None:
        self.classes, self.matrix = tuple(classes), tuple(tuple(r) for r in matrix)
        self.updateGeometry()  # the least size depends on the classes
        self.update()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt naming
        if not self.classes:
            return QSize(200, 200)
        fm = self.fontMetrics()
        k = len(self.classes)
        widest = max(fm.horizontalAdvance(c) for c in self.classes)
        left = min(120, widest + 10)
        fits_across = widest + 6 <= self.MIN_CELL
        bottom = fm.height() + 4 if fits_across else min(widest, 100) + 8
        return QSize(max(200, int(left + k * self.MIN_CELL + 6)),
                     max(200, int(fm.height() + 6 + k * self.MIN_CELL + bottom + 4)))

    def layout_for(self, fm) -> tuple[float, float, float, bool]:
        """(left, top, cell, rotated): the row names' width, the title's height, a cell's side, and whether the
        column names are turned a quarter (they do not fit across their cells)."""
        k = len(self.classes)
        widest = max(fm.horizontalAdvance(c) for c in self.classes)
        left = min(120, widest + 10)
        top = fm.height() + 6
        across = (self.width() - left - 6) / k
        rotated = widest + 6 > across
        bottom = (min(widest, 100) + 8) if rotated else fm.height() + 4
        cell = max(8.0, min(across, (self.height() - top - bottom - 4) / k))
        return left, top, cell, rotated

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt naming
        p = QPainter(self)
        pal = self.palette()
        p.fillRect(self.rect(), pal.base())
        if not self.classes:
            p.setPen(pal.text().color())
            p.drawText(self.rect(), Qt.AlignCenter, "Confusion matrix")
            return
        k = len(self.classes)
        fm = p.fontMetrics()
        left, top, cell, rotated = self.layout_for(fm)
        peak = max(max(r) for r in self.matrix) or 1  # noqa: F841 - kept for readers of the colour scale
        p.setPen(pal.text().color())
        # the axis titles over the whole width: never clipped to the (small) matrix
        p.drawText(QRectF(0, 0, self.width(), top), Qt.AlignCenter, "rows: true class · columns: predicted")
        for i, row in enumerate(self.matrix):
            y = top + i * cell
            p.setPen(pal.text().color())
            p.drawText(QRectF(0, y, left - 6, cell), Qt.AlignRight | Qt.AlignVCenter,
                       fm.elidedText(self.classes[i], Qt.ElideRight, int(left - 8)))
            total = sum(row) or 1
            for j, v in enumerate(row):
                share = v / total
                base = QColor("#3a9a5b") if i == j else QColor("#c0392b")
                c = QColor(base)
                c.setAlphaF(0.08 + 0.85 * share if v else 0.03)
                r = QRectF(left + j * cell, y, cell - 2, cell - 2)
                p.fillRect(r, c)
                p.setPen(pal.text().color())
                if cell > fm.horizontalAdvance(str(v)) + 4 and cell > fm.height():
                    p.drawText(r, Qt.AlignCenter, str(v))
        p.setPen(pal.text().color())
        below = top + k * cell + 4
        for j, c in enumerate(self.classes):
            if rotated:  # turned a quarter, read top to bottom, under its column
                p.save()
                p.translate(left + j * cell + cell / 2 - (fm.ascent() - fm.descent()) / 2, below)
                p.rotate(90)
                p.drawText(QPointF(0, 0), fm.elidedText(c, Qt.ElideRight, 100))
                p.restore()
            else:
                p.drawText(QRectF(left + j * cell, below, cell, fm.height()), Qt.AlignCenter, c)
