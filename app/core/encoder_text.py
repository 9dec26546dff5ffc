"""WordPiece tokenisation for the ALBERT encoder models (fast Rust `tokenizers`), windowing long text."""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Sequence

from app.core.errors import ModelError


class EncoderTokenizer:
    """Turns text into token ids for an encoder graph; knows [CLS]/[SEP] and the model window."""

    def __init__(self, path: Path, max_length: int):
        from tokenizers import Tokenizer

        try:
            self._tok = Tokenizer.from_file(str(path))
        except Exception as exc:
            raise ModelError(f"{path}: not a readable tokenizer.json ({exc})") from exc
        self._tok.no_padding()
        self._tok.no_truncation()
        self.max_length = max_length
        # token_to_id, not get_vocab(): building the 30k-entry dict holds the GIL for ~20 ms, which the
        # window feels as a stall when a batch loads its models
        def tid(tokens: tuple[str, ...], default: int) -> int:
            for token in tokens:  # BERT-style names first, then RoBERTa/XLM-R/MPNet's (imported checkpoints)
                i = self._tok.token_to_id(token)
                if i is not None:
                    return i
            return default

        self.cls_id = tid(("[CLS]", "<s>"), 101)
        self.sep_id = tid(("[SEP]", "</s>"), 102)
        self.pad_id = tid(("[PAD]", "<pad>"), 0)

    def pieces(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids without special tokens."""
        return [e.ids for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]

    def wrap(self, ids: Sequence[int]) -> list[int]:
        """Add [CLS]/[SEP], truncating to the model window."""
        return [self.cls_id, *ids[: self.max_length - 2], self.sep_id]

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.wrap(p) for p in self.pieces(texts)]

    def windows(self, sentence_ids: Sequence[Sequence[int]]) -> list[tuple[list[int], int]]:
        """Pack consecutive sentences into model windows (sentences never split unless one alone is too long).

        Returns (ids with [CLS]/[SEP], number of content tokens) for each window, so that long documents
        are read whole instead of silently truncated.
        """
        return self.packed(sentence_ids)[0]

    def packed(self, sentence_ids: Sequence[Sequence[int]]) -> tuple[list[tuple[list[int], int]], list[list[Span]]]:
        """`windows()` plus where each sentence landed: for every sentence its spans (window index, first
        position, end position) in the windows' ids ([CLS] is position 0). A sentence longer than a window
        has one span per window it fills; an empty sentence has none."""
        room = self.max_length - 2
        out: list[tuple[list[int], int]] = []
        spans: list[list[Span]] = []
        cur: list[int] = []

        def flush() -> None:
            nonlocal cur
            out.append((self.wrap(cur), len(cur)))
            cur = []

        for ids in sentence_ids:
            ids = list(ids)
            mine: list[Span] = []
            while len(ids) > room:  # one very long sentence: cut it in windows of its own
                if cur:
                    flush()
                mine.append(Span(len(out), 1, 1 + room))
                cur = ids[:room]
                flush()
                ids = ids[room:]
            if len(cur) + len(ids) > room and cur:
                flush()
            if ids:
                mine.append(Span(len(out), 1 + len(cur), 1 + len(cur) + len(ids)))
            cur.extend(ids)
            spans.append(mine)
        if cur:
            flush()
        return out, spans


class Span(NamedTuple):
    """Where (part of) a sentence sits in a packed window: window index and [start, end) positions."""

    window: int
    start: int
    end: int
