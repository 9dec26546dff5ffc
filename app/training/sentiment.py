"""Fine-tune the distilled ALBERT encoder for binary sentiment, calibrate it, export ONNX fp32 + int8.

    python -m app.training.sentiment train --minutes 45     # resumable; run again to continue
    python -m app.training.sentiment export                 # -> models/albert-sentiment-en/
    python -m app.training.sentiment evaluate               # table vs VADER and TF-IDF+LR

Training data: SST-2 train sentences and IMDB train reviews (read as 254-token windows labelled with
the review's label), minus the validation and calibration splits of app.training.sentiment_data.
"""
from __future__ import annotations

import argparse
import copy
import random
import shutil
import time
from pathlib import Path

from app.training.common import (MODELS_DIR, RUNS_DIR, get_logger, optimizer_step, quantize_int8, seed_everything, teacher_dir,
                                 token_budget_batches)
from app.training.distill import HELD_OUT_REVIEWS, hidden_mse
from app.training.domain_data import LABELS3
from app.training.sentiment_data import clean_review, imdb_splits, imdb_stack_split, sst2_splits

LABELS = ["negative", "positive"]
MODEL_ID = "albert-sentiment-en"
DEFAULT_ENCODER = MODELS_DIR / "albert-encoder-en"
DEFAULT_BASE = "albert-encoder-en (built from sentence-transformers/all-MiniLM-L6-v2)"
DEFAULT_LICENSE = ("Apache-2.0 (weights derived from all-MiniLM-L6-v2, Apache-2.0; trained on SST-2 and IMDB, "
                   "research use)")


def random_window(ids: list[int], room: int, rng: random.Random) -> list[int]:
    """A random span of at most `room` tokens of a long sequence (the whole sequence if it fits)."""
    start = rng.randrange(0, max(1, len(ids) - room + 1)) if len(ids) > room else 0
    return ids[start:start + room]


def build_examples(tokenizer, max_len: int, imdb_windows_per_epoch: int, seed: int, epoch: int = 0):
    """SST-2 training rows plus one random window from each of `imdb_windows_per_epoch` IMDB reviews."""
    sst_train, _, _ = sst2_splits()
    rng = random.Random(seed)
    ids = tokenizer([t for t, _ in sst_train], add_special_tokens=False)["input_ids"]
    ex = [(i[: max_len - 2], y) for i, (_, y) in zip(ids, sst_train) if i]
    ex += imdb_windows(tokenizer, max_len, imdb_windows_per_epoch, seed, epoch)
    rng.shuffle(ex)
    return ex


def imdb_windows(tokenizer, max_len: int, n: int, seed: int, epoch: int = 0):
    """One random window from each of `n` IMDB training reviews. Each epoch takes the next slice of (shuffled)
    reviews, so a run of several epochs sees that many different reviews instead of the same windows again;
    the document head's stack reviews stay unseen."""
    imdb_train, _ = imdb_stack_split()
    rng = random.Random(seed)
    rng.shuffle(imdb_train)
    lo = (epoch * n) % max(1, len(imdb_train))
    chosen = (imdb_train + imdb_train)[lo:lo + n]
    rng = random.Random(seed * 1000 + epoch)
    ids = tokenizer([t for t, _ in chosen], add_special_tokens=False)["input_ids"] if chosen else []
    return [(random_window(i, max_len - 2, rng), y) for i, (_, y) in zip(ids, chosen)]


def build_domain_examples(tokenizer, max_len: int, seed: int, epoch: int = 0, sst_sample: int = 0,
                          captions: int = 4000, min_airline_confidence: float = 0.5):
    """The other domains' training rows (app.training.domain_data) as (ids, label index into LABELS3):
    sentences whole, Blitzer reviews as one random window each epoch, Multi30k captions as neutral, airline
    tweets whose annotators agreed less than `min_airline_confidence` left out. With `sst_sample`, only that
    many SST-2 rows (a fresh sample each epoch) join, so the movie reviews do not drown the new domains."""
    from app.training.domain_data import LABELS3, all_splits
    from app.training.domain_data import captions as caption_rows

    rng = random.Random(seed * 1000 + epoch + 3)
    rows = []
    for name, (train_rows, _) in all_splits().items():
        rows += [r for r in train_rows if not (name == "airline" and r.weight < min_airline_confidence)]
    rows += caption_rows("train", captions, seed=seed + epoch)
    room = max_len - 2
    ex = []
    ids = tokenizer([r.text for r in rows], add_special_tokens=False)["input_ids"]
    for i, r in zip(ids, rows):
        if i:
            ex.append((random_window(i, room, rng) if r.kind == "document" else i[:room], LABELS3.index(r.label)))
    if sst_sample:
        sst_train, _, _ = sst2_splits()
        full = [(t, y) for t, y in sst_train if len(t.split()) >= 4]  # whole sentences, not SST's sub-phrases
        rng.shuffle(full)
        sids = tokenizer([t for t, _ in full[:sst_sample]], add_special_tokens=False)["input_ids"]
        ex += [(i[:room], y) for i, (_, y) in zip(sids, full[:sst_sample]) if i]
    return ex


UNLABELLED = -100  # label of a transfer-set row: only the teacher's soft targets train on it


def build_transfer(tokenizer, max_len: int, n_sentences: int, n_windows: int, seed: int, epoch: int = 0):
    """Unlabelled transfer set for distillation: sentences and review windows from the 50k unlabelled
    IMDB reviews (minus the encoder's held-out agreement slice), a fresh slice of reviews each epoch.

    Movie-review sentences are close to SST-2's (Rotten Tomatoes snippets), so the teacher's soft
    labels on them carry its sentence-level judgement over to the student (Tang et al. 2019;
    TinyBERT's augmented task distillation, Jiao et al. 2020). Labels are UNLABELLED.
    """
    from app.core.segment import split_sentences
    from app.training.common import DATA_DIR, read_jsonl

    if not n_sentences and not n_windows:
        return []
    texts = [r["text"] for r in read_jsonl(DATA_DIR / "unlabeled-en" / "imdb-unsup.jsonl")][:-HELD_OUT_REVIEWS]
    rng = random.Random(seed)
    rng.shuffle(texts)
    # each epoch reads its own reviews: about 9 usable sentences per review
    per_epoch = n_sentences // 6 + n_windows + 1
    lo = (epoch * per_epoch) % len(texts)
    chosen = [clean_review(t) for t in (texts + texts)[lo:lo + per_epoch]]
    rng = random.Random(seed * 1000 + epoch + 7)
    sents, windows = [], []
    for k, text in enumerate(chosen):
        if k < n_windows:
            windows.append(text)
        else:
            sents += [s.text for s in split_sentences(text) if 5 <= len(s.text.split()) <= 60]
    rng.shuffle(sents)
    sents = sents[:n_sentences]
    room = max_len - 2
    ex = []
    for ids in tokenizer(sents, add_special_tokens=False)["input_ids"] if sents else []:
        if ids:
            ex.append((ids[:room], UNLABELLED))
    for ids in tokenizer(windows, add_special_tokens=False)["input_ids"] if windows else []:
        ex.append((random_window(ids, room, rng), UNLABELLED))
    return ex


def embedding_neighbours(words, k: int = 8) -> dict[str, list[str]]:
    """For each word that is one WordPiece of the teacher's vocabulary: its `k` nearest whole-word tokens by
    cosine similarity of the teacher's input embeddings (a local stand-in for the GloVe neighbours TinyBERT's
    augmentation uses). Antonyms can be neighbours; that is fine, the teacher labels every variant anew."""
    import numpy as np
    from safetensors.numpy import load_file

    weights = load_file(str(teacher_dir() / "model.safetensors"))
    key = next(n for n in weights if n.endswith("word_embeddings.weight"))
    emb = weights[key].astype(np.float32)
    vocab = [l.rstrip("\n") for l in open(teacher_dir() / "vocab.txt", encoding="utf-8")]
    index = {w: i for i, w in enumerate(vocab)}
    whole = np.array([i for i, w in enumerate(vocab) if w.isalpha() and len(w) > 1])
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True).clip(1e-6)
    cand = unit[whole]
    asked = sorted({w for w in words if w in index and w.isalpha()})
    out: dict[str, list[str]] = {}
    for lo in range(0, len(asked), 2048):
        chunk = asked[lo:lo + 2048]
        sims = unit[[index[w] for w in chunk]] @ cand.T
        top = np.argpartition(-sims, k + 1, axis=1)[:, : k + 1]
        for w, row, s in zip(chunk, top, sims):
            best = [vocab[whole[j]] for j in row[np.argsort(-s[row])]]
            out[w] = [b for b in best if b != w][:k]
    return out


def augment_sentences(rows, n_per: int, seed: int, neighbours: dict[str, list[str]],
                      p_mask: float = 0.1, p_swap: float = 0.1, p_ngram: float = 0.25) -> list[str]:
    """Tang et al. 2019's augmentation (section 3.1) of whitespace-tokenized sentences, `n_per` variants each:
    every word becomes [MASK] with probability p_mask, else with probability p_swap one of its embedding
    neighbours; then, with probability p_ngram, the variant is cut to a random n-gram (n = 1..5). Variants
    equal to their source are dropped. They carry no label: the teacher's soft targets train on them."""
    rng = random.Random(seed)
    out = []
    for text in rows:
        words = text.split()
        if not words:
            continue
        for _ in range(n_per):
            new = []
            for w in words:
                r = rng.random()
                if r < p_mask:
                    new.append("[MASK]")
                elif r < p_mask + p_swap and neighbours.get(w):
                    new.append(rng.choice(neighbours[w]))
                else:
                    new.append(w)
            if rng.random() < p_ngram and len(new) > 1:
                n = rng.randint(1, min(5, len(new) - 1))
                start = rng.randrange(0, len(new) - n + 1)
                new = new[start:start + n]
            variant = " ".join(new)
            if variant != text and variant != "[MASK]":
                out.append(variant)
    return out


def build_augmented(tokenizer, max_len: int, n_per: int, seed: int, epoch: int = 0, neighbours=None):
    """Augmented SST-2 training sentences (5 words or more) for the transfer set, new variants each epoch."""
    if not n_per:
        return []
    sst_train, _, _ = sst2_splits()
    src = [t for t, _ in sst_train if len(t.split()) >= 5]
    if neighbours is None:
        neighbours = embedding_neighbours({w for t in src for w in t.split()})
    texts = augment_sentences(src, n_per, seed * 1000 + epoch + 11, neighbours)
    room = max_len - 2
    return [(ids[:room], UNLABELLED) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"] if ids]


def token_batches(examples, max_tokens: int, seed: int):
    """Batches of similar length within a token budget, in a shuffled order ([CLS]/[SEP] counted)."""
    return token_budget_batches([len(ex[0]) + 2 for ex in examples], max_tokens, seed)


def collate(examples, batch, cls_id, sep_id):
    import torch

    seqs = [[cls_id, *examples[k][0], sep_id] for k in batch]
    L = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), L, dtype=torch.long)
    mask = torch.zeros(len(seqs), L, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    y = torch.tensor([examples[k][1] for k in batch])
    return ids, mask, y


def distill_loss(logits, teacher_logits, y, alpha: float, T: float):
    """Mean over the batch of alpha * CE + (1 - alpha) * T^2 KL(teacher || student) for labelled rows and
    of the KL term alone for transfer rows (label UNLABELLED)."""
    import torch

    p_t = torch.softmax(teacher_logits / T, -1)
    kd = (p_t * (torch.log(p_t.clamp_min(1e-9)) - torch.log_softmax(logits / T, -1))).sum(-1) * T * T
    ce = torch.nn.functional.cross_entropy(logits, y.clamp_min(0), reduction="none")
    return torch.where(y != UNLABELLED, alpha * ce + (1 - alpha) * kd, kd).mean()


def _examples_per_epoch(args, tokenizer):
    """epoch -> that epoch's training examples (a new IMDB slice each epoch; with --domains the other
    domains' data and three labels)."""
    neighbours = None
    if args.augment:
        sst_train, _, _ = sst2_splits()
        neighbours = embedding_neighbours({w for t, _ in sst_train for w in t.split()})

    soft = None
    if getattr(args, "soft", None):
        # offline distillation: the rows and the teacher's logits written by app.training.teacher_sentiment
        from app.training.common import read_jsonl

        rows = list(read_jsonl(args.soft))
        ids = tokenizer([r["text"] for r in rows], add_special_tokens=False)["input_ids"]
        room = args.max_len - 2
        soft = [(i[:room], int(r["y"]) if int(r["y"]) >= 0 else UNLABELLED, r["logits"]) for i, r in zip(ids, rows) if i]

    def epoch_examples(e):
        if soft is not None:
            ex = list(soft)
            random.Random(args.seed + e).shuffle(ex)
            return ex
        if args.domains:
            # the new domains + a sample of SST-2 sentences + IMDB windows; three labels with neutral
            ex = build_domain_examples(tokenizer, args.max_len, args.seed, e, args.sst_sample, args.captions)
            ex += imdb_windows(tokenizer, args.max_len, args.imdb_windows, args.seed, e)
            random.Random(args.seed + e).shuffle(ex)
            return ex
        ex = build_examples(tokenizer, args.max_len, args.imdb_windows, args.seed, e)
        ex += build_transfer(tokenizer, args.max_len, args.transfer_sentences, args.transfer_windows, args.seed, e)
        ex += build_augmented(tokenizer, args.max_len, args.augment, args.seed, e, neighbours)
        return ex

    return epoch_examples


def _model(args, log):
    """The model to fine-tune and the folder it starts from: the ALBERT encoder (widened to --groups, frozen
    below --freeze-below) or, with --arch bert, the MiniLM teacher itself (the comparison row)."""
    import torch
    from transformers import AlbertForSequenceClassification, AutoModelForSequenceClassification

    cls = AlbertForSequenceClassification if args.arch == "albert" else AutoModelForSequenceClassification
    encoder = args.encoder if args.arch == "albert" or args.encoder != DEFAULT_ENCODER else teacher_dir()
    extra = {"classifier_dropout_prob": 0.1} if args.arch == "albert" else {}
    if getattr(args, "dropout", None) is not None:  # the ALBERT-ized teacher is saved without dropout; fine-tuning wants some
        extra.update(hidden_dropout_prob=args.dropout, attention_probs_dropout_prob=args.dropout)
    labels = list(LABELS3) if args.domains else LABELS
    model = cls.from_pretrained(
        str(encoder), num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)},
        attn_implementation="eager", dtype=torch.float32, **extra,
    )
    if args.groups and args.arch == "albert" and args.groups != model.config.num_hidden_groups:
        # more capacity for the student: split the all-shared layer into groups that start as copies of it
        from app.training.distill import check_groups, widen_groups

        if model.config.num_hidden_groups != 1:
            raise SystemExit(f"--groups {args.groups}: widening needs an all-shared base (this one has "
                             f"{model.config.num_hidden_groups} groups)")
        check_groups(model.config.num_hidden_layers, args.groups)
        cfg = copy.deepcopy(model.config)
        cfg.num_hidden_groups = args.groups
        wide = cls(cfg)
        wide.load_state_dict(widen_groups(model.state_dict(), args.groups, log))
        model = wide
    if getattr(args, "freeze_below", 0):
        # keep the embeddings and the first layer groups as they are: heads that read those layers' hidden
        # states (the sentence head, the summary scorer read layer 4) stay valid while the top is retrained
        if args.arch != "albert" or model.config.num_hidden_groups != model.config.num_hidden_layers:
            raise SystemExit("--freeze-below needs an ALBERT with one layer per group")
        trainable = tuple(f"albert.encoder.albert_layer_groups.{g}." for g in
                          range(args.freeze_below, model.config.num_hidden_groups)) + ("albert.pooler", "classifier")
        for name, p in model.named_parameters():
            p.requires_grad = name.startswith(trainable)
        log.info(f"frozen below layer group {args.freeze_below}: "
                 f"{sum(p.numel() for p in model.parameters() if p.requires_grad):,} parameters train")
    return model, encoder


def _teacher(args, model, log):
    """The fine-tuned teacher of --distill-from (None without it), checked against the student."""
    import torch
    from transformers import AutoModelForSequenceClassification

    teacher = None
    if args.distill_from:
        # knowledge distillation (Hinton et al. 2015): soft targets of a fine-tuned teacher, online
        teacher = AutoModelForSequenceClassification.from_pretrained(
            str(args.distill_from), attn_implementation="eager", dtype=torch.float32).eval()
        log.info(f"distilling from {args.distill_from}: alpha {args.kd_alpha} (hard-label share), T {args.kd_temp}")
        sc, tc = model.config, teacher.config
        if args.hidden_weight and (sc.num_hidden_layers, sc.hidden_size) != (tc.num_hidden_layers, tc.hidden_size):
            raise SystemExit(f"--hidden-weight needs a teacher of the student's depth and width: student "
                             f"{sc.num_hidden_layers} x {sc.hidden_size}, teacher {tc.num_hidden_layers} x {tc.hidden_size}")
    return teacher


def train(args) -> None:
    """Fine-tune (or distil into) the sentiment model, resumable from its checkpoint; saves out/final."""
    import torch
    from transformers import AutoTokenizer

    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    log = get_logger("sentiment", out / "train.log")
    tokenizer = AutoTokenizer.from_pretrained(str(teacher_dir()))
    off = args.epoch_offset
    if (args.transfer_sentences or args.transfer_windows or args.hidden_weight or args.augment) and not args.distill_from:
        raise SystemExit("--transfer-sentences, --transfer-windows, --augment and --hidden-weight need --distill-from (a teacher)")
    epoch_examples = _examples_per_epoch(args, tokenizer)
    per_epoch = [epoch_examples(off)]
    n_tx = sum(1 for _, y in per_epoch[0] if y == UNLABELLED)
    log.info(f"{len(per_epoch[0])} training examples per epoch ({args.imdb_windows} IMDB reviews each epoch, "
             f"{n_tx} unlabelled transfer rows)")
    epoch_batches = [token_batches(per_epoch[0], args.max_tokens, args.seed)]
    steps_per_epoch = len(epoch_batches[0])
    total = steps_per_epoch * args.epochs
    ckpt = out / "checkpoint.pt"
    model, encoder = _model(args, log)
    log.info(f"base {encoder} ({args.arch}, {sum(p.numel() for p in model.parameters()):,} parameters), "
             f"{steps_per_epoch} steps per epoch x {args.epochs}")
    teacher = _teacher(args, model, log)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr, weight_decay=0.01)
    step = 0
    if ckpt.exists():
        st = torch.load(ckpt, map_location="cpu", weights_only=True)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step = st["step"]
        log.info(f"resumed at step {step}/{total}")
    warm = max(1, int(0.06 * total))

    def lr_at(s):
        return args.lr * (s + 1) / warm if s < warm else args.lr * max(0.0, (total - s) / (total - warm))

    model.train()
    t0, tokens, last = time.time(), 0, time.time()
    lossf = torch.nn.CrossEntropyLoss()
    run_loss = run_hid = None
    while step < total and time.time() - t0 < args.minutes * 60:
        ep, k = divmod(step, steps_per_epoch)
        while len(epoch_batches) <= ep:
            e = len(epoch_batches)
            per_epoch.append(epoch_examples(e + off))
            epoch_batches.append(token_batches(per_epoch[e], args.max_tokens, args.seed + e))
        examples, order = per_epoch[ep], epoch_batches[ep]
        if k >= len(order):  # a later epoch packed into fewer batches: move on
            step += 1
            continue
        ids, mask, y = collate(examples, order[k], tokenizer.cls_token_id, tokenizer.sep_token_id)
        hidden = args.hidden_weight > 0
        so = model(input_ids=ids, attention_mask=mask, output_hidden_states=hidden)
        logits = so.logits
        if len(examples[order[k][0]]) == 3:  # offline soft labels from app.training.teacher_sentiment
            tl = torch.tensor([examples[j][2] for j in order[k]], dtype=logits.dtype)
            loss = distill_loss(logits, tl, y, args.kd_alpha, args.kd_temp)
        elif teacher is None:
            loss = lossf(logits, y)
        else:
            with torch.no_grad():
                to = teacher(input_ids=ids, attention_mask=mask, output_hidden_states=hidden)
            loss = distill_loss(logits, to.logits, y, args.kd_alpha, args.kd_temp)
            if hidden:
                # TinyBERT-style intermediate distillation: student layer i matches teacher layer i
                hid = hidden_mse(so.hidden_states, to.hidden_states, mask)
                loss = loss + args.hidden_weight * hid
                run_hid = hid.item() if run_hid is None else 0.98 * run_hid + 0.02 * hid.item()
        optimizer_step(model, opt, loss, lr_at(step))
        step += 1
        tokens += int(mask.sum())
        run_loss = loss.item() if run_loss is None else 0.98 * run_loss + 0.02 * loss.item()
        if step % 20 == 0:
            extra_hid = f" hid {run_hid:.4f}" if run_hid is not None else ""
            log.info(f"step {step}/{total} loss {run_loss:.4f}{extra_hid} lr {lr_at(step):.2e} tok/s {tokens / (time.time() - t0):.0f}")
        if time.time() - last > 300:
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step}, ckpt)
            last = time.time()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step}, ckpt)
    model.save_pretrained(out / "final")
    tokenizer.save_pretrained(out / "final")
    log.info(f"saved at step {step}/{total}")


def init(args) -> None:
    """A training start from a shipped ONNX sentiment model (its fp32 graph rebuilt as PyTorch ALBERT weights,
    app.training.albert_from_onnx), saved where `train --encoder` reads it. With --domains the classifier gains
    a neutral row (zero weights, bias at the mean of the others' minus 2: it starts rarely chosen), so the
    positive/negative decision it starts from is exactly the shipped model's."""
    import torch

    from app.training.albert_from_onnx import load

    model = load(args.init_from)
    tokenizer_src = args.init_from / "tokenizer.json"
    if args.domains:
        old = model.classifier
        new = torch.nn.Linear(old.in_features, len(LABELS3))
        with torch.no_grad():
            new.weight.zero_()
            new.weight[:2] = old.weight
            new.bias[:2] = old.bias
            new.bias[2] = old.bias.mean() - 2.0
        model.classifier = new
        model.config.num_labels = len(LABELS3)
        model.config.id2label = dict(enumerate(LABELS3))
        model.config.label2id = {lab: i for i, lab in enumerate(LABELS3)}
    model.config.classifier_dropout_prob = 0.1
    model.config.hidden_dropout_prob = 0.1 if args.dropout is None else args.dropout
    dest = args.out / "init"
    model.save_pretrained(dest)
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(str(teacher_dir())).save_pretrained(dest)
    print(f"{dest}: {args.init_from} as PyTorch ALBERT, labels {list(model.config.id2label.values())}"
          f" (tokenizer {tokenizer_src.name} of the model = the teacher's)")


def fit_temperature(logits, labels) -> float:
    """Temperature that minimises held-out negative log-likelihood (Guo et al. 2017)."""
    import numpy as np

    best = (1e9, 1.0)
    for T in np.arange(0.5, 4.01, 0.05):
        z = logits / T
        z = z - z.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        nll = -logp[np.arange(len(labels)), labels].mean()
        best = min(best, (nll, float(T)))
    return round(best[1], 2)


def export_onnx(model, path: Path) -> None:
    """A sequence classifier as an ONNX graph with the app's inputs (batch and length dynamic)."""
    import torch

    ids = torch.tensor([[2, 7592, 2088, 999, 3]])
    mask = torch.ones_like(ids)
    tt = torch.zeros_like(ids)
    torch.onnx.export(
        model, (ids, mask, tt), str(path), dynamo=False, opset_version=17,
        input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["logits"],
        dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                      "token_type_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch"}},
    )


def calibrate(graph: Path, tokenizer_file: Path, labels: list[str]) -> tuple[float, str]:
    """(temperature, what it was fitted on): the softmax temperature that minimises the log loss on the
    calibration splits (never validation): SST-2 and IMDB, and with three labels the domains' calibration parts."""
    logits, y, fitted_on = calibration_logits(graph, tokenizer_file, labels)
    return fit_temperature(logits, y), fitted_on


def fit_neutral_offset(graph: Path, tokenizer_file: Path, grid=None) -> tuple[float, dict]:
    """(offset, accuracies): the shift of the neutral logit that makes the most calibration rows' labels right.
    SST-2 / IMDB rows are opinions, so a neutral label counts wrong on them; the domains' calibration parts carry
    their own neutral rows. Never fitted on validation."""
    import numpy as np

    logits, y, _ = calibration_logits(graph, tokenizer_file, list(LABELS3))
    grid = np.round(np.arange(-2.0, 2.01, 0.1), 2) if grid is None else grid
    n = LABELS3.index("neutral")
    acc = {}
    for b in grid:
        z = logits.copy()
        z[:, n] += b
        acc[float(b)] = float((z.argmax(1) == y).mean())
    best = max(acc, key=lambda b: (acc[b], -abs(b)))
    return best, acc


def calibration_logits(graph: Path, tokenizer_file: Path, labels: list[str]):
    """(logits, gold label indices, description) of the graph on the calibration splits."""
    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer

    sess = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    tok = Tokenizer.from_file(str(tokenizer_file))
    tok.no_padding()
    sep = tok.token_to_id("[SEP]")
    _, sst_cal, _ = sst2_splits()
    _, imdb_cal, _ = imdb_splits()
    cal = sst_cal + [(t, y) for t, y in imdb_cal]
    fitted_on = "SST-2 + IMDB calibration splits (not validation)"
    if labels == list(LABELS3):  # neutral needs calibrating too: the domains' calibration parts
        from app.training.domain_data import SETS, split3

        cal += [(r.text, LABELS3.index(r.label)) for s in SETS for r in split3(s)[1]]
        fitted_on = ("SST-2 + IMDB calibration splits and the calibration parts of Financial PhraseBank, SemEval-2014 "
                     "and airline tweets (not validation)")
    logits = []
    for t, _ in cal:
        e = tok.encode(t).ids[:256]
        if e[-1] != sep:
            e = e[:255] + [sep]
        a = np.array([e], dtype=np.int64)
        logits.append(sess.run(["logits"], {"input_ids": a, "attention_mask": np.ones_like(a), "token_type_ids": np.zeros_like(a)})[0][0])
    return np.array(logits), np.array([y for _, y in cal]), fitted_on


def export(args) -> None:
    from transformers import AutoModelForSequenceClassification

    from app.core.registry import write_manifest

    src = args.out / "final"
    model = AutoModelForSequenceClassification.from_pretrained(str(src), attn_implementation="eager").eval()
    arch = model.config.model_type
    dest = args.models / args.model_id
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    params = sum(p.numel() for p in model.parameters())
    export_onnx(model, tmp / "model.onnx")
    print("int8:", quantize_int8(tmp / "model.onnx", tmp / "model.int8.onnx"))
    shutil.copy(teacher_dir() / "tokenizer.json", tmp / "tokenizer.json")
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    T, fitted_on = calibrate(tmp / "model.onnx", tmp / "tokenizer.json", labels)
    write_manifest(tmp, {
        "id": args.model_id, "version": args.version, "task": "sentiment",
        "name": args.name.format(params=params / 1e6) if getattr(args, "name", None) else
                (f"English sentiment (distilled ALBERT, {params / 1e6:.1f}M parameters)" if arch == "albert"
                 else f"English sentiment ({arch}, {params / 1e6:.1f}M parameters)"),
        "architecture": arch, "languages": ["en"], "labels": labels, "max_length": 256,
        "tokenizer": {"type": "wordpiece", "file": "tokenizer.json", "lowercase": True},
        "graphs": {"fp32": {"file": "model.onnx", "inputs": ["input_ids", "attention_mask", "token_type_ids"]},
                   "int8": {"file": "model.int8.onnx", "inputs": ["input_ids", "attention_mask", "token_type_ids"]}},
        "default_graph": args.default_graph,
        "files": ["model.onnx", "model.int8.onnx", "tokenizer.json"],
        "calibration": {"temperature": T, "fitted_on": fitted_on},
        "parameters": params, "metrics": {},  # sentiment_eval writes them
        "license": getattr(args, "license", None) or DEFAULT_LICENSE,
        "base_model": getattr(args, "base_model", None) or DEFAULT_BASE,
        "training_data": ("SST-2 train (GLUE), IMDB Large Movie Review train" if labels != list(LABELS3) else
                          "SST-2 train (GLUE), IMDB Large Movie Review train, and the training parts of UCI sentiment "
                          "sentences (Amazon, Yelp), Financial PhraseBank, Blitzer multi-domain reviews, SemEval-2014 "
                          "restaurants/laptops, Twitter US airline sentiment, Multi30k captions (as neutral)"),
    })
    card = Path(__file__).resolve().parent / "cards" / f"{args.model_id}.md"  # as distill and summary do
    if card.exists():
        shutil.copy(card, tmp / "MODEL_CARD.md")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    print(f"exported to {dest} (temperature {T}, {params:,} parameters)")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["init", "train", "export"])
    ap.add_argument("--init-from", type=Path, default=MODELS_DIR / MODEL_ID,
                    help="init: the shipped ONNX model folder to start from")
    ap.add_argument("--domains", action="store_true",
                    help="three labels (negative, positive, neutral) and the other domains' data (app.training.domain_data)")
    ap.add_argument("--sst-sample", type=int, default=12000, help="with --domains: SST-2 sentences per epoch")
    ap.add_argument("--captions", type=int, default=4000, help="with --domains: Multi30k captions (neutral) per epoch")
    ap.add_argument("--out", type=Path, default=RUNS_DIR / "sentiment")
    ap.add_argument("--encoder", type=Path, default=DEFAULT_ENCODER,
                    help="base encoder folder (default: the shipped albert-encoder-en; with --arch bert: the MiniLM teacher)")
    ap.add_argument("--arch", choices=["albert", "bert"], default="albert",
                    help="bert: fine-tune the MiniLM teacher with the same recipe, for the comparison row")
    ap.add_argument("--distill-from", type=Path, default=None,
                    help="fine-tuned teacher folder (e.g. runs/teacher_sent/final): add its soft targets to the loss")
    ap.add_argument("--soft", type=Path, default=None,
                    help="offline distillation: runs/teacher_sent/soft.jsonl (app.training.teacher_sentiment label), "
                         "its rows and the teacher's logits are the training data (use with --domains)")
    ap.add_argument("--kd-alpha", type=float, default=0.5, help="weight of the hard-label loss when distilling")
    ap.add_argument("--kd-temp", type=float, default=2.0, help="softmax temperature of the distillation loss")
    ap.add_argument("--transfer-sentences", type=int, default=0,
                    help="per epoch: this many unlabelled IMDB sentences trained on the teacher's soft labels only")
    ap.add_argument("--transfer-windows", type=int, default=0,
                    help="per epoch: this many unlabelled IMDB review windows trained on the teacher's soft labels only")
    ap.add_argument("--augment", type=int, default=0,
                    help="per epoch: this many augmented variants of each SST-2 training sentence (Tang et al. 2019), "
                         "trained on the teacher's soft labels only")
    ap.add_argument("--hidden-weight", type=float, default=0.0,
                    help="weight of a per-layer hidden-state MSE to the teacher (same hidden size and depth)")
    ap.add_argument("--dropout", type=float, default=None,
                    help="hidden and attention dropout while training (default: the encoder's own)")
    ap.add_argument("--freeze-below", type=int, default=0,
                    help="train only the layer groups from this index up (0-based), the pooler and the classifier")
    ap.add_argument("--groups", type=int, default=0,
                    help="widen an all-shared ALBERT base into this many shared-layer groups before training")
    ap.add_argument("--epoch-offset", type=int, default=0,
                    help="continue a finished run on the next IMDB slices (pass the epochs already done)")
    ap.add_argument("--model-id", default=MODEL_ID, help="folder name and manifest id of the export")
    ap.add_argument("--models", type=Path, default=MODELS_DIR)
    ap.add_argument("--minutes", type=float, default=45)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--max-len", type=int, default=256)
    ap.add_argument("--max-tokens", type=int, default=4096)
    ap.add_argument("--imdb-windows", type=int, default=8000)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--version", default="1.0.0")
    ap.add_argument("--default-graph", default="int8")
    ap.add_argument("--name", default=None, help="export: the model's display name ({params:.1f} = millions of parameters)")
    ap.add_argument("--base-model", default=DEFAULT_BASE, help="export: where the weights came from, for the manifest")
    ap.add_argument("--license", default=DEFAULT_LICENSE)
    args = ap.parse_args(argv)
    {"init": init, "train": train, "export": export}[args.command](args)


if __name__ == "__main__":
    main()
