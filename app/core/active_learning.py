"""Active learning: which unlabelled documents should the user label next? The ones the model is least sure of.

Uncertainty is the margin between the two most probable classes (small margin = the model hesitates);
entropy is reported too. Documents already labelled in the library are left out.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

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


OPENING_CHARS = 400  # about 90 word pieces: the opening of a document is what a person labels it by


def _unique_key(text: str) -> str:
    return " ".join(text.split()).lower()


def rank_library(model: SentimentModel, store, limit: int = 20, pool: int = 1000,
                 progress: Callable[[float], None] | None = None, cancelled: Callable[[], bool] | None = None,
                 cache: dict | None = None) -> list[UncertainDocument]:
    """The `limit` most uncertain unlabelled documents among the library's latest `pool`, each once.

    Documents the model already labelled reuse their stored probabilities; the others are read by their
    opening (one short window each, in batches, `progress(fraction)` after each and Cancelled when
    `cancelled()`), and `cache` (a dict kept by the caller) remembers them for the next ranking. Documents
    with the same text, or whose text was labelled already, are left out."""
    labels_made = store.labels()
    labelled = {r.document_id for r in labels_made if r.document_id is not None}
    labelled_texts = {_unique_key(r.text) for r in labels_made}
    seen: set[str] = set()
    docs = []
    for doc_id, title, source, text, stored in store.ranking_pool(model.manifest.id, pool):
        key = _unique_key(text)
        if doc_id in labelled or not key or key in labelled_texts or key in seen:
            continue
        seen.add(key)
        docs.append((doc_id, title or source, text, stored))
    if not docs:
        return []
    probs = np.zeros((len(docs), len(model.labels)), dtype=np.float32)
    cache = {} if cache is None else cache
    version = (model.manifest.id, model.manifest.version)
    todo = []
    for i, (_id, _title, text, stored) in enumerate(docs):
        got = dict(stored) if stored else {}
        if set(got) == set(model.labels):
            probs[i] = [got[lab] for lab in model.labels]
        elif (version, key := _unique_key(text[:OPENING_CHARS])) in cache:
            probs[i] = cache[(version, key)]
        else:
            todo.append(i)
    step = 64
    for at in range(0, len(todo), step):
        if cancelled is not None and cancelled():
            from app.core.errors import Cancelled

            raise Cancelled()
        batch = todo[at: at + step]
        out = model.probabilities([docs[i][2][:OPENING_CHARS] for i in batch])
        for i, p in zip(batch, out):
            probs[i] = p
            cache[(version, _unique_key(docs[i][2][:OPENING_CHARS]))] = p
        if progress is not None:
            progress(min(1.0, (at + len(batch)) / len(todo)))
    margin, entropy = uncertainty(probs)
    order = np.argsort(margin, kind="stable")[:limit]
    out = []
    for i in order:
        doc_id, title, text, _stored = docs[i]
        k = int(np.argmax(probs[i]))
        snippet = " ".join(text.split())[:160]
        out.append(UncertainDocument(doc_id, title, snippet, model.labels[k], float(probs[i, k]),
                                     float(margin[i]), float(entropy[i])))
    return out
