"""Sentiment of documents and of each of their sentences, from an ALBERT classifier in ONNX."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from app.core.encoder_text import EncoderTokenizer
from app.core.errors import ModelError
from app.core.registry import Manifest, read_manifest, verify
from app.core.runtime import RuntimeOptions, Session, length_batches, pad, softmax
from app.core.segment import split_sentences
from app.core.types import ModelInfo, SentenceSentiment, SentimentResult


class SentimentModel:
    """A sequence classifier: `probabilities(texts)` for short texts, `analyze(text)` for documents."""

    def __init__(self, manifest: Manifest, options: RuntimeOptions = RuntimeOptions(), graph: str | None = None,
                 check: bool = True):
        if manifest.task != "sentiment":
            raise ModelError(f"{manifest.id} is a {manifest.task} model, not a sentiment model")
        if check:
            verify(manifest)
        self.manifest = manifest
        self.graph = graph or manifest.default_graph
        self.labels = list(manifest.labels)
        if len(self.labels) < 2:
            raise ModelError(f"{manifest.id}: manifest must list at least two labels")
        self.session = Session(manifest.graph_file(self.graph), options)
        tok = manifest.tokenizer.get("file", "tokenizer.json")
        self.tokenizer = EncoderTokenizer(manifest.path(tok), manifest.max_length)
        self.temperature = float(manifest.raw.get("calibration", {}).get("temperature", 1.0))
        self.max_tokens = 8192

    @classmethod
    def from_folder(cls, folder: str | Path, options: RuntimeOptions = RuntimeOptions(), graph: str | None = None):
        return cls(read_manifest(Path(folder)), options, graph)

    @property
    def model_info(self) -> ModelInfo:
        return ModelInfo(self.manifest.id, self.manifest.version, "sentiment", self.session.provider)

    def _run(self, seqs: Sequence[Sequence[int]]) -> np.ndarray:
        """Calibrated class probabilities for already-encoded sequences, batched by length."""
        probs = np.zeros((len(seqs), len(self.labels)), dtype=np.float32)
        if not seqs:
            return probs
        for batch in length_batches([len(s) for s in seqs], self.max_tokens):
            ids, mask = pad([seqs[i] for i in batch], self.tokenizer.pad_id)
            logits = self.session({"input_ids": ids, "attention_mask": mask,
                                   "token_type_ids": np.zeros_like(ids)})[self.session.output_names[0]]
            probs[batch] = softmax(logits / self.temperature)
        return probs

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities for each text (each read as one window: use analyze() for long documents)."""
        return self._run(self.tokenizer.encode(texts))

    def _result(self, p: np.ndarray) -> tuple[str, float]:
        k = int(np.argmax(p))
        return self.labels[k], float(p[k])

    def classify(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        return [self._result(p) for p in self.probabilities(texts)]

    def analyze(self, text: str, sentences: Sequence | None = None, per_sentence: bool = True) -> SentimentResult:
        """Document label from all of its text (packed into model windows, averaged by length) + sentences."""
        return self.analyze_many([text], [sentences] if sentences is not None else None, per_sentence)[0]

    def analyze_many(self, texts: Sequence[str], sentences: Sequence[Sequence] | None = None,
                     per_sentence: bool = True) -> list[SentimentResult]:
        """`analyze` for several documents at once: their windows and sentences share length-sorted batches,
        which keeps the batches full when documents are short (a folder of tickets, CSV rows)."""
        docs = [list(s) for s in sentences] if sentences is not None else [split_sentences(t) for t in texts]
        plans, seqs = [], []
        for sents in docs:
            if not sents:
                raise ValueError("nothing to analyse: the text is empty")
            ids = self.tokenizer.pieces([s.text for s in sents])
            windows = self.tokenizer.windows(ids)
            sent_seqs = [self.tokenizer.wrap(i) for i in ids] if per_sentence else []
            plans.append((len(seqs), [n for _, n in windows], len(sent_seqs)))
            seqs += [w for w, _ in windows] + sent_seqs
        probs = self._run(seqs)
        out = []
        for sents, (at, window_tokens, n_sents) in zip(docs, plans):
            wprobs = probs[at: at + len(window_tokens)]
            sprobs = probs[at + len(window_tokens): at + len(window_tokens) + n_sents]
            weights = np.array(window_tokens, dtype=np.float32)
            doc = (wprobs * weights[:, None]).sum(0) / max(weights.sum(), 1.0)
            label, score = self._result(doc)
            out.append(SentimentResult(
                label=label, score=score,
                probabilities=tuple((lab, float(v)) for lab, v in zip(self.labels, doc)),
                sentences=tuple(SentenceSentiment(s.text, *self._result(p), start=s.start, end=s.end)
                                for s, p in zip(sents, sprobs)),
                chunks=len(window_tokens),
            ))
        return out
