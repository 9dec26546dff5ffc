"""One encoder pass per document: the heads on a shared encoder read the same windows.

A document is packed into model windows at sentence boundaries (as the sentiment model always did); one run of
the encoder graph over those windows gives the window logits (document sentiment) and the hidden states, from
which each sentence's token span is mean-pooled: the per-sentence sentiment head and the summary scorer read
those vectors, so no sentence is encoded a second time on its own.

The manifest of a sentiment model that can serve as a shared encoder says which graph outputs hold hidden
states and which small head graphs read them:

    "encoder_outputs": {"hidden": "hidden_last", "hidden_mid": "hidden_mid"},
    "heads": {"sentence": {"file": "sentence_head.onnx", "inputs": ["hidden", "hidden_mid"],
                           "temperature": 1.0}}

and a summary model built on it names the encoder instead of carrying its own:

    "shared_encoder": {"model": "albert-sentiment-en", "version": "2.1.0", "inputs": ["hidden_mid"]}
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from app.core.encoder_text import EncoderTokenizer, Span
from app.core.runtime import Session, length_batches, pad


@dataclass
class EncodedDocument:
    """What one pass over a document's windows gives."""

    window_logits: np.ndarray  # [windows, labels], raw (not calibrated)
    window_tokens: list[int]  # content tokens per window (the document average's weights)
    piece_ids: list[int]  # all of the document's word pieces (the document head's bag)
    pooled: dict[str, np.ndarray]  # encoder output name -> [sentences, hidden]: each sentence's span mean
    alone: np.ndarray  # [sentences] bool: the sentence fills its window by itself (window logits = its own)
    sentence_tokens: list[int]  # word pieces per sentence
    sentence_window: np.ndarray  # [sentences] the window (of this document) where each sentence starts; -1: empty

    @property
    def n_sentences(self) -> int:
        return len(self.sentence_tokens)


def encode_documents(session: Session, tokenizer: EncoderTokenizer, docs: Sequence[Sequence[str]],
                     hidden: Sequence[str] = (), logits: str | None = "logits", max_tokens: int = 8192,
                     step: Callable[[int, int], None] | None = None) -> list[EncodedDocument]:
    """Encode each document (a list of sentence texts) once; `hidden` names the encoder outputs to pool
    over each sentence's span. `step(n, total)` after each batch of n windows (it may raise to stop)."""
    plans, seqs = [], []
    for sents in docs:
        ids = tokenizer.pieces(list(sents)) if sents else []
        windows, spans = tokenizer.packed(ids or [[]])
        if not ids:
            spans = []
        plans.append((len(seqs), [n for _, n in windows], spans, ids))
        seqs += [w for w, _ in windows]
    names = ([logits] if logits else []) + list(hidden)
    out_logits: np.ndarray | None = None
    # sentence spans, by window, so each batch's hidden states are pooled and dropped at once
    by_window: dict[int, list[tuple[int, Span]]] = {}
    n_sent = 0
    for at, _tokens, spans, _ids in plans:
        for spans_of in spans:
            for sp in spans_of:
                by_window.setdefault(at + sp.window, []).append((n_sent, sp))
            n_sent += 1
    sums = {h: None for h in hidden}
    counts = np.zeros(n_sent, dtype=np.float32)
    for batch in length_batches([len(s) for s in seqs], max_tokens, max_padding=session.options.max_padding):
        ids, mask = pad([seqs[i] for i in batch], tokenizer.pad_id)
        res = session({"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}, names)
        if logits:
            lg = res[logits]
            if out_logits is None:
                out_logits = np.zeros((len(seqs), lg.shape[1]), dtype=np.float32)
            out_logits[batch] = lg
        for row, w in enumerate(batch):
            for k, sp in by_window.get(w, ()):
                counts[k] += sp.end - sp.start
                for h in hidden:
                    v = res[h][row, sp.start:sp.end].sum(0)
                    if sums[h] is None:
                        sums[h] = np.zeros((n_sent, v.shape[0]), dtype=np.float32)
                    sums[h][k] += v
        if step is not None:
            step(len(batch), len(seqs))
    if out_logits is None:
        out_logits = np.zeros((len(seqs), 0), dtype=np.float32)
    pooled_all = {h: (sums[h] if sums[h] is not None else np.zeros((n_sent, 0), np.float32))
                  / np.maximum(counts, 1.0)[:, None] for h in hidden}
    out, k = [], 0
    for at, tokens, spans, ids in plans:
        n = len(spans)
        alone = np.array([len(s) == 1 and s[0].start == 1 and s[0].end - 1 == tokens[s[0].window] for s in spans],
                         dtype=bool)
        out.append(EncodedDocument(
            window_logits=out_logits[at: at + len(tokens)], window_tokens=tokens,
            piece_ids=[t for i in ids for t in i],
            pooled={h: v[k: k + n] for h, v in pooled_all.items()}, alone=alone,
            sentence_tokens=[len(i) for i in ids],
            sentence_window=np.array([s[0].window if s else -1 for s in spans], dtype=np.int64)))
        k += n
    return out
