"""A PDF's text lines put back into paragraphs.

A PDF stores positioned lines, not paragraphs. From each line's position, font size and length:
  * lines repeated at the top or bottom of most pages (running headers and footers, with their page
    numbers) and lone page numbers ("7", "Page 7 of 9", "- 7 -") are dropped;
  * a paragraph ends where the vertical gap grows past the usual line spacing, the font size changes
    (a title or heading stays apart from the first sentence), the next line is indented, the text jumps
    up (a new column), or a line stops well short of the full width (a paragraph's last line, a heading);
  * lines of one paragraph are joined with a space, and a word hyphenated at the end of a line is made
    whole again ("measure-" + "ments" -> "measurements");
  * a paragraph cut by a page break (no closing punctuation, next page goes on in lower case) is joined.
Lines without positions (a fallback when pypdf gives none) are kept one per line.
"""
from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from itertools import pairwise


@dataclass(frozen=True)
class Line:
    text: str
    x: float
    y: float  # PDF coordinates: larger is higher on the page
    size: float  # font size as drawn; 0: position unknown


_PAGE_NUMBER = re.compile(r"(?:page\s+)?(?:\d{1,4}|[ivxlcdm]{1,7})(?:\s*(?:of|/)\s*\d{1,4})?|[-–—]\s*\d{1,4}\s*[-–—]",
                          re.IGNORECASE)
_END = re.compile(r"[.!?:;…)\]\"”’»]$")
_SENTENCE_END = re.compile(r"[.!?:][\"”’)»]?$")
_HYPHEN_END = re.compile(r"[^\W\d_][-\u00ad]$")
_MARGIN_LINES = 2  # how many lines at the top and at the bottom of a page can be a header or footer


def _margin_lines(lines: list[Line]) -> list[int]:
    """Indexes of the topmost and bottommost lines of a page (where headers and footers sit)."""
    placed = [i for i, ln in enumerate(lines) if ln.size > 0]
    by_height = sorted(placed, key=lambda i: -lines[i].y)
    return sorted(set(by_height[:_MARGIN_LINES] + by_height[-_MARGIN_LINES:]))


def _key(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.lower().split()))


def _without_running_lines(pages: list[list[Line]]) -> list[list[Line]]:
    with_text = [p for p in pages if p]
    counts: dict[str, int] = {}
    for page in with_text:
        for key in {_key(page[i].text) for i in _margin_lines(page)}:
            counts[key] = counts.get(key, 0) + 1
    repeated = {k for k, n in counts.items() if n >= 2 and n >= 0.5 * len(with_text)}
    out = []
    for page in pages:
        drop = {i for i in _margin_lines(page)
                if _key(page[i].text) in repeated or _PAGE_NUMBER.fullmatch(page[i].text.strip())}
        out.append([ln for i, ln in enumerate(page) if i not in drop])
    return out


def _join(a: str, b: str) -> str:
    if _HYPHEN_END.search(a) and b[:1].islower():
        return a[:-1] + b
    return a + " " + b


@dataclass(frozen=True)
class _Measure:
    leading: dict[float, float]  # usual distance between lines, by font size, over the whole document
    full: float  # the length of a full line (90th percentile of line lengths)


def _measure(pages: list[list[Line]]) -> _Measure:
    gaps: dict[float, list[float]] = {}
    lengths: list[int] = []
    for lines in pages:
        lengths += [len(ln.text) for ln in lines]
        for a, b in pairwise(lines):
            if abs(a.size - b.size) < 0.5 and 0.3 * a.size < a.y - b.y < 4 * a.size:
                gaps.setdefault(round(a.size), []).append(a.y - b.y)
    lengths.sort()
    full = lengths[min(len(lengths) - 1, int(0.9 * len(lengths)))] if lengths else 0
    return _Measure({size: statistics.median(g) for size, g in gaps.items()}, full)


def _page_paragraphs(lines: list[Line], measure: _Measure) -> list[str]:
    if not lines:
        return []
    if any(ln.size <= 0 for ln in lines):
        return [ln.text for ln in lines]
    paragraphs: list[str] = [lines[0].text]
    for a, b in pairwise(lines):
        gap = a.y - b.y
        size = max(a.size, b.size, 1.0)
        leading = measure.leading.get(round(a.size), 1.2 * size)
        short = len(a.text) < 0.6 * measure.full or (
            _SENTENCE_END.search(a.text) and len(a.text) < 0.8 * measure.full and b.text[:1].isupper())
        new = (abs(a.size - b.size) > 0.1 * size  # a title or heading in another size
               or gap <= 0.3 * size or gap > 1.3 * leading  # a jump up (new column) or a blank line
               or b.x - a.x > 0.8 * size  # an indented first line
               or short)  # the line before stops short: a paragraph's end or a heading
        if new:
            paragraphs.append(b.text)
        else:
            paragraphs[-1] = _join(paragraphs[-1], b.text)
    return paragraphs


def paragraphs_from_pages(pages: list[list[Line]]) -> list[str]:
    """The document's paragraphs, in page order, from each page's lines."""
    out: list[str] = []
    pages = _without_running_lines(pages)
    measure = _measure(pages)
    for page in pages:
        paras = _page_paragraphs(page, measure)
        if out and paras and not _END.search(out[-1]) and paras[0][:1].islower():
            out[-1] = _join(out[-1], paras.pop(0))  # a paragraph going on over the page break
        out.extend(paras)
    return out
