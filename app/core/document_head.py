"""The learned document decision of a sentiment model: window scores + a bag of word pieces, stacked.

Averaging window probabilities throws away what a long review's shape says (a mixed middle, a verdict at
the end), and on whole reviews a bag of words still beats a window model. The head reads, for each document,
the window log-odds (weighted mean, min, max, first, last) and a naive-Bayes-weighted logistic regression over
the document's word pieces and word-piece bigrams (NB-SVM, Wang & Manning 2012), and combines them with a
logistic regression fitted on reviews the encoder never saw (stacking). It is one small ONNX graph,
`document_head.onnx`, described in the manifest's `document_head` entry; app.training.document_head builds it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from app.core.errors import ModelError

WINDOW_FEATURES = ("mean", "min", "max", "first", "last")
BIGRAM_PRIME = 1_000_003


@dataclass(frozen=True)
class HeadSpec:
    file: str
    vocab_size: int
    bigram_buckets: int
    min_tokens: int

    @classmethod
    def from_manifest(cls, raw) -> "HeadSpec | None":
        spec = raw.get("document_head") if isinstance(raw, dict) else None
        if spec is None:
            return None
        try:
            out = cls(str(spec["file"]), int(spec["vocab_size"]), int(spec["bigram_buckets"]), int(spec.get("min_tokens", 0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"manifest field document_head is malformed ({exc!r}): it needs file, vocab_size, "
                             f"bigram_buckets and min_tokens") from exc
        if out.vocab_size <= 0 or out.bigram_buckets <= 0 or out.min_tokens < 0:
            raise ModelError("manifest field document_head: vocab_size and bigram_buckets must be positive")
        return out


def feature_ids(ids: Sequence[int], vocab_size: int, buckets: int) -> np.ndarray:
    """The distinct bag-of-word-pieces features of one document: unigram ids, then hashed bigrams."""
    a = np.asarray(ids, dtype=np.int64)
    a = a[(a >= 0) & (a < vocab_size)]
    bi = (a[:-1] * BIGRAM_PRIME + a[1:]) % buckets + vocab_size if len(a) > 1 else np.zeros(0, np.int64)
    return np.unique(np.concatenate([a, bi]))


def window_features(log_odds: Sequence[float], tokens: Sequence[int]) -> np.ndarray:
    """[token-weighted mean, min, max, first, last] of a document's window log-odds (positive vs negative)."""
    z = np.asarray(log_odds, dtype=np.float32)
    w = np.asarray(tokens, dtype=np.float32)
    mean = float((z * w).sum() / max(w.sum(), 1.0))
    return np.array([mean, z.min(), z.max(), z[0], z[-1]], dtype=np.float32)


class DocumentHead:
    """`p_positive(window_log_odds, window_tokens, piece_ids)` for one document, from the ONNX head."""

    def __init__(self, spec: HeadSpec, graph: Path, options):
        from app.core.runtime import Session

        self.spec = spec
        self.session = Session(graph, options)
        need = {"window_features", "feature_ids"}
        if not need <= set(self.session.input_names):
            raise ModelError(f"{graph}: a document head needs inputs {sorted(need)}, it has {self.session.input_names}")

    def applies(self, n_tokens: int) -> bool:
        return n_tokens >= self.spec.min_tokens

    def p_positive(self, log_odds: Sequence[float], tokens: Sequence[int], piece_ids: Sequence[int]) -> float:
        feats = window_features(log_odds, tokens)[None, :]
        ids = feature_ids(piece_ids, self.spec.vocab_size, self.spec.bigram_buckets)
        out = self.session({"window_features": feats, "feature_ids": ids})
        return float(np.asarray(out[self.session.output_names[0]]).reshape(-1)[0])
