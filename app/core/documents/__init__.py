"""Read files into Documents: plain text, Markdown, HTML, Word, PDF, and one Document per row of CSV/TSV/JSONL.

Every problem a user can cause (missing file, wrong format, encrypted PDF, zip bomb...) becomes a
DocumentError naming the file and saying what to do; nothing here raises a raw library traceback.

Every document is bounded, so none can take minutes or gigabytes: a file is at most DEFAULT_MAX_BYTES,
a document (a whole file or one table cell) at most `max_chars` characters (DEFAULT_MAX_CHARS, sized so
the largest allowed document is analysed in under a minute on 2 cores; see docs/reliability.md), a PDF
at most PDF_MAX_PAGES pages, PDF_MAX_CONTENT_BYTES of drawn content and PDF_TIME_BUDGET_S seconds, and HTML is parsed by libxml2 with a time budget for extracting its text.

One module per job, all re-exported here:

    text.py     limits, a file's bytes checked and decoded (BOMs, UTF-16, charset detection), titles, hashes
    readers.py  one file -> one Document (`read_document`): text, Markdown, HTML, Word, PDF
    safezip.py  zip-based files (.docx, .xlsx) inflated within a byte budget, whatever their headers declare
    pdf.py      a PDF's text within page, content and time budgets; paragraphs.py puts its lines into paragraphs
    tables.py   CSV/TSV/JSONL: `open_table` + `read_rows` (the one row reader), `read_table`, `table_spans`
    folders.py  which files a batch reads (`collect_files`) and their documents in order (`iter_documents`)
"""
from __future__ import annotations

from app.core.documents.folders import collect_files, iter_documents
from app.core.documents.pdf import (
    PDF_MAX_CONTENT_BYTES,
    PDF_MAX_PAGES,
    PDF_TIME_BUDGET_S,
)
from app.core.documents.readers import (
    DOCX_MAX_RATIO,
    DOCX_MAX_UNCOMPRESSED,
    DOCX_RATIO_FLOOR,
    HTML_TIME_BUDGET_S,
    read_document,
)
from app.core.documents.tables import (
    TABLE_FORMATS,
    TEXT_COLUMN_NAMES,
    TableFile,
    TableSpan,
    open_table,
    read_rows,
    read_table,
    table_spans,
)
from app.core.documents.text import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_CHARS,
    SUPPORTED_SUFFIXES,
    TABLE_SUFFIXES,
    TITLE_MAX_CHARS,
    content_hash,
    normalize_text,
    too_long,
)
from app.core.errors import DocumentError

__all__ = [
    "DEFAULT_MAX_BYTES", "DEFAULT_MAX_CHARS", "DOCX_MAX_RATIO", "DOCX_MAX_UNCOMPRESSED", "DOCX_RATIO_FLOOR",
    "HTML_TIME_BUDGET_S", "PDF_MAX_CONTENT_BYTES", "PDF_MAX_PAGES", "PDF_TIME_BUDGET_S", "SUPPORTED_SUFFIXES", "TABLE_FORMATS", "TABLE_SUFFIXES",
    "TEXT_COLUMN_NAMES", "TITLE_MAX_CHARS", "DocumentError", "TableFile", "TableSpan",
    "collect_files", "content_hash", "iter_documents", "normalize_text", "open_table", "read_document",
    "read_rows", "read_table", "table_spans", "too_long",
]
