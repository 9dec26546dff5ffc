"""Translate a whole document and give it back as a document.

    from app.core.document_translation import translate_document, write_translation
    result = translate_document(translator, read_document("manual.docx"), "fr", glossary=Glossary.from_file("terms.txt"))
    write_translation(result, "manual.fr.docx")      # or .txt / .md
    result.untranslated, result.describe()

The document is cut into blocks (paragraphs, headings, list items, table cells, headers and footers of a
.docx), every sentence of every block is translated in one set of length-sorted batches, and each block
gets its translation back in place. Blocks the model left empty or unchanged are counted as untranslated
and keep their source text in the exported file; the count is always reported, never hidden.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from app.core.errors import AlbertStudioError, DocumentError
from app.core.language import LanguageGuess, check_source_language, detect_language
from app.core.protect import Glossary, find_protected
from app.core.segment import split_paragraphs
from app.core.types import Document, ModelInfo, TranslatedSentence, Translation

EXPORT_FORMATS = ("txt", "md", "docx")
_HEADING = re.compile(r"^(#{1,6})[ \t]+")
_LIST = re.compile(r"^[ \t]*(?:[-*+•]|\d{1,3}[.)])[ \t]+")


@dataclass(frozen=True)
class TranslatedBlock:
    """One paragraph-like block of a document and its translation."""

    kind: str  # paragraph, heading, list, cell, header, footer
    source: str
    text: str  # the translation ("" when nothing came back)
    sentences: tuple[TranslatedSentence, ...] = ()
    style: str = ""  # the .docx paragraph style, or "Heading N" for a Markdown heading
    start: int = 0  # span in Document.text (plain-text sources)
    end: int = 0
    untranslated: bool = False

    @property
    def output(self) -> str:
        """What the exported document shows: the translation, or the source where there is none."""
        return self.source if self.untranslated else self.text


@dataclass(frozen=True)
class DocumentTranslation:
    document: Document
    target_lang: str
    source_lang: str
    blocks: tuple[TranslatedBlock, ...]
    model: ModelInfo
    detected: LanguageGuess | None = None
    protected: int = 0
    reinserted: int = 0
    seconds: float = 0.0
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def untranslated(self) -> int:
        return sum(b.untranslated for b in self.blocks)

    @property
    def text(self) -> str:
        return "\n\n".join(b.output for b in self.blocks if b.output)

    @property
    def sentences(self) -> list[TranslatedSentence]:
        return [s for b in self.blocks for s in b.sentences]

    def as_translation(self) -> Translation:
        """The whole document as one Translation (what the library stores and the CLI's JSON shows)."""
        sents, pos, parts = [], 0, []
        for i, b in enumerate(self.blocks):
            if not b.output:
                continue
            if parts:
                pos += 2
            for s in b.sentences:
                sents.append(TranslatedSentence(s.source, s.text, b.start + s.start, b.start + s.end, i,
                                                pos + s.target_start, pos + s.target_end))
            parts.append(b.output)
            pos += len(b.output)
        g = self.detected
        return Translation(self.target_lang, "\n\n".join(parts), tuple(sents), self.source_lang, self.protected,
                           self.reinserted, g.lang if g else "", g.probability if g else 0.0)

    def describe(self) -> str:
        """One line for a person: how much was translated and what was not."""
        n = sum(1 for b in self.blocks if _has_words(b.source))
        line = f"{n - self.untranslated} of {n} paragraphs translated into {self.target_lang}"
        if self.untranslated:
            line += (f"; {self.untranslated} could not be translated and keep their source text"
                     " (the model returned nothing or the same text)")
        if self.protected:
            line += f"; {self.protected} numbers, names, links or glossary terms copied through"
        if self.reinserted:
            line += f" ({self.reinserted} put back at a sentence end because the model dropped them)"
        return line


@dataclass(frozen=True)
class _Block:
    kind: str
    text: str
    style: str = ""
    start: int = 0
    end: int = 0


def _has_words(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


def _needs_translation(text: str, glossary: Glossary | None, lang: str) -> bool:
    """Whether anything is left to translate once numbers, names, links and glossary terms are set aside."""
    spans = find_protected(text, glossary, lang)
    rest = list(text)
    for p in spans:
        rest[p.start:p.end] = [" "] * (p.end - p.start)
    return _has_words("".join(rest))


def is_untranslated(source: str, translation: str, glossary: Glossary | None, lang: str) -> bool:
    """A block with words to translate that came back empty, unchanged, or as nothing but its copied spans."""
    if not _needs_translation(source, glossary, lang):
        return False
    out = translation.strip()
    if not out or out.casefold() == source.strip().casefold():
        return True
    return not _needs_translation(out, glossary, lang)


def text_blocks(document: Document) -> list[_Block]:
    """Paragraph blocks of a plain-text document with their spans (Markdown headings and list items named)."""
    out = []
    for start, end in split_paragraphs(document.text):
        chunk = document.text[start:end]
        m = _HEADING.match(chunk)
        if m and "\n" not in chunk:
            out.append(_Block("heading", chunk, f"Heading {len(m.group(1))}", start, end))
        elif _LIST.match(chunk):
            out.append(_Block("list", chunk, "List Paragraph", start, end))
        else:
            out.append(_Block("paragraph", chunk, "", start, end))
    return out


# ---- .docx structure --------------------------------------------------------------------------

def docx_paragraphs(doc) -> Iterator[tuple[str, object]]:
    """(kind, python-docx Paragraph) for every paragraph of the body in reading order (table cells
    included, nested tables too), then each section's own headers and footers."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    def walk(container, kind: str) -> Iterator[tuple[str, object]]:
        for item in container.iter_inner_content():
            if isinstance(item, Paragraph):
                yield kind, item
            elif isinstance(item, Table):
                seen = set()  # the <w:tc> elements themselves (kept alive, so identity is stable)
                for row in item.rows:
                    for cell in row.cells:
                        if cell._tc in seen:  # a merged cell appears once per grid column it spans
                            continue
                        seen.add(cell._tc)
                        yield from walk(cell, "cell")

    yield from walk(doc, "paragraph")
    seen_parts = set()
    for section in doc.sections:
        for attr, kind in (("header", "header"), ("first_page_header", "header"), ("even_page_header", "header"),
                           ("footer", "footer"), ("first_page_footer", "footer"), ("even_page_footer", "footer")):
            hf = getattr(section, attr)
            if hf.is_linked_to_previous:
                continue  # no definition of its own (reading it would create one)
            key = id(hf.part) if hasattr(hf, "part") else id(hf)
            if key in seen_parts:
                continue
            seen_parts.add(key)
            yield from walk(hf, kind)


def _open_docx(path: str | Path):
    import docx

    try:
        return docx.Document(str(path))
    except Exception as exc:
        raise DocumentError(path, f"cannot open the .docx to keep its layout ({type(exc).__name__}: {exc})") from None


def docx_blocks(path: str | Path) -> list[_Block]:
    out = []
    for kind, par in docx_paragraphs(_open_docx(path)):
        style = par.style.name if par.style is not None else ""
        if kind == "paragraph" and style.lower().startswith(("heading", "title")):
            kind = "heading"
        elif kind == "paragraph" and "list" in style.lower():
            kind = "list"
        out.append(_Block(kind, par.text, style))
    return out


# ---- translating ------------------------------------------------------------------------------

def translate_document(translator, document: Document, target_lang: str | None = None, *,
                       glossary: Glossary | None = None, beam: int = 4, check_language: bool = True,
                       progress: Callable[[int, int], None] | None = None,
                       cancelled: Callable[[], bool] | None = None) -> DocumentTranslation:
    """Translate every block of `document` (a .docx is read again for its structure). Raises
    LanguageMismatchError when the text is reliably not in the model's source language, unless
    `check_language` is False; `progress(sentences done, total)` and `cancelled` as Translator.translate_texts."""
    import time

    t0 = time.perf_counter()
    lang = target_lang or translator.target_lang
    name = f"{translator.manifest.id} {translator.manifest.version}"
    if check_language:
        detected = check_source_language(document.text, translator.source_lang, name)
    else:
        detected = detect_language(document.text)
    path = Path(document.source)
    if document.format == "docx" and path.is_file():
        blocks = docx_blocks(path)
    else:
        blocks = text_blocks(document)
    results = translator.translate_texts([b.text for b in blocks], beam=beam, target_lang=lang, glossary=glossary,
                                         progress=progress, cancelled=cancelled)
    out = [TranslatedBlock(b.kind, b.text, tr.text, tr.sentences, b.style, b.start, b.end,
                           is_untranslated(b.text, tr.text, glossary, lang))
           for b, tr in zip(blocks, results)]
    return DocumentTranslation(document, lang, translator.source_lang, tuple(out), translator.model_info, detected,
                               sum(t.protected for t in results), sum(t.reinserted for t in results),
                               time.perf_counter() - t0)


# ---- writing ----------------------------------------------------------------------------------

class ExportError(AlbertStudioError):
    """A translated document cannot be written."""


def write_translation(result: DocumentTranslation, path: str | Path, fmt: str | None = None) -> Path:
    """Write the translated document as .txt, .md or .docx (from the suffix unless `fmt` is given).
    A .docx source keeps its styles, tables, headers and footers; other sources become plain paragraphs."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in EXPORT_FORMATS:
        raise ExportError(f"{path}: translated documents are written as .txt, .md or .docx, not '{fmt or '?'}'")
    src = Path(result.document.source)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if fmt == "docx":
            if result.document.format == "docx" and src.is_file():
                _write_docx_in_place(result, src, tmp)
            else:
                _write_new_docx(result, tmp)
        else:
            tmp.write_text(_plain_output(result, markdown=fmt == "md"), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"{path}: cannot write the translation ({exc.strerror or exc})") from None
    return path


def _plain_output(result: DocumentTranslation, markdown: bool) -> str:
    doc = result.document
    if doc.format in ("txt", "md") and all(b.end > b.start for b in result.blocks):
        # the source text with each sentence replaced in place: line breaks, list markers and heading
        # marks stay where they were
        text, out, pos = doc.text, [], 0
        for b in result.blocks:
            if b.untranslated:
                continue
            for s in b.sentences:
                a, e = b.start + s.start, b.start + s.end
                if s.text and a >= pos:
                    out.append(text[pos:a])
                    out.append(s.text)
                    pos = e
        out.append(text[pos:])
        return "".join(out).rstrip() + "\n"
    lines = []
    for b in result.blocks:
        if not b.output.strip():
            continue
        if markdown and b.kind == "heading":
            level = int(re.sub(r"\D", "", b.style) or 1) if b.style.lower().startswith("heading") else 1
            lines.append("#" * min(level, 6) + " " + b.output.lstrip("# "))
        elif markdown and b.kind == "list":
            lines.append("- " + b.output)
        else:
            lines.append(b.output)
    return "\n\n".join(lines) + "\n"


def _write_new_docx(result: DocumentTranslation, path: Path) -> None:
    import docx

    d = docx.Document()
    for b in result.blocks:
        if not b.output.strip():
            continue
        if b.kind == "heading":
            level = int(re.sub(r"\D", "", b.style) or 1)
            d.add_heading(_HEADING.sub("", b.output), level=min(max(level, 1), 9))
        elif b.kind == "list":
            d.add_paragraph(_LIST.sub("", b.output), style="List Bullet")
        else:
            d.add_paragraph(b.output)
    d.save(str(path))


def _runs(par) -> list:
    """The paragraph's runs in order, those inside hyperlinks included."""
    from docx.text.hyperlink import Hyperlink

    out = []
    for item in par.iter_inner_content():
        out.extend(item.runs if isinstance(item, Hyperlink) else [item])
    return out


def _write_docx_in_place(result: DocumentTranslation, src: Path, path: Path) -> None:
    doc = _open_docx(src)
    pars = [p for _, p in docx_paragraphs(doc)]
    if len(pars) != len(result.blocks):
        raise ExportError(f"{src} changed since it was translated ({len(pars)} paragraphs, "
                          f"{len(result.blocks)} translated); translate it again")
    for par, block in zip(pars, result.blocks):
        if block.untranslated or not block.text or par.text != block.source:
            continue
        _write_paragraph(par, block)
    doc.save(str(path))


def _write_paragraph(par, block: TranslatedBlock) -> None:
    """Put a paragraph's translation into its runs. Runs and sentences that overlap form groups; each
    group's translated sentences go into its longest run (so a bold sentence stays bold, an italic one
    italic), the group's other runs are emptied, and runs between sentences (spaces, tabs) stay."""
    runs = _runs(par)
    if "".join(r.text for r in runs) != block.source:
        runs = []
    if not runs:
        return
    spans, pos = [], 0
    for r in runs:
        spans.append((pos, pos + len(r.text)))
        pos += len(r.text)
    sents = [s for s in block.sentences if s.end > s.start]
    # union-find over runs (0..R-1) and sentences (R..R+S-1)
    parent = list(range(len(runs) + len(sents)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for j, s in enumerate(sents):
        for i, (a, b) in enumerate(spans):
            if a < s.end and s.start < b and runs[i].text[max(s.start - a, 0):s.end - a].strip():
                parent[find(i)] = find(len(runs) + j)
    groups: dict[int, tuple[list[int], list[int]]] = {}
    for j in range(len(sents)):
        groups.setdefault(find(len(runs) + j), ([], []))[1].append(j)
    for i in range(len(runs)):
        root = find(i)
        if root in groups:
            groups[root][0].append(i)
    for run_ids, sent_ids in groups.values():
        if not run_ids:
            continue
        text = " ".join(sents[j].text for j in sorted(sent_ids) if sents[j].text)
        main = max(run_ids, key=lambda i: len(runs[i].text.strip()))
        for i in run_ids:
            old = runs[i].text
            if i == main:
                lead = old[: len(old) - len(old.lstrip())]
                trail = old[len(old.rstrip()):]
                runs[i].text = lead + text + trail
            else:
                runs[i].text = ""


def output_name(source: str | Path, lang: str, fmt: str | None = None) -> Path:
    """report.docx -> report.fr.docx (a .pdf or .html becomes .docx; .txt and .md stay what they are)."""
    p = Path(source)
    suffix = p.suffix.lower().lstrip(".")
    fmt = fmt or (suffix if suffix in EXPORT_FORMATS else "docx")
    return p.with_name(f"{p.stem}.{lang}.{fmt}")

