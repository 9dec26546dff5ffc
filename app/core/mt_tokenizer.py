"""SentencePiece tokenisation for translation models, and detokenisation a reader would accept.

Two layouts are read from a manifest's "tokenizer" entry:
  * one shared SentencePiece model whose piece ids are the model's ids (the shipped models):
        {"type": "sentencepiece", "source": "spm.model", "target": "spm.model"}
  * Marian/OPUS-MT: source.spm and target.spm for segmentation, vocab.json for the ids:
        {"type": "sentencepiece", "source": "source.spm", "target": "target.spm", "vocab": "vocab.json"}
"""
from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from app.core.errors import ModelError

if TYPE_CHECKING:
    import numpy as np


class MTTokenizer:
    """Text -> source ids (ending in </s>); target ids -> text."""

    def __init__(self, folder: Path, spec: dict, eos_id: int, pad_id: int, unk_id: int | None = None):
        try:
            import sentencepiece as spm
        except ImportError as exc:  # pragma: no cover - a packaging problem, not a user one
            raise ModelError("Translation needs the 'sentencepiece' package (pip install sentencepiece)") from exc
        folder = Path(folder)
        self.folder = folder

        def load(name: str):
            path = folder / name
            if not path.exists():
                raise ModelError(f"{folder}: tokenizer file {name} is missing")
            try:
                return spm.SentencePieceProcessor(model_file=str(path))
            except Exception as exc:
                raise ModelError(f"{path}: not a SentencePiece model ({exc})") from exc

        self.source = load(spec.get("source") or spec.get("file") or "spm.model")
        self.target = load(spec["target"]) if spec.get("target") and spec.get("target") != spec.get("source") else self.source
        self.vocab: dict[str, int] | None = None
        if spec.get("vocab"):
            try:
                self.vocab = json.loads((folder / spec["vocab"]).read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise ModelError(f"{folder / spec['vocab']}: unreadable vocabulary ({exc})") from exc
            self.id_to_piece = {i: p for p, i in self.vocab.items()}
        self.eos_id, self.pad_id = eos_id, pad_id
        self.unk_id = unk_id if unk_id is not None else (self.vocab.get("<unk>", 1) if self.vocab else self.source.unk_id())
        self.special = {eos_id, pad_id, self.unk_id}

    def encode(self, texts: Sequence[str], max_tokens: int | None = None) -> list[list[int]]:
        out = []
        for text in texts:
            text = unicodedata.normalize("NFC", text)
            if self.vocab is None:
                ids = self.source.encode(text)
            else:
                ids = [self.vocab.get(p, self.unk_id) for p in self.source.encode(text, out_type=str)]
            if max_tokens:
                ids = ids[: max_tokens - 1]
            out.append(ids + [self.eos_id])
        return out

    def count(self, text: str) -> int:
        return len(self.source.encode(text))

    def letter_pieces(self, size: int) -> "np.ndarray":
        """A boolean per target id (0..size-1): whether its piece holds a letter (a repeated "." is not a loop)."""
        import numpy as np

        out = np.zeros(size, dtype=bool)
        if self.vocab is None:
            n = min(size, self.target.get_piece_size())
            pieces = [self.target.id_to_piece(i) for i in range(n)]
        else:
            pieces = [self.id_to_piece.get(i, "") for i in range(size)]
        for i, piece in enumerate(pieces):
            out[i] = any(ch.isalpha() for ch in piece) and i not in self.special
        return out

    def decode(self, ids: Sequence[int]) -> str:
        ids = [int(i) for i in ids if int(i) not in self.special]
        if self.vocab is None:
            return self.target.decode(ids)
        return self.target.decode_pieces([self.id_to_piece.get(i, "") for i in ids])


_SPACE = re.compile(r"\s+")
_SPACE_BEFORE_CLOSE = re.compile(r"\s+([,.)\]}%…])")
_SPACE_AFTER_OPEN = re.compile(r"([(\[{])\s+")
_FR_HIGH_PUNCT = re.compile(r"(?<=[^\s])([;:!?»])")  # French puts a space before ; : ! ? »
_FR_GUILLEMET = re.compile(r"«(?=\S)")
_NON_FR_HIGH_PUNCT = re.compile(r"\s+([;:!?])")
_GLUED_AFTER = re.compile(r"(?<=[;:!?])(?=[^\W\d_])")  # "là?Un" -> "là? Un" (not "3:30" or "http://")
_URLISH = re.compile(r"\w+://|\d:\d")


def detokenize(text: str, lang: str, source: str = "") -> str:
    """Clean decoded text: one space between words, punctuation placed by the target language's rules
    (French: a space before ; : ! ? and inside « »), and the source's initial capital kept."""
    text = _SPACE.sub(" ", text.replace("⁇", " ")).strip()
    if not text:
        return text
    text = _SPACE_BEFORE_CLOSE.sub(r"\1", text)
    text = _SPACE_AFTER_OPEN.sub(r"\1", text)
    text = _GLUED_AFTER.sub(" ", text)
    if lang == "fr":
        if not _URLISH.search(text):
            text = _FR_HIGH_PUNCT.sub(r" \1", text)
        text = _FR_GUILLEMET.sub("« ", text)
    else:
        text = _NON_FR_HIGH_PUNCT.sub(r"\1", text)
    src = source.lstrip()
    if src[:1].isupper() and text[:1].islower():
        text = text[0].upper() + text[1:]
    return text
