"""PDF: the text layer read by pypdf within bounds, then put back into paragraphs (paragraphs.py).

Bounds, none of which trusts what the file declares:
  * at most PDF_MAX_PAGES pages;
  * at most PDF_MAX_CONTENT_BYTES of page content, counted per page that draws it: a content stream (or
    form) that 1,000 pages share counts 1,000 times, because pypdf parses it again for every page
    (a 172 KB file of 1,000 pages sharing one heavy stream took ~6.6 CPU-s a page, ~1.8 h in all);
  * a page drawing more than PDF_MAX_PAGE_CONTENT_BYTES (a plan or a map, not text) is skipped and named
    in the document's metadata: pypdf parses a page's whole content stream before the first operator
    (5.6 MB took 18 s here), so the time budget below could not stop it;
  * at most PDF_TIME_BUDGET_S seconds of text extraction for the whole document, checked between
    operators inside a page as well as between pages (so at most the budget plus one page's parse);
  * extraction stops once the text passes the character limit.
"""
from __future__ import annotations

import io
import time
from pathlib import Path

from app.core.documents.paragraphs import Line, paragraphs_from_pages
from app.core.documents.text import normalize_text, size_words, too_long, trim_title
from app.core.errors import DocumentError

PDF_MAX_PAGES = 1_000
PDF_MAX_CONTENT_BYTES = 32_000_000
PDF_MAX_PAGE_CONTENT_BYTES = 4_000_000  # pypdf parses a page's whole content before any check can run
PDF_TIME_BUDGET_S = 60.0
_FORM_DEPTH = 8
_PLACEHOLDER_TITLES = {"", "untitled", "(anonymous)", "anonymous", "(untitled)"}  # tools' defaults


class _OutOfTime(BaseException):
    """Raised from inside pypdf's operator loop; a BaseException so pypdf's own `except Exception` around
    forms cannot swallow it."""


def _encrypted(path: Path) -> DocumentError:
    return DocumentError(path, "encrypted PDF (password protected); remove the password and try again")


def _limit_errors() -> tuple[type[Exception], ...]:
    """pypdf's error for a stream that inflates past its caps (pypdf 5 and later)."""
    try:
        from pypdf.errors import LimitReachedError
    except ImportError:
        return ()
    return (LimitReachedError,)


def _stream_limit() -> str:
    import pypdf.filters

    limit = getattr(pypdf.filters, "ZLIB_MAX_OUTPUT_LENGTH", None)
    return size_words(limit) if isinstance(limit, int) else "pypdf's cap"


def _content_bytes(page, cache: dict) -> int:
    """Decoded bytes of the content streams and form XObjects this page draws (each shared object once
    per page, every page that draws it counting it again)."""
    from pypdf.generic import ArrayObject, IndirectObject

    seen: set = set()

    def length(ref) -> int:
        key = (ref.idnum, ref.generation) if isinstance(ref, IndirectObject) else id(ref)
        if key in seen:
            return 0
        seen.add(key)
        if key not in cache:
            try:
                cache[key] = len(ref.get_object().get_data())
            except _limit_errors():  # inflates past pypdf's own cap (75 MB): far over one page's limit
                cache[key] = PDF_MAX_CONTENT_BYTES + 1
            except Exception:  # a damaged stream: the page's own extraction reports it
                cache[key] = 0
        return cache[key]

    def forms(resources, depth: int) -> int:
        total = 0
        try:
            xobjects = resources.get_object().get("/XObject") if resources is not None else None
            items = list(xobjects.get_object().values()) if xobjects is not None else []
        except Exception:
            return 0
        for ref in items:
            try:
                obj = ref.get_object()
                if obj.get("/Subtype") != "/Form":
                    continue
            except Exception:
                continue
            total += length(ref)
            if depth < _FORM_DEPTH:
                total += forms(obj.get("/Resources"), depth + 1)
        return total

    total = 0
    contents = page.get("/Contents")
    resolved = contents.get_object() if contents is not None else None
    for ref in (resolved if isinstance(resolved, ArrayObject) else [contents] if contents is not None else []):
        total += length(ref)
    return total + forms(page.get("/Resources"), 0)


def read_pdf(path: Path, data: bytes, max_chars: int) -> tuple[str, str, str, tuple]:
    if b"%PDF" not in data[:1024]:
        raise DocumentError(path, "not a PDF file (no %PDF header)")

    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except DependencyError:
                raise DocumentError(path, "encrypted PDF (AES encryption needs the 'cryptography' package)") from None
            if not opened:
                raise _encrypted(path)
        pages = reader.pages
        if len(pages) > PDF_MAX_PAGES:
            raise DocumentError(path, f"too many pages: {len(pages):,}, limit {PDF_MAX_PAGES:,} "
                                      "(split the PDF into smaller files)")
        cache: dict = {}
        drawn, heavy = 0, []
        for number, page in enumerate(pages, 1):
            size = _content_bytes(page, cache)
            if size > PDF_MAX_PAGE_CONTENT_BYTES:
                heavy.append(number)  # a drawing, not text: parsing it alone could take minutes
                continue
            drawn += size
            if drawn > PDF_MAX_CONTENT_BYTES:
                raise DocumentError(path, f"refused: its pages draw more than {size_words(PDF_MAX_CONTENT_BYTES)} "
                                          f"of page content (limit {size_words(PDF_MAX_CONTENT_BYTES)}; a content "
                                          "stream that several pages share counts once per page)")
        if heavy and len(heavy) == len(pages):
            raise DocumentError(path, f"refused: every page draws more than {size_words(PDF_MAX_PAGE_CONTENT_BYTES)} "
                                      "of content (the limit for one page: drawings or plans, not text)")
        page_lines, failed = _extract(path, pages, max_chars, FileNotDecryptedError, set(heavy))
        title = ""
        try:
            meta_title = reader.metadata.title if reader.metadata else None
            meta_title = str(meta_title or "").strip()
            title = trim_title(meta_title) if meta_title.lower() not in _PLACEHOLDER_TITLES else ""
        except Exception:
            title = ""
    except DocumentError:
        raise
    except _limit_errors():  # a limit met, not damage: say which
        raise DocumentError(path, f"refused: a stream inflates past {_stream_limit()} (the PDF reader's limit "
                                  "for one stream); it may be a decompression bomb") from None
    except RecursionError:
        raise DocumentError(path, "refused: its objects nest deeper than the PDF reader allows") from None
    except Exception as exc:
        raise DocumentError(path, f"corrupt PDF file ({type(exc).__name__}: {exc})") from None
    if failed and failed == len(pages):
        raise DocumentError(path, "corrupt PDF file (no page could be read)")
    text = normalize_text("\n\n".join(paragraphs_from_pages(page_lines)))
    if not text.strip():
        raise DocumentError(path, "no text layer (scanned PDF? OCR is not supported)")
    note = (f"{', '.join(map(str, heavy))} (each draws over {size_words(PDF_MAX_PAGE_CONTENT_BYTES)}: "
            "drawings, not text)")
    skipped = (("skipped pages", note),) if heavy else ()
    return text, title, "utf-8", (("pages", str(len(pages))), *skipped)


def _extract(path: Path, pages, max_chars: int, not_decrypted: type,
             skip: set[int]) -> tuple[list[list[Line]], int]:
    """Each page's text lines with their positions; pages that fail are counted, not fatal."""
    t0 = time.monotonic()
    ticks = 0

    def tick(*_args) -> None:
        nonlocal ticks
        ticks += 1
        if ticks % 256 == 0 and time.monotonic() - t0 > PDF_TIME_BUDGET_S:
            raise _OutOfTime

    out: list[list[Line]] = []
    failed = chars = 0
    for number, page in enumerate(pages, 1):
        if number in skip:
            out.append([])
            continue
        fragments: list[tuple[str, float, float, float]] = []

        def collect(text, cm, tm, _font, size, fragments=fragments) -> None:
            if text:
                x = cm[0] * tm[4] + cm[2] * tm[5] + cm[4]
                y = cm[1] * tm[4] + cm[3] * tm[5] + cm[5]
                scale = (abs(cm[3] * tm[3]) or abs(cm[0] * tm[0]) or 1.0)
                fragments.append((text, x, y, size * scale))

        try:
            if time.monotonic() - t0 > PDF_TIME_BUDGET_S:
                raise _OutOfTime
            plain = page.extract_text(visitor_operand_before=tick, visitor_text=collect) or ""
        except _OutOfTime:
            raise DocumentError(path, f"refused: reading its text took over {PDF_TIME_BUDGET_S:.0f} s "
                                      f"(the time limit for one PDF; stopped at page {number:,} of "
                                      f"{len(pages):,})") from None
        except not_decrypted:
            raise _encrypted(path) from None
        except Exception:  # one damaged page should not lose the others
            failed += 1
            out.append([])
            continue
        lines = _lines(fragments)
        if not lines and plain.strip():
            lines = [Line(t.strip(), 0.0, 0.0, 0.0) for t in plain.splitlines() if t.strip()]
        out.append(lines)
        chars += sum(len(ln.text) + 1 for ln in lines) + 2
        if chars > max_chars:  # stop reading: the rest would be refused anyway
            raise too_long(path, chars, max_chars)
    return out, failed


def _lines(fragments: list[tuple[str, float, float, float]]) -> list[Line]:
    """pypdf's fragments cut into lines where its text has line breaks; a line takes the position and
    size of its first visible fragment."""
    lines: list[Line] = []
    text, pos = "", None
    for frag, x, y, size in fragments:
        pieces = frag.split("\n")
        for k, piece in enumerate(pieces):
            if piece.strip() and pos is None:
                pos = (x, y, size)
            text += piece
            if k < len(pieces) - 1:
                if text.strip() and pos is not None:
                    lines.append(Line(" ".join(text.split()), *pos))
                text, pos = "", None
    if text.strip() and pos is not None:
        lines.append(Line(" ".join(text.split()), *pos))
    return lines
