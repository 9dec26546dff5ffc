"""One file, one Document: plain text, Markdown, HTML, Word and PDF (`read_document`).

HTML is parsed by libxml2 (linear on broken markup; nesting deeper than it allows is refused, not silently
cut) with a time budget for extracting its text; a .docx is refused when the bytes it actually inflates pass a
budget (a zip bomb, whatever its headers declare); a PDF is read within pages, content and time
budgets and put back into paragraphs (pdf.py, paragraphs.py).
"""
from __future__ import annotations

import codecs
import io
import re
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

from app.core.documents.pdf import read_pdf
from app.core.documents.safezip import (
    ZIP_MAX_INFLATED,
    ZIP_MAX_RATIO,
    ZIP_RATIO_FLOOR,
    ZipReader,
)
from app.core.documents.text import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_CHARS,
    SUPPORTED_SUFFIXES,
    TABLE_SUFFIXES,
    bom_encoding,
    content_hash,
    decode,
    normalize_text,
    read_bytes,
    stat_file,
    supported_list,
    title_from,
    too_long,
    trim_title,
)
from app.core.errors import DocumentError
from app.core.types import Document

HTML_TIME_BUDGET_S = 20.0
# A .docx is a zip: the bytes actually inflated are counted (safezip.py), never the declared sizes.
DOCX_MAX_UNCOMPRESSED = ZIP_MAX_INFLATED
DOCX_MAX_RATIO = ZIP_MAX_RATIO
DOCX_RATIO_FLOOR = ZIP_RATIO_FLOOR

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # old .doc files and password-protected Office files

def read_document(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES,
                  max_chars: int = DEFAULT_MAX_CHARS) -> Document:
    """Read one text, Markdown, HTML, Word or PDF file as a Document (raises DocumentError, also when the
    text is longer than `max_chars` characters)."""
    path = Path(path)
    suffix = path.suffix.lower()
    st = stat_file(path)
    if suffix in TABLE_SUFFIXES:
        raise DocumentError(path, f"is a table ({suffix}); it is read one document per row (read_table)")
    if suffix not in SUPPORTED_SUFFIXES:
        shown = suffix or "(no extension)"
        raise DocumentError(path, f"unsupported file type {shown}; supported: {supported_list()}")
    data, st = read_bytes(path, max_bytes, st)
    reader = _READERS[suffix]
    text, title, encoding, metadata = reader(path, data, max_chars)
    if not text.strip():
        raise DocumentError(path, "contains no text (empty or only whitespace)")
    if len(text) > max_chars:
        raise too_long(path, len(text), max_chars)
    return Document(
        source=str(path),
        text=text,
        title=title or title_from(text, path.stem),
        format=suffix.lstrip("."),
        encoding=encoding,
        content_hash=content_hash(text),
        mtime=st.st_mtime,
        metadata=metadata,
    )


def _read_plain(path: Path, data: bytes, max_chars: int) -> tuple[str, str, str, tuple]:
    if not data.strip():
        raise DocumentError(path, "contains no text (empty or only whitespace)")
    text, encoding = decode(data, path)
    return text, "", encoding, ()


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.IGNORECASE)
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
    encoding = bom_encoding(data)
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
    raw, encoding = decode(data, path, encoding)

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
            title = trim_title(" ".join(candidate.text_content().split()))
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


def _read_docx(path: Path, data: bytes, max_chars: int) -> tuple[str, str, str, tuple]:
    if data.startswith(_OLE_MAGIC):
        raise DocumentError(path, "not a .docx file: it is an old Word .doc or a password-protected "
                                  "document (open it in Word and save it as an unprotected .docx)")
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise DocumentError(path, "not a valid .docx file (a .docx is a zip archive and this file is not one)")
    package = ZipReader(path, data, kind=".docx file", limit=DOCX_MAX_UNCOMPRESSED)
    if "word/document.xml" not in package.names():
        raise DocumentError(path, "not a Word document (the zip has no word/document.xml)")
    verified = package.rebuilt()  # python-docx reads only bytes inflated through the budget

    import docx  # python-docx

    try:
        document = docx.Document(verified)
        blocks = list(_docx_blocks(document))
        core_title = (document.core_properties.title or "").strip()
    except DocumentError:
        raise
    except Exception as exc:  # python-docx surfaces lxml, KeyError, zip errors... on damaged files
        raise DocumentError(path, _docx_limit(exc, max_chars)
                            or f"corrupt .docx file ({type(exc).__name__}: {exc})") from None
    text = normalize_text("\n\n".join(blocks))
    title = trim_title(core_title) if core_title else ""
    return text, title, "utf-8", ()


_XML_MAX_DEPTH = 256  # libxml2's limits without XML_PARSE_HUGE, which python-docx's parser does not set
_XML_MAX_TEXT_NODE = 10_000_000


def _docx_limit(exc: Exception, max_chars: int) -> str | None:
    """A limit the XML parser or Python met while reading a .docx, named as the limit (it is not damage)."""
    text = str(exc)
    if isinstance(exc, RecursionError) or "Excessive depth" in text:
        return (f"refused: its XML nests deeper than {_XML_MAX_DEPTH} levels (the XML reader's limit; Word "
                "never writes that deep)")
    if "Text node too long" in text or "huge text node" in text.lower():
        return (f"too long: one run of text holds over {_XML_MAX_TEXT_NODE:,} characters, limit "
                f"{min(max_chars, _XML_MAX_TEXT_NODE):,} (split it into smaller documents)")
    if "Resource limit exceeded" in text or "Huge input lookup" in text:
        return f"refused: past a limit of the XML reader ({text.splitlines()[0][:200]})"
    if isinstance(exc, MemoryError):
        return "refused: reading it needed more memory than this computer has free"
    return None


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


_READERS = {
    ".txt": _read_plain,
    ".md": _read_plain,
    ".html": _read_html,
    ".htm": _read_html,
    ".docx": _read_docx,
    ".pdf": read_pdf,
}
