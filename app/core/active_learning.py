"""Active learning: which unlabelled documents should the user label next? The ones the model is least sure of.

Uncertainty is the margin between the two most probable classes (small margin = the model hesitates);
entropy is reported too. Documents already labelled in the library are left out.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from app.core.sentiment import SentimentModel


@dataclass(frozen=True)
class UncertainDocument:
    document_id: int
    title: str
    snippet: str
    label: str  # the model's best guess
    score: float  # its probability
    margin: float  # top-1 minus top-2 probability; smallest first
    entropy: float  # in bits


def uncertainty(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(margin, entropy) per row of a probability matrix."""
    top = np.sort(probs, axis=1)[:, ::-1]
    margin = top[:, 0] - top[:, 1]
    p = np.clip(probs, 1e-12, 1.0)
    entropy = -(p * np.log2(p)).sum(1)
    return margin, entropy


def rank_texts(model: SentimentModel, texts: Sequence[str]) -> list[int]:
    """Indices of texts, most uncertain first."""
    if not texts:
        return []
    margin, _ = uncertainty(model.probabilities(list(texts)))
    return [int(i) for i in np.argsort(margin, kind="stable")]


def rank_library(model: SentimentModel, store, limit: int = 20, pool: int = 500) -> list[UncertainDocument]:
    """The `limit` most uncertain unlabelled documents among the library's latest `pool`."""
    labelled = {r.document_id for r in store.labels() if r.document_id is not None}
    labelled_texts = {r.text.strip() for r in store.labels()}
    rows = [r for r in store.list_documents(limit=pool) if r.id not in labelled]
    docs = []
    for r in rows:
        text = store.load_analysis(r.id).document.text
        if text.strip() and text.strip() not in labelled_texts:
            docs.append((r, text))
    if not docs:
        return []
    # one model window per document: the opening of a document is what a person labels it by
    probs = model.probabilities([t for _, t in docs])
    margin, entropy = uncertainty(probs)
    order = np.argsort(margin, kind="stable")[:limit]
    out = []
    for i in order:
        r, text = docs[i]
        k = int(np.argmax(probs[i]))
        snippet = " ".join(text.split())[:160]
        out.append(UncertainDocument(r.id, r.title or r.source, snippet, model.labels[k], float(probs[i, k]),
                                     float(margin[i]), float(entropy[i])))
    return out
