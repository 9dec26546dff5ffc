"""Extractive summaries: ALBERT sentence embeddings, a trained sentence scorer, redundancy control."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from app.core.encoder_text import EncoderTokenizer
from app.core.errors import ModelError
from app.core.registry import Manifest, check_graph_inputs, read_manifest, verify_files
from app.core.runtime import RuntimeOptions, Session, length_batches, pad
from app.core.segment import split_sentences
from app.core.types import ModelInfo, Summary, SummarySentence

N_POSITION_BUCKETS = 8


def sentence_features(emb: np.ndarray, lengths: Sequence[int]) -> np.ndarray:
    """Scorer input for each sentence: its embedding, the document's, their product and cosine,
    where it sits in the document and how long it is. Shared by training and inference."""
    n = emb.shape[0]
    unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-6)
    doc = unit.mean(0, keepdims=True)
    doc_unit = doc / max(float(np.linalg.norm(doc)), 1e-6)
    cos = unit @ doc_unit.T
    pos = np.arange(n, dtype=np.float32)[:, None]
    rel = pos / max(n - 1, 1)
    buckets = np.zeros((n, N_POSITION_BUCKETS), dtype=np.float32)
    buckets[np.arange(n), np.minimum(np.arange(n), N_POSITION_BUCKETS - 1)] = 1.0
    lens = np.asarray(lengths, dtype=np.float32)[:, None]
    extra = np.concatenate([cos, rel, buckets, np.log1p(lens) / 4.0, np.full((n, 1), math.log1p(n) / 4.0)], axis=1)
    return np.concatenate([unit, np.repeat(doc_unit, n, 0), unit * doc_unit, extra], axis=1).astype(np.float32)


def select(scores: np.ndarray, unit_emb: np.ndarray, k: int, redundancy: float,
           words: Sequence[int] | None = None, length_bonus: float = 0.0) -> list[int]:
    """Greedy MMR: best score first, each next sentence penalised by its similarity to those chosen.

    `length_bonus` favours sentences with more words (log scale): at a fixed sentence count a longer
    sentence carries more of the document's content."""
    if length_bonus and words is not None:
        scores = scores + length_bonus * np.log1p(np.asarray(words, dtype=np.float32))
    chosen: list[int] = []
    cand = list(range(len(scores)))
    while cand and len(chosen) < k:
        if chosen:
            sim = (unit_emb[cand] @ unit_emb[chosen].T).max(1)
            adj = scores[cand] - redundancy * sim
        else:
            adj = scores[cand]
        best = cand[int(np.argmax(adj))]
        chosen.append(best)
        cand.remove(best)
    return sorted(chosen)


class SentenceEncoder:
    """Mean-pooled sentence embeddings from an ALBERT encoder graph."""

    def __init__(self, session: Session, tokenizer: EncoderTokenizer):
        self.session = session
        self.tokenizer = tokenizer

    def embed(self, texts: Sequence[str], step: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, list[int]]:
        """Embeddings of `texts`; `step(n, total)` after each model batch of n texts (it may raise to stop)."""
        seqs = self.tokenizer.encode(texts)
        out = None
        for batch in length_batches([len(s) for s in seqs], 8192, max_padding=self.session.options.max_padding):
            ids, mask = pad([seqs[i] for i in batch], self.tokenizer.pad_id)
            emb = self.session({"input_ids": ids, "attention_mask": mask})[self.session.output_names[0]]
            if out is None:
                out = np.zeros((len(seqs), emb.shape[1]), dtype=np.float32)
            out[batch] = emb
            if step is not None:
                step(len(batch), len(seqs))
        if out is None:
            out = np.zeros((0, 384), dtype=np.float32)
        return out, [len(s) for s in seqs]


class Summarizer:
    """`summarize(text, sentences=3)` or `summarize(text, ratio=0.2)`; sentences come back in document order."""

    def __init__(self, manifest: Manifest, options: RuntimeOptions = RuntimeOptions(), precision: str | None = None,
                 check: bool = True, encoder=None):
        """`encoder`: for a model on a shared encoder (manifest "shared_encoder"), the loaded SentimentModel it
        reads (`load_summarizer` finds it; the Analyzer passes the one it already has)."""
        if manifest.task != "summary":
            raise ModelError(f"{manifest.id} is a {manifest.task} model, not a summary model")
        if check:
            verify_files(manifest)  # before any graph is opened
        self.manifest = manifest
        self.redundancy = float(manifest.raw.get("redundancy", 0.0))
        self.length_bonus = float(manifest.raw.get("length_bonus", 0.0))
        self.scorer = Session(manifest.graph_file("scorer"), options)
        self.shared = shared_encoder_spec(manifest)
        self.encoder_model = None
        if self.shared is not None:
            if encoder is None:
                raise ModelError(f"{manifest.id} reads the encoder of {self.shared['model']}; load it with "
                                 "load_summarizer (which finds that model) or pass encoder=")
            check_shared_encoder(manifest, encoder.manifest)
            self.encoder_model = encoder
            self.encoder = None
            self.inputs = list(self.shared.get("inputs") or ["hidden_mid"])
            missing = [i for i in self.inputs if i not in encoder.encoder_outputs]
            if missing:
                raise ModelError(f"{encoder.manifest.id} has no encoder output {', '.join(missing)} that "
                                 f"{manifest.id} reads")
            self._encoder_graph = None
        else:
            precision = precision or manifest.raw.get("precision", "fp32")
            order = ["encoder_int8", "encoder"] if precision == "int8" else ["encoder", "encoder_int8"]
            enc = next((g for g in order if g in manifest.graphs), "encoder")
            tok = EncoderTokenizer(manifest.path(manifest.tokenizer.get("file", "tokenizer.json")),
                                   manifest.max_length)
            self.encoder = SentenceEncoder(Session(manifest.graph_file(enc), options), tok)
            self._encoder_graph = enc
        if check:
            check_graph_inputs(manifest, self.sessions)

    @property
    def sessions(self) -> dict[str, Session]:
        """The manifest's graphs this model opened, by graph name."""
        if self.encoder is None:
            return {"scorer": self.scorer}
        return {self._encoder_graph: self.encoder.session, "scorer": self.scorer}

    def shares_encoder_with(self, model) -> bool:
        """Whether this summariser reads the hidden states of `model` (a loaded SentimentModel): then one
        pass of it serves both (Analyzer.analyze_many)."""
        return self.encoder_model is not None and self.encoder_model is model

    @classmethod
    def from_folder(cls, folder: str | Path, options: RuntimeOptions = RuntimeOptions()):
        """The summariser in `folder`; one on a shared encoder finds that model beside it, else installed."""
        manifest = read_manifest(Path(folder))
        spec = shared_encoder_spec(manifest)
        if spec is None:
            return cls(manifest, options)
        from app.core.registry import Registry

        beside = manifest.folder.parent
        registry = Registry(roots=[beside]) if (beside / spec["model"]).is_dir() else None
        return load_summarizer(manifest, options, registry=registry)

    @property
    def model_info(self) -> ModelInfo:
        session = self.encoder.session if self.encoder is not None else self.encoder_model.session
        return ModelInfo(self.manifest.id, self.manifest.version, "summary", session.provider)

    def score(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Scorer probability and unit embedding of each sentence of one document."""
        return self.score_many([texts])[0]

    def score_many(self, docs: Sequence[Sequence[str]],
                   step: Callable[[int, int], None] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """`score` for several documents: one encoder pass over all their sentences, features per document."""
        if not docs:
            return []
        if self.encoder is None:
            return self.score_encoded(self.encoder_model.encode(docs, self.inputs, step))
        emb, lengths = self.encoder.embed([t for d in docs for t in d], step)
        spans, at = [], 0
        for d in docs:
            spans.append((emb[at:at + len(d)], lengths[at:at + len(d)]))
            at += len(d)
        return self._scored(spans)

    def score_encoded(self, encoded: Sequence) -> list[tuple[np.ndarray, np.ndarray]]:
        """`score_many` from documents already encoded by the shared encoder (with `inputs` pooled)."""
        return self._scored([(np.concatenate([e.pooled[k] for k in self.inputs], axis=1), e.sentence_tokens)
                             for e in encoded])

    def _scored(self, docs: Sequence[tuple[np.ndarray, Sequence[int]]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """(sentence embeddings, token counts) per document -> (scorer probabilities, unit embeddings)."""
        if not docs:
            return []
        feats = [sentence_features(e, lengths) for e, lengths in docs]
        logits = self.scorer({"features": np.concatenate(feats)})[self.scorer.output_names[0]].reshape(-1)
        probs = 1.0 / (1.0 + np.exp(-logits))
        out, at = [], 0
        for e, _ in docs:
            unit = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-6)
            out.append((probs[at: at + len(e)], unit))
            at += len(e)
        return out

    def summarize(self, text: str, sentences: int | None = 3, ratio: float | None = None,
                  sents: Sequence | None = None) -> Summary:
        """Pick `sentences` sentences (or `ratio` of them, at least one) that best summarise the text."""
        return self.summarize_many([text], sentences, ratio, [sents] if sents is not None else None)[0]

    def summarize_many(self, texts: Sequence[str], sentences: int | None = 3, ratio: float | None = None,
                       sents: Sequence[Sequence] | None = None,
                       step: Callable[[int, int], None] | None = None, encoded: Sequence | None = None) -> list[Summary]:
        """`summarize` for several documents at once (one encoder pass over all their sentences);
        `step(n, total)` is called after each encoder batch of n sentences. `encoded`: the documents' pass of
        the shared encoder, already run (one per non-empty document, in order)."""
        if ratio is not None and not 0 < ratio <= 1:
            raise ValueError("ratio must be between 0 and 1")
        if ratio is None and (sentences is None or sentences < 1):
            raise ValueError("sentences must be at least 1")
        docs = [list(s) for s in sents] if sents is not None else [split_sentences(t) for t in texts]
        scored = iter(self.score_encoded(encoded) if encoded is not None
                      else self.score_many([[s.text for s in items] for items in docs if items], step))
        out = []
        for items in docs:
            if not items:
                out.append(Summary(()))
                continue
            k = max(1, round(len(items) * ratio)) if ratio is not None else sentences
            probs, unit = next(scored)
            words = [len(s.text.split()) for s in items]
            chosen = select(probs, unit, min(k, len(items)), self.redundancy, words, self.length_bonus)
            out.append(Summary(tuple(
                SummarySentence(items[i].text, float(probs[i]), i, items[i].start, items[i].end) for i in chosen
            )))
        return out


def load_summarizer(manifest: Manifest, options: RuntimeOptions = RuntimeOptions(), graph: str | None = None,
                    encoder=None, registry=None) -> Summarizer:
    """The summariser of `manifest` (task_model.load_task_model's builder for "summary"). One on a shared
    encoder reads `encoder`, else the model its manifest names, found in `registry` (default: the installed
    models) and loaded here; `graph` is the encoder precision ("int8" or "fp32"), or that model's graph."""
    if manifest.raw.get("abstractive"):  # an encoder-decoder that writes its summary (BART, PEGASUS, T5)
        from app.core.abstractive import AbstractiveSummarizer

        return AbstractiveSummarizer(manifest, options, graph)
    spec = shared_encoder_spec(manifest)
    if spec is not None and encoder is None:  # heads on a shared encoder: load the model it reads
        from app.core.registry import Registry
        from app.core.sentiment import SentimentModel

        enc_manifest = (registry or Registry()).get(spec["model"])
        graph = graph if graph in enc_manifest.graphs else None
        encoder = SentimentModel(enc_manifest, options, graph)
    if spec is not None:
        return Summarizer(manifest, options, encoder=encoder)
    return Summarizer(manifest, options, graph)


def shared_encoder_spec(manifest: Manifest) -> dict | None:
    """A summary manifest's "shared_encoder" ({"model", "version", "inputs"}), None for a model with its own."""
    spec = manifest.raw.get("shared_encoder")
    if not spec:
        return None
    if not isinstance(spec, dict) or not isinstance(spec.get("model"), str):
        raise ModelError(f"{manifest.id}: shared_encoder must name a model")
    return spec


def check_shared_encoder(manifest: Manifest, encoder: Manifest) -> None:
    """The scorer was trained on one encoder's hidden states: any other model (or version) would feed it
    vectors it never saw."""
    spec = shared_encoder_spec(manifest) or {}
    if encoder.id != spec.get("model") or (spec.get("version") and encoder.version != spec["version"]):
        want = f"{spec.get('model')} {spec.get('version', '')}".strip()
        raise ModelError(f"{manifest.id} reads the encoder of {want}, not {encoder.id} {encoder.version}; "
                         f"install {want} or use a summary model with its own encoder")
