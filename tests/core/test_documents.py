"""Reading real files of every supported format, and the errors a person gets for bad ones."""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import docx
import pytest
from pypdf import PdfReader, PdfWriter

from app.core import documents
from app.core.documents import (
    SUPPORTED_SUFFIXES,
    collect_files,
    iter_documents,
    read_document,
    read_table,
)
from app.core.errors import DocumentError
from app.core.types import Document

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


# ---------------------------------------------------------------- builders

def make_pdf(path: Path, pages: list[list[str]], title: str | None = None) -> Path:
    """Write a real PDF by hand: one Helvetica text line per string, one content stream per page."""
    objects: list[bytes] = []
    n_pages = len(pages)
    font_id = 3 + 2 * n_pages
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n_pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    for i, lines in enumerate(pages):
        content_id = 4 + 2 * i
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_id} 0 R "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode()
        )
        ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1") if lines else b"0 0 m 100 100 l S"
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    info_ref = b""
    if title:
        objects.append(f"<< /Title ({title}) >>".encode("latin-1"))
        info_ref = f" /Info {len(objects)} 0 R".encode()

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R".encode() + info_ref + b" >>\n"
    out += f"startxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(bytes(out))
    return path


def encrypt_pdf(source: Path, target: Path, user_password: str, owner_password: str = "owner") -> Path:
    writer = PdfWriter(clone_from=PdfReader(source))
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm="RC4-128")
    with open(target, "wb") as fh:
        writer.write(fh)
    return target


def make_docx(path: Path) -> Path:
    document = docx.Document()
    document.add_heading("Quarterly review", level=1)
    document.add_paragraph("Sales grew in every region this quarter.")
    table = document.add_table(rows=2, cols=2)
    table.rows[0].cells[0].text = "Region"
    table.rows[0].cells[1].text = "Growth"
    table.rows[1].cells[0].text = "North"
    table.rows[1].cells[1].text = "12 percent"
    long_table = document.add_table(rows=1, cols=1)
    long_table.rows[0].cells[0].text = "A cell with a whole sentence in it. And another sentence after it."
    document.add_paragraph("We expect the same next quarter.")
    document.save(path)
    return path


# ---------------------------------------------------------------- plain text and encodings

def test_txt_utf8_text_title_hash_and_mtime(tmp_path):
    path = tmp_path / "review.txt"
    path.write_bytes("  \nGreat phone\r\nThe battery lasts two days.\r\n".encode("utf-8"))
    os.utime(path, (1_700_000_000, 1_700_000_000))

    doc = read_document(path)

    assert doc.text == "  \nGreat phone\nThe battery lasts two days.\n"
    assert doc.title == "Great phone"
    assert doc.format == "txt"
    assert doc.encoding == "utf-8"
    assert doc.source == str(path)
    assert doc.mtime == 1_700_000_000
    assert doc.content_hash == hashlib.sha256(doc.text.encode("utf-8")).hexdigest()


def test_same_words_in_different_encodings_hash_alike(tmp_path):
    text = "Crème brûlée\r\nwas superb."
    (tmp_path / "a.txt").write_bytes(text.encode("utf-8"))
    (tmp_path / "b.txt").write_bytes(text.encode("utf-16"))
    # NFD form (e + combining accent) must normalise to the same text
    import unicodedata
    (tmp_path / "c.txt").write_bytes(unicodedata.normalize("NFD", text).encode("utf-8"))

    hashes = {read_document(tmp_path / name).content_hash for name in ("a.txt", "b.txt", "c.txt")}

    assert len(hashes) == 1


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [("cp1252", "cp1252"), ("utf-16", "utf-16"), ("utf-8-sig", "utf-8-sig"), ("utf-8", "utf-8")],
)
def test_txt_encodings_are_detected(tmp_path, encoding, expected):
    text = ("Mixed feelings about Café Méridien\n"
            "The crème brûlée was superb, but the service… not so much. Naïve of me? 4,50 € for coffee.\n")
    path = tmp_path / "review.txt"
    path.write_bytes(text.encode(encoding))

    doc = read_document(path)

    assert doc.text == text  # no BOM left, every accent right
    assert doc.encoding == expected
    assert doc.title == "Mixed feelings about Café Méridien"


def test_latin1_bytes_decode_as_western_text(tmp_path):
    path = tmp_path / "old.txt"
    path.write_bytes("Größe und Qualität sind gut, aber der Preis ist zu hoch.".encode("latin-1"))

    doc = read_document(path)

    assert doc.text == "Größe und Qualität sind gut, aber der Preis ist zu hoch."


def test_markdown_title_drops_heading_marks(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("\n## Release notes\n\nEverything is *faster*.\n", encoding="utf-8")

    doc = read_document(path)

    assert doc.title == "Release notes"
    assert doc.format == "md"
    assert "Everything is *faster*." in doc.text


def test_long_first_line_title_is_trimmed(tmp_path):
    path = tmp_path / "long.txt"
    path.write_text("word " * 100, encoding="utf-8")

    title = read_document(path).title

    assert len(title) <= 121
    assert title.endswith("…")
    assert title.startswith("word word")


# ---------------------------------------------------------------- errors a person can act on

def test_missing_file(tmp_path):
    with pytest.raises(DocumentError) as info:
        read_document(tmp_path / "nope.txt")
    assert info.value.source == str(tmp_path / "nope.txt")
    assert info.value.reason == "file not found"


def test_directory_is_not_a_file(tmp_path):
    with pytest.raises(DocumentError, match="is a directory"):
        read_document(tmp_path)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can read any file")
def test_permission_denied(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text("hidden words", encoding="utf-8")
    path.chmod(0)
    try:
        with pytest.raises(DocumentError, match="permission denied"):
            read_document(path)
    finally:
        path.chmod(0o644)


@pytest.mark.parametrize("content", [b"", b"   \n\t\r\n  "])
def test_empty_or_whitespace_file(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(DocumentError, match="empty"):
        read_document(path)


def test_too_large(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("x" * 3_000_000, encoding="utf-8")
    with pytest.raises(DocumentError) as info:
        read_document(path, max_bytes=2_000_000)
    assert info.value.reason == "too large (3.0 MB, limit 2.0 MB)"


def test_binary_junk_named_txt(tmp_path):
    path = tmp_path / "photo.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
    with pytest.raises(DocumentError) as info:
        read_document(path)
    assert info.value.reason == "not a text file (binary content)"


def test_control_characters_without_nul_are_binary(tmp_path):
    path = tmp_path / "junk.txt"
    path.write_bytes(bytes([1, 2, 3, 4, 5, 6, 7, 8, 14, 15, 16, 65]) * 200)
    with pytest.raises(DocumentError, match="binary content"):
        read_document(path)


def test_unsupported_suffix_lists_supported_ones(tmp_path):
    path = tmp_path / "data.xyz"
    path.write_text("hello", encoding="utf-8")
    with pytest.raises(DocumentError) as info:
        read_document(path)
    assert info.value.reason.startswith("unsupported file type .xyz; supported: ")
    assert all(suffix in info.value.reason for suffix in SUPPORTED_SUFFIXES)


def test_read_document_points_table_files_to_read_table(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("text\nhello\n", encoding="utf-8")
    with pytest.raises(DocumentError, match="per row"):
        read_document(path)


# ---------------------------------------------------------------- HTML

def test_html_visible_text_only(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(
        "<!DOCTYPE html><html><head><title>Store news</title>"
        "<style>p { color: red }</style><script>var secret = 'TRACKER';</script></head>"
        "<body><nav>Home | Shop | Cart</nav>"
        "<h1>Big sale</h1>"
        "<p>Prices drop\n   by <b>half</b> on Monday.</p>"
        "<!-- a comment nobody sees -->"
        "<div hidden>invisible promo</div>"
        "<p>First line<br>second line</p>"
        "<ul><li>Shoes</li><li>Bags</li></ul>"
        "<script>document.write('more tracking')</script>"
        "</body></html>",
        encoding="utf-8",
    )

    doc = read_document(path)

    assert doc.title == "Store news"
    assert doc.format == "html"
    assert doc.text == "Big sale\n\nPrices drop by half on Monday.\n\nFirst line\nsecond line\n\nShoes\n\nBags"
    for hidden in ("TRACKER", "color", "Cart", "comment", "invisible", "tracking"):
        assert hidden not in doc.text


def test_html_title_falls_back_to_first_h1(tmp_path):
    path = tmp_path / "page.htm"
    path.write_text("<html><body><p>Intro text.</p><h1>The headline</h1><h1>Other</h1></body></html>",
                    encoding="utf-8")

    doc = read_document(path)

    assert doc.title == "The headline"
    assert doc.format == "htm"


def test_html_declared_charset_is_used(tmp_path):
    path = tmp_path / "old.html"
    html = '<html><head><meta charset="windows-1252"></head><body><p>Très “bon” café</p></body></html>'
    path.write_bytes(html.encode("cp1252"))

    doc = read_document(path)

    assert doc.text == "Très “bon” café"
    assert doc.encoding == "cp1252"


def test_html_without_visible_text(tmp_path):
    path = tmp_path / "blank.html"
    path.write_text("<html><head><title>T</title></head><body><script>x()</script></body></html>",
                    encoding="utf-8")
    with pytest.raises(DocumentError, match="no visible text"):
        read_document(path)


# ---------------------------------------------------------------- Word

def test_docx_paragraphs_and_tables_in_order(tmp_path):
    doc = read_document(make_docx(tmp_path / "report.docx"))

    assert doc.format == "docx"
    assert doc.title == "Quarterly review"
    assert doc.text.split("\n\n") == [
        "Quarterly review",
        "Sales grew in every region this quarter.",
        "Region | Growth",
        "North | 12 percent",
        "A cell with a whole sentence in it. And another sentence after it.",
        "We expect the same next quarter.",
    ]


def test_docx_core_title_wins(tmp_path):
    path = make_docx(tmp_path / "report.docx")
    document = docx.Document(path)
    document.core_properties.title = "Q3 board pack"
    document.save(path)

    assert read_document(path).title == "Q3 board pack"


def test_docx_that_is_not_a_zip(tmp_path):
    path = tmp_path / "fake.docx"
    path.write_text("I am plain text pretending to be Word.", encoding="utf-8")
    with pytest.raises(DocumentError, match="not a valid .docx"):
        read_document(path)


def test_old_doc_or_protected_docx(tmp_path):
    path = tmp_path / "old.docx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    with pytest.raises(DocumentError, match="old Word .doc or a password-protected"):
        read_document(path)


def test_zip_without_word_document(tmp_path):
    path = tmp_path / "other.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "just a zip")
    with pytest.raises(DocumentError, match="no word/document.xml"):
        read_document(path)


def test_corrupt_docx(tmp_path):
    path = tmp_path / "broken.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<not closed")
        archive.writestr("word/document.xml", "<w:document")
    with pytest.raises(DocumentError, match="corrupt .docx"):
        read_document(path)


def test_zip_bomb_docx_is_refused_before_extracting(tmp_path, monkeypatch):
    path = tmp_path / "bomb.docx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w") as member:
            chunk = b" " * 1_000_000
            for _ in range(20):  # 20 MB of spaces packs into a few KB
                member.write(chunk)
    assert path.stat().st_size < 200_000

    def must_not_parse(*args, **kwargs):
        raise AssertionError("the archive was opened for parsing")

    monkeypatch.setattr(docx, "Document", must_not_parse)
    with pytest.raises(DocumentError) as info:
        read_document(path)
    assert "zip bomb" in info.value.reason
    assert "compression ratio" in info.value.reason


def test_docx_unpacking_past_the_size_limit_is_refused(tmp_path, monkeypatch):
    path = make_docx(tmp_path / "report.docx")
    monkeypatch.setattr(documents.readers, "DOCX_MAX_UNCOMPRESSED", 10_000)
    with pytest.raises(DocumentError, match="refused: expands past 10.0 KB when unpacked .* zip bomb"):
        read_document(path)


# ---------------------------------------------------------------- PDF

def test_pdf_text_layer_pages_and_title(tmp_path):
    path = make_pdf(tmp_path / "report.pdf",
                    [["Annual report", "Revenue rose by 8 percent."], ["Costs fell slightly."]],
                    title="Annual report 2024")

    doc = read_document(path)

    assert doc.format == "pdf"
    assert doc.title == "Annual report 2024"
    assert "Revenue rose by 8 percent." in doc.text
    assert "Costs fell slightly." in doc.text
    assert doc.text.index("Revenue") < doc.text.index("Costs")
    assert dict(doc.metadata)["pages"] == "2"


def test_pdf_title_from_first_line_without_metadata(tmp_path):
    path = make_pdf(tmp_path / "memo.pdf", [["Memo to staff", "The office closes early on Friday."]])
    assert read_document(path).title == "Memo to staff"


def test_pdf_without_text_layer(tmp_path):
    path = make_pdf(tmp_path / "scan.pdf", [[]])
    with pytest.raises(DocumentError) as info:
        read_document(path)
    assert info.value.reason == "no text layer (scanned PDF? OCR is not supported)"


def test_password_protected_pdf(tmp_path):
    plain = make_pdf(tmp_path / "plain.pdf", [["Secret plans."]])
    locked = encrypt_pdf(plain, tmp_path / "locked.pdf", user_password="hunter2")
    with pytest.raises(DocumentError) as info:
        read_document(locked)
    assert info.value.reason.startswith("encrypted PDF (password protected)")


def test_pdf_encrypted_with_empty_user_password_opens(tmp_path):
    plain = make_pdf(tmp_path / "plain.pdf", [["Open to all readers."]])
    locked = encrypt_pdf(plain, tmp_path / "owner_only.pdf", user_password="")

    assert "Open to all readers." in read_document(locked).text


@pytest.mark.parametrize("content", [b"%PDF-1.4\n this is not really a pdf at all", b"hello there"])
def test_corrupt_pdf(tmp_path, content):
    path = tmp_path / "broken.pdf"
    path.write_bytes(content)
    with pytest.raises(DocumentError) as info:
        read_document(path)
    assert "PDF" in info.value.reason


# ---------------------------------------------------------------- tables

def test_csv_rows_become_documents(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text(
        'id,Title,Review,stars\n'
        '7,Loved it,"Great sound, great price.",5\n'
        '8,,"Broke after a week.\nNever again.",1\n',
        encoding="utf-8",
    )

    rows = list(read_table(path))

    assert [r.source for r in rows] == [f"{path}#1", f"{path}#2"]
    assert rows[0].text == "Great sound, great price."
    assert rows[0].title == "Loved it"
    assert rows[1].text == "Broke after a week.\nNever again."
    assert rows[1].title == "Broke after a week. Never again."
    assert rows[0].format == "csv"
    assert dict(rows[0].metadata) == {"id": "7", "Title": "Loved it", "stars": "5"}


def test_csv_bad_row_is_reported_and_reading_goes_on(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("text,stars\nGood one.,5\n   ,3\nBad one.,1\n", encoding="utf-8")

    rows = list(read_table(path))

    assert isinstance(rows[0], Document) and rows[0].text == "Good one."
    assert isinstance(rows[1], DocumentError) and rows[1].source == f"{path}#2"
    assert "empty text" in rows[1].reason
    assert isinstance(rows[2], Document) and rows[2].text == "Bad one."


def test_csv_semicolon_delimiter_and_cp1252(tmp_path):
    path = tmp_path / "avis.csv"
    path.write_bytes("note;commentaire;texte\n4;rapide;Très bon café, service aimable.\n".encode("cp1252"))

    (row,) = list(read_table(path, "texte"))

    assert row.text == "Très bon café, service aimable."
    assert row.encoding == "cp1252"


def test_tsv_and_explicit_text_field(tmp_path):
    path = tmp_path / "rows.tsv"
    path.write_text("label\tcomment\npos\tWorks well, no complaints.\n", encoding="utf-8")

    (row,) = list(read_table(path, text_field="Comment"))

    assert row.text == "Works well, no complaints."
    assert row.format == "tsv"


def test_table_without_text_column_lists_columns(tmp_path):
    path = tmp_path / "numbers.csv"
    path.write_text("id,score,comment\n1,2,fine\n", encoding="utf-8")
    with pytest.raises(DocumentError) as info:
        list(read_table(path))
    assert "id, score, comment" in info.value.reason


def test_csv_huge_field(tmp_path):
    path = tmp_path / "big.csv"
    big = "word " * 60_000  # over the csv module's default 131072-character field limit
    path.write_text(f'text\n"{big}"\n', encoding="utf-8")

    (row,) = list(read_table(path))

    assert len(row.text) == len(big)


def test_max_rows(tmp_path):
    path = tmp_path / "many.csv"
    path.write_text("text\n" + "".join(f"Review {i}.\n" for i in range(10)), encoding="utf-8")
    rows = list(read_table(path, max_rows=3))
    assert [r.text for r in rows] == ["Review 0.", "Review 1.", "Review 2."]


def test_jsonl_rows_with_bad_lines(tmp_path):
    path = tmp_path / "reviews.jsonl"
    lines = [
        json.dumps({"content": "Lovely hotel, friendly staff.", "title": "Lovely", "stars": 5}),
        '{"content": "broken json',
        "",
        json.dumps(["not", "an", "object"]),
        json.dumps({"stars": 2}),
        json.dumps({"content": "Noisy room, thin walls."}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    rows = list(read_table(path))

    kinds = [(type(r).__name__, r.source) for r in rows]
    assert kinds == [
        ("Document", f"{path}#1"),
        ("DocumentError", f"{path}#2"),
        ("DocumentError", f"{path}#4"),
        ("DocumentError", f"{path}#5"),
        ("Document", f"{path}#6"),
    ]
    assert rows[0].title == "Lovely" and rows[0].format == "jsonl"
    assert dict(rows[0].metadata)["stars"] == "5"
    assert "not valid JSON" in rows[1].reason
    assert rows[4].text == "Noisy room, thin walls."


# ---------------------------------------------------------------- files and folders

@pytest.fixture
def corpus(tmp_path) -> Path:
    root = tmp_path / "corpus"
    (root / "b_sub" / "deep").mkdir(parents=True)
    (root / "drafts").mkdir()
    (root / ".git").mkdir()
    (root / "a.txt").write_text("Alpha text.", encoding="utf-8")
    (root / "c.md").write_text("# Gamma\n\nText.", encoding="utf-8")
    (root / "image.png").write_bytes(b"\x89PNG\x00\x00")
    (root / ".hidden.txt").write_text("Hidden.", encoding="utf-8")
    (root / "~$lock.docx").write_bytes(b"\x00lock")
    (root / "b_sub" / "b.txt").write_text("Beta text.", encoding="utf-8")
    (root / "b_sub" / "rows.csv").write_text("text\nRow one.\nRow two.\n", encoding="utf-8")
    (root / "b_sub" / "deep" / "d.txt").write_text("Delta text.", encoding="utf-8")
    (root / "drafts" / "draft.txt").write_text("Draft.", encoding="utf-8")
    (root / ".git" / "config.txt").write_text("Git.", encoding="utf-8")
    return root


def _names(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


def test_collect_files_walks_folders_in_stable_order(corpus):
    files = collect_files([corpus])
    assert _names(files, corpus) == ["a.txt", "c.md", "b_sub/b.txt", "b_sub/rows.csv",
                                     "b_sub/deep/d.txt", "drafts/draft.txt"]


def test_collect_files_include_exclude(corpus):
    assert _names(collect_files([corpus], include=["*.txt"], exclude=["drafts"]), corpus) == [
        "a.txt", "b_sub/b.txt", "b_sub/deep/d.txt"]
    assert _names(collect_files([corpus], include=["b_sub/*"]), corpus) == [
        "b_sub/b.txt", "b_sub/rows.csv", "b_sub/deep/d.txt"]
    assert _names(collect_files([corpus], exclude=["*.csv", "deep/"]), corpus) == [
        "a.txt", "c.md", "b_sub/b.txt", "drafts/draft.txt"]


def test_collect_files_not_recursive(corpus):
    assert _names(collect_files([corpus], recursive=False), corpus) == ["a.txt", "c.md"]


def test_iter_documents_mixes_files_rows_and_errors(corpus, tmp_path):
    unsupported = tmp_path / "notes.xyz"
    unsupported.write_text("x", encoding="utf-8")
    missing = tmp_path / "gone.txt"

    items = list(iter_documents([corpus, unsupported, missing, corpus / "a.txt"], exclude=["drafts"]))

    docs = [i for i in items if isinstance(i, Document)]
    errors = [i for i in items if isinstance(i, DocumentError)]
    assert [d.text for d in docs] == ["Alpha text.", "# Gamma\n\nText.", "Beta text.", "Row one.",
                                      "Row two.", "Delta text."]  # a.txt named twice, read once
    assert [d.source for d in docs][3:5] == [f"{corpus / 'b_sub' / 'rows.csv'}#1",
                                             f"{corpus / 'b_sub' / 'rows.csv'}#2"]
    assert [(e.source, e.reason.split(";")[0]) for e in errors] == [
        (str(unsupported), "unsupported file type .xyz"),
        (str(missing), "file not found"),
    ]


def test_iter_documents_accepts_a_single_path_and_yields_table_errors(tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("id,score\n1,2\n", encoding="utf-8")

    items = list(iter_documents(path))

    assert len(items) == 1 and isinstance(items[0], DocumentError)
    assert "id, score" in items[0].reason


# ---------------------------------------------------------------- shipped samples

def test_sample_documents_all_read():
    items = list(iter_documents([SAMPLES]))

    errors = [i for i in items if isinstance(i, DocumentError)]
    assert errors == []
    by_name = {Path(d.source.split("#")[0]).name: d for d in items}
    assert by_name["mixed_review_cp1252.txt"].encoding == "cp1252"
    assert "crème brûlée" in by_name["mixed_review_cp1252.txt"].text
    assert "analytics" not in by_name["news_article.html"].text
    assert "Jonas" in by_name["meeting_notes.docx"].text
    assert sum(1 for d in items if d.source.startswith(str(SAMPLES / "reviews.csv"))) == 5
    assert {Path(d.source.split("#")[0]).suffix for d in items} >= {".txt", ".md", ".html", ".csv", ".docx"}


def test_sample_docx_script_builds_what_is_shipped(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_docx", SAMPLES / "make_docx.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.make(tmp_path / "fresh.docx")

    assert read_document(tmp_path / "fresh.docx").text == read_document(SAMPLES / "meeting_notes.docx").text


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_table_reading_reports_how_far_through_the_file_it_is(tmp_path, suffix):
    path = tmp_path / f"big{suffix}"
    rows = [f"Ticket {k}: the parcel arrived two days late and the box was damaged." for k in range(3000)]
    if suffix == ".csv":
        path.write_text("id,text\n" + "".join(f"{k},{t}\n" for k, t in enumerate(rows)), encoding="utf-8")
    else:
        path.write_text("".join(json.dumps({"id": k, "text": t}) + "\n" for k, t in enumerate(rows)), encoding="utf-8")
    shares = []
    docs = list(documents.read_table(path, progress=shares.append))
    assert len(docs) == len(shares) == 3000
    assert shares == sorted(shares) and shares[-1] == 1.0
    assert shares[0] < 0.1 and 0.3 < shares[1500] < 0.7  # moves with the rows, not only at the end
    seen = []
    assert len(list(documents.iter_documents([path], progress=lambda f, x: seen.append((f, x))))) == 3000
    assert seen[-1] == (path, 1.0)
