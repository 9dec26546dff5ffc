"""Structure is not sentiment: which sentences of a document are headings, titles, meta lines, table rows,
labels or code, so they get no sentiment colour, do not count in the document's score and are never picked
for a summary.

Decided from the document's own shape (its text as the readers give it: a .docx heading, an HTML <h2> or a
Markdown "## " all arrive as a short paragraph of their own; <pre>/code blocks and shell lines as lines of
their own):
- heading: a Markdown heading line, or a paragraph that is one short line (at most 12 words) not ending in
  sentence punctuation, in a document of several paragraphs (a whole one-line document is content);
- meta: address and header lines of mail and memos ("To:", "From:", "Date:", "Subject:", "Betreff:", "Objet:" ...);
- table: lines whose cells are separated by "|" or tabs, with no sentence punctuation at the end;
- label: a short line ending in ":" ("Next steps:", "Owner:");
- code: shell and console lines ("$ git commit", "PS C:\\> dir", "C:\\> copy"), lines inside ``` or ~~~ fences,
  and lines that read as code (assignments, calls, braces) rather than prose.
"""
from __future__ import annotations

import re
from typing import Sequence

from app.core.types import Sentence

META_KEYS = frozenset(k.lower() for k in (
    "To", "From", "Cc", "Bcc", "Date", "Subject", "Sent", "Re", "Fwd", "Fw", "Reply-To", "Attachments",
    "Attachment", "Priority", "Importance", "Von", "An", "Kopie", "Betreff", "Datum", "Gesendet", "Anhang",
    "De", "À", "A", "Objet", "Envoyé", "Pièces jointes", "Memo", "Ref", "Reference", "Location", "When",
    "Where", "Attendees", "Participants", "Organizer", "Author", "Owner", "Version", "Status",
))
_META = re.compile(r"^\s*([^\W\d_][\w .'\-]{0,24}?)\s*:\s*\S")
_SHELL = re.compile(r"^\s*(?:\$|#|%|>>>|PS [A-Za-z]:\\[^>]*>|[A-Za-z]:\\[^>]*>|\w+@[\w.-]+:[^$#]*[$#])\s+\S")
_FENCE = re.compile(r"^\s*(?:```|~~~)")
_MD_HEADING = re.compile(r"^\s*#{1,6}\s+\S")
_END_PUNCT = re.compile(r"[.!?…。！？]['\"”’»)\]]*\s*$")
_CODE_LIKE = re.compile(r"(?:[=;{}]|\(\)|->|=>|::|&&|\|\||</?\w+>)")
_WORDS = re.compile(r"[^\W\d_]{2,}")

KINDS = ("heading", "meta", "table", "label", "code")


MAX_STRUCTURE_CHARS = 2_000  # lines this long are prose: never read line by line (a 170 KB one-line text)


def _lines_around(text: str, start: int, end: int) -> list[str] | None:
    """The whole lines a span touches (from the start of its first line: a "## " or "$ " before it counts);
    None when they are longer than any heading, header block, table row or code line would be."""
    lo = text.rfind("\n", 0, start) + 1
    hi = text.find("\n", end)
    hi = len(text) if hi < 0 else hi
    if hi - lo > MAX_STRUCTURE_CHARS + (end - start):
        return None
    return [ln for ln in text[lo:hi].split("\n") if ln.strip()]


def _fenced_ranges(text: str) -> list[tuple[int, int]]:
    """Character ranges inside ``` / ~~~ fences (an unclosed fence runs to the end)."""
    out, at, open_at = [], 0, None
    for line in text.splitlines(keepends=True):
        if _FENCE.match(line):
            if open_at is None:
                open_at = at
            else:
                out.append((open_at, at + len(line)))
                open_at = None
        at += len(line)
    if open_at is not None:
        out.append((open_at, len(text)))
    return out


def _is_meta(line: str) -> bool:
    m = _META.match(line)
    return bool(m) and m.group(1).strip().lower() in META_KEYS


def _is_table(line: str) -> bool:
    if re.fullmatch(r"\s*\|?[\s:\-|+]+\|?\s*", line) and "-" in line:
        return True  # a Markdown table's rule line
    cells = [c for c in re.split(r"\s*\|\s*|\t", line.strip().strip("|")) if c.strip()]
    return len(cells) >= 2 and ("|" in line or "\t" in line) and not _END_PUNCT.search(line)


def _is_code(line: str) -> bool:
    if _SHELL.match(line):
        return True
    words = _WORDS.findall(line)
    marks = len(_CODE_LIKE.findall(line))
    # prose has a few code marks at most ("2 = two"); code is mostly marks and identifiers
    return marks >= 2 and marks * 3 >= len(words) and not _END_PUNCT.search(line.rstrip(";{"))


def _is_title_line(line: str) -> bool:
    """A short line with no sentence-ending punctuation (a title or heading above a header block)."""
    words = line.split()
    return 0 < len(words) <= 12 and not _END_PUNCT.search(line.strip())


def structural_kinds(text: str, sentences: Sequence[Sentence]) -> list[str | None]:
    """For each sentence of `text`: one of KINDS when it is structure, None when it is content."""
    fences = _fenced_ranges(text)
    paragraphs: dict[int, int] = {}
    for s in sentences:
        paragraphs[s.paragraph] = paragraphs.get(s.paragraph, 0) + 1
    several = len(paragraphs) > 1
    out: list[str | None] = []
    for s in sentences:
        if any(lo <= s.start < hi for lo, hi in fences):
            out.append("code")
            continue
        lines = _lines_around(text, s.start, s.end)
        if not lines:
            out.append(None)
            continue
        if all(_is_code(ln) for ln in lines):
            out.append("code")
        elif all(_is_meta(ln) for ln in lines):
            out.append("meta")
        elif len(lines) > 1 and any(_is_meta(ln) for ln in lines) and all(
                _is_meta(ln) or _is_table(ln) or _is_title_line(ln) for ln in lines):
            out.append("meta")  # a memo's title above its To:/From:/Date:/Subject: block, read as one sentence
        elif all(_is_table(ln) for ln in lines):
            out.append("table")
        elif len(lines) == 1 and _MD_HEADING.match(lines[0]):
            out.append("heading")
        elif (several and len(lines) == 1 and paragraphs[s.paragraph] == 1
              and len(s.text.split()) <= 12 and not _END_PUNCT.search(s.text)):
            out.append("label" if s.text.rstrip().endswith(":") else "heading")
        elif len(lines) == 1 and s.text.rstrip().endswith(":") and len(s.text.split()) <= 4:
            out.append("label")
        else:
            out.append(None)
    return out


def content_sentences(text: str, sentences: Sequence[Sentence]) -> list[Sentence]:
    """The sentences that carry the document's content; all of them when every one looks like structure (a
    document that is only a heading-like line, "Terrible service", is still read)."""
    kinds = structural_kinds(text, sentences)
    kept = [s for s, k in zip(sentences, kinds) if k is None]
    return kept or list(sentences)
