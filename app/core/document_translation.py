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

import os
import re
import socket
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

from app.core.errors import AlbertStudioError, DocumentError
from app.core.language import LanguageGuess, check_source_language, detect_language
from app.core.protect import Glossary, find_block_protected, find_protected
from app.core.segment import split_paragraphs
from app.core.translation_confidence import confidence_counts, quality_line
from app.core.types import Document, ModelInfo, TranslatedSentence, Translation

EXPORT_FORMATS = ("txt", "md", "docx")
LOW_CONFIDENCE_MODES = ("keep-source", "mark")  # what an exported document shows for a low-confidence sentence
MARK = "[?] "  # in front of a low-confidence sentence in plain text (mark mode)
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
                sents.append(replace(s, start=b.start + s.start, end=b.start + s.end, paragraph=i,
                                     target_start=pos + s.target_start, target_end=pos + s.target_end))
            parts.append(b.output)
            pos += len(b.output)
        g = self.detected
        return Translation(self.target_lang, "\n\n".join(parts), tuple(sents), self.source_lang, self.protected,
                           self.reinserted, g.lang if g else "", g.probability if g else 0.0)

    @property
    def confidence(self) -> tuple[int, int]:
        """(confident sentences, sentences judged) over the blocks that were translated."""
        return confidence_counts(s for b in self.blocks if not b.untranslated for s in b.sentences)

    def quality_line(self) -> str:
        """'31 of 45 sentences confident' ('' when the model judged none)."""
        return quality_line([s for b in self.blocks if not b.untranslated for s in b.sentences])

    def summary_note(self, low_confidence: str = "keep-source") -> str:
        """The one line an exported document starts with: which model, how many sentences are confident,
        and what was done with the others."""
        ok, n = self.confidence
        head = f"Machine translation by {self.model.id} {self.model.version}"
        if not n:
            return head + "."
        line = f"{head}: {ok} of {n} sentence{'s' if n != 1 else ''} confident"
        if n - ok:
            line += ("; the others are kept in the original language and highlighted" if low_confidence == "keep-source"
                     else f"; the others are highlighted (marked {MARK.strip()} in plain text): check them")
        return line + "."

    def describe(self) -> str:
        """One line for a person: how much was translated and what was not."""
        n = sum(1 for b in self.blocks if _has_words(b.source))
        line = f"{n - self.untranslated} of {n} paragraphs translated into {self.target_lang}"
        quality = self.quality_line()
        if quality:
            line += f" ({quality})"
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
    protected: tuple[tuple[int, int], ...] = ()  # ranges of `text` copied untranslated (monospace, code)


def _has_words(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


def _needs_translation(text: str, glossary: Glossary | None, lang: str,
                       protected: tuple[tuple[int, int], ...] = ()) -> bool:
    """Whether anything is left to translate once numbers, names, links, glossary terms, command lines and
    code are set aside."""
    spans = find_protected(text, glossary, lang)
    rest = list(text)
    for p in spans:
        rest[p.start:p.end] = [" "] * (p.end - p.start)
    for a, b, _kind in find_block_protected(text):
        rest[a:b] = [" "] * (b - a)
    for a, b in protected:
        rest[a:b] = [" "] * (b - a)
    return _has_words("".join(rest))


def is_untranslated(source: str, translation: str, glossary: Glossary | None, lang: str,
                    protected: tuple[tuple[int, int], ...] = ()) -> bool:
    """A block with words to translate that came back empty, unchanged, or as nothing but its copied spans."""
    if not _needs_translation(source, glossary, lang, protected):
        return False
    out = translation.strip()
    if not out or out.casefold() == source.strip().casefold():
        return True
    return not _needs_translation(out, glossary, lang)


_FENCE_LINE = re.compile(r"^[ \t]*(```|~~~)", re.M)


def text_blocks(document: Document) -> list[_Block]:
    """Paragraph blocks of a plain-text document with their spans (Markdown headings and list items named;
    blocks inside a fenced code block, blank lines and all, are code and copied as they are)."""
    out = []
    fence = ""  # the open fence ("```" or "~~~"), "" outside code
    for start, end in split_paragraphs(document.text):
        chunk = document.text[start:end]
        opened = fence
        for m in _FENCE_LINE.finditer(chunk):
            fence = "" if fence == m.group(1) else (fence or m.group(1))
        m = _HEADING.match(chunk)
        if opened or _FENCE_LINE.match(chunk):
            out.append(_Block("code", chunk, "", start, end, ((0, len(chunk)),)))
        elif m and "\n" not in chunk:
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

    from app.core.documents.safezip import ZipReader
    from app.core.documents.text import DEFAULT_MAX_BYTES, read_bytes, stat_file

    data, _ = read_bytes(Path(path), DEFAULT_MAX_BYTES, stat_file(Path(path)))
    package = ZipReader(path, data, kind=".docx file").rebuilt()  # inflated bytes bounded, as when it was read
    try:
        return docx.Document(package)
    except Exception as exc:
        raise DocumentError(path, f"cannot open the .docx to keep its layout ({type(exc).__name__}: {exc})") from None


_MONO_FONTS = re.compile(r"courier|consol|mono|menlo|monaco|lucida console|source code|fira code|"
                         r"inconsolata|hack\b|cascadia|liberation mono|dejavu sans mono", re.I)
_CODE_STYLES = re.compile(r"code|source text|preformatted|verbatim|macro|plain text|console|terminal|listing|"
                          r"html (?:code|keyboard|sample|typewriter)", re.I)


def _is_monospace(font_name: str | None, style_name: str) -> bool:
    return bool(font_name and _MONO_FONTS.search(font_name)) or bool(style_name and _CODE_STYLES.search(style_name))


def _style_font(style) -> str | None:
    while style is not None:
        if style.font is not None and style.font.name:
            return style.font.name
        style = style.base_style
    return None


def docx_monospace(par) -> tuple[tuple[int, int], ...]:
    """Character ranges of a paragraph set in a monospace font or a code style (the whole paragraph for a
    code paragraph style): commands and code the translation copies as they are."""
    pstyle = par.style.name if par.style is not None else ""
    if _is_monospace(_style_font(par.style), pstyle):
        return ((0, len(par.text)),) if par.text else ()
    out, pos = [], 0
    for r in _runs(par):
        n = len(r.text)
        cstyle = r.style.name if r.style is not None and r.style.name != "Default Paragraph Font" else ""
        if n and _is_monospace(r.font.name or (_style_font(r.style) if cstyle else None), cstyle):
            if out and out[-1][1] == pos:
                out[-1] = (out[-1][0], pos + n)
            else:
                out.append((pos, pos + n))
        pos += n
    return tuple(out) if pos == len(par.text) else ()


def docx_blocks(path: str | Path) -> list[_Block]:
    out = []
    for kind, par in docx_paragraphs(_open_docx(path)):
        style = par.style.name if par.style is not None else ""
        if kind == "paragraph" and style.lower().startswith(("heading", "title")):
            kind = "heading"
        elif kind == "paragraph" and "list" in style.lower():
            kind = "list"
        out.append(_Block(kind, par.text, style, protected=docx_monospace(par)))
    return out


_HTML_CODE = ("code", "pre", "kbd", "samp", "tt", "var")


def html_code_texts(path: str | Path) -> list[str]:
    """The texts of a web page's code elements (<code>, <pre>, <kbd>, <samp>, <tt>, <var>), longest first."""
    import lxml.html

    try:
        root = lxml.html.fromstring(Path(path).read_bytes())
    except Exception:  # noqa: BLE001 - the page was read once already; without its code marks it is still text
        return []
    found = set()
    for tag in _HTML_CODE:
        for el in root.iter(tag):
            text = " ".join(el.text_content().split()) if tag != "pre" else el.text_content().strip()
            if len(text) >= 2:
                found.add(text)
    return sorted(found, key=len, reverse=True)


def _with_code(blocks: list[_Block], codes: list[str]) -> list[_Block]:
    """Each block with the ranges where one of `codes` occurs (whitespace as in the block) marked protected."""
    if not codes:
        return blocks
    pats = [re.compile(r"\s+".join(re.escape(w) for w in c.split())) for c in codes if c.split()]
    out = []
    for b in blocks:
        taken: list[tuple[int, int]] = list(b.protected)
        for pat in pats:
            for m in pat.finditer(b.text):
                if not any(m.start() < e and s < m.end() for s, e in taken):
                    taken.append(m.span())
        out.append(replace(b, protected=tuple(sorted(taken))))
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
        if document.format in ("html", "htm") and path.is_file():
            blocks = _with_code(blocks, html_code_texts(path))
    results = translator.translate_texts([b.text for b in blocks], beam=beam, target_lang=lang, glossary=glossary,
                                         progress=progress, cancelled=cancelled,
                                         protected_ranges=[b.protected for b in blocks])
    out = [TranslatedBlock(b.kind, b.text, tr.text, tr.sentences, b.style, b.start, b.end,
                           is_untranslated(b.text, tr.text, glossary, lang, b.protected))
           for b, tr in zip(blocks, results)]
    return DocumentTranslation(document, lang, translator.source_lang, tuple(out), translator.model_info, detected,
                               sum(t.protected for t in results), sum(t.reinserted for t in results),
                               time.perf_counter() - t0)


# ---- writing ----------------------------------------------------------------------------------

class ExportError(AlbertStudioError):
    """A translated document cannot be written."""


def check_low_confidence(mode: str) -> str:
    if mode not in LOW_CONFIDENCE_MODES:
        raise ExportError(f"low-confidence sentences are either kept in the source language ('keep-source') or "
                          f"marked ('mark'), not '{mode}'")
    return mode


def write_translation(result: DocumentTranslation, path: str | Path, fmt: str | None = None, *,
                      low_confidence: str = "keep-source", summary: bool = True) -> Path:
    """Write the translated document as .txt, .md or .docx (from the suffix unless `fmt` is given).
    A .docx source keeps its styles, tables, headers and footers; other sources become plain paragraphs.
    Low-confidence sentences are kept in the source language and highlighted (`low_confidence="keep-source"`)
    or translated and highlighted (`"mark"`; `[?] ` in front in plain text); with `summary` the document
    starts with one line naming the model and how many sentences are confident."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in EXPORT_FORMATS:
        raise ExportError(f"{path}: translated documents are written as .txt, .md or .docx, not '{fmt or '?'}'")
    check_low_confidence(low_confidence)
    src = Path(result.document.source)
    remove_stale_partials(path)
    tmp = partial_name(path)
    note = result.summary_note(low_confidence) if summary else ""
    try:
        if fmt == "docx":
            if result.document.format == "docx" and src.is_file():
                _write_docx_in_place(result, src, tmp, low_confidence, note)
            else:
                _write_new_docx(result, tmp, low_confidence, note)
        else:
            body = _plain_output(result, markdown=fmt == "md", low_confidence=low_confidence)
            if note:
                body = (f"> {note}" if fmt == "md" else note) + "\n\n" + body
            tmp.write_text(body, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"{path}: cannot write the translation ({exc.strerror or exc})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


PARTIAL_MARK = "albert-studio-partial"


def partial_name(path: Path) -> Path:
    """The file a translation is written to before it is renamed over `path`: hidden, beside it, and named
    for what it is and who writes it (`.out.docx.albert-studio-partial-HOST-PID.tmp`)."""
    return path.with_name(f".{path.name}.{PARTIAL_MARK}-{socket.gethostname()}-{os.getpid()}.tmp")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process, or no way to tell: keep its file
    return True


def remove_stale_partials(path: Path) -> list[Path]:
    """Remove partial files of `path` left by a writer that was killed (kill -9, power cut): ours from this
    machine whose process is gone, and the `.out.docx.tmp` name earlier versions used. Returns what was
    removed. A partial file of a live process, or of another machine sharing the folder, is left alone."""
    removed = []
    host = socket.gethostname()
    prefix = f".{path.name}.{PARTIAL_MARK}-"
    try:
        names = [p for p in path.parent.iterdir() if p.name.startswith(prefix) and p.name.endswith(".tmp")]
    except OSError:
        return removed
    legacy = path.with_name(f".{path.name}.tmp")
    for p in names + ([legacy] if legacy.is_file() and not legacy.is_symlink() else []):
        if p != legacy:
            writer, _, pid = p.name[len(prefix):-len(".tmp")].rpartition("-")
            if writer != host or not pid.isdigit() or _alive(int(pid)):
                continue
        try:
            p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed


def sentence_output(s: TranslatedSentence, low_confidence: str) -> str:
    """What a document shows for one sentence: its translation, or its source when it is low-confidence and
    the user keeps those in the source language."""
    return s.source if s.low_confidence and low_confidence == "keep-source" else s.text


def _marked(s: TranslatedSentence, low_confidence: str, markdown: bool) -> str:
    text = sentence_output(s, low_confidence)
    if not s.low_confidence or not text:
        return text
    if markdown:
        return f"<mark>{text}</mark>"
    return MARK + text if low_confidence == "mark" else text


def block_output(b: TranslatedBlock, low_confidence: str, markdown: bool = False) -> str:
    """A block's text as exported: untranslated blocks keep their source; low-confidence sentences follow
    `low_confidence` (highlighted with <mark> in Markdown, `[?] ` in front in plain text when marked)."""
    if b.untranslated or not b.text:
        return b.output
    if not any(s.low_confidence for s in b.sentences):
        return b.text
    parts, pos = [], 0
    for s in b.sentences:  # the block's translation with each low-confidence sentence replaced in place
        if s.target_end > s.target_start or s.text:
            parts.append(b.text[pos:s.target_start])
            parts.append(_marked(s, low_confidence, markdown))
            pos = s.target_end
    parts.append(b.text[pos:])
    return "".join(parts)


def render_text(result: DocumentTranslation, low_confidence: str = "keep-source") -> str:
    """The translated document as plain text, low-confidence sentences as `low_confidence` says."""
    return "\n\n".join(t for t in (block_output(b, low_confidence) for b in result.blocks) if t)


def _plain_output(result: DocumentTranslation, markdown: bool, low_confidence: str = "keep-source") -> str:
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
                    out.append(_marked(s, low_confidence, markdown))
                    pos = e
        out.append(text[pos:])
        return "".join(out).rstrip() + "\n"
    lines = []
    for b in result.blocks:
        shown = block_output(b, low_confidence, markdown)
        if not shown.strip():
            continue
        if markdown and b.kind == "heading":
            level = int(re.sub(r"\D", "", b.style) or 1) if b.style.lower().startswith("heading") else 1
            lines.append("#" * min(level, 6) + " " + shown.lstrip("# "))
        elif markdown and b.kind == "list":
            lines.append("- " + shown)
        else:
            lines.append(shown)
    return "\n\n".join(lines) + "\n"


def _highlight(run) -> None:
    from docx.enum.text import WD_COLOR_INDEX

    run.font.highlight_color = WD_COLOR_INDEX.YELLOW


def _add_note(d, note: str) -> None:
    """The quality line as the document's first paragraph, in italics."""
    if not note:
        return
    body = [p for p in d.paragraphs]
    par = body[0].insert_paragraph_before("") if body else d.add_paragraph("")
    run = par.add_run(note)
    run.italic = True


def _write_new_docx(result: DocumentTranslation, path: Path, low_confidence: str = "keep-source",
                    note: str = "") -> None:
    import docx

    d = docx.Document()
    for b in result.blocks:
        shown = block_output(b, low_confidence)
        if not shown.strip():
            continue
        if b.kind == "heading":
            level = int(re.sub(r"\D", "", b.style) or 1)
            par = d.add_heading("", level=min(max(level, 1), 9))
            _fill_runs(par, b, low_confidence, strip=_HEADING)
        elif b.kind == "list":
            _fill_runs(d.add_paragraph(style="List Bullet"), b, low_confidence, strip=_LIST)
        else:
            _fill_runs(d.add_paragraph(), b, low_confidence)
    _add_note(d, note)
    d.save(str(path))


def _segments(b: TranslatedBlock, low_confidence: str) -> list[tuple[str, bool]]:
    """(text, highlighted) pieces of a block's exported text."""
    if b.untranslated or not b.text:
        return [(b.output, False)]
    out, pos = [], 0
    for s in b.sentences:
        if s.low_confidence:
            out.append((b.text[pos:s.target_start], False))
            out.append((sentence_output(s, low_confidence), True))
            pos = s.target_end
    out.append((b.text[pos:], False))
    return [(t, h) for t, h in out if t]


def _fill_runs(par, b: TranslatedBlock, low_confidence: str, strip: re.Pattern | None = None) -> None:
    segs = _segments(b, low_confidence)
    if strip is not None and segs:
        segs[0] = (strip.sub("", segs[0][0]), segs[0][1])
    for text, high in segs:
        run = par.add_run(text)
        if high:
            _highlight(run)


def _runs(par) -> list:
    """The paragraph's runs in order, those inside hyperlinks included."""
    from docx.text.hyperlink import Hyperlink

    out = []
    for item in par.iter_inner_content():
        out.extend(item.runs if isinstance(item, Hyperlink) else [item])
    return out


def _write_docx_in_place(result: DocumentTranslation, src: Path, path: Path, low_confidence: str = "keep-source",
                         note: str = "") -> None:
    doc = _open_docx(src)
    pars = [p for _, p in docx_paragraphs(doc)]
    if len(pars) != len(result.blocks):
        raise ExportError(f"{src} changed since it was translated ({len(pars)} paragraphs, "
                          f"{len(result.blocks)} translated); translate it again")
    for par, block in zip(pars, result.blocks):
        if block.untranslated or not block.text or par.text != block.source:
            continue
        _write_paragraph(par, block, low_confidence)
    _add_note(doc, note)
    doc.save(str(path))


def _write_paragraph(par, block: TranslatedBlock, low_confidence: str = "keep-source") -> None:
    """Put a paragraph's translation into its runs. Runs and sentences that overlap form groups; each
    group's translated sentences go into its longest run (so a bold sentence stays bold, an italic one
    italic), the group's other runs are emptied, and runs between sentences (spaces, tabs) stay. A
    low-confidence sentence gets a run of its own (a copy of that run), highlighted."""
    import copy

    from docx.text.run import Run

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
        pieces = [(sentence_output(sents[j], low_confidence), sents[j].low_confidence) for j in sorted(sent_ids)]
        pieces = [(t, h) for t, h in pieces if t]
        main = max(run_ids, key=lambda i: len(runs[i].text.strip()))
        for i in run_ids:
            old = runs[i].text
            if i != main:
                runs[i].text = ""
                continue
            lead = old[: len(old) - len(old.lstrip())]
            trail = old[len(old.rstrip()):]
            if not any(h for _, h in pieces):
                runs[i].text = lead + " ".join(t for t, _ in pieces) + trail
                continue
            # one run per stretch of equal highlighting, each a copy of the main run (same font, bold...)
            stretches: list[tuple[str, bool]] = []
            for t, h in pieces:
                if stretches and stretches[-1][1] == h:
                    stretches[-1] = (stretches[-1][0] + " " + t, h)
                else:
                    stretches.append(((" " if stretches else "") + t, h))
            runs[i].text = lead + stretches[0][0] + (trail if len(stretches) == 1 else "")
            if stretches[0][1]:
                _highlight(runs[i])
            anchor = runs[i]
            for k, (t, h) in enumerate(stretches[1:], 1):
                el = copy.deepcopy(anchor._r)
                anchor._r.addnext(el)
                new = Run(el, anchor._parent)
                new.text = t + (trail if k == len(stretches) - 1 else "")
                new.font.highlight_color = None
                if h:
                    _highlight(new)
                anchor = new


def output_name(source: str | Path, lang: str, fmt: str | None = None) -> Path:
    """report.docx -> report.fr.docx (a .pdf or .html becomes .docx; .txt and .md stay what they are)."""
    p = Path(source)
    suffix = p.suffix.lower().lstrip(".")
    fmt = fmt or (suffix if suffix in EXPORT_FORMATS else "docx")
    return p.with_name(f"{p.stem}.{lang}.{fmt}")

