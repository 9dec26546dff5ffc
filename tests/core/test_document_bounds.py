"""Every document is bounded: long files and table cells are refused by character count, big PDFs by pages,
and broken HTML is read in one linear pass (or refused) instead of taking minutes."""
from __future__ import annotations

import threading

import pytest

from app.core.documents import DEFAULT_MAX_CHARS, PDF_MAX_PAGES, read_document, read_table
from app.core.errors import DocumentError
from app.core.types import Document


def _within(seconds: float, fn):
    """fn() in a thread; its result or exception, failing if it is still running after `seconds` (a hang)."""
    out: dict = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            out["value"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert "value" in out, f"still running after {seconds} s"
    return out["value"]


def test_a_5_mb_text_file_is_refused_as_too_long_naming_the_limit(tmp_path):
    path = tmp_path / "huge.txt"
    path.write_text("A sentence of plain words. " * 185_186, encoding="utf-8")  # 5.0 MB
    with pytest.raises(DocumentError) as info:
        read_document(path)
    assert info.value.reason == (f"too long: {path.stat().st_size:,} characters, limit {DEFAULT_MAX_CHARS:,} "
                                 "(split it into smaller documents, or raise --max-chars)")


def test_the_character_limit_is_configurable(tmp_path):
    path = tmp_path / "note.txt"
    path.write_text("Short enough. " * 10, encoding="utf-8")
    assert read_document(path).text.startswith("Short enough.")
    with pytest.raises(DocumentError, match="too long: 140 characters, limit 100"):
        read_document(path, max_chars=100)


def test_a_50_mb_table_cell_is_refused_and_the_other_rows_are_read(tmp_path):
    path = tmp_path / "rows.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("id,text\n1,Great value.\n2,\"")
        chunk = "word " * 200_000
        for _ in range(50):
            f.write(chunk)
        f.write("\"\n3,Terrible support.\n")
    items = list(read_table(path))
    assert [type(i) for i in items] == [Document, DocumentError, Document]
    assert items[1].source.endswith("rows.csv#2")
    assert items[1].reason.startswith("too long: 50,000,000 characters, limit 1,000,000")
    assert [items[0].text, items[2].text] == ["Great value.", "Terrible support."]


def test_a_pdf_over_the_page_limit_is_refused(tmp_path):
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(PDF_MAX_PAGES + 1):
        writer.add_blank_page(width=200, height=200)
    path = tmp_path / "long.pdf"
    with open(path, "wb") as f:
        writer.write(f)
    with pytest.raises(DocumentError, match=f"too many pages: {PDF_MAX_PAGES + 1:,}, limit {PDF_MAX_PAGES:,}"):
        read_document(path)


def test_100000_unclosed_tags_are_handled_in_linear_time(tmp_path):
    path = tmp_path / "broken.html"
    path.write_text("<html><body>" + "<div><p>word " * 100_000, encoding="utf-8")
    result = _within(30, lambda: read_document(path))
    assert isinstance(result, DocumentError) and "nest deeper" in result.reason  # refused, never silently cut


def test_deep_but_reasonable_nesting_is_read_in_full(tmp_path):
    path = tmp_path / "deep.html"
    path.write_text("<html><body>" + "<div><p>word " * 1_000, encoding="utf-8")
    doc = _within(30, lambda: read_document(path))
    assert doc.text.split() == ["word"] * 1_000


def test_a_long_flat_page_is_refused_by_characters_not_by_time(tmp_path):
    path = tmp_path / "flat.html"
    path.write_text("<html><body>" + "<p>Some words in a paragraph.</p>" * 60_000, encoding="utf-8")
    result = _within(30, lambda: read_document(path))
    assert isinstance(result, DocumentError) and result.reason.startswith("too long: ")
