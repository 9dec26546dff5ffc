"""File names and other untrusted strings: stored losslessly, shown so that they cannot forge output.

A POSIX file name is bytes; Python hands names that are not valid UTF-8 to us as str with lone
surrogates (PEP 383, "surrogateescape"), which SQLite and a UTF-8 terminal both refuse. The store keeps
such a name as the exact bytes (`storable`, a BLOB) and gives the same str back (`loaded`). Everything
printed or displayed goes through `shown`, which writes undecodable bytes as \\xNN and control, line
separator and bidirectional-override characters as escapes, so a name holding "\\n5000 analysed" or
U+202E cannot fake a summary line or reorder what a person reads.
"""
from __future__ import annotations

import os
import re

# Bidirectional embeddings, overrides and isolates, and the marks that steer them (Trojan Source, CVE-2021-42574).
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_UNSAFE = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f\u2028\u2029{_BIDI}\\ud800-\\udfff]")
_SURROGATE = re.compile("[\\ud800-\\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    ch = match.group()
    code = ord(ch)
    if ch in _NAMED:
        return _NAMED[ch]
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte of a file name (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def shown(text: object) -> str:
    """`text` safe to print on one line of a terminal or show in a window."""
    return _UNSAFE.sub(_escape, str(text))


def valid_text(text: str) -> str:
    """`text` with lone surrogates replaced by U+FFFD, so it encodes as UTF-8 (for titles, reasons, cells)."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def storable(path: str) -> str | bytes:
    """A path as the store keeps it: the str when it is valid UTF-8, else its exact bytes (lossless)."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape" if _only_escapes(path) else "surrogatepass")


def loaded(value: str | bytes | None) -> str:
    """The path `storable` was given, from what the store kept."""
    if value is None:
        return ""
    if isinstance(value, bytes):  # Windows names are UTF-16 and may hold lone surrogates themselves
        return value.decode("utf-8", "surrogatepass" if os.name == "nt" else "surrogateescape")
    return value


def _only_escapes(text: str) -> bool:
    return all(0xDC80 <= ord(c) <= 0xDCFF for c in _SURROGATE.findall(text))

