"""Text that does not come from a file: pasted into the window, or read from standard input."""
from __future__ import annotations

import time

from app.core.documents import content_hash, normalize_text
from app.core.errors import DocumentError
from app.core.types import Document

MAX_PASTED_CHARS = 1_000_000  # as a file; a longer text is better saved and opened as a file
TITLE_WORDS = 8


def text_title(text: str) -> str:
    """The first words of the first non-empty line: 'Dear support, my order #4 never…'."""
    for line in text.split("\n"):
        words = line.strip().lstrip("#").split()
        if words:
            return " ".join(words[:TITLE_WORDS]) + ("…" if len(words) > TITLE_WORDS else "")
    return "Pasted text"


def document_from_text(text: str, source: str = "pasted text", title: str | None = None) -> Document:
    """A Document for text typed, pasted or piped in; DocumentError when there is nothing to analyse."""
    text = normalize_text(text)
    if not text.strip():
        raise DocumentError(source, "contains no text (empty or only whitespace)")
    if len(text) > MAX_PASTED_CHARS:
        raise DocumentError(source, f"too long: {len(text):,} characters, limit {MAX_PASTED_CHARS:,} "
                                    "(save it as a file and open that)")
    return Document(source=source, text=text, title=title or text_title(text), format="txt",
                    content_hash=content_hash(text), mtime=time.time())
