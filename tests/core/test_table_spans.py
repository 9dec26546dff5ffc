"""Big tables cut into spans: the spans' rows, read one span at a time, are exactly the whole file's rows."""
from __future__ import annotations

import csv
import io
import json
import random

import pytest

from app.core.documents import DocumentError, TableSpan, read_table, table_spans

WORDS = ["good", "bad", 'a "quoted" word', "line\nbreak", "x,y", "é ü", "carriage\r\nreturn"]


def _texts(n: int) -> list[str]:
    rng = random.Random(0)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 5))) for _ in range(n)]


def _key(item):
    if isinstance(item, DocumentError):
        return ("error", item.source, item.reason)
    return ("doc", item.source, item.text, item.title, item.metadata, item.content_hash)


def _same_rows(path, **kw):
    whole = [_key(x) for x in read_table(path)]
    spans = table_spans(path, rows_per_span=37, **kw)
    parts = [_key(x) for s in spans for x in read_table(path, span=s)]
    assert parts == whole
    return spans, whole


def test_csv_spans_keep_quoted_line_breaks_blank_lines_and_row_numbers(tmp_path):
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["id", "text"])
    for i, t in enumerate(_texts(400)):
        w.writerow([i, t])
        if i % 50 == 7:
            buf.write("\r\n")  # a blank line between records is not a row
    path = tmp_path / "big.csv"
    path.write_bytes(b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"))  # with a BOM
    spans, whole = _same_rows(path)
    assert len(spans) > 5 and sum(s.rows for s in spans) == len(whole) == 400
    assert spans[0].start == 0 and spans[-1].end is None and spans[1].first_row == spans[0].rows
    assert all(a.end == b.start for a, b in zip(spans, spans[1:]))
    assert whole[-1][1].endswith("big.csv#400")
    assert {s.column for s in spans} == {"text"}


def test_jsonl_spans_keep_line_numbers_and_bad_lines(tmp_path):
    path = tmp_path / "big.jsonl"
    with open(path, "w", encoding="utf-8", newline="") as f:
        for i, t in enumerate(_texts(300)):
            f.write("{not json\n" if i % 60 == 3 else json.dumps({"body": t, "n": i}) + ("\r\n" if i % 2 else "\n"))
            if i % 70 == 5:
                f.write("\n")
    spans, whole = _same_rows(path)
    assert len(spans) > 5
    assert sum(1 for k in whole if k[0] == "error") >= 5  # bad JSON and empty texts stay row errors, in place


def test_a_file_that_cannot_be_cut_is_one_whole_span(tmp_path):
    utf16 = tmp_path / "wide.csv"
    utf16.write_text("text\n" + "".join(f"row {i}\n" for i in range(100)), encoding="utf-16")
    assert table_spans(utf16, rows_per_span=10) == [TableSpan()]
    no_column = tmp_path / "nocol.csv"
    no_column.write_text("a,b\n" + "1,2\n" * 100)
    assert table_spans(no_column, rows_per_span=10) == [TableSpan()]
    with pytest.raises(DocumentError, match="no text column"):
        list(read_table(no_column, span=TableSpan()))
