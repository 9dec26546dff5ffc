"""Fine-tune an ALBERT encoder on a user's labels, evaluate it, export ONNX fp32 + int8 into the user models.

Two recipes, one model shape (encoder -> mean pooling -> linear head, so both export the same way):
  standard  linear-probe start (logistic regression on frozen embeddings gives the head), then the whole
            network trained with class-weighted cross-entropy, validation every epoch, early stopping on
            macro-F1, the best weights kept.
  few-shot  SetFit (Tunstall et al. 2022): the encoder is trained on sentence pairs (same class -> cosine 1,
            different class -> 0), then a logistic-regression head is fitted on its embeddings. Stays
            usable at 8 examples per class, where cross-entropy fine-tuning overfits, and ahead of it up
            to hundreds per class (docs/finetuning.md: SST-2 +4.7 points at 256 examples, +3.2 at 1,024). The class names
            can join the examples as short templated sentences ("This text is about sport.", SetFit's
            templated data), when the names alone label the training examples better than chance
            (names like "A" / "B" or codes are left out that way).

Small data (the few-shot recipe, by default) is validated on a 20% split and the model is then trained
again, by the same recipe, on every example: the report's scores are those of the split run (held out),
the installed model is the one that saw all the labels.

The export lands in `<models_dir>/.staging/` and is renamed into place only once complete, so a killed
worker never leaves a half-registered model. torch/transformers are imported inside functions only.
"""
from __future__ import annotations

import copy
import inspect
import json
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from app.core.errors import Cancelled, ModelError
from app.core.labeled_data import Evaluation, LabeledDataset, evaluate, stratified_split
from app.core.types import classification_name

STAGING = ".staging"
INPUTS = ["input_ids", "attention_mask", "token_type_ids"]


@dataclass(frozen=True)
class TrainSettings:
    """Everything the worker needs besides the data; plain values so it pickles across processes."""

    base: str  # folder of the base model: an encoder or a model fine-tuned here (config.json + model.safetensors)
    models_dir: str  # the user's model folder; the result goes to models_dir/model_id
    model_id: str
    name: str = ""
    base_id: str = ""
    mode: str = "auto"  # auto | standard | few-shot
    epochs: int = 3
    lr: float = 1e-4
    batch_size: int = 16
    max_length: int = 128
    val_fraction: float = 0.2
    patience: int = 2
    seed: int = 13
    threads: int = 0  # 0 = all cores
    device: str = "auto"  # where the exported graphs are scored (runtime.DEVICES): the device the app analyses on
    # few-shot: passes over each example (SetFit's num_iterations is 20; 12 since 2026-12-07: at 64 examples, 3
    # samples each, BBC 91.4 vs 91.5, SST-2 76.4 vs 76.8, French reviews 82.0 vs 81.5, in 35-40% less time)
    pair_iterations: int = 12
    few_shot_max_steps: int = 200
    few_shot_lr: float = 5e-5
    # few-shot: the embedding tables (30,522 x 128 word pieces) stay as the base has them: a handful of examples
    # touches a few hundred pieces, and their dense gradient and AdamW update were an eighth of every step
    few_shot_freeze_embeddings: bool = True
    few_shot_max_per_class: int = 512  # auto picks few-shot when the median class has at most this many
    previous: str = ""  # folder of an installed classifier to compare with on the same validation split
    base_note: str = ""  # why the job chose this base (shown in the report and the model card)
    export: bool = True
    name_hints: str = "auto"  # few-shot: templated class-name sentences join the examples: auto (when the names alone label the training part better than chance) | always | never
    refit: str = "auto"  # after validating, train again on every example: auto (few-shot recipe) | always | never
    task_name: str = ""  # a classifier's name ("topic"), when the labels are not negative/positive(/neutral)
    unit: str = "auto"  # what a classifier labels: auto (sentences when the examples are single sentences) | document | sentence
    # train only the top N layers and compute the frozen ones once per example (-1: what the base's manifest
    # says, fine_tune.train_top_layers; 0: every layer): the accurate base's 110M parameters fit the time so
    train_top_layers: int = -1


PHASES = {  # what the user sees: each phase's name, in the order a job runs them
    "preparing": "Preparing",
    "training": "Training",
    "checking": "Checking on held-back examples",
    "refit": "Training on all examples",
    "exporting": "Exporting",
}


def model_task(classes) -> str:
    """"sentiment" for negative/positive (and a learned neutral), else "classification": a user's own classifier
    ("topic", "urgency") that runs beside sentiment and never replaces it."""
    from app.core.sentiment import is_polar

    return "sentiment" if is_polar(list(classes)) else "classification"


def classifier_unit(texts, settings: TrainSettings) -> str:
    """"sentence" when the examples are single sentences (the classifier then labels each sentence of a
    document too), else "document"."""
    if settings.unit in ("document", "sentence"):
        return settings.unit
    from app.core.segment import split_sentences

    counts = sorted(len(split_sentences(t)) or 1 for t in texts)
    return "sentence" if counts and counts[len(counts) // 2] <= 1 else "document"


def canonical_order(data: LabeledDataset, seed: int) -> list[int]:
    """The examples in an order fixed by their text, label and the seed, not by the order they came in: the
    same labels from a file, the library or a shuffled copy give the same split, batches and model."""
    import hashlib

    def key(i: int) -> bytes:
        return hashlib.sha256(f"{seed}\0{data.label_ids[i]}\0{data.texts[i]}".encode("utf-8", "surrogatepass")).digest()

    return sorted(range(len(data.texts)), key=key)


def choose_mode(data: LabeledDataset, settings: TrainSettings) -> str:
    if settings.mode in ("standard", "few-shot"):
        return settings.mode
    counts = sorted(data.counts().values())
    return "few-shot" if counts[len(counts) // 2] <= settings.few_shot_max_per_class else "standard"


def wants_refit(mode: str, settings: TrainSettings) -> bool:
    """Whether the model is trained again on every example once the split run has been validated."""
    return settings.refit == "always" or (settings.refit == "auto" and mode == "few-shot")


# -- class names as examples

LABEL_TEMPLATES = ("This sentence is {}.", "This text is about {}.", "It is {}.", "The topic is {}.", "This is {}.",
                   "{}.")


def label_phrase(label: str) -> str:
    """A class name as words: "bug_report" / "BugReport" / "bug-report" -> "bug report"."""
    import re

    words = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", label)
    return " ".join(re.split(r"[_\-./:\s]+", words)).strip().lower()


def label_name_examples(classes) -> tuple[list[str], list[int]]:
    """Templated sentences naming each class (SetFit's templated dataset), one per template and class."""
    texts, y = [], []
    for k, c in enumerate(classes):
        phrase = label_phrase(c)
        for t in LABEL_TEMPLATES:
            texts.append(t.format(phrase))
            y.append(k)
    return texts, y


NAME_HINT_P = 0.2  # names are used when they alone label the training part better than chance at this p


def label_names_help(emb, y, name_emb, name_y) -> tuple[bool, float, float]:
    """(use, accuracy, p): how well the class names alone label the training examples (each example gets the
    class whose name sentences' mean embedding is nearest by cosine), and the one-sided binomial p-value of
    that accuracy against chance (1 / classes). Meaningful names (sport, billing, positive) score far above
    chance; codes (A / B, C0 / C1, 17 / 42) do not, and adding those would only blur the classes. Measured on
    BBC topics and SST-2 at 16 and 64 examples (docs/finetuning.md): p <= 0.012 for the real BBC names,
    >= 0.34 for codes in their place. The validation split is never looked at."""
    import numpy as np
    from scipy.stats import binomtest

    def unit(a):
        a = np.asarray(a, dtype=np.float64)
        return a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)

    y, name_y = np.asarray(y), np.asarray(name_y)
    k = int(name_y.max()) + 1
    centroids = unit(np.stack([unit(name_emb)[name_y == c].mean(0) for c in range(k)]))
    right = int((np.argmax(unit(emb) @ centroids.T, axis=1) == y).sum())
    p = float(binomtest(right, len(y), 1.0 / k, alternative="greater").pvalue)
    return p < NAME_HINT_P, right / len(y), p


# -- the model


def _classifier_class():
    import torch

    class MeanPoolClassifier(torch.nn.Module):
        """An encoder (ALBERT, or an imported base: BERT, RoBERTa, ...), mean of the token states over the
        attention mask, one linear layer."""

        def __init__(self, encoder, n_classes: int):
            super().__init__()
            self.albert = encoder  # the name the saved heads and recipes use, whatever the architecture
            self.head = torch.nn.Linear(encoder.config.hidden_size, n_classes)
            # DistilBERT takes no token types; models with one type (RoBERTa) need none
            self.takes_types = "token_type_ids" in inspect.signature(encoder.forward).parameters

        def embed(self, input_ids, attention_mask, token_type_ids=None):
            types = {"token_type_ids": token_type_ids} if self.takes_types else {}
            h = self.albert(input_ids=input_ids, attention_mask=attention_mask, **types).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            return (h * m).sum(1) / m.sum(1).clamp(min=1.0)

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            return self.head(self.embed(input_ids, attention_mask, token_type_ids))

    return MeanPoolClassifier


def load_base(folder: Path, classes: tuple[str, ...]):
    """The classifier to train: the base encoder's weights, and its head too when its labels match."""
    folder = Path(folder)
    if not (folder / "config.json").exists() or not (folder / "model.safetensors").exists():
        # a shipped ONNX-only ALBERT classifier (the sentiment model): its fp32 graph holds every weight
        from app.training.albert_from_onnx import load as load_from_onnx, onnx_base_available

        if not onnx_base_available(folder):
            raise ModelError(f"{folder.name} cannot be fine-tuned: it holds no training weights (config.json + "
                             "model.safetensors, or an fp32 ALBERT graph). " + _base_route(folder))
        encoder = load_from_onnx(folder).albert
        encoder.train()
        return _classifier_class()(encoder, len(classes))  # its pooler + linear head reads [CLS]; ours mean-pools
    try:
        encoder = _load_encoder(folder)
    except ModelError:
        raise
    except Exception as exc:  # transformers raises many kinds for a bad folder
        raise ModelError(f"{folder}: not a loadable encoder ({exc})") from exc
    model = _classifier_class()(encoder, len(classes))
    head = folder / "head.safetensors"
    if head.exists():
        from safetensors.torch import load_file

        manifest = json.loads((folder / "manifest.json").read_text()) if (folder / "manifest.json").exists() else {}
        if tuple(manifest.get("labels", ())) == tuple(classes):
            state = load_file(str(head))
            model.head.load_state_dict({k: v.float() for k, v in state.items()})
            model.head_from_base = True
    return model


def _base_route(folder: Path) -> str:
    """Where to start instead: for a model added from a Hugging Face checkpoint (ONNX only), its encoder added
    again as a base; else the shipped encoder or a model fine-tuned here."""
    try:
        info = json.loads((folder / "manifest.json").read_text(encoding="utf-8")).get("imported_from") or {}
        source = str(info.get("id") or "")
    except (OSError, ValueError, AttributeError):
        info, source = {}, ""
    if not source:
        return "Start from the shipped encoder or from a model you fine-tuned in Albert Studio."
    # a hub download records the commit it got; a folder is known by its name only
    hub = bool(info.get("revision")) or "/" in source
    where, arg = (f"hub model {source}", source) if hub else (f"checkpoint folder {source}", "FOLDER")
    return (f"It was added from the {where}: add its encoder as a base with `albert-studio models add {arg} "
            "--task base --name NEW-ID` and fine-tune from NEW-ID.")


def _load_encoder(folder: Path):
    """The encoder of a base folder: ALBERT (the shipped encoder, models fine-tuned here), or a plain encoder
    added with `models add --task base` (BERT, RoBERTa, ...; its manifest says which), without a pooler."""
    import torch
    import transformers
    from transformers import AlbertModel, AutoConfig

    config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    if getattr(config, "factorized_embedding_size", None):  # the accurate base (app.training.accurate_base)
        from app.training.accurate_base import load_factorized

        return load_factorized(folder).train()
    if config.model_type == "albert":
        return AlbertModel.from_pretrained(str(folder), dtype=torch.float32, attn_implementation="eager",
                                           add_pooling_layer=False)
    from app.core.hf_import import ENCODERS

    arch = (config.architectures or [""])[0]
    if ENCODERS.get(arch) != config.model_type:
        raise ModelError(f"{folder}: a {arch or config.model_type} checkpoint cannot be a fine-tuning base here; add "
                         f"it with `albert-studio models add FOLDER --task base` ({', '.join(ENCODERS)})")
    cls = getattr(transformers, arch)  # the plain encoder class (BertModel, ...), as `models add` saved it
    extra = {"add_pooling_layer": False} if "add_pooling_layer" in inspect.signature(cls.__init__).parameters else {}
    return cls.from_pretrained(str(folder), dtype=torch.float32, attn_implementation="eager",
                               local_files_only=True, **extra)


def _tokenizer_file(folder: Path) -> Path:
    m = folder / "manifest.json"
    name = json.loads(m.read_text()).get("tokenizer", {}).get("file", "tokenizer.json") if m.exists() else "tokenizer.json"
    p = folder / name
    if not p.exists():
        raise ModelError(f"{folder}: no {name}; a base model needs its tokenizer")
    return p


# -- batches


def _batches(n: int, batch_size: int, rng: random.Random) -> list[list[int]]:
    order = list(range(n))
    rng.shuffle(order)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def _tensors(seqs, pad_id: int = 0):
    import torch

    L = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), L), pad_id, dtype=torch.long)
    mask = torch.zeros(len(seqs), L, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    return ids, mask


def embed_all(model, seqs, batch: int = 64):
    """Mean-pooled embeddings of already-encoded sequences (no gradients), in input order."""
    import torch

    out = torch.zeros(len(seqs), model.albert.config.hidden_size)
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    was = model.training
    model.eval()
    with torch.no_grad():
        for k in range(0, len(order), batch):
            idx = order[k:k + batch]
            ids, mask = _tensors([seqs[i] for i in idx])
            out[idx] = model.embed(ids, mask, torch.zeros_like(ids))
    model.train(was)
    return out


def logits_all(model, seqs, batch: int = 64):
    import torch

    emb = embed_all(model, seqs, batch)
    with torch.no_grad():
        return model.head(emb)


def fit_head(model, emb, y, n_classes: int, seed: int) -> None:
    """Logistic regression on embeddings (balanced classes), copied into the linear head."""
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced", random_state=seed)
    lr.fit(emb.numpy(), np.asarray(y))
    W, b = lr.coef_, lr.intercept_
    if n_classes == 2:  # sklearn keeps one row for two classes: logit(1) - logit(0) = w.x + b
        W, b = np.vstack([-W / 2, W / 2]), np.array([-b[0] / 2, b[0] / 2])
    with torch.no_grad():
        model.head.weight.copy_(torch.tensor(W, dtype=torch.float32))
        model.head.bias.copy_(torch.tensor(b, dtype=torch.float32))


# -- training


# Share of the whole job each phase takes, before the training steps are known (measured on the 64-example
# topic task: training and the refit are most of it; exporting scores two graphs)
_PHASE_WEIGHT = {"preparing": 0.05, "training": 0.40, "checking": 0.05, "refit": 0.35, "exporting": 0.15}


@dataclass
class _Run:
    """One job's progress: the phase it is in, and where that puts it in the whole job (0..1)."""

    emit: Callable[[dict], None]
    should_stop: Callable[[], bool]
    t0: float = field(default_factory=time.time)
    history: list = field(default_factory=list)
    phase_name: str = "preparing"
    spans: dict = field(default_factory=dict)  # phase -> (start, width) of the whole job
    epochs: float = 0.0  # the phase's epochs as planned (passes over its examples)

    def plan(self, refit: bool, export: bool) -> None:
        """Share the bar between the phases this job will run."""
        weights = {p: w for p, w in _PHASE_WEIGHT.items()
                   if (refit or p != "refit") and (export or p != "exporting")}
        total, at = sum(weights.values()), 0.0
        for p, w in weights.items():
            self.spans[p] = (at / total, w / total)
            at += w

    def overall(self, within: float = 0.0) -> float:
        start, width = self.spans.get(self.phase_name, (0.0, 0.0))
        return round(min(1.0, start + width * max(0.0, min(1.0, within))), 4)

    def phase(self, name: str, message: str = "") -> None:
        """A named phase begins (PHASES); `message` says more about it."""
        self.phase_name = name
        self.emit({"kind": "phase", "phase": name, "message": message or PHASES[name], "overall": self.overall(),
                   "seconds": time.time() - self.t0})

    def note(self, message: str) -> None:
        """Something worth saying within the current phase."""
        self.emit({"kind": "phase", "phase": self.phase_name, "message": message, "overall": self.overall(),
                   "seconds": time.time() - self.t0})

    def check(self) -> None:
        if self.should_stop():
            raise Cancelled("Fine-tuning cancelled; no model was added.")

    def step(self, step: int, total: int, epoch: float, loss: float) -> None:
        self.emit({"kind": "step", "phase": self.phase_name, "step": step, "total": total, "epoch": round(epoch, 3),
                   "epochs": self.epochs, "loss": float(loss), "overall": self.overall(step / max(total, 1)),
                   "seconds": time.time() - self.t0})

    def evaluated(self, step: int, total: int, epoch: float, ev: Evaluation, val_loss: float | None) -> None:
        point = {"kind": "eval", "phase": self.phase_name, "step": step, "total": total, "epoch": round(epoch, 3),
                 "epochs": self.epochs, "val_accuracy": ev.accuracy, "val_macro_f1": ev.macro_f1,
                 "val_loss": val_loss, "overall": self.overall(step / max(total, 1)),
                 "seconds": time.time() - self.t0}
        self.history.append(point)
        self.emit(point)


def _val_eval(model, seqs, y, classes, class_weights=None):
    import torch

    logits = logits_all(model, seqs)
    loss = float(torch.nn.functional.cross_entropy(logits, torch.tensor(y), weight=class_weights))
    return evaluate(y, logits.argmax(1).tolist(), classes), loss, logits


def train_standard(model, tr_seqs, tr_y, va_seqs, va_y, classes, s: TrainSettings, run: _Run) -> dict:
    import torch

    n_cls = len(classes)
    counts = torch.bincount(torch.tensor(tr_y), minlength=n_cls).float()
    weights = (counts.sum() / (n_cls * counts.clamp(min=1))).float()
    run.epochs = float(s.epochs)
    if not getattr(model, "head_from_base", False):
        run.note("Fitting the starting head on frozen embeddings")
        fit_head(model, embed_all(model, tr_seqs), tr_y, n_cls, s.seed)
    run.check()
    rng = random.Random(s.seed)
    per_epoch = (len(tr_seqs) + s.batch_size - 1) // s.batch_size
    total = per_epoch * s.epochs
    warm = max(1, int(0.1 * total))
    head_params = list(model.head.parameters())
    opt = torch.optim.AdamW([
        {"params": list(model.albert.parameters()), "lr": s.lr},
        {"params": head_params, "lr": s.lr * 10},
    ], weight_decay=0.01)
    base_lrs = [g["lr"] for g in opt.param_groups]
    lossf = torch.nn.CrossEntropyLoss(weight=weights)
    best_state, best_epoch = None, s.epochs
    if va_seqs:  # without a validation split (the refit on every example) the epochs given all run
        ev, vloss, _ = _val_eval(model, va_seqs, va_y, classes, weights)
        run.evaluated(0, total, 0.0, ev, vloss)
        best, best_epoch = (ev.macro_f1, -vloss), 0
        best_state = {k: v.clone() for k, v in model.state_dict().items()}
    bad, step, epochs_run = 0, 0, 0
    model.train()
    for ep in range(s.epochs):
        for batch in _batches(len(tr_seqs), s.batch_size, rng):
            run.check()
            ids, mask = _tensors([tr_seqs[i] for i in batch])
            y = torch.tensor([tr_y[i] for i in batch])
            loss = lossf(model(ids, mask, torch.zeros_like(ids)), y)
            f = (step + 1) / warm if step < warm else max(0.0, (total - step) / max(1, total - warm))
            for g, b in zip(opt.param_groups, base_lrs):
                g["lr"] = b * f
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            run.step(step, total, step / per_epoch, loss.item())
        epochs_run = ep + 1
        if not va_seqs:
            continue
        ev, vloss, _ = _val_eval(model, va_seqs, va_y, classes, weights)
        run.evaluated(step, total, float(epochs_run), ev, vloss)
        if (ev.macro_f1, -vloss) > best:
            best, bad, best_epoch = (ev.macro_f1, -vloss), 0, epochs_run
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
            if bad >= s.patience:
                run.note(f"Early stop after epoch {epochs_run} of {s.epochs}: validation stopped improving")
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return {"steps": step, "epochs_run": epochs_run, "best_epoch": best_epoch,
            "class_weights": [round(float(w), 4) for w in weights]}


def balanced_batches(y: list[int], batch_size: int, steps: int, seed: int) -> list[list[int]]:
    """Batches with (about) the same number of examples of every class, so each holds both kinds of pair."""
    rng = random.Random(seed)
    by: dict[int, list[int]] = {}
    for i, c in enumerate(y):
        by.setdefault(c, []).append(i)
    per = max(2, batch_size // len(by))
    pools = {c: [] for c in by}
    out = []
    for _ in range(steps):
        batch = []
        for c, members in by.items():
            for _ in range(min(per, len(members))):
                if not pools[c]:
                    pools[c] = rng.sample(members, len(members))
                batch.append(pools[c].pop())
        out.append(batch)
    return out


def few_shot_steps(n_train: int, s: TrainSettings) -> int:
    """Each example seen pair_iterations times; every step uses all batch_size*(batch_size-1)/2 pairs of its batch."""
    return max(20, min(s.few_shot_max_steps, -(-n_train * s.pair_iterations // s.batch_size)))


def train_few_shot(model, tr_seqs, tr_y, va_seqs, va_y, classes, s: TrainSettings, run: _Run) -> dict:
    """SetFit's contrastive stage, all pairs in a batch at once: cosine of same-class pairs -> 1, others -> 0,
    then the logistic-regression head on the embeddings. The whole schedule runs (no checkpoint is picked on a
    handful of validation examples, so the split run and the refit on every example are the same recipe);
    with a validation split, the head is fitted and scored at 25/50/75/100% of the steps for the live curve."""
    import torch

    n_cls = len(classes)
    total = few_shot_steps(len(tr_seqs), s)
    batches = balanced_batches(tr_y, s.batch_size, total, s.seed)
    per_pass = max(1, len(tr_seqs)) / max(1, len(batches[0]) if batches else 1)  # steps that show every example once
    run.epochs = round(total / per_pass, 1)  # passes over the examples, as planned (pair_iterations, or the step cap)
    checks = {int(total * f) for f in (0.25, 0.5, 0.75, 1.0)} - {0} if va_seqs else set()
    if s.few_shot_freeze_embeddings:
        for p in model.albert.embeddings.parameters():
            p.requires_grad_(False)
    opt = torch.optim.AdamW([p for p in model.albert.parameters() if p.requires_grad], lr=s.few_shot_lr,
                            weight_decay=0.0)
    warm = max(1, int(0.1 * total))

    def head_and_eval(step):
        fit_head(model, embed_all(model, tr_seqs), tr_y, n_cls, s.seed)
        ev, vloss, _ = _val_eval(model, va_seqs, va_y, classes)
        run.evaluated(step, total, step / per_pass, ev, vloss)

    if va_seqs:
        head_and_eval(0)
    model.train()
    pairs = 0
    for step, batch in enumerate(batches, 1):
        run.check()
        ids, mask = _tensors([tr_seqs[i] for i in batch])
        e = torch.nn.functional.normalize(model.embed(ids, mask, torch.zeros_like(ids)), dim=-1)
        yb = torch.tensor([tr_y[i] for i in batch])
        same = (yb[:, None] == yb[None, :]).float()
        upper = torch.triu(torch.ones_like(same), diagonal=1).bool()
        sim, target = (e @ e.T)[upper], same[upper]
        # positives and negatives weigh the same, whatever their counts in the batch
        w = torch.where(target > 0, 0.5 / target.sum().clamp(min=1), 0.5 / (1 - target).sum().clamp(min=1))
        loss = (w * (sim - target) ** 2).sum()
        pairs += int(upper.sum())
        for g in opt.param_groups:
            g["lr"] = s.few_shot_lr * (step / warm if step <= warm else max(0.0, (total - step) / max(1, total - warm)))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        run.step(step, total, step / per_pass, loss.item())
        if step in checks:
            head_and_eval(step)
            model.train()
    if total not in checks:
        fit_head(model, embed_all(model, tr_seqs), tr_y, n_cls, s.seed)
    model.eval()
    return {"steps": total, "epochs_run": 1, "pairs": pairs}


# -- comparison


def tfidf_baseline(tr_texts, tr_y, va_texts, va_y, classes, seed: int) -> Evaluation:
    """TF-IDF + logistic regression on the same split: the bar a neural model has to clear."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
    X = vec.fit_transform(tr_texts)
    clf = LogisticRegression(C=10.0, max_iter=2000, class_weight="balanced", random_state=seed).fit(X, tr_y)
    return evaluate(va_y, clf.predict(vec.transform(va_texts)).tolist(), classes, "TF-IDF + logistic regression")


def installed_classifier(folder: str | Path, threads: int = 0, device: str = "auto", graph: str | None = None):
    """An installed classifier loaded as the app loads it (core ONNX path), on `device`, without the per-CPU
    session tuning: these loads only score a graph once, and tuning a graph exported seconds ago probes its
    configurations first (5.7 s a load here; four loads were 23 of a 64-example fine-tune's 161 s). The app
    tunes the new model the first time it opens it."""
    from app.core.registry import read_manifest
    from app.core.runtime import RuntimeOptions
    from app.core.task_model import load_task_model

    return load_task_model(read_manifest(Path(folder)),
                           RuntimeOptions(device=device, intra_op_threads=threads, tune=False), graph=graph)


def evaluate_installed(folder: str, va_texts, va_y, classes, threads: int = 0,
                       device: str = "auto") -> Evaluation | None:
    """Score an installed classifier (through the core ONNX path, on `device`) on the validation split, if its
    labels fit; None when it cannot be loaded or its labels differ."""
    try:
        m = installed_classifier(folder, threads, device)
    except ModelError:
        return None
    if set(m.labels) != set(classes):
        return None
    index = {c: i for i, c in enumerate(classes)}
    pred = [index[m.labels[int(k)]] for k in m.probabilities(list(va_texts)).argmax(1)]
    return evaluate(va_y, pred, classes, f"{m.manifest.id} {m.manifest.version}")


# -- export


def _export_onnx(model, folder: Path) -> None:
    import torch

    model.eval()
    ids = torch.tensor([[2, 7592, 2088, 999, 3], [2, 7592, 3, 0, 0]]) % model.albert.config.vocab_size
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    torch.onnx.export(
        model, (ids, mask, torch.zeros_like(ids)), str(folder / "model.onnx"), dynamo=False, opset_version=17,
        input_names=INPUTS, output_names=["logits"],
        dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                      "token_type_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch"}},
    )
    from app.training.common import quantize_int8

    quantize_int8(folder / "model.onnx", folder / "model.int8.onnx")


def _graph_agreement(folder: Path, texts, s: TrainSettings) -> float:
    """Share of texts on which the exported int8 and fp32 graphs give the same label (a quantization check
    that needs no held-out labels: the refit model has seen every labelled example)."""
    a = installed_classifier(folder, s.threads, s.device, graph="int8").probabilities(texts).argmax(1)
    b = installed_classifier(folder, s.threads, s.device, graph="fp32").probabilities(texts).argmax(1)
    return round(float((a == b).mean()), 4)


def _save_weights(model, folder: Path) -> None:
    """fp16 safetensors + config (like the shipped encoder) and the head, so this model can be a base."""
    import copy

    import torch
    from safetensors.torch import save_file

    enc = copy.deepcopy(model.albert).to(torch.float16)
    enc.save_pretrained(str(folder), safe_serialization=True)
    save_file({k: v.detach().float().contiguous() for k, v in model.head.state_dict().items()},
              str(folder / "head.safetensors"))


def refit_lines(report: dict) -> list[str]:
    """What the report says about the class names and the refit on every example (card and text report)."""
    out = []
    names = report.get("name_hints") or {}
    alone = (f"the names alone label {names['names_alone_accuracy']:.0%} of the training examples, "
             f"p = {names['p_value']:.3f} against chance" if "p_value" in names else "")
    if names.get("used"):
        out.append("- the class names joined the examples as short sentences (\"This text is about ...\")"
                   + (f": {alone}" if alone else ""))
    elif alone:
        out.append(f"- the class names were not used: {alone}")
    r = report.get("refit")
    if r:
        out.append(f"- after validation the model was trained again, by the same recipe, on all {r['n_train']} "
                   f"examples: that is the installed model; the scores below are of the run that held the "
                   f"validation split out" + (f" (int8 and fp32 graphs agree on {r['int8_agreement']:.1%} of the "
                                               f"validation texts)" if "int8_agreement" in r else ""))
    return out


def _card(manifest: dict, report: dict) -> str:
    ev = report["evaluation"]
    lines = [
        f"# {manifest['name']}", "",
        f"Fine-tuned in Albert Studio on {report['created']} from `{manifest['base_model']}` "
        f"({report['mode']} recipe)." + (f" The base was {report['base_note']}." if report.get("base_note") else ""), "",
        "## Data", "",
        f"- source: {report['data_source'] or 'library labels'}",
        f"- {report['n_train'] + report['n_val']} labelled examples: {report['n_train']} to train, "
        f"{report['n_val']} held out for validation (stratified, seed {report['seed']})",
        "- per class: " + ", ".join(f"{k} {v}" for k, v in report["counts"].items()),
        *refit_lines(report), "",
        "## Validation (held-out split; " + ("the same recipe trained on the split)" if report.get("refit")
                                              else "this exported graph)"), "",
        f"accuracy {ev['accuracy']:.3f}, macro-F1 {ev['macro_f1']:.3f}", "",
        "| class | precision | recall | F1 | support |", "|---|---|---|---|---|",
    ]
    lines += [f"| {k} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |"
              for k, v in ev["per_class"].items()]
    lines += ["", "Comparison on the same split:", "", "| model | accuracy | macro-F1 |", "|---|---|---|"]
    for key in ("evaluation", "evaluation_fp32", "previous", "baseline"):
        e = report.get(key)
        if e:
            lines.append(f"| {e['model']} | {e['accuracy']:.3f} | {e['macro_f1']:.3f} |")
    lines += ["", "## Limits", "",
              "Validation is small when the data is small; the scores above carry wide error bars. "
              "The temperature used to calibrate probabilities was fitted on the validation split.", ""]
    return "\n".join(lines)


@dataclass
class Trained:
    """A trained classifier still in memory, with the split it was validated on (for export or benchmarks)."""

    model: Any
    tokenizer: Any
    tokenizer_file: Path
    report: dict
    val_texts: list
    val_y: list
    val_logits: Any
    run: Any
    validated: Any = None  # the model trained on the split and scored on validation (= model unless refit)


def train_model(data: LabeledDataset, s: TrainSettings, emit: Callable[[dict], None] = lambda e: None,
                should_stop: Callable[[], bool] = lambda: False) -> Trained:
    """Split, train with the chosen recipe, score on the validation split and against TF-IDF (and the previous
    model); then, when `wants_refit`, train again by the same recipe on every example (`Trained.model`)."""
    import torch

    from app.core.encoder_text import EncoderTokenizer
    from app.training.common import seed_everything

    run = _Run(emit, should_stop)
    torch.set_num_threads(s.threads or max(1, min(os.cpu_count() or 1, 4)))
    seed_everything(s.seed)
    base = Path(s.base)
    mode = choose_mode(data, s)
    classes = data.classes
    order = canonical_order(data, s.seed)  # the same labels in any order make the same model
    texts = [data.texts[i] for i in order]
    y = [data.label_ids[i] for i in order]
    tr, va = stratified_split(y, s.val_fraction, s.seed)
    refit = wants_refit(mode, s)
    run.plan(refit, s.export)
    run.phase("preparing", f"Preparing: {mode} recipe, {len(tr)} examples to train, {len(va)} held back"
                           + (f", then all {len(y)}" if refit else ""))
    tok_file = _tokenizer_file(base)
    tok = EncoderTokenizer(tok_file, s.max_length)
    seqs = tok.encode(texts)
    tr_seqs, tr_y = [seqs[i] for i in tr], [y[i] for i in tr]
    va_seqs, va_y = [seqs[i] for i in va], [y[i] for i in va]
    va_texts = [texts[i] for i in va]
    model = load_base(base, classes)
    untrained = copy.deepcopy(model) if refit else None  # the refit starts here again (reading the base took 2.6 s)
    top = _train_top_layers(base, model, untrained, s, run)
    run.check()
    names = {"used": False}
    name_seqs, name_y = [], []
    if mode == "few-shot" and s.name_hints != "never":
        name_texts, ny = label_name_examples(classes)
        name_seqs = tok.encode(name_texts)
        if s.name_hints == "always":
            names = {"used": True, "why": "asked for"}
        else:  # decided on the training part only: the validation split stays unseen
            use, acc, p = label_names_help(embed_all(model, tr_seqs).numpy(), tr_y,
                                           embed_all(model, name_seqs).numpy(), ny)
            names = {"used": use, "names_alone_accuracy": round(acc, 4), "p_value": round(p, 4)}
        if names["used"]:
            name_y = ny
            run.note("The class names join the examples (they predict your labels)")
        else:
            name_seqs = []
    recipe = train_few_shot if mode == "few-shot" else train_standard
    run.phase("training", f"Training on {len(tr)} examples, {len(va)} held back")
    info = recipe(model, tr_seqs + name_seqs, tr_y + name_y, va_seqs, va_y, classes, s, run)
    train_seconds = time.time() - run.t0
    run.check()
    run.phase("checking", f"Checking on {len(va)} held-back examples (and TF-IDF on the same split)")
    ev_torch, _, va_logits = _val_eval(model, va_seqs, va_y, classes)
    report = {
        "model_id": s.model_id, "name": s.name or s.model_id, "mode": mode, "base": s.base_id or base.name,
        "classes": list(classes), "n_train": len(tr), "n_val": len(va), "counts": data.counts(),
        "data_source": data.source, "seed": s.seed, "history": run.history, "train_seconds": round(train_seconds, 1),
        "created": time.strftime("%Y-%m-%d %H:%M"), "warnings": list(data.warnings), "base_note": s.base_note,
        "settings": {k: v for k, v in asdict(s).items() if k not in ("base", "models_dir", "previous")},
        "task": model_task(classes), "unit": classifier_unit([texts[i] for i in tr], s),
        "evaluation": {**ev_torch.as_dict(), "model": f"{s.model_id} (new, torch)"},
        "name_hints": names, "refit": None,
        **info,
    }
    report["baseline"] = tfidf_baseline([texts[i] for i in tr], tr_y, va_texts, va_y, classes, s.seed).as_dict()
    prev = evaluate_installed(s.previous, va_texts, va_y, classes, s.threads, s.device) if s.previous else None
    report["previous"] = prev.as_dict() if prev else None
    final = model
    if refit:
        run.phase("refit", f"Training again on all {len(y)} examples")
        seed_everything(s.seed)
        final = untrained
        run.check()
        again = replace(s, epochs=info["best_epoch"]) if mode == "standard" else s
        t0 = time.time()
        if mode == "standard" and again.epochs == 0:  # the starting head (a linear probe) was the best
            fit_head(final, embed_all(final, seqs), y, len(classes), s.seed)
            run.epochs = 0.0
            steps = 0
        else:
            steps = recipe(final, seqs + name_seqs, y + name_y, [], [], classes, again, run)["steps"]
        report["refit"] = {"n_train": len(y), "steps": steps, "seconds": round(time.time() - t0, 1),
                           **({"epochs": again.epochs} if mode == "standard" else {})}
        report["train_seconds"] = round(time.time() - run.t0, 1)
        run.check()
    if top:
        from app.training.frozen_layers import unwrap

        report["train_top_layers"] = top
        for m in {id(model): model, id(final): final}.values():
            unwrap(m)
    return Trained(final, tok, tok_file, report, va_texts, va_y, va_logits, run, validated=model)


def _train_top_layers(base: Path, model, untrained, s: TrainSettings, run: _Run) -> int:
    """Wrap the encoders when only their top layers train: the frozen layers run once per example, and the
    refit's copy reads the same states. Returns how many layers train (0: all)."""
    top = top_layers_to_train(base, model, s)
    if top:
        from app.training.frozen_layers import wrap

        shared = wrap(model, top)
        if untrained is not None:
            wrap(untrained, top, shared)
        run.note(f"Training the top {top} of {len(model.albert.inner.encoder.layer)} layers (the rest are computed once)")
    return top


def top_layers_to_train(base: Path, model, s: TrainSettings) -> int:
    """How many top layers to train (0: all): the setting, or when it is -1 what the base's manifest says
    (fine_tune.train_top_layers; the accurate base says 4 of its 12); 0 where the encoder cannot be split."""
    from app.training.frozen_layers import splittable

    top = s.train_top_layers
    if top < 0:
        try:
            m = json.loads((base / "manifest.json").read_text(encoding="utf-8"))
            top = int((m.get("fine_tune") or {}).get("train_top_layers") or 0)
        except (OSError, ValueError, TypeError):
            top = 0
    n = splittable(model.albert)
    return top if 0 < top < n else 0


def fine_tune(data: LabeledDataset, s: TrainSettings, emit: Callable[[dict], None] = lambda e: None,
              should_stop: Callable[[], bool] = lambda: False) -> dict:
    """Train, evaluate, export and register one model; returns the report as plain values."""
    import numpy as np

    from app.core.registry import graph_inputs, write_manifest
    from app.training.sentiment import fit_temperature

    t = train_model(data, s, emit, should_stop)
    model, report, run, tok_file = t.model, t.report, t.run, t.tokenizer_file
    va_texts, va_y, va_logits, classes = t.val_texts, t.val_y, t.val_logits, data.classes
    base = Path(s.base)
    if not s.export:
        report["seconds"] = round(time.time() - run.t0, 1)
        return report

    run.phase("exporting", "Exporting ONNX fp32 + int8 and scoring the exported graphs")
    models_dir = Path(s.models_dir)
    dest = models_dir / s.model_id
    if dest.exists():
        raise ModelError(f"A model with id '{s.model_id}' is already installed; choose another name.")
    stage = models_dir / STAGING / f"{s.model_id}-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    validated = t.validated if t.validated is not None else model
    try:
        _export_onnx(validated, stage)  # the validated model's graphs are scored below
        run.check()
        _save_weights(model, stage)
        shutil.copy(tok_file, stage / "tokenizer.json")
        T = fit_temperature(va_logits.numpy(), np.asarray(va_y))
        base_man = json.loads((base / "manifest.json").read_text()) if (base / "manifest.json").exists() else {}
        task = report["task"]
        manifest = {
            "id": s.model_id, "version": "1.0.0", "task": task, "name": s.name or s.model_id,
            **({"classification": {"name": classification_name(s.task_name or s.name or s.model_id),
                                   "unit": report["unit"]}} if task == "classification" else {}),
            "architecture": model.albert.config.model_type, "languages": base_man.get("languages", ["en"]),
            "labels": list(classes),
            "max_length": s.max_length,
            "tokenizer": {**base_man.get("tokenizer", {"type": "wordpiece", "lowercase": True}), "file": "tokenizer.json"},
            # what the traced graph takes (an encoder without token types drops that input)
            "graphs": {g: {"file": f, "inputs": graph_inputs(stage / f)}
                       for g, f in (("fp32", "model.onnx"), ("int8", "model.int8.onnx"))},
            "default_graph": "int8",
            "files": ["model.onnx", "model.int8.onnx", "tokenizer.json", "config.json", "model.safetensors",
                      "head.safetensors"],
            "calibration": {"temperature": T, "fitted_on": "the validation split"},
            "parameters": sum(p.numel() for p in model.parameters()),
            "license": base_man.get("license", ""), "base_model": report["base"],
            "origin": "user", "source": "fine-tuned",
            "training": {k: report[k] for k in ("mode", "n_train", "n_val", "counts", "data_source", "seed",
                                                   "steps", "epochs_run", "train_seconds", "name_hints", "refit")},
        }
        write_manifest(stage, {**manifest, "metrics": {}})
        run.check()
        # score the exported graphs through the same core classifier the app uses
        evs = {g: evaluate_installed(str(stage), va_texts, va_y, classes, s.threads, s.device) for g in ("int8",)}
        fp32 = installed_classifier(stage, s.threads, s.device, graph="fp32")
        ev_fp32 = evaluate(va_y, fp32.probabilities(va_texts).argmax(1).tolist(), classes, f"{s.model_id} (fp32)")
        ev_int8 = evs["int8"]  # None when the int8 graph would not load: then fp32 is the default
        ev_int8 = replace(ev_int8, model=f"{s.model_id} (int8)") if ev_int8 is not None else None
        # int8 by default unless it costs more than a point of accuracy on this split
        default_graph = "int8" if ev_int8 is not None and ev_int8.accuracy >= ev_fp32.accuracy - 0.01 else "fp32"
        chosen = ev_int8 if default_graph == "int8" else ev_fp32
        report["evaluation"] = {**chosen.as_dict(), "model": f"{s.model_id} (new, {default_graph})"}
        report["evaluation_fp32"] = ev_fp32.as_dict()
        report["evaluation_int8"] = ev_int8.as_dict() if ev_int8 is not None else None
        report["default_graph"] = default_graph
        report["temperature"] = T
        if model is not validated:  # the refit on every example replaces the graphs that were scored
            run.note("Exporting the model trained on every example")
            _export_onnx(model, stage)
            write_manifest(stage, {**manifest, "metrics": {}})  # the files' checksums changed
            run.check()
            report["refit"]["int8_agreement"] = _graph_agreement(stage, va_texts, s)
        manifest["default_graph"] = default_graph
        manifest["metrics"] = {"validation": report["evaluation"], "validation_fp32": ev_fp32.as_dict(),
                               "validation_int8": ev_int8.as_dict() if ev_int8 else None, "baseline": report["baseline"],
                               "previous": report["previous"]}
        report["seconds"] = round(time.time() - run.t0, 1)
        (stage / "MODEL_CARD.md").write_text(_card(manifest, report), encoding="utf-8")
        (stage / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
        write_manifest(stage, manifest)
        run.check()
        stage.rename(dest)  # atomic: the model appears complete or not at all
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    report["folder"] = str(dest)
    report["classification_name"] = manifest.get("classification", {}).get("name", "")
    run.emit({"kind": "phase", "phase": "exporting", "message": f"Saved {s.model_id}", "overall": 1.0,
              "seconds": time.time() - run.t0})
    return report


def clean_staging(models_dir: Path) -> None:
    """Remove what killed workers left behind (never visible as models: they live under .staging/)."""
    root = Path(models_dir) / STAGING
    if not root.is_dir():
        return
    for d in root.iterdir():
        pid = d.name.rsplit("-", 1)[-1]
        alive = False
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                os.kill(int(pid), 0)
                alive = True
            except OSError:
                alive = False
        if not alive:
            shutil.rmtree(d, ignore_errors=True)
