"""Paste and go: Ctrl+V opens the clipboard's text, analysed like a document, kept in the library only if asked."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

TEXT = ("The delivery was terrible and nobody answered my emails. The shop finally sent a refund. "
        "I will not order there again. The packaging was broken too.")


def test_ctrl_v_analyses_the_clipboard_without_keeping_it(window, ctx, qtbot, wait_op):
    QGuiApplication.clipboard().setText(TEXT)
    window.document.text.setFocus()
    qtbot.keyClick(window.document.text, Qt.Key_V, Qt.ControlModifier)
    dlg = window.paste_dialog
    assert dlg.isVisible() and dlg.text.toPlainText() == TEXT
    assert not dlg.keep.isChecked()
    assert dlg.title.placeholderText().startswith("The delivery was terrible")
    dlg.accept()
    wait_op(window.document_op)
    page = window.document
    assert page.analysis.document.text == TEXT and page.document_id is None
    assert page.analysis.sentiment is not None and len(page.text.highlighted) == 4
    assert page.source.text() == "Pasted text, not kept in the library"
    assert ctx.store.count_documents() == 0
    # the summary length can still be changed on it
    wait_op(window.summarize(sentences=1))
    assert len(window.document.analysis.summary.sentences) == 1
    assert window.document.analysis.sentiment is not None  # kept from the first analysis


def test_pasted_text_kept_in_the_library_when_asked(window, ctx, wait_op, qtbot):
    op = window.analyze_text(TEXT, title="Refund complaint", keep=True)
    wait_op(op)
    assert window.document.document_id is not None
    qtbot.waitUntil(lambda: window.library.titles() == ["Refund complaint"], timeout=10000)
    assert window.settings.value("paste/keep") in (True, "true")


def test_ctrl_v_in_a_text_field_still_pastes_there(window, qtbot):
    QGuiApplication.clipboard().setText("refund")
    window.library.search.setFocus()
    qtbot.keyClick(window.library.search, Qt.Key_V, Qt.ControlModifier)
    assert window.library.search.text() == "refund"
    assert getattr(window, "paste_dialog", None) is None


def test_empty_text_is_refused_with_a_reason(window):
    assert window.analyze_text("   ") is None
    assert "contains no text" in window.banner.text()
