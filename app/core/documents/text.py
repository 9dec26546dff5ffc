"""What every reader shares: the limits, a file's bytes checked and decoded to normalised text (BOMs,
UTF-16, charset detection, binary refused), titles and content hashes.
"""
from __future__ import annotations

import codecs
import hashlib
import os
import re
import stat
import unicodedata
from pathlib import Path

from app.core.errors import DocumentError

SUPPORTED_SUFFIXES: tuple[str, ...] = (
    ".txt", ".md", ".html", ".htm", ".docx", ".pdf", ".csv", ".tsv", ".jsonl",
)
TABLE_SUFFIXES: tuple[str, ...] = (".csv", ".tsv", ".jsonl")

DEFAULT_MAX_BYTES = 50_000_000
DEFAULT_MAX_CHARS = 1_000_000

TITLE_MAX_CHARS = 120

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


def size_words(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f} MB"
    if n >= 1_000:
        return f"{n / 1_000:.1f} KB"
    return f"{n} bytes"


def supported_list() -> str:
    return ", ".join(SUPPORTED_SUFFIXES)


def title_from(text: str, fallback: str) -> str:
    """First non-empty line (Markdown heading marks removed), trimmed; else the fallback."""
    for line in text.split("\n"):
        line = line.strip().lstrip("#").strip()
        if line:
            return trim_title(line)
    return fallback


def trim_title(title: str, limit: int = TITLE_MAX_CHARS) -> str:
    title = " ".join(title.split())
    if len(title) <= limit:
        return title
    cut = title[:limit].rsplit(" ", 1)[0] or title[:limit]
    return cut.rstrip(" ,;:-") + "…"


def stat_file(path: Path) -> os.stat_result:
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


def read_bytes(path: Path, max_bytes: int, st: os.stat_result) -> tuple[bytes, os.stat_result]:
    if st.st_size > max_bytes:
        raise DocumentError(path, f"too large ({size_words(st.st_size)}, limit {size_words(max_bytes)})")
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
        raise DocumentError(path, f"too large (over {size_words(max_bytes)} limit)")
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


def bom_encoding(data: bytes) -> str | None:
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


def detect_encoding(data: bytes, source: str | Path, *, complete: bool = True) -> str:
    """Name of the codec to decode `data` with; `complete` is False when `data` is only the file's start."""
    bom = bom_encoding(data)
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


def decode(data: bytes, source: str | Path, encoding: str | None = None) -> tuple[str, str]:
    """Decode file bytes to normalised text; returns (text, encoding)."""
    encoding = encoding or detect_encoding(data, source)
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        raise DocumentError(source, f"cannot decode the text as {encoding} (save the file as UTF-8)") from None
    if _looks_binary_text(text):
        raise DocumentError(source, "not a text file (binary content)")
    return normalize_text(text), encoding
