"""Table files, one document per row: CSV/TSV/JSONL opened and decoded (`open_table`), read row by row
(`read_rows`, the one row reader), as Documents (`read_table`), and cut into byte spans that several
workers can read (`table_spans`).
"""
from __future__ import annotations

import codecs
import csv
import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from app.core.documents.text import (
    DEFAULT_MAX_CHARS,
    TABLE_SUFFIXES,
    content_hash,
    detect_encoding,
    normalize_text,
    size_words,
    stat_file,
    too_long,
    trim_title,
)
from app.core.errors import DocumentError
from app.core.types import Document

TEXT_COLUMN_NAMES: tuple[str, ...] = ("text", "review", "sentence", "content", "body")
_SAMPLE_BYTES = 1_000_000  # how much of a table file is read up front to detect its encoding and delimiter

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
    return trim_title(title + ("…" if len(parts) > words else ""), 80)


def _row_document(path: Path, row: int, text: str, fields: dict[str, str], text_field: str,
                  fmt: str, encoding: str, mtime: float) -> Document | DocumentError:
    source = f"{path}#{row}"
    text = normalize_text(text)
    if not text.strip():
        return DocumentError(source, f"empty text in column '{text_field}'")
    title = ""
    for key, value in fields.items():
        if key.lower() == "title" and key != text_field and value.strip():
            title = trim_title(value.strip())
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
    A cell longer than `max_chars` characters is refused like a file that long. A file with no row at all (a
    header and nothing else) raises DocumentError once reading ends.
    """
    table = open_table(path)
    if span is not None and span.whole:
        text_field, span = span.column or text_field, None
    if span is not None:
        text_field = span.column or text_field
    rows = read_rows(table, progress=progress, span=span)
    empty = span is None or span.first_row == 0  # a later span of a file with rows may hold only blank lines
    for item in _table_documents(table.path, rows, text_field, max_rows, table.format, table.encoding,
                                 table.mtime, max_chars):
        empty = False
        yield item
    if empty and max_rows != 0:  # nothing analysable is the file's error, not "0 analysed, 0 errors" and exit 0
        raise DocumentError(table.path, f"no rows to analyse ({_why_no_rows(table)})")


def _why_no_rows(table: TableFile) -> str:
    if table.format == "jsonl":
        return "no JSON object on any line"
    if b"\n" in table.sample or b"\r" in table.sample:
        return "only a header line"
    return "only a header line: the file has no line break"


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
    st = stat_file(path)
    try:
        with open(path, "rb") as fh:
            sample = fh.read(_SAMPLE_BYTES)
    except OSError as exc:
        raise DocumentError(path, f"cannot read the file ({exc.strerror or exc})") from None
    if not sample.strip():
        raise DocumentError(path, "empty file")
    encoding = detect_encoding(sample, path, complete=st.st_size <= len(sample))
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
        # json.loads refused what nests deeper than the recursion limit (from deeper in the stack than here)
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
    if len(sample) >= _SAMPLE_BYTES and b"\n" not in sample and b"\r" not in sample:
        # a "header" of over a megabyte is no header: refused before the csv module parses it (a 100 MB line
        # without a line break took 36 s and 714 MB peak only to find no rows; now 3 s and 199 MB via the CLI)
        raise DocumentError(path, f"no rows to analyse (no line break in its first {size_words(len(sample))}; "
                                  "a table has one row per line)")
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
            except RecursionError:  # one hostile row is that row's error, never the whole batch's
                yield DocumentError(f"{path}#{line_no}", "refused: the JSON nests deeper than the reader allows "
                                                         f"(about {sys.getrecursionlimit():,} levels)")
                continue
            except ValueError:  # json.loads' other ValueError: an integer past Python's digit limit
                yield DocumentError(f"{path}#{line_no}", f"refused: a number of more than "
                                                         f"{sys.get_int_max_str_digits():,} digits (the limit "
                                                         "for reading one integer)")
                continue
            if not isinstance(value, dict):
                yield DocumentError(f"{path}#{line_no}", "line is not a JSON object ({...})")
                continue
            if report:
                report(fh)
            yield line_no, {str(k): (str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
                            for k, v in value.items()}
