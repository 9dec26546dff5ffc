"""One object that runs the requested analyses on a document with the installed default models."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

from app.core.errors import Cancelled, ModelError
from app.core.registry import Manifest, Registry
from app.core.runtime import RuntimeOptions, cancellable
from app.core.segment import split_sentences
from app.core.task_model import load_task_model
from app.core.types import ANALYSIS_TASKS, Analysis, Document, ModelInfo

TASK_NAMES = ANALYSIS_TASKS
ALIASES = {"translate": "translation", "summarize": "summary", "summarise": "summary"}


def parse_tasks(spec: str | Sequence[str]) -> tuple[str, ...]:
    """'sentiment,summary,translate' -> ('sentiment', 'summary', 'translation'), rejecting unknown names."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out = []
    for raw in items:
        t = ALIASES.get(raw.strip().lower(), raw.strip().lower())
        if not t:
            continue
        if t not in TASK_NAMES:
            raise ValueError(f"unknown task '{raw}'; choose from sentiment, summary, translate")
        if t not in out:
            out.append(t)
    if not out:
        raise ValueError("no task given; choose from sentiment, summary, translate")
    return tuple(out)


@dataclass(frozen=True)
class AnalysisOptions:
    tasks: tuple[str, ...] = ("sentiment", "summary")
    sentences: int | None = 3
    ratio: float | None = None
    target_lang: str = "fr"
    beam: int = 4
    neutral_band: float | None = None  # None: the sentiment model's own band; 0: no neutral
    glossary: str | None = None  # glossary file for translation (terms kept or forced)
    any_language: bool = False  # translate even text that does not look like the model's source language

    def params_key(self, task: str) -> str:
        """What a stored result must have been computed with to be reused (Analyzer.task_models fills
        the sentiment model's own band in first)."""
        if task == "summary":
            return f"ratio={self.ratio}" if self.ratio is not None else f"sentences={self.sentences}"
        if task == "translation":
            key = f"lang={self.target_lang};beam={self.beam}"
            if self.glossary:
                from app.core.protect import glossary_digest

                key += f";glossary={glossary_digest(self.glossary)}"
            return key + (";any_language" if self.any_language else "")
        if task == "sentiment" and self.neutral_band:
            return f"neutral={self.neutral_band:g}"
        return ""


def params_keys(task_models: dict[str, tuple[str, str, str]]) -> dict[str, str]:
    """task -> the params key its results are stored under, from `Analyzer.task_models`."""
    return {task: key for task, (_model_id, _version, key) in task_models.items()}


@dataclass
class Analyzer:
    """Loads each task's model on first use (thread-safe) and analyses documents with them."""

    registry: Registry = field(default_factory=Registry)
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)
    model_ids: dict[str, str] = field(default_factory=dict)  # task (or 'translation:fr') -> model id override

    def __post_init__(self):
        self._loaded: dict[str, object] = {}
        self._lock = threading.Lock()
        self._glossaries: dict[str, tuple[int, object]] = {}  # path -> (mtime_ns, Glossary)

    def manifest_for(self, task: str, target_lang: str | None = None) -> Manifest:
        key = f"translation:{target_lang}" if task == "translation" else task
        mid = self.model_ids.get(key) or self.model_ids.get(task)
        if mid:
            m = self.registry.get(mid)
            if m.task != task:
                raise ModelError(f"{mid} is a {m.task} model, not a {task} model")
            return m
        return self.registry.default(task, target_lang if task == "translation" else None)

    def model(self, task: str, target_lang: str | None = None):
        """The loaded task model (SentimentModel, Summarizer or Translator)."""
        man = self.manifest_for(task, target_lang)
        encoder = None
        spec = man.raw.get("shared_encoder") if task == "summary" else None
        if isinstance(spec, dict) and isinstance(spec.get("model"), str):
            # heads on a shared encoder: the summariser reads the same loaded sentiment model, so one pass of it
            # serves both when that model is also the sentiment default
            encoder = self._load(self.registry.get(spec["model"]))
        return self._load(man, encoder)

    def _load(self, man: Manifest, encoder=None):
        key = f"{man.id}@{man.version}"
        with self._lock:
            if key not in self._loaded:
                self._loaded[key] = load_task_model(man, self.runtime, encoder=encoder, registry=self.registry)
            return self._loaded[key]

    def resolve(self, opts: AnalysisOptions) -> AnalysisOptions:
        """`opts` with the sentiment model's own neutral band filled in where the caller left it to the model."""
        if "sentiment" in opts.tasks and opts.neutral_band is None:
            from app.core.sentiment import model_neutral_band

            return replace(opts, neutral_band=model_neutral_band(self.manifest_for("sentiment")))
        return opts

    def task_models(self, opts: AnalysisOptions) -> dict[str, tuple[str, str, str]]:
        """task -> (model id, version, params key): what a stored result must match to be reused."""
        opts = self.resolve(opts)
        out = {}
        for t in opts.tasks:
            m = self.manifest_for(t, opts.target_lang)
            out[t] = (m.id, m.version, opts.params_key(t))
        return out

    def params_keys(self, opts: AnalysisOptions) -> dict[str, str]:
        """task -> the params key its results are stored under."""
        return params_keys(self.task_models(opts))

    def providers(self, tasks: Sequence[str] = (), target_lang: str | None = None) -> dict[str, str]:
        """task -> the ONNX Runtime provider its model really runs on (CUDAExecutionProvider only where the GPU
        was granted). The models of `tasks` are loaded first; with no tasks, those loaded so far are told."""
        for task in tasks:
            self.model(task, target_lang)
        with self._lock:
            loaded = list(self._loaded.values())
        out = {m.model_info.task: m.model_info.provider for m in loaded}
        return {t: out[t] for t in tasks} if tasks else out

    def unload(self) -> None:
        with self._lock:
            self._loaded.clear()

    def analyze(self, document: Document, opts: AnalysisOptions = AnalysisOptions(),
                cancelled: Callable[[], bool] | None = None,
                progress: Callable[[float], None] | None = None) -> Analysis:
        """Run the requested tasks; `cancelled` is checked between model batches and raises Cancelled."""
        return self.analyze_many([document], opts, cancelled, progress)[0]

    def analyze_many(self, documents: Sequence[Document], opts: AnalysisOptions = AnalysisOptions(),
                     cancelled: Callable[[], bool] | None = None,
                     progress: Callable[[float], None] | None = None) -> list[Analysis]:
        """`analyze` for several documents at once, in order: sentiment and summary run each model once over
        all of their text (fuller batches; a folder of short files goes about twice as fast, see
        bench/bench_batch.py), translation runs document by document. A document without text gets an
        Analysis with `error` set. `cancelled` is checked after every model batch (so a long document stops
        within one batch's time) and raises Cancelled; `progress(fraction)` follows the same batches, each
        task taking an equal share. `seconds` is the time of the whole call shared out by each document's length."""
        t0 = time.perf_counter()
        opts = self.resolve(opts)

        def check():
            if cancelled is not None and cancelled():
                raise Cancelled()

        sents = [split_sentences(d.text) for d in documents]
        todo = [k for k, s in enumerate(sents) if s]
        texts = [documents[k].text for k in todo]
        sentiment: dict[int, object] = {}
        summary: dict[int, object] = {}
        translation: dict[int, object] = {}
        infos: list[ModelInfo] = []
        phases = [t for t in TASK_NAMES if t in opts.tasks]
        state = {"phase": 0, "done": 0}

        def step(n: int, total: int) -> None:
            check()
            state["done"] += n
            if progress is not None:
                progress(min(1.0, (state["phase"] + state["done"] / max(total, 1)) / max(len(phases), 1)))

        def next_phase() -> None:
            check()
            state["phase"] += 1
            state["done"] = 0

        with cancellable(cancelled):  # a cancel also stops the model batch in progress (RunOptions.terminate)
            one_pass = None
            if todo and "sentiment" in opts.tasks and "summary" in opts.tasks:
                check()
                sm, su = self.model("sentiment"), self.model("summary")
                if sm.one_pass and su.shares_encoder_with(sm):
                    one_pass = (sm, su)
            if one_pass is not None:  # heads on a shared encoder: each document is encoded once for both
                sm, su = one_pass
                docs = [sents[k] for k in todo]
                phases[:] = ["sentiment+summary"] + [t for t in phases if t == "translation"]
                encoded = sm.encode([[s.text for s in d] for d in docs],
                                    list(dict.fromkeys(sm.head_inputs() + su.inputs)), step)
                check()
                sentiment = dict(zip(todo, sm.analyze_encoded(docs, encoded, neutral_band=opts.neutral_band)))
                summary = dict(zip(todo, su.summarize_many(texts, sentences=opts.sentences, ratio=opts.ratio,
                                                           sents=docs, encoded=encoded)))
                infos += [sm.model_info, su.model_info]
                next_phase()
            if todo and "sentiment" in opts.tasks and one_pass is None:
                check()
                m = self.model("sentiment")
                sentiment = dict(zip(todo, m.analyze_many(texts, [sents[k] for k in todo], step=step,
                                                          neutral_band=opts.neutral_band)))
                infos.append(m.model_info)
                next_phase()
            if todo and "summary" in opts.tasks and one_pass is None:
                check()
                m = self.model("summary")
                summary = dict(zip(todo, m.summarize_many(texts, sentences=opts.sentences, ratio=opts.ratio,
                                                           sents=[sents[k] for k in todo], step=step)))
                infos.append(m.model_info)
                next_phase()
            if todo and "translation" in opts.tasks:
                m = self.model("translation", opts.target_lang)
                glossary = self.glossary(opts.glossary)
                for k in todo:
                    check()
                    translation[k] = self._translate(m, documents[k].text, opts, glossary, cancelled)
                    step(1, len(todo))
                infos.append(m.model_info)
        elapsed = time.perf_counter() - t0
        chars = sum(len(documents[k].text) for k in todo) or 1
        return [
            Analysis(d, sentiment.get(k), summary.get(k), translation.get(k), tuple(infos),
                     elapsed * len(d.text) / chars) if sents[k] else Analysis(d, error="no text to analyse")
            for k, d in enumerate(documents)
        ]

    def glossary(self, path: str | None):
        """The Glossary in `path` (read again when the file changes), None without a path."""
        if not path:
            return None
        from pathlib import Path

        from app.core.protect import Glossary

        try:
            stamp = Path(path).stat().st_mtime_ns
        except OSError:
            stamp = 0
        with self._lock:
            cached = self._glossaries.get(path)
        if cached and cached[0] == stamp:
            return cached[1]
        g = Glossary.from_file(path)
        with self._lock:
            self._glossaries[path] = (stamp, g)
        return g

    @staticmethod
    def _translate(m, text: str, opts: AnalysisOptions, glossary, cancelled):
        """One document's translation, or an empty one with a note when the text is reliably in another
        language than the model reads (an English-only model is not run on French)."""
        from app.core.language import detect_language
        from app.core.types import Translation

        guess = detect_language(text)
        if guess.reliable and guess.lang != m.source_lang and not opts.any_language:
            from app.core.language import language_name

            note = (f"Not translated: the text looks {guess.name} ({guess.probability:.0%}), and "
                    f"{m.manifest.id} translates from {language_name(m.source_lang)} only.")
            return Translation(opts.target_lang, "", (), m.source_lang, detected_lang=guess.lang,
                               detected_probability=guess.probability, note=note)
        tr = m.translate(text, beam=opts.beam, target_lang=opts.target_lang, glossary=glossary, cancelled=cancelled)
        return replace(tr, detected_lang=guess.lang, detected_probability=guess.probability)

    def translation_languages(self) -> list[str]:
        return sorted({lang for m in self.registry.for_task("translation") for lang in m.target_langs})

    def translation_note(self, target_lang: str) -> str:
        """What the translation model for `target_lang` was trained on, in a sentence ("" when it does not say)."""
        try:
            m = self.manifest_for("translation", target_lang)
        except ModelError:
            return ""
        return (f"{m.id} {m.version} was trained on {m.domain} only; other kinds of text translate poorly."
                if m.domain else "")
