"""Look and feel: Fusion following the system light/dark scheme, sentiment colours, the app icon."""
from __future__ import annotations

import zlib
from typing import Sequence

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPainter, QPainterPath, QPalette, QPixmap
from PySide6.QtWidgets import QApplication

POSITIVE = QColor(46, 160, 67)
NEGATIVE = QColor(214, 39, 40)
NEUTRAL = QColor(120, 130, 150)


# Labels of other models (a fine-tuned "0"/"1", "billing"/"shipping"...): colours that are neither the
# sentiment pair nor the neutral grey, so such a model never looks like a sentiment model.
OTHER_COLORS = (QColor(31, 119, 180), QColor(255, 127, 14), QColor(148, 103, 189), QColor(140, 86, 75),
                QColor(227, 119, 194), QColor(23, 160, 180), QColor(188, 160, 34), QColor(90, 90, 200))
POLAR = ("negative", "positive")


def is_polar(label: str | None) -> bool:
    """positive, negative or neutral: the sentiment legend applies."""
    return (label or "").lower() in ("positive", "negative", "neutral")


def label_color(label: str | None, labels: Sequence[str] | None = None) -> QColor:
    """positive green, negative red, neutral grey; any other label a colour of its own (by its place among
    `labels`, the model's labels, when given; else by its name, so it is the same everywhere)."""
    name = (label or "").lower()
    if name == "positive":
        return QColor(POSITIVE)
    if name == "negative":
        return QColor(NEGATIVE)
    if name in ("neutral", ""):
        return QColor(NEUTRAL)
    others = [lab for lab in (labels or ()) if not is_polar(lab)]
    if label in others:
        return QColor(OTHER_COLORS[others.index(label) % len(OTHER_COLORS)])
    return QColor(OTHER_COLORS[zlib.crc32(name.encode("utf-8")) % len(OTHER_COLORS)])


def strength(score: float, n_labels: int = 2) -> float:
    """0 for a coin toss, 1 for certainty: how far the score is above chance."""
    chance = 1.0 / max(n_labels, 2)
    return max(0.0, min(1.0, (score - chance) / (1.0 - chance)))


def highlight_color(label: str | None, score: float, n_labels: int = 2, labels: Sequence[str] | None = None) -> QColor:
    """The label's colour, more opaque the surer the model is (readable on light and dark bases); neutral is
    one light grey: inside the band, how sure the model leans says nothing."""
    c = label_color(label, labels)
    if (label or "").lower() == "neutral":
        c.setAlpha(70)
        return c
    c.setAlpha(int(55 + 165 * strength(score, n_labels)))
    return c


def legend_html(labels: Sequence[str], neutral_band: float = 0.0) -> str:
    """The colour key for a model's labels: the sentiment pair (and neutral) or that model's own labels."""
    def chip(text: str, color: QColor) -> str:
        return f"<span style='background:{color.name()};color:white'>&nbsp;{text}&nbsp;</span>&nbsp;"

    if not labels or set(labels) <= {*POLAR, "neutral"}:  # sentiment: one order for every sentiment model
        out = chip("negative", NEGATIVE) + chip("positive", POSITIVE)
        if neutral_band > 0:
            out += chip(f"neutral (±{neutral_band:.2f})", NEUTRAL)
        elif "neutral" in labels:
            out += chip("neutral", NEUTRAL)
        return out
    return "".join(chip(lab, label_color(lab, labels)) for lab in labels)


def is_dark(palette: QPalette | None = None) -> bool:
    pal = palette or QGuiApplication.palette()
    return pal.color(QPalette.Window).lightness() < 128


def dark_palette() -> QPalette:
    p = QPalette()
    base, window, text = QColor(30, 32, 36), QColor(43, 45, 50), QColor(225, 228, 232)
    for role, color in (
        (QPalette.Window, window), (QPalette.WindowText, text), (QPalette.Base, base),
        (QPalette.AlternateBase, QColor(38, 40, 45)), (QPalette.ToolTipBase, QColor(55, 58, 64)),
        (QPalette.ToolTipText, text), (QPalette.Text, text), (QPalette.Button, window),
        (QPalette.ButtonText, text), (QPalette.BrightText, QColor(255, 90, 90)),
        (QPalette.Highlight, QColor(64, 128, 214)), (QPalette.HighlightedText, QColor(255, 255, 255)),
        (QPalette.Link, QColor(110, 170, 255)), (QPalette.PlaceholderText, QColor(140, 145, 150)),
        (QPalette.Mid, QColor(70, 72, 78)), (QPalette.Midlight, QColor(60, 62, 68)),
        (QPalette.Dark, QColor(22, 23, 26)), (QPalette.Shadow, QColor(10, 10, 12)),
        (QPalette.Light, QColor(75, 78, 84)),
    ):
        p.setColor(role, color)
    for role in (QPalette.Text, QPalette.WindowText, QPalette.ButtonText):
        p.setColor(QPalette.Disabled, role, QColor(120, 124, 130))
    return p


def apply_theme(app: QApplication, scheme: str = "auto") -> str:
    """Fusion with a light or dark palette; 'auto' follows the system. Returns the scheme applied."""
    if app.style() is None or app.style().name().lower() != "fusion":
        # set once: QApplication.setStyle deletes the style every widget is drawn with and repolishes them all,
        # and a theme switch only needs a new palette
        app.setStyle("Fusion")
    if scheme == "auto":
        scheme = "dark" if app.styleHints().colorScheme() == Qt.ColorScheme.Dark else "light"
    app.setPalette(dark_palette() if scheme == "dark" else app.style().standardPalette())
    return scheme


def app_icon() -> QIcon:
    """A speech bubble with a pulse line, drawn at several sizes so it stays sharp on high-DPI screens."""
    icon = QIcon()
    for size in (16, 24, 32, 48, 64, 128, 256):
        pm = QPixmap(size, size)
        pm.fill(Qt.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.Antialiasing)
        s = size / 64.0
        bubble = QPainterPath()
        bubble.addRoundedRect(QRectF(4 * s, 6 * s, 56 * s, 42 * s), 12 * s, 12 * s)
        tail = QPainterPath()
        tail.moveTo(QPointF(16 * s, 44 * s))
        tail.lineTo(QPointF(12 * s, 60 * s))
        tail.lineTo(QPointF(30 * s, 46 * s))
        p.fillPath(bubble.united(tail), QColor(52, 101, 164))
        pen = p.pen()
        pen.setColor(QColor(255, 255, 255))
        pen.setWidthF(max(1.5, 4 * s))
        pen.setCapStyle(Qt.RoundCap)
        pen.setJoinStyle(Qt.RoundJoin)
        p.setPen(pen)
        pts = [(12, 28), (22, 28), (28, 16), (36, 38), (42, 24), (52, 24)]
        path = QPainterPath(QPointF(pts[0][0] * s, pts[0][1] * s))
        for x, y in pts[1:]:
            path.lineTo(QPointF(x * s, y * s))
        p.drawPath(path)
        p.end()
        icon.addPixmap(pm)
    return icon
