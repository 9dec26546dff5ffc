"""Labelled data reads through the same row reader as a batch: encodings a batch handles work here too."""
from __future__ import annotations

import pytest

from app.core.documents import read_table as read_documents
from app.core.errors import LabelDataError
from app.core.labeled_data import load_labeled, read_labeled_table

ROWS = [(f"{text} ({n})", label) for n in range(4)
        for text, label in [("Très bon café, service aimable.", "positive"), ("Naïve plot, wooden acting.", "negative")]]


def _csv(rows=ROWS, sep=",") -> str:
    quote = '"' if sep == "," else ""  # the texts hold commas
    return f"text{sep}label\n" + "".join(f"{quote}{t}{quote}{sep}{y}\n" for t, y in rows)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-8-sig", "utf-32"])
def test_a_csv_in_any_unicode_encoding_is_labelled_data(tmp_path, encoding):
    path = tmp_path / "reviews.csv"
    path.write_bytes(_csv().encode(encoding))  # utf-16/utf-32/utf-8-sig write a BOM; utf-16-le has none

    table = read_labeled_table(path)
    data = load_labeled(path)

    assert table.columns == ("text", "label")  # a BOM does not stick to the first column's name
    assert table.rows[0] == ROWS[0]
    assert data.classes == ("negative", "positive") and data.counts() == {"negative": 4, "positive": 4}
    assert "Naïve plot, wooden acting. (0)" in data.texts


def test_a_utf16_tsv_reads_as_a_batch_reads_it(tmp_path):
    path = tmp_path / "reviews.tsv"
    path.write_text(_csv(sep="\t"), encoding="utf-16")

    labelled = [row[0] for row in read_labeled_table(path).rows]
    batch = [doc.text for doc in read_documents(path)]

    assert labelled == batch == [t for t, _ in ROWS]


def test_a_bad_json_line_is_an_error_that_names_the_line(tmp_path):
    path = tmp_path / "reviews.jsonl"
    path.write_text('{"text": "fine", "label": "a"}\n{"text": "broken\n', encoding="utf-8")
    with pytest.raises(LabelDataError, match=r"reviews.jsonl#2: not valid JSON"):
        read_labeled_table(path)


def test_an_empty_or_header_only_file_says_so(tmp_path):
    empty, header = tmp_path / "empty.csv", tmp_path / "header.csv"
    empty.write_text("  \n", encoding="utf-8")
    header.write_text("text,label\n", encoding="utf-8")
    with pytest.raises(LabelDataError, match="empty file"):
        read_labeled_table(empty)
    with pytest.raises(LabelDataError, match="needs a header row and at least one row of data"):
        read_labeled_table(header)


def test_cells_longer_than_the_csv_module_default_limit_read(tmp_path):
    path = tmp_path / "long.csv"
    long_text = "word " * 40_000  # over the csv module's default 131072-character field limit
    path.write_text(f'text,label\n"{long_text}",a\n', encoding="utf-8")
    assert read_labeled_table(path).rows[0][0] == long_text


def test_a_plain_tsv_keeps_its_quotes_and_its_rows(tmp_path):
    path = tmp_path / "sst.tsv"
    path.write_text('sentence\tlabel\n" a gripping , funny film\t1\nthe "best" part\t1\ndull\t0\n', encoding="utf-8")
    assert [r[0] for r in read_labeled_table(path).rows] == ['" a gripping , funny film', 'the "best" part', "dull"]
