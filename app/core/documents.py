"""Read files into Documents: plain text, Markdown, HTML, Word, PDF, and one Document per row of CSV/TSV/JSONL.

Every problem a user can cause (missing file, wrong format, encrypted PDF, zip bomb...) becomes a
DocumentError naming the file and saying what to do; nothing here raises a raw library traceback.

Every document is bounded, so none can take minutes or gigabytes: a file is at most DEFAULT_MAX_BYTES,
a document (a whole file or one table cell) at most `max_chars` characters (DEFAULT_MAX_CHARS, sized so
the largest allowed document is analysed in under a minute on 2 cores; see docs/reliability.md), a PDF
at most PDF_MAX_PAGES pages, and HTML is parsed by libxml2 (linear on broken markup; nesting deeper than
it allows is refused, not silently cut) with a time budget for extracting its text.
"""
from __future__ import annotations

import codecs
import csv
import fnmatch
import hashlib
import io
import json
import os
import re
import stat
import sys
import time
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from app.core.errors import DocumentError
from app.core.types import Document

SUPPORTED_SUFFIXES: tuple[str, ...] = (
    ".txt", ".md", ".html", ".htm", ".docx", ".pdf", ".csv", ".tsv", ".jsonl",
)
TABLE_SUFFIXES: tuple[str, ...] = (".csv", ".tsv", ".jsonl")
TEXT_COLUMN_NAMES: tuple[str, ...] = ("text", "review", "sentence", "content", "body")

DEFAULT_MAX_BYTES = 50_000_000
DEFAULT_MAX_CHARS = 1_000_000
PDF_MAX_PAGES = 1_000
HTML_TIME_BUDGET_S = 20.0
# A .docx is a zip: refuse archives that would inflate to more than this, or inflate suspiciously well.
DOCX_MAX_UNCOMPRESSED = 200_000_000
DOCX_MAX_RATIO = 100
# Small, very repetitive XML parts can legitimately compress past the ratio; only large ones are a threat.
DOCX_RATIO_FLOOR = 1_000_000

TITLE_MAX_CHARS = 120
_SAMPLE_BYTES = 1_000_000  # how much of a table file is read up front to detect its encoding and delimiter
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # old .doc files and password-protected Office files


# ---------------------------------------------------------------- small helpers

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def normalize_text(text: str) -> str:
    """The canonical form documents are stored in: NFC, '\\n' line ends, no BOM, no lone surrogates
    (a JSON cell may hold "\\ud800"; it becomes U+FFFD so the text can be hashed and stored as UTF-8)."""
    text = _LONE_SURROGATE.sub("\ufffd", text)
    text = text.lstrip("\ufeff")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFC", text)


def content_hash(text: str) -> str:
    """sha256 of the normalised text, so the same words read from two files hash alike."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()


def too_long(source: str | Path, chars: int, max_chars: int) -> DocumentError:
    return DocumentError(source, f"too long: {chars:,} characters, limit {max_chars:,} "
                                 "(split it into smaller documents, or raise --max-chars)")


def _size_words(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f} MB"
    if n >= 1_000:
        return f"{n / 1_000:.1f} KB"
    return f"{n} bytes"


def _supported_list() -> str:
    return ", ".join(SUPPORTED_SUFFIXES)


def _title_from(text: str, fallback: str) -> str:
    """First non-empty line (Markdown heading marks removed), trimmed; else the fallback."""
    for line in text.split("\n"):
        line = line.strip().lstrip("#").strip()
        if line:
            return _trim_title(line)
    return fallback


def _trim_title(title: str, limit: int = TITLE_MAX_CHARS) -> str:
    title = " ".join(title.split())
    if len(title) <= limit:
        return title
    cut = title[:limit].rsplit(" ", 1)[0] or title[:limit]
    return cut.rstrip(" ,;:-") + "…"


def _stat_file(path: Path) -> os.stat_result:
    """stat() a path that must be a readable regular file; DocumentError otherwise."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise DocumentError(path, "file not found") from None
    except PermissionError:
        raise DocumentError(path, "permission denied (check that you can open this file)") from None
    except OSError as exc:
        raise DocumentError(path, f"cannot open the file ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise DocumentError(path, "is a directory, not a file (add the folder to read the files inside it)")
    if not stat.S_ISREG(st.st_mode):
        raise DocumentError(path, "is not a regular file")
    return st


def _read_bytes(path: Path, max_bytes: int, st: os.stat_result) -> tuple[bytes, os.stat_result]:
    if st.st_size > max_bytes:
        raise DocumentError(path, f"too large ({_size_words(st.st_size)}, limit {_size_words(max_bytes)})")
    if st.st_size == 0:
        raise DocumentError(path, "empty file")
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except PermissionError:
        raise DocumentError(path, "permission denied (check that you can open this file)") from None
    except OSError as exc:
        raise DocumentError(path, f"cannot read the file ({exc.strerror or exc})") from None
    if len(data) > max_bytes:  # grew since stat()
        raise DocumentError(path, f"too large (over {_size_words(max_bytes)} limit)")
    return data, st


# ---------------------------------------------------------------- encodings

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Single-byte Latin code pages that charset-normalizer often ranks above cp1252 on short Western text
# (hp_roman8 for German, cp1250 for French...). When cp1252 reads the bytes just as cleanly, it is the
# likelier truth for the documents people feed this app.
_WESTERN_COUSINS = {
    "cp1250", "cp1254", "cp1257", "cp1258", "cp437", "cp775", "cp850", "cp852", "cp858", "hp_roman8",
    "iso8859_2", "iso8859_3", "iso8859_4", "iso8859_9", "iso8859_10", "iso8859_13", "iso8859_14",
    "iso8859_15", "iso8859_16", "iso8859_1", "latin_1", "mac_roman", "mac_latin2", "mac_iceland",
}


def _bom_encoding(data: bytes) -> str | None:
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    return None


def _utf16_without_bom(data: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' when NUL bytes sit in every other position, as in BOM-less UTF-16 text."""
    sample = data[:4096]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


def _looks_binary_bytes(data: bytes) -> bool:
    sample = data[:65536]
    controls = sum(1 for b in sample if (b < 32 and b not in (9, 10, 12, 13)) or b == 127)
    return controls > 0.1 * len(sample)


def _looks_binary_text(text: str) -> bool:
    sample = text[:65536]
    if not sample:
        return False
    bad = sum(1 for ch in sample
              if ch == "\ufffd" or (unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f\v"))
    return bad > 0.05 * len(sample)


def _detect_encoding(data: bytes, source: str | Path, *, complete: bool = True) -> str:
    """Name of the codec to decode `data` with; `complete` is False when `data` is only the file's start."""
    bom = _bom_encoding(data)
    if bom:
        return bom
    if b"\x00" in data:
        utf16 = _utf16_without_bom(data)
        if utf16:
            return utf16
        raise DocumentError(source, "not a text file (binary content)")
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if not complete and exc.start >= len(data) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"  # the sample ends inside a multi-byte character
    if _looks_binary_bytes(data):
        raise DocumentError(source, "not a text file (binary content)")

    from charset_normalizer import from_bytes  # imported here: only needed for non-UTF-8 files

    best = from_bytes(data).best()
    if best is None:
        raise DocumentError(source, "cannot decode the text (unknown encoding; save the file as UTF-8)")
    name = codecs.lookup(best.encoding).name.replace("-", "_")
    if name != "cp1252" and name in _WESTERN_COUSINS:
        western = from_bytes(data, cp_isolation=["cp1252"]).best()
        if western is not None and western.chaos <= best.chaos + 0.01:
            return "cp1252"
    return codecs.lookup(best.encoding).name


def _decode(data: bytes, source: str | Path, encoding: str | None = None) -> tuple[str, str]:
    """Decode file bytes to normalised text; returns (text, encoding)."""
    encoding = encoding or _detect_encoding(data, source)
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        raise DocumentError(source, f"cannot decode the text as {encoding} (save the file as UTF-8)") from None
    if _looks_binary_text(text):
        raise DocumentError(source, "not a text file (binary content)")
    return normalize_text(text), encoding


# ---------------------------------------------------------------- single-document readers

def read_document(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES,
                  max_chars: int = DEFAULT_MAX_CHARS) -> Document:
    """Read one text, Markdown, HTML, Word or PDF file as a Document (raises DocumentError, also when the
    text is longer than `max_chars` characters)."""
    path = Path(path)
    suffix = path.suffix.lower()
    st = _stat_file(path)
    if suffix in TABLE_SUFFIXES:
        raise DocumentError(path, f"is a table ({suffix}); it is read one document per row (read_table)")
    if suffix not in SUPPORTED_SUFFIXES:
        shown = suffix or "(no extension)"
        raise DocumentError(path, f"unsupported file type {shown}; supported: {_supported_list()}")
    data, st = _read_bytes(path, max_bytes, st)
    reader = _READERS[suffix]
    text, title, encoding, metadata = reader(path, data, max_chars)
    if not text.strip():
        raise DocumentError(path, "contains no text (empty or only whitespace)")
    if len(text) > max_chars:
        raise too_long(path, len(text), max_chars)
    return Document(
        source=str(path),
        text=text,
        title=title or _title_from(text, path.stem),
        format=suffix.lstrip("."),
        encoding=encoding,
        content_hash=content_hash(text),
        mtime=st.st_mtime,
        metadata=metadata,
    )


def _read_plain(path: Path, data: bytes, max_chars: int) -> tuple[str, str, str, tuple]:
    if not data.strip():
        raise DocumentError(path, "contains no text (empty or only whitespace)")
    text, encoding = _decode(data, path)
    return text, "", encoding, ()


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.I)
# The web treats these labels as windows-1252 (WHATWG Encoding Standard).
_HTML_CP1252_LABELS = {"iso-8859-1", "iso8859-1", "latin1", "latin-1", "us-ascii", "ascii", "windows-1252"}

_HTML_DROP = ["script", "style", "head", "nav", "noscript", "template", "iframe", "svg", "object",
              "embed", "canvas", "button", "select"]
_HTML_BLOCKS = frozenset(
    "address article aside blockquote body caption center dd details dialog dir div dl dt fieldset "
    "figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr html legend li main menu ol p "
    "pre section summary table tbody td tfoot th thead tr ul".split()
)
_PARA_BREAK = "\n\n"


def _read_html(path: Path, data: bytes, max_chars: int) -> tuple[str, str, str, tuple]:
    encoding = _bom_encoding(data)
    if not encoding:
        declared = _META_CHARSET.search(data[:4096])
        if declared:
            label = declared.group(1).decode("ascii", "replace").lower()
            label = "cp1252" if label in _HTML_CP1252_LABELS else label
            try:
                data.decode(label)
                encoding = codecs.lookup(label).name
            except (LookupError, UnicodeDecodeError):
                encoding = None  # a wrong declaration: fall back to detection
    raw, encoding = _decode(data, path, encoding)

    import lxml.etree
    import lxml.html

    # libxml2's HTML parser: one linear pass however broken the markup (unclosed tags, bad nesting)
    parser = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True, huge_tree=True,
                                  no_network=True)
    try:
        root = lxml.html.document_fromstring(raw.encode("utf-8"), parser=parser)
    except (lxml.etree.ParserError, ValueError):  # "Document is empty"
        raise DocumentError(path, "no visible text in this HTML page") from None
    for err in parser.error_log:
        if err.level_name == "FATAL" and "depth" in err.message.lower():
            raise DocumentError(path, "refused: the page's tags nest deeper than the HTML parser allows "
                                      "(broken or hostile markup); save its text from a browser instead")
    title = ""
    for candidate in (root.find(".//title"), root.find(".//h1")):
        if candidate is not None and candidate.text_content().strip():
            title = _trim_title(" ".join(candidate.text_content().split()))
            break
    text = _visible_text(path, root, max_chars)
    if not text.strip():
        raise DocumentError(path, "no visible text in this HTML page")
    return text, title, encoding, ()


def _is_hidden(element) -> bool:
    attrs = element.attrib
    if "hidden" in attrs or str(attrs.get("aria-hidden", "")).lower() == "true":
        return True
    style = str(attrs.get("style", "")).replace(" ", "").lower()
    return "display:none" in style or "visibility:hidden" in style


def _visible_text(path: Path, root, max_chars: int) -> str:
    """Text of the page with block elements as paragraphs (blank lines) and <br> as line breaks.

    An event walk in C (iterwalk), not recursion: deep pages cannot hit the recursion limit, and the walk
    stops with a DocumentError past HTML_TIME_BUDGET_S or once the text is far past `max_chars`."""
    import lxml.etree

    parts: list[str] = []
    in_pre = chars = elements = 0
    t0 = time.monotonic()

    def add(text: str | None) -> None:
        nonlocal chars
        if text:
            parts.append(text if in_pre else re.sub(r"\s+", " ", text))
            chars += len(text)

    walker = lxml.etree.iterwalk(root, events=("start", "end"))
    for event, element in walker:
        name = element.tag if isinstance(element.tag, str) else ""
        if event == "end":
            if name in _HTML_BLOCKS:
                parts.append(_PARA_BREAK)
            if name == "pre":
                in_pre -= 1
            add(element.tail)  # the text after an element belongs to its parent, dropped or not
            continue
        elements += 1
        if elements % 4096 == 0 and time.monotonic() - t0 > HTML_TIME_BUDGET_S:
            raise DocumentError(path, f"refused: extracting the page's text took over {HTML_TIME_BUDGET_S:.0f} s")
        if chars > 2 * max_chars + 1_000_000:  # whitespace collapses later, but not by this much
            raise too_long(path, chars, max_chars)
        if not name or name in _HTML_DROP or _is_hidden(element):
            walker.skip_subtree()
            if name == "pre":
                in_pre += 1  # its end event still comes
            continue
        if name == "br":
            parts.append("\n")
        elif name in _HTML_BLOCKS:
            parts.append(_PARA_BREAK)
        if name == "pre":
            in_pre += 1
        add(element.text)
    text = "".join(parts)
    text = re.sub(r"[ \t\f\v]*\n[ \t\f\v]*", "\n", text)
    text = re.sub(r"[ \t\f\v]{2,}", " ", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return normalize_text(text.strip())


def _check_zip_limits(path: Path, archive: zipfile.ZipFile) -> None:
    """Refuse archives that would inflate to something huge, before anything is extracted."""
    infos = archive.infolist()
    total = sum(info.file_size for info in infos)
    packed = sum(info.compress_size for info in infos)
    if total > DOCX_MAX_UNCOMPRESSED:
        raise DocumentError(path, f"refused: the document would unpack to {_size_words(total)} "
                                  f"(limit {_size_words(DOCX_MAX_UNCOMPRESSED)}); it may be a zip bomb")
    parts = [(info.file_size, info.compress_size) for info in infos] + [(total, packed)]
    for size, compressed in parts:
        if size > DOCX_RATIO_FLOOR and size > DOCX_MAX_RATIO * max(compressed, 1):
            raise DocumentError(path, f"refused: compression ratio over {DOCX_MAX_RATIO}:1 "
                                      f"({_size_words(size)} from {_size_words(compressed)}); it may be a zip bomb")


def _read_docx(path: Path, data: bytes, max_chars: int) -> tuple[str, str, str, tuple]:
    if data.startswith(_OLE_MAGIC):
        raise DocumentError(path, "not a .docx file: it is an old Word .doc or a password-protected "
                                  "document (open it in Word and save it as an unprotected .docx)")
    buffer = io.BytesIO(data)
    if not zipfile.is_zipfile(buffer):
        raise DocumentError(path, "not a valid .docx file (a .docx is a zip archive and this file is not one)")
    try:
        with zipfile.ZipFile(buffer) as archive:
            _check_zip_limits(path, archive)
            if "word/document.xml" not in archive.namelist():
                raise DocumentError(path, "not a Word document (the zip has no word/document.xml)")
    except zipfile.BadZipFile as exc:
        raise DocumentError(path, f"corrupt .docx file ({exc})") from None

    import docx  # python-docx

    try:
        document = docx.Document(io.BytesIO(data))
        blocks = list(_docx_blocks(document))
        core_title = (document.core_properties.title or "").strip()
    except DocumentError:
        raise
    except Exception as exc:  # python-docx surfaces lxml, KeyError, zip errors... on damaged files
        raise DocumentError(path, f"corrupt .docx file ({type(exc).__name__}: {exc})") from None
    text = normalize_text("\n\n".join(blocks))
    title = _trim_title(core_title) if core_title else ""
    return text, title, "utf-8", ()


def _docx_blocks(container) -> Iterator[str]:
    """Paragraph texts and table-cell texts in document order (tables inside cells included)."""
    from docx.table import Table

    for item in container.iter_inner_content():
        if not isinstance(item, Table):
            line = item.text.strip()
            if line:
                yield line
            continue
        seen: dict[int, object] = {}  # merged cells come back once per grid slot; keep one
        for row in item.rows:
            cells = []
            for cell in row.cells:
                if id(cell._tc) not in seen:
                    seen[id(cell._tc)] = cell._tc  # holding the element keeps its id() unique
                    cells.append(cell)
            texts = [list(_docx_blocks(cell)) for cell in cells]
            short = all(len(t) <= 1 and len(t[0] if t else "") <= 80 for t in texts)
            if short and sum(1 for t in texts if t) > 1:
                yield " | ".join(t[0] for t in texts if t)  # a row of short cells reads as one line
            else:
                for t in texts:
                    yield from t


def _read_pdf(path: Path, data: bytes, max_chars: int) -> tuple[str, str, str, tuple]:
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
                raise DocumentError(path, "encrypted PDF (password protected); remove the password and try again")
        pages = reader.pages
        if len(pages) > PDF_MAX_PAGES:
            raise DocumentError(path, f"too many pages: {len(pages):,}, limit {PDF_MAX_PAGES:,} "
                                      "(split the PDF into smaller files)")
        texts: list[str] = []
        failed = chars = 0
        for page in pages:
            try:
                texts.append((page.extract_text() or "").strip())
                chars += len(texts[-1]) + 2
                if chars > max_chars:  # stop reading: the rest would be refused anyway
                    raise too_long(path, chars, max_chars)
            except FileNotDecryptedError:
                raise DocumentError(path, "encrypted PDF (password protected); remove the password and try again") from None
            except Exception:  # one damaged page should not lose the others
                failed += 1
        title = ""
        try:
            meta_title = reader.metadata.title if reader.metadata else None
            title = _trim_title(str(meta_title)) if meta_title and str(meta_title).strip() else ""
        except Exception:
            title = ""
    except DocumentError:
        raise
    except Exception as exc:
        raise DocumentError(path, f"corrupt PDF file ({type(exc).__name__}: {exc})") from None
    if failed and failed == len(pages):
        raise DocumentError(path, "corrupt PDF file (no page could be read)")
    text = normalize_text("\n\n".join(t for t in texts if t))
    if not text.strip():
        raise DocumentError(path, "no text layer (scanned PDF? OCR is not supported)")
    return text, title, "utf-8", (("pages", str(len(pages))),)


_READERS = {
    ".txt": _read_plain,
    ".md": _read_plain,
    ".html": _read_html,
    ".htm": _read_html,
    ".docx": _read_docx,
    ".pdf": _read_pdf,
}


# ---------------------------------------------------------------- tables: one document per row

def _allow_large_csv_fields() -> None:
    limit = sys.maxsize
    while True:  # the C long behind the limit is 32-bit on Windows
        try:
            csv.field_size_limit(limit)
            return
        except OverflowError:
            limit //= 2


def _pick_text_field(path: Path, columns: list[str], text_field: str | None) -> str:
    shown = ", ".join(columns) if columns else "(none)"
    if text_field is not None:
        if text_field in columns:
            return text_field
        for column in columns:
            if column.lower() == text_field.lower():
                return column
        raise DocumentError(path, f"no column named '{text_field}'; available columns: {shown}")
    lowered = {column.lower(): column for column in reversed(columns)}
    for name in TEXT_COLUMN_NAMES:
        if name in lowered:
            return lowered[name]
    raise DocumentError(path, f"no text column found (looked for {', '.join(TEXT_COLUMN_NAMES)}); "
                              f"choose the text column from: {shown}")


def _first_words(text: str, words: int = 8) -> str:
    parts = text.split()
    title = " ".join(parts[:words])
    return _trim_title(title + ("…" if len(parts) > words else ""), 80)


def _row_document(path: Path, row: int, text: str, fields: dict[str, str], text_field: str,
                  fmt: str, encoding: str, mtime: float) -> Document | DocumentError:
    source = f"{path}#{row}"
    text = normalize_text(text)
    if not text.strip():
        return DocumentError(source, f"empty text in column '{text_field}'")
    title = ""
    for key, value in fields.items():
        if key.lower() == "title" and key != text_field and value.strip():
            title = _trim_title(value.strip())
            break
    metadata = tuple((key, value) for key, value in fields.items() if key != text_field)
    return Document(
        source=source,
        text=text,
        title=title or _first_words(text),
        format=fmt,
        encoding=encoding,
        content_hash=content_hash(text),
        mtime=mtime,
        metadata=metadata,
    )


@dataclass(frozen=True)
class TableSpan:
    """The rows of a table file between two byte offsets, so one big file can be read by several workers.

    `start` 0 is the first row (after a CSV header), `end` None the end of the file; `first_row` is the number
    of rows before the span, so its documents get the same `path#row` sources as a whole-file read. `rows`
    (rows and row errors in the span) and `column` (the text column the file's first row chose) are filled in
    by `table_spans`."""

    start: int = 0
    end: int | None = None
    first_row: int = 0
    rows: int = 0
    column: str | None = None

    @property
    def whole(self) -> bool:
        return self.start == 0 and self.end is None and self.first_row == 0


def read_table(path: str | Path, text_field: str | None = None, *,
               max_rows: int | None = None,
               progress: Callable[[float], None] | None = None,
               span: TableSpan | None = None,
               max_chars: int = DEFAULT_MAX_CHARS) -> Iterator[Document | DocumentError]:
    """One Document per row of a .csv/.tsv/.jsonl file; a bad row yields a DocumentError and reading goes on.

    Problems with the whole file (missing, binary, no text column) raise DocumentError. `progress`, if given,
    hears the share of the file's bytes read so far (0..1) after each row, for a progress bar on big tables.
    With `span` (from `table_spans`) only that span's rows are read, numbered as in the whole file.
    A cell longer than `max_chars` characters is refused like a file that long.
    """
    table = open_table(path)
    if span is not None and span.whole:
        text_field, span = span.column or text_field, None
    if span is not None:
        text_field = span.column or text_field
    rows = read_rows(table, progress=progress, span=span)
    yield from _table_documents(table.path, rows, text_field, max_rows, table.format, table.encoding,
                                table.mtime, max_chars)


@dataclass(frozen=True)
class TableFile:
    """A table file ready to be read row by row: its format, the encoding its first bytes show, its size."""

    path: Path
    format: str  # "csv", "tsv" or "jsonl"
    encoding: str
    size: int
    mtime: float
    sample: bytes = field(repr=False)  # the first _SAMPLE_BYTES, from which encoding and delimiter are told
    quoted_tabs: bool = True  # a tab-separated file may quote its cells (as spreadsheets write them)


TABLE_FORMATS: tuple[str, ...] = tuple(s.lstrip(".") for s in TABLE_SUFFIXES)


def open_table(path: str | Path, format: str | None = None, *, refuse_mixed_encodings: bool = False,
               quoted_tabs: bool = True) -> TableFile:
    """Check a table file and detect its encoding (BOMs, UTF-16 with or without BOM, legacy code pages).

    `format` ("csv", "tsv", "jsonl") overrides the one the suffix names. With `refuse_mixed_encodings`, a file
    that is UTF-8 in places and another encoding elsewhere is a DocumentError instead of being read in the
    other encoding (which garbles its UTF-8 parts). `quoted_tabs=False` reads tab-separated cells as they
    are, quotes and all (the plain TSV of training sets, where a text may start with a quote it never
    closes). Raises DocumentError when the file cannot be a table."""
    path = Path(path)
    if format is None:
        suffix = path.suffix.lower()
        if suffix not in TABLE_SUFFIXES:
            raise DocumentError(path, f"not a table file (expected one of {', '.join(TABLE_SUFFIXES)})")
        format = suffix.lstrip(".")
    elif format not in TABLE_FORMATS:
        raise DocumentError(path, f"cannot read as a table of format '{format}' (use {', '.join(TABLE_FORMATS)})")
    st = _stat_file(path)
    try:
        with open(path, "rb") as fh:
            sample = fh.read(_SAMPLE_BYTES)
    except OSError as exc:
        raise DocumentError(path, f"cannot read the file ({exc.strerror or exc})") from None
    if not sample.strip():
        raise DocumentError(path, "empty file")
    encoding = _detect_encoding(sample, path, complete=st.st_size <= len(sample))
    if refuse_mixed_encodings:
        line = _mixed_encoding_line(sample, encoding)
        if line is not None:
            raise DocumentError(path, f"mixed text encodings (UTF-8 in places, another encoding at line {line}). "
                                      "Open the file in a spreadsheet or editor and save it again as UTF-8.")
    return TableFile(path, format, encoding, st.st_size, st.st_mtime, sample, quoted_tabs)


_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")


def _mixed_encoding_line(sample: bytes, encoding: str) -> int | None:
    """The line where UTF-8 breaks off in a file detected as a legacy code page that also holds UTF-8 text."""
    if codecs.lookup(encoding).name.startswith(("utf-8", "utf-16", "utf-32")):
        return None
    try:
        sample.decode("utf-8")
        return None
    except UnicodeDecodeError as exc:
        if _UTF8_SEQUENCE.search(sample) is None:
            return None
        return sample[: exc.start].count(b"\n") + 1


def read_rows(table: TableFile | str | Path, *, progress: Callable[[float], None] | None = None,
              span: TableSpan | None = None) -> Iterator[tuple[int, dict[str, object]] | DocumentError]:
    """The one row reader for table files: (row number, {column: cell}) per row, or a DocumentError for a bad
    row (malformed CSV, invalid JSON, undecodable bytes) and reading goes on where it can.

    CSV/TSV rows map the header's names to strings (a short row leaves out the columns it lacks; any field
    size is allowed); JSONL rows are the line's object, numbers as strings. Blank rows are skipped and not
    counted. A file without a header raises DocumentError. `progress` and `span` are as in `read_table`."""
    if not isinstance(table, TableFile):
        table = open_table(table)
    if span is not None and not _splittable(table.encoding):
        raise DocumentError(table.path, f"cannot be read in parts ({table.encoding} text); read it whole")
    report = _position_reporter(progress, table.size) if span is None else None
    return _rows(table, report, span)


def _rows(table: TableFile, report=None, span: TableSpan | None = None, lines: bool = False):
    if table.format == "jsonl":
        return _jsonl_rows(table.path, table.encoding, report, span, lines)
    return _csv_rows(table.path, table.encoding, table.sample, table.format, report, span, lines, table.quoted_tabs)


def _splittable(encoding: str) -> bool:
    """Whether line ends are single bytes that never occur inside a character (UTF-8, single-byte code pages)."""
    name = codecs.lookup(encoding).name
    if name == "utf-8-sig":
        return True
    return "a\n\r".encode(name) == b"a\n\r" and name != "utf-7" and not name.startswith("iso2022")


def table_spans(path: str | Path, text_field: str | None = None, *, rows_per_span: int = 256,
                bytes_per_span: int = 16_000_000) -> list[TableSpan]:
    """Cut a table file into spans of about `rows_per_span` rows (or `bytes_per_span` bytes), at row ends.

    The file is parsed once, as `read_table` parses it, so quoted line breaks never split a row and row
    numbers carry over. A file that cannot be cut (no header, an encoding with multi-byte line ends, no text
    column...) comes back as one whole span; reading it reports the problem as usual."""
    try:
        table = open_table(path)
    except DocumentError:
        return [TableSpan()]
    path = table.path
    if not _splittable(table.encoding):
        return [TableSpan(column=text_field)]
    pos = 0

    def at(fh):
        nonlocal pos
        pos = fh.pos

    whole = TableSpan()
    rows = _rows(table, at, whole, lines=True)
    spans: list[TableSpan] = []
    start = first = count = 0
    column = None
    try:
        for item in rows:
            count += 1
            if isinstance(item, DocumentError):
                continue
            row, fields = item
            if column is None:
                column = _pick_text_field(path, list(fields), text_field)
            if count >= rows_per_span or pos - start >= bytes_per_span:
                spans.append(TableSpan(start, pos, first, count))
                start, first, count = pos, row, 0
    except DocumentError:  # no header, or no text column: one worker reads it and reports why
        return [TableSpan(column=text_field)]
    if count or not spans:
        spans.append(TableSpan(start, None, first, count))
    else:  # only blank lines after the last cut: the last span still reads to the end
        spans[-1] = TableSpan(spans[-1].start, None, spans[-1].first_row, spans[-1].rows)
    return [TableSpan(s.start, s.end, s.first_row, s.rows, column) for s in spans]


def _table_documents(path: Path, rows, text_field, max_rows, fmt, encoding, mtime, max_chars=DEFAULT_MAX_CHARS):
    chosen: str | None = None
    count = 0
    for item in rows:
        if max_rows is not None and count >= max_rows:
            return
        count += 1
        if isinstance(item, DocumentError):
            yield item
            continue
        row, fields = item
        if chosen is None:
            chosen = _pick_text_field(path, list(fields), text_field)
        value = fields.get(chosen)
        if value is None:
            yield DocumentError(f"{path}#{row}", f"missing '{chosen}'")
            continue
        if not isinstance(value, str):
            yield DocumentError(f"{path}#{row}", f"'{chosen}' is not text ({type(value).__name__})")
            continue
        if len(value) > max_chars:
            yield too_long(f"{path}#{row}", len(value), max_chars)
            continue
        others = {key: _cell_text(val) for key, val in fields.items() if val is not None}
        yield _row_document(path, row, value, others, chosen, fmt, encoding, mtime)


def _cell_text(value) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _open_text(path: Path, encoding: str):
    try:
        return open(path, encoding=encoding, errors="strict", newline="")
    except OSError as exc:
        raise DocumentError(path, f"cannot read the file ({exc.strerror or exc})") from None


class _SpanLines:
    """A table file's lines between two byte offsets, split and decoded as `_open_text` would hand them out.

    `pos` is the byte offset just after the last line handed out (the end of the row just read), which text
    mode cannot tell. Only for encodings where `_splittable` holds."""

    def __init__(self, path: Path, encoding: str):
        try:
            self._fh = open(path, "rb")
        except OSError as exc:
            raise DocumentError(path, f"cannot read the file ({exc.strerror or exc})") from None
        self._first = encoding  # decodes a BOM at the very start away, as text mode does
        self._rest = "utf-8" if codecs.lookup(encoding).name == "utf-8-sig" else encoding
        self._pending = b""
        self.pos, self.end = 0, None

    def seek(self, start: int, end: int | None) -> None:
        if start:
            self._fh.seek(start)
            self._pending, self.pos = b"", start
        self.end = end

    def readline(self) -> str:
        if self.end is not None and self.pos >= self.end:
            return ""
        line = self._pending or self._fh.readline()
        cr = line.find(b"\r")
        if 0 <= cr < len(line) - 1 and line[cr + 1] != 0x0A:  # a lone \r ends a line too (newline="")
            line, self._pending = line[: cr + 1], line[cr + 1:]
        else:
            self._pending = b""
        text = line.decode(self._first if self.pos == 0 else self._rest)
        self.pos += len(line)
        return text

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._fh.close()


def _position_reporter(progress: Callable[[float], None] | None, size: int):
    """fh -> None: tells `progress` how far through the file the reader's byte buffer is."""
    if progress is None:
        return None
    return lambda fh: progress(min(1.0, fh.buffer.tell() / size) if size else 1.0)


def _csv_rows(path: Path, encoding: str, sample: bytes, fmt: str, report=None,
              span: TableSpan | None = None, lines: bool = False, quoted_tabs: bool = True):
    """Yields (row_number, {column: value}) or DocumentError; raises for a file without a header.
    With `span` (or `lines`) the file is read through _SpanLines: the header, then the span's rows."""
    _allow_large_csv_fields()
    head = sample.decode(encoding, errors="ignore").lstrip("\ufeff")
    delimiter = "\t" if fmt == "tsv" else _sniff_delimiter(head)
    with (_SpanLines(path, encoding) if span is not None or lines else _open_text(path, encoding)) as fh:
        reader = csv.reader(fh, delimiter=delimiter,
                            quoting=csv.QUOTE_NONE if delimiter == "\t" and not quoted_tabs else csv.QUOTE_MINIMAL)
        try:
            header = next(reader, None)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise DocumentError(path, f"cannot read the header row ({exc})") from None
        if not header or not any(h.strip() for h in header):
            raise DocumentError(path, "no header row (the first row must name the columns)")
        columns = [(h.strip().lstrip("\ufeff") or f"column {i + 1}") for i, h in enumerate(header)]
        row = 0
        if span is not None:
            fh.seek(span.start, span.end)
            row = span.first_row
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError:
                yield DocumentError(f"{path}#{row + 1}", f"cannot decode the text as {encoding}; "
                                                         "reading stopped here (save the file as UTF-8)")
                return
            except csv.Error as exc:
                row += 1
                yield DocumentError(f"{path}#{row}", f"malformed CSV row ({exc})")
                continue
            if not any(v.strip() for v in values):
                continue  # blank line between records
            row += 1
            fields: dict[str, str] = {}
            for column, value in zip(columns, values):
                fields.setdefault(column, value)
            if report:
                report(fh)
            yield row, fields


def _sniff_delimiter(head: str) -> str:
    candidates = ",;\t|"
    first_line = head.split("\n", 1)[0]
    counts = {d: first_line.count(d) for d in candidates}
    used = [d for d, n in counts.items() if n]
    if len(used) == 1:
        return used[0]
    try:
        return csv.Sniffer().sniff(head[:65536], delimiters=candidates).delimiter
    except csv.Error:
        return max(counts, key=counts.get) if used else ","


def _jsonl_rows(path: Path, encoding: str, report=None, span: TableSpan | None = None, lines: bool = False):
    with (_SpanLines(path, encoding) if span is not None or lines else _open_text(path, encoding)) as fh:
        line_no = 0
        if span is not None:
            fh.seek(span.start, span.end)
            line_no = span.first_row
        while True:
            try:
                line = fh.readline()
            except UnicodeDecodeError:
                yield DocumentError(f"{path}#{line_no + 1}", f"cannot decode the text as {encoding}; "
                                                             "reading stopped here (save the file as UTF-8)")
                return
            if not line:
                return
            line_no += 1
            line = line.strip().lstrip("\ufeff")
            if not line:
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                yield DocumentError(f"{path}#{line_no}", f"not valid JSON ({exc.msg} at column {exc.colno})")
                continue
            if not isinstance(value, dict):
                yield DocumentError(f"{path}#{line_no}", "line is not a JSON object ({...})")
                continue
            if report:
                report(fh)
            yield line_no, {str(k): (str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
                            for k, v in value.items()}


# ---------------------------------------------------------------- files and folders

def _as_paths(paths) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        return [Path(paths)]
    return [Path(p) for p in paths]


def _matches(patterns: Iterable[str], relative: str, name: str) -> bool:
    relative, name = relative.lower(), name.lower()
    for pattern in patterns:
        pattern = pattern.strip().replace("\\", "/").lower().rstrip("/")
        if not pattern:
            continue
        bare = pattern[3:] if pattern.startswith("**/") else pattern
        if (fnmatch.fnmatchcase(relative, pattern) or fnmatch.fnmatchcase(relative, bare)
                or fnmatch.fnmatchcase(name, bare)):
            return True
    return False


def _is_hidden_entry(entry: os.DirEntry) -> bool:
    if entry.name.startswith((".", "~$")):  # dotfiles, and Office's lock files
        return True
    attributes = getattr(entry.stat(follow_symlinks=False), "st_file_attributes", 0)
    return bool(attributes & getattr(stat, "FILE_ATTRIBUTE_HIDDEN", 0))


def _walk_folder(folder: Path, include, exclude, recursive: bool) -> Iterator[Path | DocumentError]:
    visited: set[tuple[int, int]] = set()
    stack: list[tuple[Path, str]] = [(folder, "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            info = directory.stat()
            key = (info.st_dev, info.st_ino)
            if key in visited:  # a symlink loop
                continue
            visited.add(key)
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: (e.name.lower(), e.name))
        except PermissionError:
            yield DocumentError(directory, "permission denied (cannot list this folder)")
            continue
        except OSError as exc:
            yield DocumentError(directory, f"cannot list this folder ({exc.strerror or exc})")
            continue
        subfolders: list[tuple[Path, str]] = []
        for entry in entries:
            try:
                if _is_hidden_entry(entry):
                    continue
                relative = f"{prefix}{entry.name}"
                is_dir = entry.is_dir()
            except OSError:
                continue
            if is_dir:
                if recursive and not (exclude and _matches(exclude, relative, entry.name)):
                    subfolders.append((Path(entry.path), relative + "/"))
                continue
            if Path(entry.name).suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            if include and not _matches(include, relative, entry.name):
                continue
            if exclude and _matches(exclude, relative, entry.name):
                continue
            yield Path(entry.path)
        # Files of a folder come before its subfolders, subfolders in name order.
        stack.extend(reversed(subfolders))


def _expand(paths, include, exclude, recursive) -> Iterator[Path | DocumentError]:
    seen: set[str] = set()
    for path in _as_paths(paths):
        found = _walk_folder(path, include, exclude, recursive) if path.is_dir() else iter([path])
        for item in found:
            if isinstance(item, Path):
                key = os.path.normcase(os.path.realpath(item))  # one real file is read once
                if key in seen:
                    continue
                seen.add(key)
            yield item


def collect_files(paths, include: list[str] | None = None, exclude: list[str] | None = None, *,
                  recursive: bool = True) -> list[Path]:
    """The files `iter_documents` would read, in the order it reads them.

    Folders are expanded (hidden entries and unsupported types skipped, include/exclude globs applied);
    files named explicitly are kept as given, even when missing or unsupported, so they get reported.
    """
    return [item for item in _expand(paths, include, exclude, recursive) if isinstance(item, Path)]


def iter_documents(paths, *, text_field: str | None = None, include: list[str] | None = None,
                   exclude: list[str] | None = None, recursive: bool = True,
                   progress: Callable[[Path, float], None] | None = None,
                   max_chars: int = DEFAULT_MAX_CHARS) -> Iterator[Document | DocumentError]:
    """Documents from files and folders; problems are yielded as DocumentError so a batch can go on.
    `progress(path, share)` hears how far through a table file (.csv/.tsv/.jsonl) reading has got.
    A document (file or table cell) longer than `max_chars` characters is a DocumentError."""
    for item in _expand(paths, include, exclude, recursive):
        if isinstance(item, DocumentError):
            yield item
            continue
        try:
            if item.suffix.lower() in TABLE_SUFFIXES:
                yield from read_table(item, text_field, max_chars=max_chars,
                                      progress=(lambda share, f=item: progress(f, share)) if progress else None)
            else:
                yield read_document(item, max_chars=max_chars)
        except DocumentError as exc:
            yield exc
