"""Fine-tuning as a job: a separate worker process trains, progress streams back, cancel is prompt.

    job = FineTuneJob(load_labeled("tickets.csv"), registry=Registry(), name="tickets")
    report = job.run(progress=print, cancelled=lambda: False)   # FineTuneReport, or Cancelled / FineTuneFailed

The worker is started with multiprocessing's spawn context (the same on Linux, macOS, Windows and in a
PyInstaller bundle, whose entry point must call multiprocessing.freeze_support() first). It imports
torch and transformers, never Qt; if it crashes, runs out of memory or is killed, the caller gets a
FineTuneFailed and no model is registered (the export is renamed into place only when complete).
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue as queue_mod
import re
import sys
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from app.core.errors import AlbertStudioError, Cancelled, ModelError
from app.core.labeled_data import Evaluation, LabeledDataset
from app.core.registry import Manifest, Registry

CANCEL_GRACE_S = 5.0  # after this the worker is killed rather than asked


class FineTuneFailed(AlbertStudioError):
    """The worker stopped with an error, or died (crash, out of memory, killed); no model was added."""


PHASE_TITLES = {  # app.training.finetune.PHASES, here without importing torch
    "preparing": "Preparing",
    "training": "Training",
    "checking": "Checking on held-back examples",
    "refit": "Training on all examples",
    "exporting": "Exporting",
}


@dataclass(frozen=True)
class FineTuneProgress:
    kind: str  # "phase" (a named phase begins, or a message within it), "step" (a training step), "eval" (validation)
    step: int = 0
    total: int = 0
    epoch: float = 0.0  # passes over the phase's examples so far
    loss: float | None = None
    val_accuracy: float | None = None
    val_macro_f1: float | None = None
    val_loss: float | None = None
    message: str = ""
    seconds: float = 0.0  # since the job started
    phase: str = ""  # preparing | training | checking | refit | exporting (PHASE_TITLES)
    epochs: float = 0.0  # the phase's planned passes over its examples (the epochs set, for the standard recipe)
    overall: float = 0.0  # where this puts the whole job, 0..1

    @property
    def fraction(self) -> float:
        """How far the current phase's training steps are (0..1)."""
        return min(1.0, self.step / self.total) if self.total else 0.0

    @property
    def phase_title(self) -> str:
        return PHASE_TITLES.get(self.phase, self.phase.capitalize())

    @property
    def eta_seconds(self) -> float | None:
        """Seconds the whole job has left, from its pace so far; None until there is a pace to go by."""
        if self.overall < 0.08 or self.seconds <= 0:
            return None
        return max(0.0, self.seconds * (1.0 - self.overall) / self.overall)

    def epoch_text(self) -> str:
        """"epoch 2.3 of 3" (an epoch is one pass over the phase's examples)."""
        if not self.epochs:
            return ""
        return f"epoch {self.epoch:.1f} of {self.epochs:g}"

    @classmethod
    def from_event(cls, e: dict) -> FineTuneProgress:
        return cls(**{k: v for k, v in e.items() if k in cls.__dataclass_fields__})


def duration_text(seconds: float) -> str:
    """"45 s", "3 min 05 s": how people read a time left."""
    seconds = int(round(seconds))
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


@dataclass(frozen=True)
class FineTuneReport:
    """What a fine-tune produced: the new model and how it scores next to the alternatives, on one split."""

    model_id: str
    name: str
    folder: str
    mode: str
    base: str
    classes: tuple[str, ...]
    n_train: int
    n_val: int
    counts: tuple[tuple[str, int], ...]
    evaluation: Evaluation  # the exported graph the app will use, on the validation split
    baseline: Evaluation  # TF-IDF + logistic regression, same split
    previous: Evaluation | None  # the model it would replace, same split (when its labels match)
    evaluation_fp32: Evaluation | None
    history: tuple[FineTuneProgress, ...]
    seconds: float
    train_seconds: float
    default_graph: str = "int8"
    warnings: tuple[str, ...] = ()
    base_note: str = ""  # why this base was chosen when the user named none
    refit_n: int = 0  # the installed model was trained again on this many examples (all) after validation
    name_hints: bool = False  # the class names joined the examples
    task: str = "sentiment"  # "classification" for labels other than negative/positive(/neutral)
    classification_name: str = ""  # such a classifier's name ("topic"): its column beside Sentiment
    seed: int = 13
    raw: dict = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def from_dict(cls, r: dict) -> FineTuneReport:
        ev = lambda d: Evaluation.from_dict(d) if d else None
        return cls(
            model_id=r["model_id"], name=r["name"], folder=r.get("folder", ""), mode=r["mode"], base=r["base"],
            classes=tuple(r["classes"]), n_train=r["n_train"], n_val=r["n_val"], counts=tuple(r["counts"].items()),
            evaluation=ev(r["evaluation"]), baseline=ev(r["baseline"]), previous=ev(r.get("previous")),
            evaluation_fp32=ev(r.get("evaluation_fp32")),
            history=tuple(FineTuneProgress.from_event(h) for h in r.get("history", ())),
            seconds=r.get("seconds", 0.0), train_seconds=r.get("train_seconds", 0.0),
            default_graph=r.get("default_graph", "int8"), warnings=tuple(r.get("warnings", ())),
            base_note=r.get("base_note", ""), refit_n=(r.get("refit") or {}).get("n_train", 0),
            name_hints=bool((r.get("name_hints") or {}).get("used")), task=r.get("task", "sentiment"),
            classification_name=r.get("classification_name", ""), seed=r.get("seed", 13), raw=r,
        )

    def comparison(self) -> list[Evaluation]:
        return [e for e in (self.evaluation, self.previous, self.baseline) if e is not None]

    def as_text(self) -> str:
        """The report as a person reads it in a terminal."""
        ev = self.evaluation
        what = (f"classifier '{self.classification_name}'" if self.task == "classification" and self.classification_name
                else self.task)
        out = [f"Model {self.model_id} ({what}, {self.mode}, from {self.base}, seed {self.seed}): {self.n_train} "
               f"examples to train, {self.n_val} to validate, {self.train_seconds:.0f} s training, "
               f"{self.seconds:.0f} s in all", f"  saved to {self.folder}"] + ([f"  {self.base_note}"] if self.base_note else [])
        from app.training.finetune import refit_lines  # no torch at import time

        out += [f"  {line[2:]}" for line in refit_lines(self.raw)] + ["",
               f"{'model':44s} {'accuracy':>9s} {'macro-F1':>9s}"]
        out += [f"{e.model[:44]:44s} {e.accuracy:9.3f} {e.macro_f1:9.3f}" for e in self.comparison()]
        out += ["", f"{'class':20s} {'precision':>9s} {'recall':>9s} {'F1':>9s} {'support':>8s}"]
        out += [f"{c.label[:20]:20s} {c.precision:9.3f} {c.recall:9.3f} {c.f1:9.3f} {c.support:8d}" for c in ev.per_class]
        w = max(8, *(len(c) for c in ev.classes))
        out += ["", "confusion (rows: true, columns: predicted)", " " * w + " " + " ".join(f"{c[:w]:>{w}s}" for c in ev.classes)]
        out += [f"{c[:w]:>{w}s} " + " ".join(f"{v:>{w}d}" for v in row) for c, row in zip(ev.classes, ev.confusion)]
        out += [f"note: {w_}" for w_ in self.warnings]
        return "\n".join(out)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "model"


def unique_model_id(registry: Registry, name: str | None, classes: tuple[str, ...]) -> str:
    stem = _slug(name) if name else "finetuned-" + _slug("-".join(classes))[:24] + time.strftime("-%Y%m%d-%H%M")
    taken = {m.id for m in registry.manifests()}
    mid, k = stem, 2
    while mid in taken or (registry.user_dir / mid).exists():
        mid, k = f"{stem}-{k}", k + 1
    return mid


_POLARITY = {"negative": "negative", "neg": "negative", "positive": "positive", "pos": "positive"}


def can_be_base(m: Manifest) -> bool:
    """Whether fine-tuning can start from this installed model: an encoder, a classifier that kept its training
    weights (config.json + model.safetensors), or an ALBERT classifier whose fp32 graph holds its weights."""
    from app.training.albert_from_onnx import onnx_base_available  # no torch at import time

    if m.task == "encoder":
        return True
    if m.task not in ("sentiment", "classification"):
        return False
    return ((m.folder / "model.safetensors").exists() and (m.folder / "config.json").exists()) \
        or onnx_base_available(m.folder)


def polarity_labels(classes: tuple[str, ...]) -> bool:
    """Two classes that say negative / positive (any case; neg / pos too)."""
    return sorted(_POLARITY.get(c.strip().lower(), "") for c in classes) == ["negative", "positive"]


def examples_language(texts: Sequence[str], sample: int = 200) -> str:
    """The language most of the examples are in ("" when unsure): a spread sample of them, read together."""
    from app.core.language import detect_language

    if not texts:
        return ""
    step = max(1, len(texts) // sample)
    guess = detect_language("\n\n".join(texts[::step][:sample])[:20_000])
    return guess.lang if guess.lang and guess.reliable else ""


def suggested_base(registry: Registry, classes: tuple[str, ...],
                   texts: Sequence[str] = ()) -> tuple[Manifest | None, str]:
    """The model to start from when the user names none, and why: for positive/negative labels the default
    sentiment model (it already knows the task; tried on the same split as the alternatives); for examples in a
    language the encoder does not read (French, German), the default sentiment model's encoder when it reads
    that language (the cross-lingual one); else the encoder."""
    with contextlib.suppress(ModelError):
        m = registry.default("sentiment")
        if can_be_base(m):
            if polarity_labels(classes) and {"negative", "positive"} <= {
                    _POLARITY.get(c.strip().lower(), "") for c in m.labels}:
                return m, (f"started from the sentiment model {m.id} {m.version}, because the labels are positive/"
                           f"negative (--base {_encoder_id(registry)} starts from the general encoder instead)")
            lang = examples_language(texts)
            if lang:
                from app.core.language import covered_languages, language_name

                encoder_langs = ()
                with contextlib.suppress(ModelError):
                    encoder_langs = covered_languages(registry.default("encoder").languages)
                if lang not in encoder_langs and lang in covered_languages(m.languages):
                    return m, (f"started from {m.id} {m.version}'s encoder, because the examples are in "
                               f"{language_name(lang)}, which it reads and the general encoder does not")
    return None, ""


def _encoder_id(registry: Registry) -> str:
    try:
        return registry.default("encoder").id
    except ModelError:
        return "ENCODER"


def resolve_base(registry: Registry, base: str | None) -> Manifest | Path:
    """The starting model: an installed model id, a folder, or (default) the shipped encoder."""
    if base is None:
        return registry.default("encoder")
    if Path(base).is_dir():
        return Path(base)
    if base in ("accurate", "accurate-base"):  # the accurate (slower) base, under whatever id it was installed
        from app.jobs.model_add import ACCURATE_BASE_ID, accurate_base_installed

        found = [m for m in registry.manifests() if accurate_base_installed([m])]
        if not found:
            raise ModelError("The accurate base is not installed. Install it with `albert-studio models add "
                             f"accurate-base` (a 438 MB download, built into {ACCURATE_BASE_ID}) or from the "
                             "Fine-tune view's base list.")
        return found[0]
    m = registry.get(base)
    if m.task not in ("encoder", "sentiment", "classification"):
        raise ModelError(f"{base} is a {m.task} model; fine-tuning starts from an encoder or a classifier.")
    return m


def previous_model(registry: Registry, base: Manifest | Path, classes: tuple[str, ...]) -> Manifest | None:
    """The classifier the new model would replace, if one with the same labels is installed."""
    cands = []
    if isinstance(base, Manifest) and base.task in ("sentiment", "classification"):
        cands.append(base)
    with contextlib.suppress(ModelError):
        cands.append(registry.default("sentiment"))
    cands += registry.active_classifiers()
    cands += sorted((m for m in registry.manifests() if m.task in ("sentiment", "classification") and m.origin == "user"),
                    key=lambda m: m.folder.stat().st_mtime, reverse=True)
    for m in cands:
        if set(m.labels) == set(classes):
            return m
    return None


def _worker_main(data: LabeledDataset, settings, events, stop) -> None:
    """Entry of the worker process (module-level so spawn can find it). Never imports Qt."""
    with contextlib.suppress(OSError, AttributeError):
        os.nice(5)  # training yields to the window
    try:
        from app.training.finetune import fine_tune

        report = fine_tune(data, settings, emit=events.put, should_stop=stop.is_set)
        report["qt_in_worker"] = any(m.startswith(("PySide6", "PyQt")) for m in sys.modules)
        events.put({"kind": "done", "report": report})
    except Cancelled as exc:
        events.put({"kind": "cancelled", "message": str(exc)})
    except AlbertStudioError as exc:
        events.put({"kind": "error", "message": str(exc)})
    except MemoryError:
        events.put({"kind": "error", "message": "Fine-tuning ran out of memory. Try fewer or shorter examples, "
                                                "or close other programs."})
    except BaseException as exc:  # a bug: report it instead of dying silently
        import traceback

        events.put({"kind": "error", "message": f"Fine-tuning failed: {exc!r}",
                    "traceback": traceback.format_exc()})


@contextlib.contextmanager
def _bare_main():
    """Hide the parent's __main__ while spawning, so the worker never re-imports the GUI script (and Qt)."""
    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if saved is not None:
            sys.modules["__main__"] = saved


TRAINING_PACKAGES = ("torch", "transformers", "sklearn")
ENABLE_TRAINING_HINT = (
    "Fine-tuning needs PyTorch, transformers and scikit-learn, which this installation leaves out "
    "(the desktop bundle ships inference only). To enable it, install Albert Studio from source with "
    "the training extra: pip install -e '.[train]' (PyTorch CPU build, about 800 MB)."
)


def training_unavailable_reason() -> str | None:
    """None when fine-tuning can run here, else a message that says how to enable it."""
    import importlib.util

    missing = [p for p in TRAINING_PACKAGES if importlib.util.find_spec(p) is None]
    return f"{ENABLE_TRAINING_HINT} Missing: {', '.join(missing)}." if missing else None


class FineTuneJob:
    """One fine-tuning run: build it with the data and choices, then `run()` it (blocking) from any thread."""

    def __init__(self, data: LabeledDataset, *, registry: Registry | None = None, base: str | None = None,
                 name: str | None = None, mode: str = "auto", epochs: int = 3, seed: int = 13, threads: int = 0,
                 task_name: str | None = None, **settings):
        """`task_name` names a classifier ("topic": its column beside Sentiment) when the labels are not
        negative/positive; it defaults to `name`."""
        reason = training_unavailable_reason()
        if reason:
            raise FineTuneFailed(reason)
        from app.training.finetune import TrainSettings  # no torch at import time

        self.data = data
        self.registry = registry or Registry()
        suggested, self.base_note = suggested_base(self.registry, data.classes, data.texts)
        if base is not None and (suggested is None or base != suggested.id):
            suggested, self.base_note = None, ""  # the user chose another base
        base_m = suggested or resolve_base(self.registry, base)
        base_folder = base_m.folder if isinstance(base_m, Manifest) else base_m
        base_id = base_m.id if isinstance(base_m, Manifest) else base_folder.name
        prev = previous_model(self.registry, base_m, data.classes)
        self.model_id = unique_model_id(self.registry, name, data.classes)
        self.settings = TrainSettings(
            base=str(base_folder), base_id=base_id, models_dir=str(self.registry.user_dir), model_id=self.model_id,
            name=name or self.model_id, mode=mode, epochs=epochs, seed=seed, threads=threads,
            previous=str(prev.folder) if prev else "", base_note=self.base_note, task_name=task_name or name or "",
            **settings)
        self._cancel = False
        self._proc = None

    def cancel(self) -> None:
        """Ask the worker to stop (honoured within a step); it is killed if it has not stopped in a few seconds."""
        self._cancel = True

    @property
    def worker_pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def run(self, progress: Callable[[FineTuneProgress], None] | None = None,
            cancelled: Callable[[], bool] | None = None) -> FineTuneReport:
        from app.training.finetune import clean_staging

        ctx = multiprocessing.get_context("spawn")
        events, stop = ctx.Queue(), ctx.Event()
        self._proc = proc = ctx.Process(target=_worker_main, args=(self.data, self.settings, events, stop),
                                        name="albert-studio-finetune", daemon=True)
        self.registry.user_dir.mkdir(parents=True, exist_ok=True)
        with _bare_main():
            proc.start()
        final: dict | None = None
        asked_at: float | None = None
        try:
            while final is None:
                if asked_at is None and (self._cancel or (cancelled and cancelled())):
                    stop.set()
                    asked_at = time.monotonic()
                if asked_at is not None and time.monotonic() - asked_at > CANCEL_GRACE_S:
                    proc.kill()
                    final = {"kind": "cancelled"}
                    break
                try:
                    e = events.get(timeout=0.1)
                except queue_mod.Empty:
                    if not proc.is_alive():
                        with contextlib.suppress(queue_mod.Empty):
                            e = events.get(timeout=0.5)  # the last words of a worker that just exited
                            if e["kind"] in ("done", "error", "cancelled"):
                                final = e
                                break
                        final = {"kind": "died", "code": proc.exitcode}
                    continue
                if e["kind"] in ("done", "error", "cancelled"):
                    final = e
                elif progress is not None:
                    progress(FineTuneProgress.from_event(e))
        finally:
            proc.join(timeout=CANCEL_GRACE_S)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
            events.close()
            clean_staging(self.registry.user_dir)
        kind = final["kind"]
        if kind == "done":
            return FineTuneReport.from_dict(final["report"])
        if kind == "cancelled":
            raise Cancelled("Fine-tuning cancelled; no model was added.")
        if kind == "error":
            raise FineTuneFailed(final["message"])
        code = final.get("code")
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        raise FineTuneFailed(f"The fine-tuning worker stopped unexpectedly ({how}; out of memory, or killed). "
                             "No model was added; the window and your data are fine.")


def make_default(registry: Registry, report: FineTuneReport) -> None:
    """The one action that puts a fine-tuned model to use: a sentiment model becomes the default one; a
    classifier ("topic") is switched on beside sentiment (replacing only an active one of the same name)."""
    if registry.get(report.model_id).task == "classification":
        registry.set_classifier_active(report.model_id)
    else:
        registry.set_default("sentiment", report.model_id)


def use_text(report: FineTuneReport) -> str:
    """What `make_default` does for this model, in words."""
    if report.task == "classification":
        return f"runs beside sentiment as the '{report.classification_name}' classification"
    return "is now the default sentiment model"


def planned_recipe(data: LabeledDataset, mode: str = "auto") -> str:
    """The recipe ("standard" or "few-shot") a run asked for `mode` would use on `data`; for the window, which
    imports jobs, not training (no torch is imported here either)."""
    from app.training.finetune import TrainSettings, choose_mode

    return choose_mode(data, TrainSettings(base="", models_dir="", model_id="", mode=mode or "auto"))
