"""Whole documents translated and written back as documents: .docx round trip (styles, runs, tables,
headers/footers), .txt/.md in place, untranslated paragraphs counted, and the language gate."""
from __future__ import annotations

import docx
import pytest

from dataclasses import replace

from app.core.document_translation import (DocumentTranslation, ExportError, TranslatedBlock, is_untranslated,
                                           output_name, translate_document, write_translation)
from app.core.documents import read_document
from app.core.errors import LanguageMismatchError
from app.core.language import detect_language
from app.core.protect import Glossary
from app.core.registry import read_manifest, shipped_models_dir
from app.core.runtime import RuntimeOptions
from app.core.translate import Translator


@pytest.fixture(scope="module")
def translator() -> Translator:
    return Translator.from_manifest(read_manifest(shipped_models_dir() / "albert-mt-en-fr-de"),
                                    RuntimeOptions(device="cpu", intra_op_threads=1))


def make_docx(path):
    d = docx.Document()
    d.sections[0].header.paragraphs[0].text = "A woman is reading a book."
    d.sections[0].footer.paragraphs[0].text = "A child is swimming in the pool."
    d.add_heading("A dog runs on the beach.", level=1)
    p = d.add_paragraph(style="Quote")
    p.add_run("A man is riding a bike.").bold = True
    p.add_run(" ")
    p.add_run("Two girls are playing in the park.").italic = True
    t = d.add_table(rows=2, cols=2)
    for i, txt in enumerate(["A cat sleeps on a bed.", "A boy eats an apple.", "Three men are working.", "42"]):
        t.cell(i // 2, i % 2).text = txt
    d.add_paragraph("A red car is parked near report.pdf on the street.")
    d.save(str(path))
    return path


def test_docx_round_trip_keeps_styles_runs_tables_headers(translator, tmp_path):
    src = make_docx(tmp_path / "report.docx")
    result = translate_document(translator, read_document(src), "fr")
    assert result.untranslated == 0 and result.detected.lang == "en"
    assert "8 of 8 paragraphs translated into fr" in result.describe()
    out = write_translation(result, output_name(src, "fr"), low_confidence="mark")
    assert out.name == "report.fr.docx"
    o = docx.Document(str(out))
    note, heading, quote, plain = [p for p in o.paragraphs if p.text.strip()]
    ok, n = result.confidence
    assert note.text.startswith("Machine translation by albert-mt-en-fr-de") and f"{ok} of {n} sentences" in note.text
    assert heading.style.name == "Heading 1" and "chien" in heading.text.lower()
    assert quote.style.name == "Quote"
    bold = [r.text for r in quote.runs if r.bold]
    italic = [r.text for r in quote.runs if r.italic]
    assert len(bold) == 1 and "homme" in bold[0].lower() and "man" not in bold[0].lower()
    assert len(italic) == 1 and "filles" in italic[0].lower()
    cells = [c.text for row in o.tables[0].rows for c in row.cells]
    assert "chat" in cells[0].lower() and "pomme" in cells[1].lower() and cells[3] == "42"
    assert "report.pdf" in plain.text and "voiture" in plain.text.lower()
    assert "femme" in o.sections[0].header.paragraphs[0].text.lower()
    assert "enfant" in o.sections[0].footer.paragraphs[0].text.lower()
    # the same translation as plain text and Markdown: every paragraph, heading marked
    md = write_translation(result, tmp_path / "report.fr.md", low_confidence="mark").read_text(encoding="utf-8")
    first, second = md.split("\n\n")[:2]
    assert first.startswith("> Machine translation by albert-mt-en-fr-de") and "Trois hommes" in md
    assert second.startswith("# ") and "chien" in second.lower()
    bare = write_translation(result, tmp_path / "bare.fr.md", low_confidence="mark", summary=False)
    assert bare.read_text(encoding="utf-8").startswith("# ")


def test_markdown_is_translated_in_place(translator, tmp_path):
    src = tmp_path / "notes.md"
    src.write_text("# A dog runs on the beach.\n\n- A man is riding a bike.\n- Two girls are playing.\n\n"
                   "A cat sleeps on a bed.\n", encoding="utf-8")
    result = translate_document(translator, read_document(src), "de")
    out = write_translation(result, output_name(src, "de"), low_confidence="mark", summary=False).read_text(encoding="utf-8")
    out = out.replace("<mark>", "").replace("</mark>", "")
    lines = out.splitlines()
    assert lines[0].startswith("# ") and "Hund" in lines[0]
    assert lines[2].startswith("- ") and lines[3].startswith("- ") and "Mann" in lines[2]
    assert "Katze" in lines[5]
    txt = write_translation(result, tmp_path / "notes.de.txt", low_confidence="mark", summary=False)
    assert txt.read_text(encoding="utf-8").replace("[?] ", "") == out  # the source's own layout, whatever the suffix


def test_untranslated_paragraphs_are_counted_and_keep_their_source(translator, tmp_path):
    assert is_untranslated("A man is riding a bike.", "A man is riding a bike.", None, "fr")
    assert is_untranslated("A man is riding a bike.", "", None, "fr")
    assert is_untranslated("See report.pdf", "report.pdf", None, "fr")  # "See" never came back
    assert not is_untranslated("https://example.org/a.pdf 42", "https://example.org/a.pdf 42", None, "fr")
    assert not is_untranslated("LibreOffice", "LibreOffice", Glossary.parse("LibreOffice"), "fr")
    src = make_docx(tmp_path / "r.docx")
    good = translate_document(translator, read_document(src), "fr")
    # one paragraph the model gave nothing back for: the export keeps its source and says so
    blocks = list(good.blocks)
    k = next(i for i, b in enumerate(blocks) if b.source.startswith("A red car"))
    blocks[k] = TranslatedBlock(blocks[k].kind, blocks[k].source, "", (), blocks[k].style, untranslated=True)
    partial = DocumentTranslation(good.document, "fr", "en", tuple(blocks), good.model, good.detected)
    assert partial.untranslated == 1 and "1 could not be translated" in partial.describe()
    o = docx.Document(str(write_translation(partial, tmp_path / "r.fr.docx")))
    assert any(p.text == "A red car is parked near report.pdf on the street." for p in o.paragraphs)
    assert "A red car is parked" in write_translation(partial, tmp_path / "r.fr.txt").read_text(encoding="utf-8")


def test_french_input_is_not_fed_to_the_english_model(translator, tmp_path):
    src = tmp_path / "lettre.txt"
    src.write_text("Le rapport trimestriel montre que le chiffre d'affaires a augmenté de douze pour cent, "
                   "grâce à une forte demande en Europe.", encoding="utf-8")
    with pytest.raises(LanguageMismatchError, match="looks French .* translates from English only") as err:
        translate_document(translator, read_document(src), "de")
    assert err.value.detected == "fr" and err.value.expected == "en"
    forced = translate_document(translator, read_document(src), "de", check_language=False)
    assert forced.detected.lang == "fr" and forced.blocks[0].text
    # a few words are never enough to refuse
    assert not detect_language("Merci").reliable


def test_pdf_like_source_becomes_a_new_docx(translator, tmp_path):
    src = tmp_path / "page.html"
    src.write_text("<html><body><h1>A dog runs.</h1><p>A man is riding a bike.</p></body></html>", encoding="utf-8")
    result = translate_document(translator, read_document(src), "fr")
    out = write_translation(result, output_name(src, "fr"), low_confidence="mark")
    assert out.suffix == ".docx"
    texts = [p.text for p in docx.Document(str(out)).paragraphs if p.text]
    assert len(texts) == 3 and texts[0].startswith("Machine translation by") and "homme" in texts[2].lower()


# ---- issue 31: low-confidence sentences, quality line, code copied through -----------------------------

def _with_one_low(result: DocumentTranslation, prefix: str) -> DocumentTranslation:
    """The same translation with the sentence starting with `prefix` judged low-confidence."""
    blocks = []
    for b in result.blocks:
        sents = tuple(replace(s, confidence=0.12, low_confidence=True, reason="the model was unsure of its wording")
                      if s.source.startswith(prefix) else replace(s, confidence=0.9, low_confidence=False)
                      for s in b.sentences)
        blocks.append(replace(b, sentences=sents))
    return replace(result, blocks=tuple(blocks))


def test_low_confidence_sentences_are_kept_in_the_source_or_marked(translator, tmp_path):
    src = make_docx(tmp_path / "report.docx")
    result = _with_one_low(translate_document(translator, read_document(src), "fr"), "Two girls")
    ok, n = result.confidence
    assert (ok, n) == (n - 1, n) and result.quality_line() == f"{n - 1} of {n} sentences confident"
    assert f"({n - 1} of {n} sentences confident)" in result.describe()
    kept = docx.Document(str(write_translation(result, tmp_path / "kept.fr.docx")))
    note = kept.paragraphs[0].text
    assert note.endswith(f"{n - 1} of {n} sentences confident; the others are kept in the original language and "
                         "highlighted.")
    quote = next(p for p in kept.paragraphs if p.style.name == "Quote")
    runs = {r.text.strip(): r for r in quote.runs if r.text.strip()}
    assert "Two girls are playing in the park." in runs  # the source, in its own (italic) run, highlighted
    girls = runs["Two girls are playing in the park."]
    assert girls.italic and girls.font.highlight_color is not None
    man = next(r for t, r in runs.items() if "homme" in t.lower())
    assert man.bold and man.font.highlight_color is None  # a confident sentence: translated, not highlighted
    marked = docx.Document(str(write_translation(result, tmp_path / "marked.fr.docx", low_confidence="mark")))
    quote = next(p for p in marked.paragraphs if p.style.name == "Quote")
    high = [r.text for r in quote.runs if r.font.highlight_color is not None]
    assert len(high) == 1 and "filles" in high[0].lower() and "Two girls" not in quote.text
    md = write_translation(result, tmp_path / "kept.fr.md").read_text(encoding="utf-8")
    assert "<mark>Two girls are playing in the park.</mark>" in md
    txt = write_translation(result, tmp_path / "marked.fr.txt", low_confidence="mark").read_text(encoding="utf-8")
    assert txt.splitlines()[0].startswith("Machine translation by") and "[?] " in txt
    with pytest.raises(ExportError, match="keep-source"):
        write_translation(result, tmp_path / "x.md", low_confidence="hide")


def test_monospace_runs_code_blocks_and_web_page_code_are_copied(tmp_path):
    tr = Translator.from_manifest(read_manifest(shipped_models_dir() / "albert-mt-docs-en-fr-de"),
                                  RuntimeOptions(device="cpu", intra_op_threads=1))
    d = docx.Document()
    p = d.add_paragraph("Type ")
    run = p.add_run("git status")
    run.font.name = "Courier New"
    p.add_run(" to see the changes.")
    d.add_paragraph("$ git commit")
    src = tmp_path / "git.docx"
    d.save(str(src))
    result = translate_document(tr, read_document(src), "fr")
    out = docx.Document(str(write_translation(result, tmp_path / "git.fr.docx", low_confidence="mark")))
    texts = [p.text for p in out.paragraphs if p.text]
    assert "git status" in texts[1] and texts[2] == "$ git commit"
    assert result.untranslated == 0  # a command line copied through is not "could not be translated"
    md = tmp_path / "howto.md"
    md.write_text("Install the package.\n\n```\npip install albert\n\nalbert --help\n```\n\nThen open the window.\n",
                  encoding="utf-8")
    res = translate_document(tr, read_document(md), "de")
    assert [b.kind for b in res.blocks][1:3] == ["code", "code"]
    written = write_translation(res, tmp_path / "howto.de.md", low_confidence="mark").read_text(encoding="utf-8")
    assert "```\npip install albert\n\nalbert --help\n```" in written
    page = tmp_path / "page.html"
    page.write_text("<html><body><p>Press <kbd>Enter</kbd> and run <code>make install clean</code> now.</p>"
                    "<pre>cd build\nmake</pre></body></html>", encoding="utf-8")
    res = translate_document(tr, read_document(page), "fr")
    assert "make install clean" in res.text and "cd build\nmake" in res.text
