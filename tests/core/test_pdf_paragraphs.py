"""PDF text comes back in paragraphs (issue 34, item 2): lines of a paragraph joined, end-of-line hyphens
undone, paragraph breaks kept, running headers, footers and page numbers dropped, the title apart from the
first sentence. The PDFs are laid out here with reportlab, line by line, as a word processor would."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.core.documents import read_document

pytest.importorskip("reportlab")

HEADER = "Northwind Water Authority - Annual Review"
TITLE = "Drinking Water Quality in 2024"
# (lines of the paragraph as a word processor broke them); a page break falls inside the third one
PARAGRAPHS = [
    ["The authority tested drinking water in every district during the year, taking",
     "more than four thousand samples from taps, reservoirs and treatment plants. Most",
     "samples met the national standard for every substance."],
    ["A few samples from two older neighbourhoods did not. Engineers traced the measure-",
     "ments to ageing lead pipes and replaced the worst of them before the winter; the",
     "remaining pipes will be replaced over the next two years."],
    ["Customers can read the results for their own street on the website. The figures",
     "are updated every month, and each district has a named officer who answers",
     "questions about the water it receives."],
    ["Next year the authority will test for a wider range of substances."],
]


def layout_pdf(path: Path, paragraphs: list[list[str]], *, lines_per_page: int, title: str | None = TITLE,
               header: str | None = HEADER, page_numbers: bool = True, gap: float = 10.0) -> Path:
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=(595, 842))
    pages: list[list[tuple[str, float, float]]] = [[]]
    y = 760.0
    if title:
        pages[0].append((title, 20.0, y))
        y -= 40
    used = 0
    for k, para in enumerate(paragraphs):
        if k:
            y -= gap
        for line in para:
            if used == lines_per_page:
                pages.append([])
                y, used = 760.0, 0
            pages[-1].append((line, 11.0, y))
            y -= 14
            used += 1
    for n, items in enumerate(pages, 1):
        if header:
            c.setFont("Helvetica", 8)
            c.drawString(72, 805, header)
        if page_numbers:
            c.setFont("Helvetica", 8)
            c.drawCentredString(297, 40, f"Page {n} of {len(pages)}")
        for text, size, y in items:
            c.setFont("Helvetica-Bold" if size > 11 else "Helvetica", size)
            c.drawString(72, y, text)
        c.showPage()
    c.save()
    return path


def test_pdf_lines_become_paragraphs_without_headers_footers_or_hyphens(tmp_path):
    doc = read_document(layout_pdf(tmp_path / "review.pdf", PARAGRAPHS, lines_per_page=8))
    assert dict(doc.metadata)["pages"] == "2"
    expected = [TITLE] + [" ".join(p) for p in PARAGRAPHS]
    expected[2] = expected[2].replace("measure- ments", "measurements")
    assert doc.text.split("\n\n") == expected  # the third paragraph runs over the page break, joined
    assert HEADER not in doc.text and "Page 1" not in doc.text
    assert doc.title == TITLE


def test_a_single_page_keeps_its_title_apart_and_drops_its_page_number(tmp_path):
    doc = read_document(layout_pdf(tmp_path / "note.pdf", PARAGRAPHS[:2], lines_per_page=40, header=None))
    paragraphs = doc.text.split("\n\n")
    assert paragraphs[0] == TITLE
    assert paragraphs[1].startswith("The authority tested") and paragraphs[1].endswith("for every substance.")
    assert len(paragraphs) == 3 and "Page 1 of 1" not in doc.text


def test_paragraphs_without_spacing_still_break_after_a_short_last_line(tmp_path):
    doc = read_document(layout_pdf(tmp_path / "dense.pdf", PARAGRAPHS, lines_per_page=40, gap=0.0,
                                   title=None, header=None, page_numbers=False))
    assert doc.text.split("\n\n")[:2] == [" ".join(PARAGRAPHS[0]),
                                          " ".join(PARAGRAPHS[1]).replace("measure- ments", "measurements")]
