"""Hostile input, round two (issue 35): bounds that do not trust what a file declares. Every hostile file is
built here, small; anything that could eat memory on a regression runs in a child process under
RLIMIT_AS, so a regression fails the test instead of taking the machine down."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import zipfile
import zlib
from pathlib import Path

import pytest

from tests.core.test_document_bounds import _within
from tests.core.test_documents import make_pdf as make_text_pdf

REPO = Path(__file__).resolve().parents[1]
POSIX = pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_AS is POSIX only")


def run_bounded(code: str, *, memory_mb: int = 1024, timeout: float = 60) -> dict:
    """Run `code` in a fresh interpreter limited to `memory_mb` of address space; it prints one JSON line."""
    prelude = textwrap.dedent(f"""
        import json, resource, sys
        resource.setrlimit(resource.RLIMIT_AS, ({memory_mb} << 20, {memory_mb} << 20))
        sys.path.insert(0, {str(REPO)!r})
    """)
    proc = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0 and lines, f"child failed (rc {proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(lines[-1])


# ---------------------------------------------------------------- zips that lie about their sizes


def deflate_bomb(head: bytes, zeros_mb: int) -> bytes:
    """A raw deflate stream of `head` followed by `zeros_mb` MiB of zero bytes, about 1 KB per MiB: after a
    full flush the compressor starts afresh, so one compressed MiB of zeros can be repeated."""
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    start = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(bytes(1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)
    return start + block * zeros_mb + c.flush()


def lying_zip(entries: dict[str, bytes], liar: str, extra_zeros_mb: int) -> bytes:
    """A zip of `entries` where `liar` declares its real size and CRC but its deflate stream carries
    `extra_zeros_mb` MiB more (zipfile internals: the local header and central record are written by hand)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            if name != liar:
                archive.writestr(name, data)
                continue
            stream = deflate_bomb(data, extra_zeros_mb)
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.file_size, info.CRC, info.compress_size = len(data), zlib.crc32(data), len(stream)
            info.header_offset = archive.fp.tell()
            archive.fp.write(info.FileHeader())
            archive.fp.write(stream)
            archive.filelist.append(info)
            archive.NameToInfo[name] = info
            archive.start_dir = archive.fp.tell()
    return out.getvalue()


def docx_entries(text: str) -> dict[str, bytes]:
    import docx

    d = docx.Document()
    d.add_paragraph(text)
    buf = io.BytesIO()
    d.save(buf)
    with zipfile.ZipFile(buf) as z:
        return {n: z.read(n) for n in z.namelist()}


def assert_refused_as_bomb(result: dict, path: Path) -> None:
    """Refused by a limit the message names (compression ratio or inflated size), never 'corrupt'."""
    error = result.get("error", "")
    assert error.startswith(f"{path}: refused: "), result
    assert "compression ratio over 100:1" in error or "expands past 200.0 MB when unpacked" in error, result
    assert "zip bomb" in error and "corrupt" not in error


@POSIX
def test_a_docx_whose_headers_lie_is_refused_by_the_bytes_it_inflates(tmp_path):
    path = tmp_path / "bomb.docx"
    path.write_bytes(lying_zip(docx_entries("A small, honest-looking document."), "word/document.xml", 1024))
    assert path.stat().st_size < 1_200_000  # 1 GiB more than declared, in about 1 MB
    result = run_bounded(f"""
        from app.core.documents import read_document
        from app.core.errors import DocumentError
        try:
            read_document({str(path)!r})
            print(json.dumps({{"read": True}}))
        except DocumentError as exc:
            print(json.dumps({{"error": str(exc)}}))
    """, memory_mb=1024)
    assert_refused_as_bomb(result, path)


def test_an_honest_docx_still_reads_and_a_truncated_entry_is_named(tmp_path):
    from app.core.documents import read_document
    from app.core.errors import DocumentError

    entries = docx_entries("Revenue rose by eight percent.")
    good = tmp_path / "good.docx"
    with zipfile.ZipFile(good, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    assert read_document(good).text == "Revenue rose by eight percent."
    # the header declares more than the stream holds: damaged, said so, not a traceback
    raw = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as z:
        info = z.getinfo("word/document.xml")
    short = tmp_path / "short.docx"
    body_at = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[body_at + info.compress_size // 2: body_at + info.compress_size] = bytes(info.compress_size
                                                                                 - info.compress_size // 2)
    short.write_bytes(bytes(raw))
    with pytest.raises(DocumentError) as caught:
        read_document(short)
    assert "word/document.xml" in caught.value.reason and "corrupt" not in caught.value.reason


def _xlsx_entries() -> dict[str, bytes]:
    sheet = (b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>text</t></is></c>'
             b'<c r="B1" t="inlineStr"><is><t>label</t></is></c></row>'
             b'<row r="2"><c r="A2" t="inlineStr"><is><t>good</t></is></c>'
             b'<c r="B2" t="inlineStr"><is><t>pos</t></is></c></row></sheetData></worksheet>')
    return {"[Content_Types].xml": b"<Types/>", "xl/worksheets/sheet1.xml": sheet}


@POSIX
def test_an_xlsx_whose_headers_lie_is_refused_by_the_bytes_it_inflates(tmp_path):
    path = tmp_path / "labels.xlsx"
    path.write_bytes(lying_zip(_xlsx_entries(), "xl/worksheets/sheet1.xml", 1024))
    honest = tmp_path / "honest.xlsx"
    with zipfile.ZipFile(honest, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in _xlsx_entries().items():
            z.writestr(name, data)
    result = run_bounded(f"""
        from app.core.labeled_data import read_labeled_table
        from app.core.errors import LabelDataError
        out = {{"honest": list(read_labeled_table({str(honest)!r}).rows)}}
        try:
            read_labeled_table({str(path)!r})
        except LabelDataError as exc:
            out["error"] = str(exc)
        print(json.dumps(out))
    """, memory_mb=1024)
    assert result["honest"] == [["good", "pos"]]
    assert_refused_as_bomb(result, path)


# ---------------------------------------------------------------- PDF: time and shared content


def heavy_pdf(path: Path, pages: int, operators: int) -> Path:
    """`pages` pages that all draw one content stream of `operators` text-showing operators (pypdf parses
    the stream again for every page)."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = writer._add_object(DictionaryObject({NameObject("/Type"): NameObject("/Font"),
                                                NameObject("/Subtype"): NameObject("/Type1"),
                                                NameObject("/BaseFont"): NameObject("/Helvetica")}))
    stream = DecodedStreamObject()
    stream.set_data(b"BT /F1 10 Tf " + b"1 0 0 1 10 10 Tm (word) Tj " * operators + b"ET")
    shared = writer._add_object(stream.flate_encode())
    resources = DictionaryObject({NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
    for _ in range(pages):
        page = writer.add_blank_page(612, 792)
        page[NameObject("/Contents")] = shared
        page[NameObject("/Resources")] = resources
    with open(path, "wb") as f:
        writer.write(f)
    return path


def test_a_pdf_of_pages_sharing_one_heavy_stream_is_refused_by_the_content_they_draw(tmp_path):
    path = heavy_pdf(tmp_path / "shared.pdf", 1000, 20_000)  # ~1.4 CPU-s a page here before: ~25 minutes
    assert path.stat().st_size < 300_000
    result = run_bounded(f"""
        import time
        from app.core.documents import read_document
        from app.core.errors import DocumentError
        t0 = time.monotonic()
        try:
            read_document({str(path)!r})
            out = {{"read": True}}
        except DocumentError as exc:
            out = {{"error": str(exc)}}
        out["seconds"] = time.monotonic() - t0
        print(json.dumps(out))
    """, timeout=60)
    assert result.get("error") == (f"{path}: refused: its pages draw more than 32.0 MB of page content "
                                   "(limit 32.0 MB; a content stream that several pages share counts once per page)")
    assert result["seconds"] < 20


def test_pdf_text_extraction_stops_at_its_time_budget_inside_a_page(tmp_path):
    path = heavy_pdf(tmp_path / "slow.pdf", 20, 40_000)  # 20 pages of ~3 CPU-s each, 22 MB drawn in all
    result = run_bounded(f"""
        import time
        from app.core.documents import pdf, read_document
        from app.core.errors import DocumentError
        pdf.PDF_TIME_BUDGET_S = 1.0
        t0 = time.monotonic()
        try:
            read_document({str(path)!r})
            out = {{"read": True}}
        except DocumentError as exc:
            out = {{"error": str(exc)}}
        out["seconds"] = time.monotonic() - t0
        print(json.dumps(out))
    """, timeout=60)
    assert result.get("error", "").startswith(f"{path}: refused: reading its text took over 1 s (the time limit "
                                              "for one PDF; stopped at page "), result
    assert result["seconds"] < 15  # one page's parse past the budget at most


def test_a_page_drawing_megabytes_is_skipped_and_named_and_the_text_pages_are_read(tmp_path):
    from pypdf import PdfReader, PdfWriter

    from app.core.documents import read_document

    heavy = heavy_pdf(tmp_path / "plan.pdf", 1, 160_000)  # 4.5 MB of operators on one page
    text = make_text_pdf(tmp_path / "text.pdf", [["Site report", "The foundations are sound."]])
    writer = PdfWriter()
    writer.append(PdfReader(text))
    writer.append(PdfReader(heavy))
    both = tmp_path / "report.pdf"
    with open(both, "wb") as f:
        writer.write(f)
    doc = _within(20, lambda: read_document(both))
    assert doc.text == "Site report\n\nThe foundations are sound."
    assert dict(doc.metadata)["skipped pages"] == "2 (each draws over 4.0 MB: drawings, not text)"


# ---------------------------------------------------------------- glossary files


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_glossary_that_is_a_device_a_fifo_or_a_folder_is_refused_at_once(tmp_path):
    import os

    from app.core.protect import Glossary, GlossaryError

    fifo = tmp_path / "terms.fifo"
    os.mkfifo(fifo)
    link = tmp_path / "terms.txt"
    link.symlink_to("/dev/zero")
    for path, kind in ((Path("/dev/zero"), "a device"), (link, "a device"), (fifo, "a FIFO (named pipe)"),
                       (tmp_path, "a folder")):
        caught = _within(5, lambda p=path: Glossary.from_file(p))  # a FIFO with no writer used to block forever
        assert isinstance(caught, GlossaryError), caught
        assert str(caught) == f"{path}: the glossary must be a regular text file, not {kind}"


def test_a_300k_term_glossary_matches_40_paragraphs_in_seconds(tmp_path):
    words = ["alpha", "brick", "cobalt", "delta", "ember", "fjord", "garnet", "harbor", "iris", "jasper"]
    lines = [f"{words[i % 10]}{i}" for i in range(300_000)]  # terms kept as they are
    lines += ["cobalt2 delta2 = terme2", "LibreOffice", "spreadsheet = classeur", "=Apple"]
    path = tmp_path / "terms.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert 3_000_000 < path.stat().st_size < 5_000_000
    paragraph = ("Open the spreadsheet in LibreOffice and compare cobalt2 delta2 with the figures that Apple "
                 "published; an apple a day is not a glossary term here, and neither is alpha0x. ")
    result = run_bounded(f"""
        import time
        from app.core.protect import Glossary
        t0 = time.monotonic()
        g = Glossary.from_file({str(path)!r})
        loaded = time.monotonic() - t0
        found = [g.find({paragraph * 4!r}, "fr") for _ in range(40)]
        print(json.dumps({{"loaded": loaded, "matched": time.monotonic() - t0 - loaded,
                           "spans": [(p.source, p.output) for p in found[0][:6]]}}))
    """, memory_mb=2048, timeout=120)
    assert result["spans"] == [["spreadsheet", "classeur"], ["LibreOffice", "LibreOffice"],
                               ["cobalt2 delta2", "terme2"], ["Apple", "Apple"],
                               ["spreadsheet", "classeur"], ["LibreOffice", "LibreOffice"]]
    assert result["matched"] < 10, result  # one regular expression per term: minutes


# ---------------------------------------------------------------- partial files of a killed writer


def test_a_translation_killed_while_writing_leaves_a_named_partial_that_the_next_run_removes(tmp_path):
    import os
    import signal
    import socket

    out = tmp_path / "out.docx"
    src = tmp_path / "in.txt"
    src.write_text("Hello there.", encoding="utf-8")
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        from app.core import document_translation as dt
        from app.core.documents import read_document
        from app.core.types import ModelInfo

        doc = read_document({str(src)!r})
        result = dt.DocumentTranslation(doc, "fr", "en", (dt.TranslatedBlock("paragraph", doc.text, "Bonjour."),),
                                        ModelInfo("m", "1", "translation", "cpu"))
        original = dt._write_new_docx

        def slow(result, path, *args, **kwargs):
            original(result, path, *args, **kwargs)
            print("written", flush=True)
            time.sleep(60)  # killed here, between writing the partial file and renaming it

        dt._write_new_docx = slow
        dt.write_translation(result, {str(out)!r})
    """)], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert child.stdout.readline().strip() == "written"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(10)
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
    assert left == [f".out.docx.albert-studio-partial-{socket.gethostname()}-{child.pid}.tmp"]
    assert not out.exists()

    from app.core.document_translation import partial_name, remove_stale_partials

    (tmp_path / ".out.docx.tmp").write_bytes(b"left by an earlier version")
    live = partial_name(out)  # this process is alive: its partial file is kept
    live.write_bytes(b"being written")
    removed = remove_stale_partials(out)
    assert sorted(p.name for p in removed) == [".out.docx.albert-studio-partial-"
                                               f"{socket.gethostname()}-{child.pid}.tmp", ".out.docx.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [live.name]


# ---------------------------------------------------------------- one bad row or file never sinks the rest


@pytest.fixture()
def models_env(tiny_models, monkeypatch):
    monkeypatch.setenv("ALBERT_STUDIO_MODELS", str(tiny_models))
    return tiny_models


def test_a_jsonl_row_nested_100k_deep_is_that_rows_error_and_the_batch_goes_on(models_env, tmp_path, capsys):
    from app.cli import main
    from app.core.store import Store

    path = tmp_path / "rows.jsonl"
    path.write_text('{"text": "Great value, I love it."}\n' + '{"text": ' + "[" * 100_000 + "]" * 100_000 + "}\n"
                    + '{"text": "Awful support."}\n' + '{"text": "Fine.", "n": ' + "9" * 5000 + "}\n",
                    encoding="utf-8")
    db = tmp_path / "lib.db"
    assert main(["analyze", str(path), "--db", str(db), "--tasks", "sentiment"]) == 3  # some errors
    err = capsys.readouterr().err
    assert f"error: {path}#2: refused: the JSON nests deeper than the reader allows (about " in err
    assert f"error: {path}#4: refused: a number of more than 4,300 digits (the limit for reading one integer)" in err
    assert "2 analysed (0 reused from the library), 2 errors" in err
    with Store(db, readonly=True) as s:
        (run,) = s.history()
        assert (run.status, run.n_done, run.n_failed) == ("done", 2, 2)


@pytest.mark.parametrize("content, reason", [
    ("id,text\n\n", "only a header line"),
    ("text,Fine", "only a header line: the file has no line break"),
    ("text," + "x" * 2_000_000, "no line break in its first 1.0 MB; a table has one row per line"),
])
def test_a_table_with_nothing_analysable_exits_1_with_the_reason(models_env, tmp_path, capsys, content, reason):
    from app.cli import main

    path = tmp_path / "empty.csv"
    path.write_text(content, encoding="utf-8")
    assert main(["analyze", str(path), "--no-store", "--tasks", "sentiment"]) == 1
    err = capsys.readouterr().err
    assert f"error: {path}: no rows to analyse ({reason})\n" in err
    assert "0 analysed (0 reused from the library), 1 errors" in err


def test_a_reader_that_breaks_down_is_that_files_error_and_a_failed_run_records_why(models_env, tmp_path):
    from app.core.analyzer import AnalysisOptions, Analyzer
    from app.core.documents import iter_documents
    from app.core.errors import DocumentError
    from app.core.store import Store
    from app.jobs.batch import run_batch

    d = tmp_path / "d"
    d.mkdir()
    for name in ("a.txt", "b.txt", "c.txt", "d.txt"):
        (d / name).write_text(f"The service in {name} was great.")

    def read(path):
        if path.name == "c.txt":  # a reader that raises its file's error instead of yielding it
            raise DocumentError(path, "locked by another program")
        yield from iter_documents([path])
        if path.name == "b.txt":
            raise RecursionError("maximum recursion depth exceeded")  # what no check foresaw, after one item

    analyzer = Analyzer()
    with Store(tmp_path / "lib.db") as store:
        report = run_batch([d], analyzer, store, AnalysisOptions(tasks=("sentiment",)), read=read)
        assert report.status == "done" and report.analyses == 3  # a, b (read before the break) and d
        assert report.errors == [(str(d / "b.txt"), "reading stopped: RecursionError: maximum recursion depth exceeded"),
                                 (str(d / "c.txt"), "locked by another program")]
        assert store.count_documents() == 3

        def progress(p):
            if p.files_done == 1:
                raise OSError(28, "No space left on device")

        with pytest.raises(OSError):
            run_batch([d], analyzer, store, AnalysisOptions(tasks=("sentiment",)), progress=progress)
        failed = store.history()[0]
        assert failed.status == "failed"
        assert [e.reason for e in store.errors(failed.id)] == [
            "the run stopped: OSError: [Errno 28] No space left on device"]


# ---------------------------------------------------------------- a limit is named, never called "corrupt"


def _zlib_spaces(head: bytes, spaces: int) -> bytes:
    """A zlib stream of `head` and then `spaces` spaces (about 1 KB per MiB)."""
    c = zlib.compressobj(9)
    mib = b" " * (1 << 20)
    return c.compress(head) + b"".join(c.compress(mib) for _ in range(spaces >> 20)) + c.flush()


def objstm_bomb_pdf(path: Path, spaces: int = 80 << 20) -> Path:
    """A PDF 1.5 whose page tree sits in an object stream that inflates past pypdf's 75 MB cap (xref stream)."""
    import struct

    head = b"2 0 "
    data = _zlib_spaces(head + b"<</Type/Pages/Kids[3 0 R]/Count 1>>", spaces)
    out, offsets = bytearray(b"%PDF-1.5\n"), {}

    def obj(n: int, body: bytes) -> None:
        offsets[n] = len(out)
        out.extend(b"%d 0 obj\n" % n + body + b"\nendobj\n")

    obj(1, b"<</Type/Catalog/Pages 2 0 R>>")
    obj(3, b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>")
    obj(4, b"<</Type/ObjStm/N 1/First %d/Filter/FlateDecode/Length %d>>\nstream\n" % (len(head), len(data))
        + data + b"\nendstream")
    offsets[5] = len(out)
    rows = [(0, 0, 65535), (1, offsets[1], 0), (2, 4, 0), (1, offsets[3], 0), (1, offsets[4], 0), (1, offsets[5], 0)]
    xref = b"".join(struct.pack(">BIH", *r) for r in rows)
    out.extend(b"5 0 obj\n<</Type/XRef/Size 6/W[1 4 2]/Root 1 0 R/Length %d>>\nstream\n" % len(xref) + xref
               + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % offsets[5])
    path.write_bytes(bytes(out))
    return path


def content_bomb_pdf(path: Path, spaces: int = 80 << 20) -> Path:
    """One page whose content stream inflates past pypdf's 75 MB cap (pypdf's text extraction swallows that
    and returns no text: it read as 'no text layer (scanned PDF?)')."""
    from pypdf import PdfWriter
    from pypdf.generic import NameObject, StreamObject

    writer = PdfWriter()
    page = writer.add_blank_page(612, 792)
    stream = StreamObject()
    stream._data = _zlib_spaces(b"BT /F1 10 Tf (hello) Tj ET\n", spaces)
    stream[NameObject("/Filter")] = NameObject("/FlateDecode")
    page[NameObject("/Contents")] = writer._add_object(stream)
    with open(path, "wb") as f:
        writer.write(f)
    return path


def deep_docx(path: Path, depth: int = 300) -> Path:
    entries = docx_entries("x")
    entries["word/document.xml"] = (b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
                                    b"<w:body>" + b"<w:p>" * depth + b"</w:p>" * depth + b"</w:body></w:document>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return path


def huge_run_docx(path: Path) -> Path:
    """One run of 10.4 million characters (random hex, so it stays under the 100:1 ratio): libxml2's limit for
    one text node without XML_PARSE_HUGE."""
    import os

    entries = docx_entries("x")
    entries["word/document.xml"] = (b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
                                    b"<w:body><w:p><w:r><w:t>" + os.urandom(5_200_000).hex().encode()
                                    + b"</w:t></w:r></w:p></w:body></w:document>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return path


@pytest.mark.parametrize("make, reason", [
    (objstm_bomb_pdf, "refused: a stream inflates past 75.0 MB (the PDF reader's limit for one stream); it may be "
                      "a decompression bomb"),
    (content_bomb_pdf, "refused: every page draws more than 4.0 MB of content (the limit for one page: drawings "
                       "or plans, not text)"),
    (deep_docx, "refused: its XML nests deeper than 256 levels (the XML reader's limit; Word never writes that deep)"),
    (huge_run_docx, "too long: one run of text holds over 10,000,000 characters, limit 1,000,000 (split it into "
                    "smaller documents)"),
])
def test_a_file_past_a_reader_limit_is_refused_by_that_limit_not_called_corrupt(tmp_path, make, reason):
    from app.core.documents import read_document
    from app.core.errors import DocumentError

    suffix = ".pdf" if "pdf" in make.__name__ else ".docx"
    path = make(tmp_path / f"{make.__name__}{suffix}")
    assert path.stat().st_size < 8_000_000
    with pytest.raises(DocumentError) as caught:
        read_document(path)
    assert caught.value.reason == reason
