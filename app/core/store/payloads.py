"""Stored results as the dataclasses that were saved: a `results.payload` (JSON) back to SentimentResult,
Summary, Translation or ClassificationResult (task "classification:NAME", one per classifier), and a
documents row with its results back to an Analysis."""
from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

from app.core.names import loaded
from app.core.types import (
    ANALYSIS_TASKS,
    CLASSIFICATION,
    Analysis,
    ClassificationResult,
    Document,
    DocumentLanguage,
    LanguageSpan,
    ModelInfo,
    SentenceLabel,
    SentenceSentiment,
    SentimentResult,
    Summary,
    SummarySentence,
    TranslatedSentence,
    Translation,
)

TASKS = ANALYSIS_TASKS


def _make(cls: type, data: dict) -> Any:
    """Build a dataclass from a JSON dict, ignoring keys it does not know (written by a newer version)."""
    return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def _sentiment(data: dict) -> SentimentResult:
    return SentimentResult(
        label=data["label"],
        score=data["score"],
        probabilities=tuple((str(k), float(v)) for k, v in data.get("probabilities", ())),
        sentences=tuple(_make(SentenceSentiment, s) for s in data.get("sentences", ())),
        chunks=data.get("chunks", 1),
        neutral_band=float(data.get("neutral_band", 0.0)),
        unsupported_lang=str(data.get("unsupported_lang") or ""),
        forced_lang=str(data.get("forced_lang") or ""),
    )


def _summary(data: dict) -> Summary:
    return Summary(sentences=tuple(_make(SummarySentence, s) for s in data.get("sentences", ())),
                   unsupported_lang=str(data.get("unsupported_lang") or ""),
                   forced_lang=str(data.get("forced_lang") or ""),
                   abstractive=bool(data.get("abstractive", False)))


def language_from(d: dict) -> DocumentLanguage | None:
    """A documents row's language (None for a document stored before languages were detected)."""
    if d.get("lang") is None:
        return None
    spans = tuple(LanguageSpan(int(a), int(b), str(c), float(p)) for a, b, c, p in json.loads(d.get("lang_spans") or "[]"))
    return DocumentLanguage(d["lang"], float(d.get("lang_confidence") or 0.0), bool(d.get("lang_reliable")), spans)


def language_columns(language: DocumentLanguage | None) -> dict:
    """The documents row's language columns for `language` (all NULL for None)."""
    if language is None:
        return {"lang": None, "lang_confidence": None, "lang_reliable": None, "lang_spans": None}
    return {"lang": language.code, "lang_confidence": language.confidence, "lang_reliable": int(language.reliable),
            "lang_spans": json.dumps([[s.start, s.end, s.code, s.confidence] for s in language.spans])}


def _translation(data: dict) -> Translation:
    return Translation(
        lang=data["lang"],
        text=data["text"],
        sentences=tuple(_make(TranslatedSentence, s) for s in data.get("sentences", ())),
        source_lang=data.get("source_lang", "en"),
    )


def _classification(data: dict) -> ClassificationResult:
    return ClassificationResult(
        name=str(data["name"]),
        label=str(data["label"]),
        score=float(data["score"]),
        scores=tuple((str(k), float(v)) for k, v in data.get("scores", ())),
        sentences=tuple(_make(SentenceLabel, s) for s in data.get("sentences", ())),
    )


REBUILD = {"sentiment": _sentiment, "summary": _summary, "translation": _translation, CLASSIFICATION: _classification}


def is_classification(task: str) -> bool:
    """A stored task that holds a classifier's result ("classification:topic")."""
    return task.startswith(CLASSIFICATION + ":")


def _rebuild(task: str):
    return REBUILD[CLASSIFICATION] if is_classification(task) else REBUILD[task]


def result_from_payload(task: str, payload: dict) -> SentimentResult | Summary | Translation | ClassificationResult:
    """A task's result dataclass from its JSON payload (`dataclasses.asdict` of it, as `results.payload` holds)."""
    return _rebuild(task)(payload)


def sentiment_as_classification(name: str, payload: dict) -> dict:
    """A SentimentResult payload of a classifier stored before classification was its own task, as a
    ClassificationResult payload (the store's migration moves such results)."""
    return {"name": name, "label": payload["label"], "score": payload["score"],
            "scores": [list(p) for p in payload.get("probabilities", ())], "sentences": [
                {k: s[k] for k in ("text", "label", "score", "start", "end") if k in s}
                for s in payload.get("sentences", ())]}


def analysis_from(d: dict, rows: list[dict]) -> Analysis:
    """A documents row and at most one results row per task as the Analysis that was saved."""
    document = Document(
        source=loaded(d["source"]), text=d["text"], title=d["title"] or "", format=d["format"] or "txt",
        encoding=d["encoding"] or "utf-8", content_hash=d["content_hash"], mtime=d["mtime"] or 0.0,
        metadata=tuple((str(k), str(v)) for k, v in json.loads(d["metadata"] or "[]")),
    )
    by_task = {r["task"]: r for r in rows if r["task"] in TASKS or is_classification(r["task"])}
    results = {task: REBUILD[task](json.loads(r["payload"])) for task, r in by_task.items() if task in TASKS}
    classes = tuple(_classification(json.loads(r["payload"])) for task, r in sorted(by_task.items())
                    if is_classification(task))
    order = lambda kv: (TASKS.index(kv[0]), "") if kv[0] in TASKS else (len(TASKS), kv[0])
    models = tuple(
        ModelInfo(id=r["model_id"], version=r["model_version"], task=task,
                  provider=r["provider"] or "CPUExecutionProvider")
        for task, r in sorted(by_task.items(), key=order)
    )
    seconds = max((r["seconds"] or 0.0 for r in by_task.values()), default=0.0)
    return Analysis(document=document, models=models, seconds=seconds, classifications=classes,
                    language=language_from(d), **results)
