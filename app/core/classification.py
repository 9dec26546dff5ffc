"""A user's classifier ("topic", "urgency"): a fine-tuned model whose labels are not sentiment, run beside it.

    c = Classifier(registry.get("topic"))
    c.classify_many(texts, sentences)   # [ClassificationResult(name="topic", label="sport", score=0.93, ...)]

It reads documents the way the sentiment model does (packed into model windows, averaged by length; the
same SentimentModel over its graph), without a neutral band or a document head: those belong to sentiment.
A classifier trained on sentences (manifest `classification.unit` "sentence") labels each sentence too.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

from app.core.errors import ModelError
from app.core.registry import Manifest
from app.core.runtime import RuntimeOptions
from app.core.types import CLASSIFICATION, ClassificationResult, ModelInfo, SentenceLabel, classification_task


class Classifier:
    """One installed classifier, loaded and checked (files' sha256, graph inputs) like any task model."""

    def __init__(self, manifest: Manifest, options: RuntimeOptions = RuntimeOptions(), graph: str | None = None):
        if manifest.task != CLASSIFICATION:
            raise ModelError(f"{manifest.id} is a {manifest.task} model, not a classifier")
        if not manifest.classification_name:
            raise ModelError(f"{manifest.id}: a classifier's manifest needs classification.name")
        from app.core.sentiment import SentimentModel

        self.manifest = manifest
        self.name = manifest.classification_name
        self.per_sentence = manifest.classification_unit == "sentence"
        # the same sequence classifier as sentiment reads; with other labels it has no band and no head
        self.model = SentimentModel(replace(manifest, task="sentiment"), options, graph)
        self.labels = list(self.model.labels)

    @property
    def sessions(self):
        return self.model.sessions

    @property
    def model_info(self) -> ModelInfo:
        return ModelInfo(self.manifest.id, self.manifest.version, classification_task(self.name),
                         self.model.session.provider)

    def probabilities(self, texts: Sequence[str]):
        return self.model.probabilities(texts)

    def classify_many(self, texts: Sequence[str], sentences: Sequence[Sequence] | None = None,
                      step: Callable[[int, int], None] | None = None) -> list[ClassificationResult]:
        """Each document's label (and, for a classifier trained on sentences, each sentence's)."""
        results = self.model.analyze_many(texts, sentences, per_sentence=self.per_sentence, step=step,
                                          document_head=False, neutral_band=0.0)
        return [ClassificationResult(
            name=self.name, label=r.label, score=r.score, scores=r.probabilities,
            sentences=tuple(SentenceLabel(s.text, s.label, s.score, s.start, s.end) for s in r.sentences)
            if self.per_sentence else ()) for r in results]
