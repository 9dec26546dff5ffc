"""Sentiment of documents and of each of their sentences, from an ALBERT classifier in ONNX."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from app.core.document_head import DocumentHead, HeadSpec
from app.core.encoder_text import EncoderTokenizer
from app.core.errors import ModelError
from app.core.registry import Manifest, check_graph_inputs, read_manifest, verify_files
from app.core.runtime import RuntimeOptions, Session, length_batches, pad, softmax
from app.core.segment import split_sentences
from app.core.types import ModelInfo, SentenceSentiment, SentimentResult


NEUTRAL = "neutral"
# |p(positive) - 0.5| below this is shown as neutral, for a positive/negative model whose manifest has no
# "neutral_band" of its own. Chosen on validation data by bench/neutral_band.py (rerun it for a new model,
# --write stores the band in its manifest): for albert-sentiment-en 1.2.1 int8 at 0.25, 61% of Multi30k
# captions and 46% of BBC news sentences read neutral, 26% of SST-2 sentences do, and SST-2 accuracy on
# the rest rises from 84.8% to 91.4%.
DEFAULT_NEUTRAL_BAND = 0.25


def is_polar(labels: Sequence[str]) -> bool:
    """A sentiment model in the usual sense: negative and positive, and at most a learned neutral besides."""
    return sorted(labels) in (["negative", "positive"], ["negative", "neutral", "positive"])


def model_neutral_band(manifest: Manifest) -> float:
    """A sentiment model's own neutral band: its manifest's "neutral_band", else the default for a
    positive/negative model (0 for one that learned neutral itself), else 0 (other labels have no neutral)."""
    if not is_polar(manifest.labels):
        return 0.0
    default = DEFAULT_NEUTRAL_BAND if NEUTRAL not in manifest.labels else 0.0
    try:
        band = float(manifest.raw.get("neutral_band", default))
    except (TypeError, ValueError):
        return DEFAULT_NEUTRAL_BAND
    return max(0.0, min(0.5, band)) if band == band else DEFAULT_NEUTRAL_BAND


class SentimentModel:
    """A sequence classifier: `probabilities(texts)` for short texts, `analyze(text)` for documents."""

    def __init__(self, manifest: Manifest, options: RuntimeOptions = RuntimeOptions(), graph: str | None = None,
                 check: bool = True):
        if manifest.task != "sentiment":
            raise ModelError(f"{manifest.id} is a {manifest.task} model, not a sentiment model")
        if check:
            verify_files(manifest)  # before any graph is opened
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
        self.neutral_band = model_neutral_band(manifest)
        self.document_head = None
        spec = HeadSpec.from_manifest(manifest.raw)
        if spec is not None:
            if not is_polar(self.labels):
                raise ModelError(f"{manifest.id}: a document head needs the labels negative and positive")
            self.document_head = DocumentHead(spec, manifest.path(spec.file), options)
        # heads on this encoder (see app.core.shared_encoder): the graph's hidden-state outputs, and the span
        # head that scores a sentence from the window it sits in instead of encoding it a second time
        self.encoder_outputs = dict(manifest.raw.get("encoder_outputs") or {})
        missing = [o for o in self.encoder_outputs.values() if o not in self.session.output_names]
        if missing:
            raise ModelError(f"{manifest.id}: the graph has no output {', '.join(missing)} (manifest encoder_outputs)")
        self.sentence_head = None
        head = (manifest.raw.get("heads") or {}).get("sentence")
        if head:
            self.sentence_head = Session(manifest.path(head["file"]), options)
            self.sentence_head_inputs = list(self.sentence_head.input_names)
            unknown = [i for i in self.sentence_head_inputs if i not in self.encoder_outputs]
            if unknown:
                raise ModelError(f"{manifest.id}: the sentence head reads {', '.join(unknown)}, which the "
                                 "encoder does not output (manifest encoder_outputs)")
            self.sentence_temperature = float(head.get("temperature", 1.0))
        if check:
            check_graph_inputs(manifest, self.sessions)

    @property
    def sessions(self) -> dict[str, Session]:
        """The manifest's graphs this model opened, by graph name."""
        return {self.graph: self.session}

    @property
    def one_pass(self) -> bool:
        """Per-sentence scores come from the document's own windows (a span head), not a second encoding."""
        return self.sentence_head is not None

    def encode(self, docs: Sequence[Sequence[str]], hidden: Sequence[str] = (),
               step: Callable[[int, int], None] | None = None) -> list:
        """One pass over each document's windows (app.core.shared_encoder.encode_documents); `hidden` are
        names in the manifest's encoder_outputs ("hidden_last", "hidden_mid"), pooled per sentence."""
        from app.core.shared_encoder import encode_documents

        unknown = [h for h in hidden if h not in self.encoder_outputs]
        if unknown:
            raise ModelError(f"{self.manifest.id} has no encoder output {', '.join(unknown)}")
        enc = encode_documents(self.session, self.tokenizer, docs, [self.encoder_outputs[h] for h in hidden],
                               logits=self.session.output_names[0], max_tokens=self.max_tokens, step=step)
        for e in enc:  # graph output names -> the manifest's names
            e.pooled = {h: e.pooled[self.encoder_outputs[h]] for h in hidden}
        return enc

    def head_inputs(self, per_sentence: bool = True) -> list[str]:
        """The encoder outputs `analyze_encoded` needs."""
        return list(self.sentence_head_inputs) if per_sentence and self.sentence_head is not None else []

    def sentence_probabilities(self, enc) -> np.ndarray:
        """Calibrated class probabilities of each sentence of one encoded document: a sentence alone in its
        window keeps the window's own (it is exactly its standalone score), the others the span head's."""
        n = enc.n_sentences
        if n == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        logits = self.sentence_head({k: enc.pooled[k] for k in self.sentence_head_inputs})[
            self.sentence_head.output_names[0]] / self.sentence_temperature
        probs = softmax(logits)
        for i in np.flatnonzero(enc.alone):
            probs[i] = softmax(enc.window_logits[enc.sentence_window[i]][None, :] / self.temperature)[0]
        return probs.astype(np.float32)

    @classmethod
    def from_folder(cls, folder: str | Path, options: RuntimeOptions = RuntimeOptions(), graph: str | None = None):
        return cls(read_manifest(Path(folder)), options, graph)

    @property
    def model_info(self) -> ModelInfo:
        return ModelInfo(self.manifest.id, self.manifest.version, "sentiment", self.session.provider)

    def _run(self, seqs: Sequence[Sequence[int]], step: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Calibrated class probabilities for already-encoded sequences, batched by length.

        `step(n, total)` is called after each model batch with the number of sequences it held and the
        number of all; it may raise (Cancelled) to stop between batches, so a long document can be
        cancelled within one batch's time."""
        probs = np.zeros((len(seqs), len(self.labels)), dtype=np.float32)
        if not seqs:
            return probs
        for batch in length_batches([len(s) for s in seqs], self.max_tokens,
                                    max_padding=self.session.options.max_padding):
            ids, mask = pad([seqs[i] for i in batch], self.tokenizer.pad_id)
            logits = self.session({"input_ids": ids, "attention_mask": mask,
                                   "token_type_ids": np.zeros_like(ids)})[self.session.output_names[0]]
            probs[batch] = softmax(logits / self.temperature)
            if step is not None:
                step(len(batch), len(seqs))
        return probs

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities for each text (each read as one window: use analyze() for long documents)."""
        return self._run(self.tokenizer.encode(texts))

    def polarity(self, p: np.ndarray) -> np.ndarray:
        """p(positive) against negative only: the whole p(positive) for a two-label model; for one that learned
        neutral, p(positive) / (p(positive) + p(negative)). Works on one row or a matrix of rows."""
        pos, neg = self.labels.index("positive"), self.labels.index("negative")
        p = np.asarray(p, dtype=np.float64)
        return p[..., pos] / np.maximum(p[..., pos] + p[..., neg], 1e-12)

    def _result(self, p: np.ndarray, band: float = 0.0) -> tuple[str, float]:
        k = int(np.argmax(p))
        if self.labels[k] == NEUTRAL:  # learned: factual text is neutral because the model says so
            return NEUTRAL, float(p[k])
        if band > 0 and abs(float(self.polarity(p)) - 0.5) < band:
            # the band is on top: a weak opinion reads neutral, scored by the neutral share it has (if any)
            return NEUTRAL, float(p[self.labels.index(NEUTRAL)]) if NEUTRAL in self.labels else float(p[k])
        return self.labels[k], float(p[k])

    def band(self, neutral_band: float | None) -> float:
        """The band to apply: the caller's (settings, --neutral-band), else the model's; 0 for other labels."""
        if not is_polar(self.labels):
            return 0.0
        return self.neutral_band if neutral_band is None else max(0.0, min(0.5, float(neutral_band)))

    def classify(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        return [self._result(p) for p in self.probabilities(texts)]

    def window_scores(self, texts: Sequence[str]) -> list[tuple[np.ndarray, list[int], list[int]]]:
        """For each document: its windows' positive-vs-negative log-odds, their token counts and all of its
        word-piece ids: what a document head reads (app.training.document_head fits one on them)."""
        plans, seqs = [], []
        for text in texts:
            ids = self.tokenizer.pieces([s.text for s in split_sentences(text)]) or [[]]
            windows = self.tokenizer.windows(ids)
            plans.append((len(seqs), [n for _, n in windows], [t for i in ids for t in i]))
            seqs += [w for w, _ in windows]
        z = self.log_odds(self._run(seqs))
        return [(z[at: at + len(tokens)], tokens, piece_ids) for at, tokens, piece_ids in plans]

    def log_odds(self, probs: np.ndarray) -> np.ndarray:
        """Positive-against-negative log-odds of rows of class probabilities (what a document head reads)."""
        p = np.clip(self.polarity(probs), 1e-7, 1 - 1e-7)
        return np.log(p / (1 - p))

    def analyze(self, text: str, sentences: Sequence | None = None, per_sentence: bool = True,
                neutral_band: float | None = None) -> SentimentResult:
        """Document label from all of its text (packed into model windows, averaged by length) + sentences."""
        return self.analyze_many([text], [sentences] if sentences is not None else None, per_sentence,
                                 neutral_band=neutral_band)[0]

    def analyze_many(self, texts: Sequence[str], sentences: Sequence[Sequence] | None = None,
                     per_sentence: bool = True, step: Callable[[int, int], None] | None = None,
                     document_head: bool = True, neutral_band: float | None = None) -> list[SentimentResult]:
        """`analyze` for several documents at once: their windows (and sentences) share length-sorted batches,
        which keeps the batches full when documents are short (a folder of tickets, CSV rows).

        With a sentence head (`one_pass`) each document is encoded once: sentences are scored from the windows
        they sit in. Without one, each sentence is also encoded alone. With a document head in the model (and
        `document_head`), documents of at least its `min_tokens` word pieces get the head's decision; shorter
        ones the length-weighted window average. `neutral_band` overrides the model's own (see
        DEFAULT_NEUTRAL_BAND); 0 turns neutral off."""
        docs = [list(s) for s in sentences] if sentences is not None else [split_sentences(t) for t in texts]
        if any(not sents for sents in docs):
            raise ValueError("nothing to analyse: the text is empty")
        if self.one_pass or not per_sentence:
            enc = self.encode([[s.text for s in d] for d in docs], self.head_inputs(per_sentence), step)
            return self.analyze_encoded(docs, enc, per_sentence, document_head, neutral_band)
        band = self.band(neutral_band)
        plans, seqs = [], []
        for sents in docs:
            ids = self.tokenizer.pieces([s.text for s in sents])
            windows = self.tokenizer.windows(ids)
            plans.append((len(seqs), [n for _, n in windows], len(ids), [t for i in ids for t in i]))
            seqs += [w for w, _ in windows] + [self.tokenizer.wrap(i) for i in ids]
        probs = self._run(seqs, step)
        head = self.document_head if document_head else None
        out = []
        for sents, (at, window_tokens, n_sents, doc_ids) in zip(docs, plans):
            wprobs = probs[at: at + len(window_tokens)]
            sprobs = probs[at + len(window_tokens): at + len(window_tokens) + n_sents]
            out.append(self._document_result(sents, wprobs, window_tokens, doc_ids, sprobs, band, head))
        return out

    def analyze_encoded(self, docs: Sequence[Sequence], encoded: Sequence, per_sentence: bool = True,
                        document_head: bool = True, neutral_band: float | None = None) -> list[SentimentResult]:
        """Results from documents already encoded by `encode` (with `head_inputs()` among its hidden outputs):
        the one-pass path, shared with other heads on this encoder (the summary)."""
        band = self.band(neutral_band)
        head = self.document_head if document_head else None
        out = []
        for sents, enc in zip(docs, encoded):
            wprobs = softmax(enc.window_logits / self.temperature)
            sprobs = self.sentence_probabilities(enc) if per_sentence else np.zeros((0, len(self.labels)))
            out.append(self._document_result(sents, wprobs, enc.window_tokens, enc.piece_ids, sprobs, band, head))
        return out

    def _document_result(self, sents, wprobs: np.ndarray, window_tokens: Sequence[int], doc_ids: Sequence[int],
                         sprobs: np.ndarray, band: float, head) -> SentimentResult:
        pos = self.labels.index("positive") if "positive" in self.labels else None
        weights = np.array(window_tokens, dtype=np.float32)
        doc = (wprobs * weights[:, None]).sum(0) / max(weights.sum(), 1.0)
        if head is not None and head.applies(len(doc_ids)):
            p_pos = head.p_positive(self.log_odds(wprobs), list(window_tokens), list(doc_ids))
            # the head decides positive against negative; a learned neutral share stays the windows' average
            polar = 1.0 - (float(doc[self.labels.index(NEUTRAL)]) if NEUTRAL in self.labels else 0.0)
            neg = self.labels.index("negative")
            doc = doc.copy()
            doc[pos], doc[neg] = polar * p_pos, polar * (1.0 - p_pos)
        label, score = self._result(doc, band)
        return SentimentResult(
            label=label, score=score,
            probabilities=tuple((lab, float(v)) for lab, v in zip(self.labels, doc)),
            sentences=tuple(SentenceSentiment(s.text, *self._result(p, band), start=s.start, end=s.end,
                                              p_positive=float(p[pos]) if pos is not None else None)
                            for s, p in zip(sents, sprobs)),
            chunks=len(window_tokens),
            neutral_band=band,
        )
