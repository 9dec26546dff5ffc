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
from app.core.structure import content_sentences
from app.core.language import covered_languages, detect_document_language, uncovered_language
from app.core.task_model import load_task_model
from app.core.types import DocumentLanguage, SentimentResult, Summary
from app.core.types import ANALYSIS_TASKS, CLASSIFICATION, Analysis, Document, ModelInfo, classification_task

TASK_NAMES = ANALYSIS_TASKS
ALIASES = {"translate": "translation", "summarize": "summary", "summarise": "summary"}


def _indexed(summary, sentences):
    """A summary whose sentence indices count every sentence of the document (the summarizer saw only the
    content ones): "sentence 7" is the seventh sentence the reader sees."""
    if summary is None or summary.abstractive:  # an abstractive summary's sentences are not the document's
        return summary
    at = {s.start: i for i, s in enumerate(sentences)}
    return replace(summary, sentences=tuple(
        replace(x, index=at.get(x.start, x.index)) for x in summary.sentences))


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
    # run every model even on text that does not look like a language it covers (translation: its source
    # language; sentiment and summary: the manifest's "languages"); results say so (forced_lang)
    any_language: bool = False
    classifiers: tuple[str, ...] | None = None  # classifier model ids run with sentiment; None: the active ones

    def params_key(self, task: str, abstractive: bool = False) -> str:
        """What a stored result must have been computed with to be reused (Analyzer.task_models fills
        the sentiment model's own band in first). An abstractive summary's length is the model's own:
        `sentences` and `ratio` change nothing in it, so they do not make it be written again."""
        forced = ";any_language" if self.any_language else ""
        if task == "summary":
            if abstractive:
                return "abstractive" + forced
            return (f"ratio={self.ratio}" if self.ratio is not None else f"sentences={self.sentences}") + forced
        if task == "translation":
            key = f"lang={self.target_lang};beam={self.beam}"
            if self.glossary:
                from app.core.protect import glossary_digest

                key += f";glossary={glossary_digest(self.glossary)}"
            return key + forced
        if task == "sentiment":
            return (f"neutral={self.neutral_band:g}" if self.neutral_band else "") + forced
        return ""


@dataclass
class _LanguagePlan:
    """Which documents a task's model reads, given their languages and the languages the model covers."""

    run: list[int] = field(default_factory=list)  # documents the model reads
    held: dict[int, str] = field(default_factory=dict)  # document -> its uncovered language: no result computed
    forced: dict[int, str] = field(default_factory=dict)  # document -> its uncovered language, read anyway
    sents: dict[int, list] = field(default_factory=dict)  # document -> the sentences the model reads

    def common(self, other: _LanguagePlan, k: int) -> list:
        """Document k's sentences that both plans keep (one encoder pass serves both tasks)."""
        theirs = {s.start for s in other.sents[k]}
        return [s for s in self.sents[k] if s.start in theirs] or self.sents[k]


class _Phases:
    """Progress of one analyze_many call: each phase (a task, or a model pass) takes an equal share, and
    every step and phase change checks `cancelled` first (raises Cancelled)."""

    def __init__(self, names: list[str], cancelled: Callable[[], bool] | None,
                 progress: Callable[[float], None] | None):
        self.names = names
        self.cancelled = cancelled
        self.progress = progress
        self.phase = 0
        self.done = 0

    def check(self) -> None:
        if self.cancelled is not None and self.cancelled():
            raise Cancelled()

    def step(self, n: int, total: int) -> None:
        """`n` more of the `total` items of the current phase are done."""
        self.check()
        self.done += n
        if self.progress is not None:
            self.progress(min(1.0, (self.phase + self.done / max(total, 1)) / max(len(self.names), 1)))

    def next(self) -> None:
        self.check()
        self.phase += 1
        self.done = 0


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
        """task -> (model id, version, params key): what a stored result must match to be reused; each
        classifier that runs is a task of its own ("classification:topic")."""
        opts = self.resolve(opts)
        out = {}
        for t in opts.tasks:
            m = self.manifest_for(t, opts.target_lang)
            out[t] = (m.id, m.version, opts.params_key(t, abstractive=bool(m.raw.get("abstractive"))))
        for m in self.classifiers(opts):
            out[classification_task(m.classification_name)] = (m.id, m.version, "")
        return out

    def classifiers(self, opts: AnalysisOptions) -> list[Manifest]:
        """The classifiers an analysis runs: with sentiment, the ones `opts` names, else the registry's active
        ones (several at once, one per name; sentiment is never replaced by them)."""
        if "sentiment" not in opts.tasks:
            return []
        if opts.classifiers is None:
            return self.registry.active_classifiers()
        out = []
        for mid in opts.classifiers:
            m = self.registry.get(mid)
            if m.task != CLASSIFICATION:
                raise ModelError(f"{mid} is a {m.task} model, not a classifier")
            out.append(m)
        return out

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
        all_sents = [split_sentences(d.text) for d in documents]
        # headings, meta lines, table rows and code are structure: no sentiment, no summary pick (core/structure)
        sents = [content_sentences(d.text, s) for d, s in zip(documents, all_sents)]
        todo = [k for k, s in enumerate(sents) if s]
        languages: dict[int, DocumentLanguage] = {}
        for k in todo:  # cancellable: 10,000 table rows take a few seconds to detect
            if cancelled is not None and cancelled():
                raise Cancelled()
            languages[k] = detect_document_language(documents[k].text)
        plans = {t: self._language_plan(t, opts, todo, languages, sents)
                 for t in ("sentiment", "summary") if t in opts.tasks}
        texts = [documents[k].text for k in todo]
        sentiment: dict[int, object] = {}
        summary: dict[int, object] = {}
        translation: dict[int, object] = {}
        classified: dict[int, list] = {k: [] for k in todo}
        infos: list[ModelInfo] = []
        classifiers = [self._load(m) for m in self.classifiers(opts)] if todo else []
        phases = _Phases([t for t in TASK_NAMES if t in opts.tasks] + [m.name for m in classifiers],
                         cancelled, progress)
        check, step, next_phase = phases.check, phases.step, phases.next

        with cancellable(cancelled):  # a cancel also stops the model batch in progress (RunOptions.terminate)
            one_pass = None
            if todo and "sentiment" in opts.tasks and "summary" in opts.tasks:
                check()
                sm, su = self.model("sentiment"), self.model("summary")
                if sm.one_pass and su.shares_encoder_with(sm):
                    one_pass = (sm, su)
            if one_pass is not None:  # heads on a shared encoder: each document is encoded once for both
                phases.names[:] = ["sentiment+summary"] + [t for t in phases.names if t not in ("sentiment", "summary")]
                sentiment, summary = self._one_pass(*one_pass, documents, plans, opts, phases)
                infos += [one_pass[0].model_info, one_pass[1].model_info]
                next_phase()
            # each model reads the documents in a language it covers (with one pass, those the other did not)
            ids = [k for k in plans["sentiment"].run if k not in sentiment] if "sentiment" in plans else []
            if ids:
                check()
                m = self.model("sentiment")
                sentiment.update(zip(ids, m.analyze_many([documents[k].text for k in ids],
                                                         [plans["sentiment"].sents[k] for k in ids], step=step,
                                                         neutral_band=opts.neutral_band)))
                infos.append(m.model_info)
                if one_pass is None:
                    next_phase()
            ids = [k for k in plans["summary"].run if k not in summary] if "summary" in plans else []
            if ids:
                check()
                m = self.model("summary")
                summary.update(zip(ids, m.summarize_many([documents[k].text for k in ids], sentences=opts.sentences,
                                                         ratio=opts.ratio, sents=[plans["summary"].sents[k] for k in ids],
                                                         step=step)))
                infos.append(m.model_info)
                if one_pass is None:
                    next_phase()
            self._mark_languages(plans, sentiment, summary, infos)
            for c in classifiers:  # each reads its own fine-tuned encoder: a pass of its own
                check()
                for k, r in zip(todo, c.classify_many(texts, [sents[k] for k in todo], step=step)):
                    classified[k].append(r)
                infos.append(c.model_info)
                next_phase()
            if todo and "translation" in opts.tasks:
                m = self.model("translation", opts.target_lang)
                glossary = self.glossary(opts.glossary)
                for k in todo:
                    check()
                    translation[k] = self._translate(m, documents[k].text, opts, glossary, cancelled)
                    step(1, len(todo))
                infos.append(m.model_info)
        summary = {k: _indexed(v, all_sents[k]) for k, v in summary.items()}
        elapsed = time.perf_counter() - t0
        chars = sum(len(documents[k].text) for k in todo) or 1
        out = [
            Analysis(d, sentiment.get(k), summary.get(k), translation.get(k), tuple(infos),
                     elapsed * len(d.text) / chars, classifications=tuple(classified[k]))
            if sents[k] else Analysis(d, error="no text to analyse")
            for k, d in enumerate(documents)
        ]
        return [replace(a, language=languages[k]) if k in languages else a for k, a in enumerate(out)]

    @staticmethod
    def _one_pass(sm, su, documents: Sequence[Document], plans: dict, opts: AnalysisOptions,
                  phases: _Phases) -> tuple[dict, dict]:
        """Sentiment and summary from one encoder pass (the documents both tasks read): index -> result each."""
        ps, pu = plans["sentiment"], plans["summary"]
        both = [k for k in ps.run if k in pu.sents]
        docs = [ps.common(pu, k) for k in both]
        encoded = sm.encode([[s.text for s in d] for d in docs],
                            list(dict.fromkeys(sm.head_inputs() + su.inputs)), phases.step)
        phases.check()
        if not both:
            return {}, {}
        sentiment = dict(zip(both, sm.analyze_encoded(docs, encoded, neutral_band=opts.neutral_band)))
        summary = dict(zip(both, su.summarize_many([documents[k].text for k in both], sentences=opts.sentences,
                                                   ratio=opts.ratio, sents=docs, encoded=encoded)))
        return sentiment, summary

    def _language_plan(self, task: str, opts: AnalysisOptions, todo: Sequence[int],
                       languages: dict[int, DocumentLanguage], sents: Sequence[list]) -> _LanguagePlan:
        """Documents in a language the task's model does not cover are held back (no label is made up for
        them) unless `opts.any_language`; a covered document's paragraphs in an uncovered language are left
        out of what the model reads (their sentences get no colour, no summary pick)."""
        covered = covered_languages(self.manifest_for(task).languages)
        plan = _LanguagePlan()
        for k in todo:
            lang = languages[k]
            code = uncovered_language(lang, covered)
            if code and not opts.any_language:
                plan.held[k] = code
                continue
            plan.run.append(k)
            kept = sents[k]
            if code:
                plan.forced[k] = code
            elif lang.spans:
                kept = [s for s in sents[k] if lang.at(s.start) in covered] or sents[k]
            plan.sents[k] = kept
        return plan

    def _mark_languages(self, plans: dict[str, _LanguagePlan], sentiment: dict, summary: dict,
                        infos: list[ModelInfo]) -> None:
        """Results for documents no model covers ("unsupported", never a label), forced ones marked; the
        task's model is named even when it read nothing (a stored result says which model declined)."""
        for task, results in (("sentiment", sentiment), ("summary", summary)):
            plan = plans.get(task)
            if plan is None:
                continue
            for k, code in plan.held.items():
                results[k] = (SentimentResult(label="", score=0.0, unsupported_lang=code) if task == "sentiment"
                              else Summary((), unsupported_lang=code))
            for k, code in plan.forced.items():
                results[k] = replace(results[k], forced_lang=code)
            if plan.held and not any(i.task == task for i in infos):
                m = self.manifest_for(task)
                infos.append(ModelInfo(m.id, m.version, task, ""))

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
        from app.core.translation_quality import quality_note

        quality = quality_note(m.raw, target_lang)  # the card's own validation numbers, per kind of text
        trained = f"{m.id} {m.version} was trained on {m.domain} only; other kinds of text translate poorly." if m.domain else ""
        if quality and not trained:
            trained = f"{m.id} {m.version}."
        return f"{trained} {quality}".strip() if trained else ""
