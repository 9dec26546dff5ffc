"""How the window shows a translated sentence's confidence: low-confidence sentences get a shaded
background, italics and a tooltip with the reason; a line says how many sentences are confident and
which model ran. Shared by the Translation tab and the whole-document translator."""
from __future__ import annotations

from typing import Iterable, Sequence

from PySide6.QtGui import QBrush, QColor, QFont

from app.core.translation_confidence import quality_line

LOW_BACKGROUND = QColor(255, 228, 196)  # a pale orange, readable with black text in light and dark themes
LOW_FOREGROUND = QColor(90, 50, 0)


def confidence_tooltip(sentence) -> str:
    """'Low confidence (0.21): the model repeated itself…' or 'Confidence 0.87'."""
    if sentence.confidence is None:
        return "Copied as it is (nothing to translate)"
    if sentence.low_confidence:
        return (f"Low confidence ({sentence.confidence:.2f}): {sentence.reason or 'the model was unsure'}. "
                "Check this sentence, or export with the source kept.")
    return f"Confidence {sentence.confidence:.2f}"


def mark_low_confidence(items: Iterable) -> None:
    """Shade table items (QTableWidgetItem) of a low-confidence sentence."""
    for item in items:
        item.setBackground(QBrush(LOW_BACKGROUND))
        item.setForeground(QBrush(LOW_FOREGROUND))
        font = QFont(item.font())
        font.setItalic(True)
        item.setFont(font)


def quality_summary(sentences: Sequence, model=None) -> str:
    """'31 of 45 sentences confident (the shaded ones are not: hover for the reason). Translated by X 1.0.'"""
    line = quality_line(sentences)
    low = sum(1 for s in sentences if getattr(s, "low_confidence", False))
    parts = []
    if line:
        parts.append(line + (" (the shaded ones are not; hover a row for the reason)." if low else "."))
    if model is not None:
        parts.append(f"Translated by {model.id} {model.version}.")
    return " ".join(parts)
