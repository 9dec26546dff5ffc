"""The one place a task's model is loaded: which class serves a task, on which device, checked how.

    model = load_task_model(registry.default("sentiment"), RuntimeOptions(device="cuda"))

Loading a model checks every file's sha256 first (remembered by path, size and mtime, so an unchanged model
is hashed once per process), then opens the graphs the model uses through runtime.Session on the device
asked for, and checks those sessions' inputs against the manifest: no extra session is opened to check.
A new analysis task plugs in here with one line in TASK_MODELS (and its name in types.ANALYSIS_TASKS).
"""
from __future__ import annotations

from typing import Callable

from app.core.errors import ModelError
from app.core.memory import keep_long_lived
from app.core.registry import Manifest
from app.core.runtime import RuntimeOptions


def _sentiment(manifest: Manifest, runtime: RuntimeOptions, graph: str | None, target_lang: str | None, **_):
    from app.core.sentiment import SentimentModel

    return SentimentModel(manifest, runtime, graph)


def _summary(manifest: Manifest, runtime: RuntimeOptions, graph: str | None, target_lang: str | None,
             encoder=None, registry=None):
    from app.core.summary import load_summarizer

    return load_summarizer(manifest, runtime, graph, encoder=encoder, registry=registry)


def _translation(manifest: Manifest, runtime: RuntimeOptions, graph: str | None, target_lang: str | None, **_):
    from app.core.translate import Translator

    return Translator(manifest, runtime, graph, target_lang)


def _classification(manifest: Manifest, runtime: RuntimeOptions, graph: str | None, target_lang: str | None, **_):
    from app.core.classification import Classifier

    return Classifier(manifest, runtime, graph)


# task -> how to build its model (imported lazily: loading one task never imports the others' code)
TASK_MODELS: dict[str, Callable] = {"sentiment": _sentiment, "summary": _summary, "translation": _translation,
                                    "classification": _classification}


def load_task_model(manifest: Manifest, runtime: RuntimeOptions = RuntimeOptions(), *, graph: str | None = None,
                    target_lang: str | None = None, encoder=None, registry=None):
    """The manifest's model (SentimentModel, Summarizer or Translator), verified and on `runtime.device`.

    `graph` picks a graph (sentiment: "fp32"/"int8"; translation: a variant; summary: the encoder
    precision); None is the manifest's default. A summary model on a shared encoder reads `encoder` (a loaded
    SentimentModel; else the model its manifest names is found in `registry`, by default the installed ones). ModelError for a task with no model class (an encoder is a
    base for fine-tuning, not an analysis) or a model that fails its checks."""
    build = TASK_MODELS.get(manifest.task)
    if build is None:
        raise ModelError(f"{manifest.id} is a {manifest.task} model; only {', '.join(TASK_MODELS)} models "
                         "analyse documents")
    model = build(manifest, runtime, graph, target_lang, encoder=encoder, registry=registry)
    keep_long_lived()  # the model lives for the session: out of the full collections (core/memory.py)
    return model
