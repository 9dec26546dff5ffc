"""The whole-document translator in the window: side by side with hover highlighting, copy, export,
glossary from settings, the detected language, the language gate, progress and cancel."""
from __future__ import annotations

from pathlib import Path

import docx
from PySide6.QtCore import Qt
import pytest

SHIPPED = Path(__file__).resolve().parents[2] / "models"


@pytest.fixture
def analyzer(tmp_path):
    from app.core.analyzer import Analyzer
    from app.core.registry import Registry
    from app.core.runtime import RuntimeOptions

    return Analyzer(registry=Registry(roots=[SHIPPED], settings_file=tmp_path / "d.json"),
                    runtime=RuntimeOptions(device="cpu", intra_op_threads=1))


@pytest.fixture
def report(tmp_path):
    d = docx.Document()
    d.add_heading("A dog runs on the beach.", level=1)
    p = d.add_paragraph()
    p.add_run("A man is riding a bike.").bold = True
    p.add_run(" Two girls are playing in the park.")
    d.add_paragraph("A woman reads report.pdf near a spreadsheet.")
    path = tmp_path / "report.docx"
    d.save(str(path))
    return path


def dialog(qtbot, analyzer, settings, source, text=""):
    from app.ui.translation_view import DocumentTranslationDialog

    dlg = DocumentTranslationDialog(str(source), analyzer, analyzer.translation_languages(), settings, text=text)
    qtbot.addWidget(dlg)
    dlg.show()
    return dlg


def test_side_by_side_hover_copy_export_and_glossary(qtbot, analyzer, settings, report, tmp_path, wait_op):
    from PySide6.QtGui import QGuiApplication

    gl = tmp_path / "terms.txt"
    gl.write_text("spreadsheet = classeur\n", encoding="utf-8")
    settings.setValue("translation/glossary", str(gl))  # chosen earlier: remembered in the settings
    dlg = dialog(qtbot, analyzer, settings, report, text="A dog runs on the beach. A man is riding a bike.")
    assert dlg.detected.text().startswith("Input language: English")
    dlg.language.setCurrentIndex(dlg.language.findData("fr"))
    assert dlg.glossary_label.text() == "Glossary: terms.txt"
    wait_op(dlg.start(), timeout_s=120)
    assert "3 of 3 paragraphs translated into fr" in dlg.status.text()
    # which model ran and its validation scores per kind of text, from its manifest
    assert "albert-mt-docs-en-fr-de" in dlg.status.toolTip() and "documentation" in dlg.status.toolTip()
    assert "classeur" in dlg.target.toPlainText() and "report.pdf" in dlg.target.toPlainText()
    # hover the second sentence of the bold/plain paragraph on the source side: both sides light up
    dlg.source.hovered.emit(2)
    assert dlg.source.highlighted_text() == "Two girls are playing in the park."
    assert "filles" in dlg.target.highlighted_text().lower()
    dlg.target.hovered.emit(-1)
    assert dlg.source.highlighted_text() == "" and dlg.target.highlighted_text() == ""
    qtbot.mouseClick(dlg.copy, Qt.LeftButton)
    assert "Un chien" in QGuiApplication.clipboard().text()
    dlg.low_mode.setCurrentIndex(dlg.low_mode.findData("mark"))  # translations stay, whatever their confidence
    out = dlg.export_to(str(tmp_path / "report.fr.docx"))
    assert out is not None and "Wrote" in dlg.status.text()
    runs = [r for p in docx.Document(str(out)).paragraphs for r in p.runs if r.bold]
    assert runs and "homme" in runs[0].text.lower()


def test_french_file_is_refused_then_translated_when_asked(qtbot, analyzer, settings, tmp_path, wait_op):
    src = tmp_path / "lettre.txt"
    src.write_text("Le rapport trimestriel montre que le chiffre d'affaires a augmenté de douze pour cent.",
                   encoding="utf-8")
    dlg = dialog(qtbot, analyzer, settings, src, text=src.read_text(encoding="utf-8"))
    assert "French" in dlg.detected.text()
    wait_op(dlg.start(), timeout_s=60)
    assert "looks French" in dlg.status.text() and "Tick the box" in dlg.status.text()
    assert dlg.target.toPlainText() == "" and dlg.go.isEnabled()
    dlg.any_language.setChecked(True)
    wait_op(dlg.start(), timeout_s=60)
    assert dlg.target.toPlainText().strip() and "French" in dlg.detected.text()


def test_long_document_shows_progress_and_cancels(qtbot, analyzer, settings, tmp_path, wait_op):
    src = tmp_path / "long.txt"
    subjects = ["A man", "A woman", "A child", "Two dogs", "An old man", "A young girl", "Three boys", "A cat"]
    actions = ["is riding a bike", "is reading a book", "is running", "is eating an apple", "is sleeping",
               "is playing with a ball", "is waiting", "is singing"]
    places = ["near the river", "in the park", "on the beach", "at the station", "in the snow", "on a bench",
              "in a small kitchen"]
    sentences = [f"{s} {a} {p}." for s in subjects for a in actions for p in places]  # 448 different ones
    src.write_text("\n\n".join(sentences), encoding="utf-8")
    dlg = dialog(qtbot, analyzer, settings, src)
    op = dlg.start()
    qtbot.waitUntil(lambda: dlg.progress.maximum() > 1 and dlg.progress.value() > 0, timeout=120000)
    assert dlg.progress.isVisible() and dlg.cancel.isEnabled()
    qtbot.mouseClick(dlg.cancel, Qt.LeftButton)
    wait_op(op, timeout_s=120)
    assert dlg.status.text() == "Cancelled; nothing was translated."
    assert dlg.result is None and dlg.go.isEnabled() and not dlg.progress.isVisible()


def test_document_view_shows_the_input_language(qtbot):
    from app.core.types import Analysis, Document
    from app.ui.document_view import TranslationPane

    pane = TranslationPane()
    qtbot.addWidget(pane)
    pane.set_languages(["fr", "de"])
    pane.show()
    pane.show_analysis(Analysis(Document("x.txt", "Der Bericht zeigt, dass der Umsatz deutlich gestiegen ist.")))
    # detected off the GUI thread (the detector's first load takes ~0.75 s): shown when it is known
    qtbot.waitUntil(lambda: pane.detected.text().startswith("Input language: German"), timeout=10_000)
    with qtbot.waitSignal(pane.document_requested) as sig:
        pane.whole.click()
    assert sig.args == ["fr"]


def test_window_uses_the_remembered_glossary_and_opens_the_document_translator(qtbot, tiny_models, tmp_path,
                                                                                settings, wait_op):
    from app.core.registry import Registry
    from app.ui.context import AppContext
    from app.ui.main_window import MainWindow

    gl = tmp_path / "terms.txt"
    gl.write_text("spreadsheet = classeur\n", encoding="utf-8")
    settings.setValue("translation/glossary", str(gl))
    ctx = AppContext(tmp_path / "lib.db", Registry(roots=[tiny_models, SHIPPED], settings_file=tmp_path / "d.json"),
                     "cpu")
    win = MainWindow(ctx, settings)
    qtbot.addWidget(win)
    win.show()
    doc = tmp_path / "short.txt"
    doc.write_text("Two dogs play in the snow with a spreadsheet.", encoding="utf-8")
    wait_op(win.open_file(str(doc)))
    qtbot.waitUntil(lambda: win.document.translation.detected.text().startswith("Input language: English"),
                    timeout=10_000)
    wait_op(win.translate("fr"), timeout_s=120)
    assert "classeur" in win.document.analysis.translation.text
    dlg = win.translate_document("de")
    assert dlg.language.currentData() == "de" and dlg.glossary_label.text() == "Glossary: terms.txt"
    wait_op(dlg.start(), timeout_s=120)
    assert "1 of 1 paragraphs translated into de" in dlg.status.text()
    dlg.close()
    ctx.close()


def test_a_paragraph_that_could_not_be_translated_is_named(qtbot, analyzer, settings, report, tmp_path, wait_op):
    """Issue 34: "1 could not be translated" left the reader to hunt for it; the dialog names the paragraph."""
    from dataclasses import replace

    from app.core.document_translation import DocumentTranslation

    dlg = dialog(qtbot, analyzer, settings, report)
    dlg.language.setCurrentIndex(dlg.language.findData("fr"))
    wait_op(dlg.start(), timeout_s=120)
    good = dlg.result
    blocks = list(good.blocks)
    k = next(i for i, b in enumerate(blocks) if b.source.startswith("A woman reads"))
    blocks[k] = replace(blocks[k], text="", untranslated=True)
    dlg.show_result(DocumentTranslation(good.document, "fr", "en", tuple(blocks), good.model, good.detected))
    assert "1 could not be translated" in dlg.status.text()
    assert "paragraph 3 (“A woman reads report.pdf near a spreadsheet.”)" in dlg.status.text()
    out = dlg.export_to(str(tmp_path / "partial.fr.txt"))
    assert out is not None and "paragraph 3" in dlg.status.text()


def test_low_confidence_sentences_are_shaded_with_their_reason_and_exported_as_chosen(qtbot, analyzer, settings,
                                                                                     report, tmp_path, wait_op):
    """Issue 31: a sentence the model is unsure of is shaded on both sides, hovering it gives the reason, the
    status says so, and the export keeps it in English (highlighted) or translated, as the option says."""
    from dataclasses import replace

    from PySide6.QtGui import QTextCursor

    from app.ui.translation_marks import LOW_BACKGROUND

    dlg = dialog(qtbot, analyzer, settings, report)
    dlg.language.setCurrentIndex(dlg.language.findData("fr"))
    wait_op(dlg.start(), timeout_s=120)
    assert all(s.confidence is not None for s in dlg.result.sentences)  # every sentence carries one
    blocks = []
    for b in dlg.result.blocks:  # the same translation, "Two girls…" judged low
        blocks.append(replace(b, sentences=tuple(
            replace(s, confidence=0.1, low_confidence=True, reason="the output is much shorter than the source")
            if s.source.startswith("Two girls") else replace(s, confidence=0.9, low_confidence=False)
            for s in b.sentences)))
    result = replace(dlg.result, blocks=tuple(blocks))
    dlg.show_result(result)
    assert "Shaded sentences are low-confidence" in dlg.status.text() and "3 of 4 sentences confident" in dlg.status.text()
    low = next(i for i, s in enumerate(result.sentences) if s.low_confidence)
    for side in (dlg.source, dlg.target):
        a, b = side.spans[low]
        c = QTextCursor(side.document())
        c.setPosition(a + 1)
        assert c.charFormat().background().color() == LOW_BACKGROUND
        c.setPosition(side.spans[0][0] + 1)
        assert c.charFormat().background().color() != LOW_BACKGROUND
        assert side.tips[low].startswith("Low confidence (0.10): the output is much shorter")
        assert side.tips[0] == "Confidence 0.90"
    assert dlg.low_mode.currentData() == "keep-source"  # the default: unsure sentences stay in English
    out = docx.Document(str(dlg.export_to(str(tmp_path / "kept.fr.docx"))))
    highlighted = [r.text.strip() for p in out.paragraphs for r in p.runs if r.font.highlight_color is not None]
    assert highlighted == ["Two girls are playing in the park."]
    assert out.paragraphs[0].text.startswith("Machine translation by") and "3 of 4 sentences confident" in dlg.status.text()
    dlg.low_mode.setCurrentIndex(dlg.low_mode.findData("mark"))
    assert settings.value("translation/low_confidence") == "mark"  # remembered
    out = docx.Document(str(dlg.export_to(str(tmp_path / "marked.fr.docx"))))
    highlighted = [r.text for p in out.paragraphs for r in p.runs if r.font.highlight_color is not None]
    assert len(highlighted) == 1 and "Two girls" not in highlighted[0] and highlighted[0].strip()


def test_translation_tab_shades_low_confidence_rows_and_names_the_model(qtbot):
    from app.core.types import Analysis, Document, ModelInfo, TranslatedSentence, Translation
    from app.ui.document_view import TranslationPane
    from app.ui.translation_marks import LOW_BACKGROUND

    pane = TranslationPane()
    qtbot.addWidget(pane)
    pane.set_languages(["fr"])
    pane.show()
    tr = Translation("fr", "Le chien court. Cette fois qu'à un nouveau projet.", (
        TranslatedSentence("The dog runs.", "Le chien court.", confidence=0.93),
        TranslatedSentence("This tutorial explains Git.", "Cette fois qu'à un nouveau projet.", confidence=0.08,
                           low_confidence=True, reason="the model was unsure of its wording")))
    model = ModelInfo("albert-mt-docs-en-fr-de", "2.0.0", "translation")
    pane.show_analysis(Analysis(Document("x.txt", "The dog runs. This tutorial explains Git."), translation=tr,
                                models=(model,)))
    assert pane.table.rowCount() == 2
    ok, bad = pane.table.item(0, 1), pane.table.item(1, 1)
    assert bad.background().color() == LOW_BACKGROUND and bad.font().italic()
    assert ok.background().color() != LOW_BACKGROUND
    assert bad.toolTip() == ("Low confidence (0.08): the model was unsure of its wording. Check this sentence, or "
                             "export with the source kept.")
    assert ok.toolTip() == "Confidence 0.93"
    assert pane.quality.isVisible()
    assert pane.quality.text().startswith("1 of 2 sentences confident (the shaded ones are not")
    assert "Translated by albert-mt-docs-en-fr-de 2.0.0." in pane.quality.text()
