"""A cross-lingual sentiment encoder by multilingual knowledge distillation (Reimers & Gurevych 2020).

    python -m app.training.crosslingual vocab            # English vocabulary + French/German word pieces
    python -m app.training.crosslingual init             # student = the English model, embeddings extended
    python -m app.training.crosslingual train --minutes 60   # resumable; run again to continue
    # on a fresh machine, from the shipped fp32 graphs (teacher, then student) and a schedule of its own:
    python -m app.training.albert_from_onnx models/albert-sentiment-en runs/sent3/final
    python -m app.training.albert_from_onnx models/albert-sentiment-xx runs/xling/last
    cp models/albert-sentiment-xx/tokenizer.json runs/xling/
    python -m app.training.crosslingual train --steps 1300 --seed 14 --warmup 100
    python -m app.training.crosslingual export --version 1.0.0
    python -m app.training.crosslingual eval --model models/albert-sentiment-xx

The teacher is the shipped English sentiment model (its fp32 PyTorch weights: runs/sent3/final, the run that
app.training.sentiment wrote; `--teacher` for another). The student starts as a copy of it whose vocabulary is
extended with the word pieces a WordPiece trainer finds in French and German text (new rows start as the mean of
the English pieces the old vocabulary splits them into). On a parallel pair (English, French or German) the
student reads the French or German side and is trained to reproduce what the teacher computes on the English
side: the layer-4 hidden states mean-pooled (what the sentence head and the summary scorer read), the layer-6
hidden states mean-pooled and the classifier's logits (what the document head reads); on the English side it is
trained to stay equal to the teacher (same three targets), and on English sentiment sentences too. The heads of
the English model are then used unchanged.

Parallel text (../shared/data, never the held-back test portions): Tatoeba en-fr and en-de (everyday sentences),
Multi30k train (captions, en-fr and en-de), the WMT toy sample (en-de, Moses-tokenised: detokenised here), and
the documentation corpus when runs/mt_corpus holds it. 1% of each source (by a hash of the English side) is kept
for measuring agreement. Labelled French/German data (fr-tvseries, GermEval 2017) is used only to evaluate.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import re
import shutil
import time
from pathlib import Path

from app.training.common import DATA_DIR, MODELS_DIR, RUNS_DIR, get_logger, save_json, seed_everything

RUN = RUNS_DIR / "xling"
LANGS = ("fr", "de")
MID, TOP = 4, 6  # hidden_states indices: output of layer 4 (hidden_mid) and of layer 6 (hidden_last)
MODEL_ID = "albert-sentiment-xx"
SUMMARY_ID = "albert-summary-xx"


# ---- data -------------------------------------------------------------------------------------

def _detok(line: str) -> str:
    """Moses-tokenised text back to running text (the WMT toy sample)."""
    line = re.sub(r" ([.,;:!?%)\]}])", r"\1", line)
    line = re.sub(r"([(\[{]) ", r"\1", line)
    line = re.sub(r" ' ", "'", line)
    line = re.sub(r' " (.*?) " ', r' "\1" ', line)
    line = line.replace(" @-@ ", "-").replace(" n't", "n't").replace(" 's", "'s")
    return line.strip()


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def _held_out(en: str) -> bool:
    return int(hashlib.sha1(en.encode("utf-8")).hexdigest()[:8], 16) % 100 == 0


def parallel(split: str) -> list[tuple[str, str, str, str]]:
    """(source, lang, English, other) pairs; split "train" or "val" (1% by a hash of the English side)."""
    out: list[tuple[str, str, str, str]] = []

    def add(source: str, lang: str, en_lines, xx_lines, clean=lambda s: s.strip()):
        for e, x in zip(en_lines, xx_lines):
            e, x = clean(e), clean(x)
            if len(e.split()) < 3 or len(x.split()) < 2 or len(e) > 400 or len(x) > 500:
                continue
            if _held_out(e) == (split == "val"):
                out.append((source, lang, e, x))

    for lang in LANGS:
        root = DATA_DIR / f"tatoeba-en-{lang}"
        add("tatoeba", lang, _lines(root / "train.en"), _lines(root / f"train.{lang}"))
        m = DATA_DIR / "multi30k"
        add("multi30k", lang, _lines(m / "train.en"), _lines(m / f"train.{lang}"))
    w = DATA_DIR / "wmt-toy-en-de"
    add("wmt", "de", _lines(w / "train.en"), _lines(w / "train.de"), clean=_detok)
    try:  # the documentation corpus, when built (python -m app.training.mt_corpus)
        from app.training.translation_docs import docs

        for lang, en, xx in docs("train"):
            if _held_out(en) == (split == "val"):
                out.append(("docs", lang, en, xx))
    except Exception:  # noqa: BLE001 - absent or partial corpus: the other sources carry the run
        pass
    return out


def english_sentences(n: int, seed: int) -> list[str]:
    """English sentiment sentences (training parts only) the student must keep reading as the teacher does."""
    from app.training.domain_data import all_splits
    from app.training.sentiment_data import sst2_splits

    rows = [t for t, _ in sst2_splits()[0]]
    for _, (train, _) in all_splits().items():
        rows += [r.text for r in train]
    random.Random(seed).shuffle(rows)
    return rows[:n]


def labelled_sets() -> dict[str, list[tuple[str, str]]]:
    """French and German labelled validation data: fr-tvseries dev, GermEval 2017 dev (all / polar only)."""
    def read(path: Path):
        return [(r["text"], r["label"]) for r in map(json.loads, _lines(path)) if r.get("text")]

    fr = read(DATA_DIR / "fr-tvseries-sentiment" / "dev.jsonl")
    de = read(DATA_DIR / "germeval2017-db" / "dev.jsonl")
    return {"fr-tvseries dev": fr, "germeval2017 dev": de}


# ---- vocabulary -------------------------------------------------------------------------------

def cmd_vocab(args) -> None:
    """Train WordPiece on the French and German sides with the English tokenizer's normalisation; append the
    pieces the English vocabulary lacks (most frequent first, at most --new)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    src = json.loads((args.teacher_folder / "tokenizer.json").read_text())
    pairs = parallel("train")
    texts = [x for _, _, _, x in pairs]
    texts += [t for t, _ in _fr_train()]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                                lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=args.trained, min_frequency=3, special_tokens=["[UNK]"],
                                        continuing_subword_prefix="##")
    tok.train_from_iterator(texts, trainer)
    old = src["model"]["vocab"]
    trained = tok.get_vocab()
    # frequency order: how often each new piece occurs when the French/German text is tokenized
    counts: dict[str, int] = {}
    for enc in tok.encode_batch(texts[:200_000]):
        for t in enc.tokens:
            if t not in old:
                counts[t] = counts.get(t, 0) + 1
    new = [t for t, _ in sorted(counts.items(), key=lambda kv: -kv[1]) if t in trained][:args.new]
    vocab = dict(old)
    for t in new:
        vocab[t] = len(vocab)
    src["model"]["vocab"] = vocab
    RUN.mkdir(parents=True, exist_ok=True)
    (RUN / "tokenizer.json").write_text(json.dumps(src, ensure_ascii=False), encoding="utf-8")
    report = vocab_report(args.teacher_folder / "tokenizer.json", RUN / "tokenizer.json", pairs)
    report["new_pieces"] = len(new)
    save_json(report, RUN / "vocab.json")
    print(json.dumps(report, indent=1))


def _fr_train() -> list[tuple[str, str]]:
    path = DATA_DIR / "fr-tvseries-sentiment" / "train.jsonl"
    return [(r["text"], r["label"]) for r in map(json.loads, _lines(path))]


def vocab_report(old_path: Path, new_path: Path, pairs) -> dict:
    """Pieces per word on each language before and after, and how much English tokenization moved."""
    from tokenizers import Tokenizer

    old, new = Tokenizer.from_file(str(old_path)), Tokenizer.from_file(str(new_path))
    for t in (old, new):
        t.no_padding()
        t.no_truncation()
    sample = random.Random(0).sample(pairs, min(3000, len(pairs)))
    out = {}
    for lang in ("en",) + LANGS:
        texts = [e for _, _, e, _ in sample] if lang == "en" else [x for _, lg, _, x in sample if lg == lang]
        words = sum(len(t.split()) for t in texts)
        a = [old.encode(t).tokens for t in texts]
        b = [new.encode(t).tokens for t in texts]
        out[lang] = {"pieces_per_word_before": round(sum(map(len, a)) / words, 3),
                     "pieces_per_word_after": round(sum(map(len, b)) / words, 3),
                     "texts_tokenized_differently": round(sum(x != y for x, y in zip(a, b)) / len(texts), 4)}
    return out


# ---- model ------------------------------------------------------------------------------------

def cmd_init(args) -> None:
    """Student = teacher with the extended vocabulary: each new row is the mean of the rows of the pieces the
    English vocabulary splits the new piece into."""
    import torch
    from tokenizers import Tokenizer
    from transformers import AlbertForSequenceClassification

    model = AlbertForSequenceClassification.from_pretrained(str(args.teacher), attn_implementation="eager")
    old_tok = Tokenizer.from_file(str(args.teacher_folder / "tokenizer.json"))
    vocab = json.loads((RUN / "tokenizer.json").read_text())["model"]["vocab"]
    old_n = model.config.vocab_size
    model.resize_token_embeddings(len(vocab))
    emb = model.albert.embeddings.word_embeddings.weight
    with torch.no_grad():
        for piece, i in vocab.items():
            if i < old_n:
                continue
            word = piece[2:] if piece.startswith("##") else piece
            ids = [t for t in old_tok.encode(word, add_special_tokens=False).ids]
            if piece.startswith("##") and ids:  # a continuation: its first piece continues too
                cont = old_tok.token_to_id("##" + old_tok.id_to_token(ids[0]))
                ids[0] = cont if cont is not None else ids[0]
            emb[i] = emb[ids].mean(0) if ids else emb[:old_n].mean(0)
    dest = RUN / "init"
    model.save_pretrained(dest)
    shutil.copy(RUN / "tokenizer.json", dest / "tokenizer.json")
    print(f"{dest}: {old_n} -> {len(vocab)} pieces, {sum(p.numel() for p in model.parameters()):,} parameters")


def _pooled(hidden, mask):
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


def _targets(model, ids, mask):
    out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    hs = out.hidden_states
    return _pooled(hs[MID], mask), _pooled(hs[TOP], mask), out.logits


def _batch(tok, texts: list[str], max_len: int):
    import torch

    encs = [tok.encode(t).ids[:max_len] for t in texts]
    for e in encs:
        if e[-1] != 3 and e[-1] != tok.token_to_id("[SEP]"):
            e[-1] = tok.token_to_id("[SEP]")
    n = max(map(len, encs))
    ids = torch.zeros((len(encs), n), dtype=torch.long)
    mask = torch.zeros((len(encs), n), dtype=torch.long)
    for i, e in enumerate(encs):
        ids[i, :len(e)] = torch.tensor(e)
        mask[i, :len(e)] = 1
    return ids, mask


def _loss(student_out, teacher_out, logit_weight: float):
    import torch.nn.functional as F

    s_mid, s_top, s_log = student_out
    t_mid, t_top, t_log = teacher_out
    return F.mse_loss(s_mid, t_mid) + F.mse_loss(s_top, t_top) + logit_weight * F.mse_loss(s_log, t_log)


def cmd_train(args) -> None:
    import torch
    from tokenizers import Tokenizer
    from transformers import AlbertForSequenceClassification

    seed_everything(args.seed)
    torch.set_num_threads(args.threads)
    log = get_logger("xling", RUN / "train.log")
    tok = Tokenizer.from_file(str(RUN / "tokenizer.json"))
    tok.no_padding()
    teacher_tok = Tokenizer.from_file(str(args.teacher_folder / "tokenizer.json"))
    teacher_tok.no_padding()
    teacher = AlbertForSequenceClassification.from_pretrained(str(args.teacher), attn_implementation="eager").eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    ckpt = RUN / "checkpoint.pt"
    start = RUN / "last" if (RUN / "last" / "config.json").exists() else RUN / "init"
    student = AlbertForSequenceClassification.from_pretrained(str(start), attn_implementation="eager")
    student.config.hidden_dropout_prob = 0.0
    student.train()
    pairs = parallel("train")
    rng = random.Random(args.seed)
    rng.shuffle(pairs)
    english = english_sentences(args.english, args.seed)
    steps_per_epoch = math.ceil(len(pairs) / args.batch)
    total = min(args.steps, steps_per_epoch * args.epochs) if args.steps else steps_per_epoch * args.epochs
    emb = [p for n, p in student.named_parameters() if "word_embeddings" in n]
    rest = [p for n, p in student.named_parameters() if "word_embeddings" not in n]
    opt = torch.optim.AdamW([{"params": emb, "lr": args.lr * args.embedding_lr_factor},
                             {"params": rest, "lr": args.lr}], weight_decay=0.01)
    base_lrs = [args.lr * args.embedding_lr_factor, args.lr]
    state = {"step": 0, "seconds": 0.0}
    if ckpt.exists() and start.name == "last":
        st = torch.load(ckpt, map_location="cpu", weights_only=False)
        opt.load_state_dict(st["opt"])
        state = {"step": st["step"], "seconds": st.get("seconds", 0.0)}
        log.info(f"resumed at step {state['step']}/{total} ({state['seconds'] / 60:.1f} min trained so far)")
    else:
        log.info(f"{len(pairs):,} pairs ({', '.join(f'{s} {sum(p[0] == s for p in pairs):,}' for s in sorted({p[0] for p in pairs}))}), "
                 f"{len(english):,} English sentences, {total} steps of {args.batch}")
    t_start, last_save = time.time(), time.time()
    step = state["step"]
    eng_per = max(1, args.batch // 4)
    orders: dict[int, list[list[int]]] = {}
    while step < total and time.time() - t_start < args.minutes * 60:
        epoch, k = divmod(step, steps_per_epoch)
        if epoch not in orders:
            orders = {epoch: _length_batches(pairs, args.batch, args.seed + epoch)}
        chunk = [pairs[i] for i in orders[epoch][k]]
        en = [e for _, _, e, _ in chunk]
        xx = [x for _, _, _, x in chunk]
        eng = sorted((english[(step * eng_per + j) % len(english)] for j in range(eng_per)), key=len)
        eng = [t for t in eng if abs(len(t) - len(en[0])) < 3 * len(en[0]) + 40] or eng[:1]
        lr_scale = min(1.0, (step + 1) / args.warmup) * max(0.05, 0.5 * (1 + math.cos(math.pi * step / total)))
        for g, base in zip(opt.param_groups, base_lrs):
            g["lr"] = base * lr_scale
        with torch.no_grad():
            t_ids, t_mask = _batch(teacher_tok, en + eng, args.max_len)
            t_all = _targets(teacher, t_ids, t_mask)
        t_pair = tuple(t[:len(en)] for t in t_all)
        x_ids, x_mask = _batch(tok, xx, args.max_len)
        e_ids, e_mask = _batch(tok, en + eng, args.max_len)
        loss_x = _loss(_targets(student, x_ids, x_mask), t_pair, args.logit_weight)
        loss_e = _loss(_targets(student, e_ids, e_mask), t_all, args.logit_weight)
        loss = loss_x + args.english_weight * loss_e
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 50 == 0:
            log.info(f"step {step}/{total} loss xx {loss_x.item():.4f} en {loss_e.item():.4f} lr {opt.param_groups[1]['lr']:.2e}")
        if time.time() - last_save > args.save_minutes * 60 or step == total:
            _save(student, opt, step, state["seconds"] + time.time() - t_start)
            last_save = time.time()
    _save(student, opt, step, state["seconds"] + time.time() - t_start)
    log.info(f"saved at step {step}/{total}; {(state['seconds'] + time.time() - t_start) / 60:.1f} min of training in all")


def _length_batches(pairs, batch: int, seed: int) -> list[list[int]]:
    """Batches of pairs of similar length (little padding), in random order; the same for a seed."""
    rng = random.Random(seed)
    order = list(range(len(pairs)))
    rng.shuffle(order)
    out = []
    for i in range(0, len(order), batch * 50):  # sort within pools of 50 batches
        pool = sorted(order[i:i + batch * 50], key=lambda j: len(pairs[j][3]))
        out += [pool[k:k + batch] for k in range(0, len(pool), batch)]
    rng.shuffle(out)
    return out


def _save(student, opt, step: int, seconds: float) -> None:
    _save_run(RUN, RUN, student, opt, step, seconds)


# ---- refinement from the stronger teacher ----------------------------------------------------------

def _text_batches(texts: list[str], batch: int, seed: int) -> list[list[int]]:
    """Batches of texts of similar length (sorted within pools of 50 batches), in random order."""
    idx = list(range(len(texts)))
    random.Random(seed).shuffle(idx)
    pools = [sorted(idx[i:i + batch * 50], key=lambda j: len(texts[j])) for i in range(0, len(idx), batch * 50)]
    out = [p[i:i + batch] for p in pools for i in range(0, len(p), batch)]
    random.Random(seed).shuffle(out)
    return out


REFINE = RUNS_DIR / "xref"


EXTRA_SETS = {"fr-tvseries": "fr-tvseries-sentiment/train.jsonl"}


def _extra_labelled(names: list[str], seed: int) -> list[tuple[str, int]]:
    """(text, label index) rows of labelled non-English training sets (`--extra fr-tvseries`), shuffled."""
    from app.training.domain_data import LABELS3

    rows = []
    for name in names:
        for r in map(json.loads, _lines(DATA_DIR / EXTRA_SETS[name])):
            if r.get("text", "").strip() and r.get("label") in LABELS3:
                rows.append((r["text"], LABELS3.index(r["label"])))
    random.Random(seed).shuffle(rows)
    return rows


def _save_run(out: Path, start: Path, student, opt, step: int, seconds: float) -> None:
    """out/last (weights + tokenizer) and out/checkpoint.pt (optimizer, step, seconds), replaced whole."""
    import torch

    tmp = out / "last.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    student.save_pretrained(tmp)
    shutil.copy(start / "tokenizer.json", tmp / "tokenizer.json")
    torch.save({"opt": opt.state_dict(), "step": step, "seconds": seconds}, out / "checkpoint.pt.tmp")
    shutil.rmtree(out / "last", ignore_errors=True)
    tmp.rename(out / "last")
    (out / "checkpoint.pt.tmp").rename(out / "checkpoint.pt")


def cmd_refine(args) -> None:
    """The cross-lingual model's top layers (5-6, pooler, classifier) distilled from the stronger teacher.

    Layers 1-4 stay frozen, so what the sentence head and the summary scorer read (layer 4) does not move, and
    neither does the French/German alignment below it. Each step: (a) English rows with the fine-tuned
    all-mpnet-base-v2 teacher's logits (runs/teacher_sent/soft.jsonl, app.training.teacher_sentiment label):
    alpha x CE on gold labels + (1 - alpha) x T^2 KL to the teacher; (b) parallel pairs: on the French or German
    side the student reproduces what it computes itself on the English side (the layer-6 mean and the logits,
    English side without gradient), so the new English judgement carries over to the other languages."""
    import torch
    from tokenizers import Tokenizer
    from transformers import AlbertForSequenceClassification

    from app.training.common import read_jsonl
    from app.training.sentiment import UNLABELLED, distill_loss

    seed_everything(args.seed)
    torch.set_num_threads(args.threads)
    out = args.refine_out
    out.mkdir(parents=True, exist_ok=True)
    log = get_logger("xref", out / "train.log")
    start = out / "last" if (out / "last" / "config.json").exists() else args.student
    tok = Tokenizer.from_file(str(start / "tokenizer.json"))
    tok.no_padding()
    student = AlbertForSequenceClassification.from_pretrained(str(start), attn_implementation="eager")
    trainable = tuple(f"albert.encoder.albert_layer_groups.{g}." for g in
                      range(args.freeze_below, student.config.num_hidden_groups)) + ("albert.pooler", "classifier")
    for n, p in student.named_parameters():
        p.requires_grad = n.startswith(trainable)
    params = [p for p in student.parameters() if p.requires_grad]
    student.train()
    soft = [r for r in read_jsonl(args.soft) if r["text"].strip()]
    pairs = parallel("train")
    extra = _extra_labelled(args.extra, args.seed)
    random.Random(args.seed).shuffle(pairs)
    steps_per_epoch = math.ceil(len(soft) / args.batch)
    total = args.steps or steps_per_epoch * args.epochs
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    state = {"step": 0, "seconds": 0.0}
    ckpt = out / "checkpoint.pt"
    if ckpt.exists() and start.name == "last":
        st = torch.load(ckpt, map_location="cpu", weights_only=False)
        opt.load_state_dict(st["opt"])
        state = {"step": st["step"], "seconds": st.get("seconds", 0.0)}
        log.info(f"resumed at step {state['step']}/{total}")
    log.info(f"{len(soft):,} English rows with the teacher's logits, {len(pairs):,} pairs, {total} steps of "
             f"{args.batch} + {args.pair_batch} pairs; {sum(p.numel() for p in params):,} parameters train "
             f"(layer groups {args.freeze_below}+, pooler, classifier)")
    t_start = last_save = time.time()
    step = state["step"]
    order: dict[int, list[list[int]]] = {}

    run = None
    while step < total and time.time() - t_start < args.minutes * 60:
        epoch, k = divmod(step, steps_per_epoch)
        if epoch not in order:
            order = {epoch: _text_batches([r["text"] for r in soft], args.batch, args.seed + epoch)}
        rows = [soft[j] for j in order[epoch][k % len(order[epoch])]]
        chunk = [pairs[(step * args.pair_batch + j) % len(pairs)] for j in range(args.pair_batch)]
        lr_scale = min(1.0, (step + 1) / args.warmup) * max(0.0, 0.5 * (1 + math.cos(math.pi * step / total)))
        for g in opt.param_groups:
            g["lr"] = args.lr * lr_scale
        ids, mask = _batch(tok, [r["text"] for r in rows], args.max_len)
        y = torch.tensor([int(r["y"]) if int(r["y"]) >= 0 else UNLABELLED for r in rows])
        tl = torch.tensor([r["logits"] for r in rows], dtype=torch.float32)
        loss_t = distill_loss(student(input_ids=ids, attention_mask=mask).logits, tl, y, args.kd_alpha, args.kd_temp)
        e_ids, e_mask = _batch(tok, [c[2] for c in chunk], args.max_len)
        x_ids, x_mask = _batch(tok, [c[3] for c in chunk], args.max_len)
        with torch.no_grad():
            _, e_top, e_log = _targets(student, e_ids, e_mask)
        _, x_top, x_log = _targets(student, x_ids, x_mask)
        loss_x = torch.nn.functional.mse_loss(x_top, e_top) + args.logit_weight * torch.nn.functional.mse_loss(x_log, e_log)
        loss = loss_t + args.pair_weight * loss_x
        if extra:  # the measured extra: gold labels in French/German, cross-entropy only
            rows_x = [extra[(step * args.extra_batch + j) % len(extra)] for j in range(args.extra_batch)]
            f_ids, f_mask = _batch(tok, [t for t, _ in rows_x], args.extra_max_len)
            loss = loss + args.extra_weight * torch.nn.functional.cross_entropy(
                student(input_ids=f_ids, attention_mask=f_mask).logits, torch.tensor([y for _, y in rows_x]))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        run = (loss_t.item(), loss_x.item()) if run is None else (0.98 * run[0] + 0.02 * loss_t.item(), 0.98 * run[1] + 0.02 * loss_x.item())
        if step % 50 == 0:
            log.info(f"step {step}/{total} teacher loss {run[0]:.4f} pairs {run[1]:.4f} lr {opt.param_groups[0]['lr']:.2e} "
                     f"{(time.time() - t_start) / (step - state['step']):.2f} s/step")
        if time.time() - last_save > args.save_minutes * 60:
            _save_run(out, start, student, opt, step, state["seconds"] + time.time() - t_start)
            last_save = time.time()
    _save_run(out, start, student, opt, step, state["seconds"] + time.time() - t_start)
    log.info(f"saved at step {step}/{total}; {(state['seconds'] + time.time() - t_start) / 60:.1f} min of refinement in all")


# ---- agreement, export, evaluation ----------------------------------------------------------------

def cmd_agreement(args) -> None:
    """On held-out pairs: cosine of the student's pooled layer 4 on French/German to the teacher's on English,
    and how often the student's label on the other side equals the teacher's on English."""
    import numpy as np
    import torch
    from tokenizers import Tokenizer
    from transformers import AlbertForSequenceClassification

    torch.set_num_threads(args.threads)
    teacher = AlbertForSequenceClassification.from_pretrained(str(args.teacher), attn_implementation="eager").eval()
    student = AlbertForSequenceClassification.from_pretrained(str(args.student), attn_implementation="eager").eval()
    ttok = Tokenizer.from_file(str(args.teacher_folder / "tokenizer.json"))
    stok = Tokenizer.from_file(str(args.student / "tokenizer.json"))
    for t in (ttok, stok):
        t.no_padding()
    pairs = parallel("val")
    random.Random(0).shuffle(pairs)
    out = {}
    for lang in LANGS:
        chosen = [p for p in pairs if p[1] == lang][:args.n]
        cos, same, cos_en = [], [], []
        for i in range(0, len(chosen), 32):
            b = chosen[i:i + 32]
            with torch.no_grad():
                t = _targets(teacher, *_batch(ttok, [e for _, _, e, _ in b], 128))
                s = _targets(student, *_batch(stok, [x for _, _, _, x in b], 128))
                se = _targets(student, *_batch(stok, [e for _, _, e, _ in b], 128))
            cos += torch.nn.functional.cosine_similarity(s[0], t[0]).tolist()
            cos_en += torch.nn.functional.cosine_similarity(se[0], t[0]).tolist()
            same += (s[2].argmax(1) == t[2].argmax(1)).tolist()
        out[lang] = {"pairs": len(chosen), "layer4_cosine_xx_vs_teacher_en": round(float(np.mean(cos)), 4),
                     "layer4_cosine_en_vs_teacher_en": round(float(np.mean(cos_en)), 4),
                     "same_label": round(float(np.mean(same)), 4)}
    print(json.dumps(out, indent=1))
    save_json(out, RUN / "agreement.json")


def cmd_export(args) -> None:
    """The student as a model folder: graphs with the hidden-state outputs, the English model's heads unchanged,
    the extended tokenizer, languages en/fr/de."""
    from transformers import AutoModelForSequenceClassification

    from app.core.registry import write_manifest
    from app.training.common import quantize_int8
    from app.training.sentiment import export_onnx
    from app.training.shared_encoder import add_hidden_outputs

    src = args.student
    english = args.teacher_folder
    model = AutoModelForSequenceClassification.from_pretrained(str(src), attn_implementation="eager").eval()
    dest = args.models / MODEL_ID
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if args.refined and args.neutral_offset is None:
        # the decision threshold for neutral, on the calibration splits: fit it on a first export, fold it into
        # the classifier's bias (the graph then gives the shifted logits), export again
        from app.training.sentiment import fit_neutral_offset

        export_onnx(model, tmp / "probe.onnx")
        shutil.copy(src / "tokenizer.json", tmp / "tokenizer.json")
        args.neutral_offset, acc = fit_neutral_offset(tmp / "probe.onnx", tmp / "tokenizer.json")
        (tmp / "probe.onnx").unlink()
        print(f"neutral offset {args.neutral_offset:+.2f}: calibration label accuracy {acc[args.neutral_offset]:.4f} "
              f"(no offset: {acc[0.0]:.4f})")
    if args.neutral_offset:
        import torch

        with torch.no_grad():
            model.classifier.bias[list(model.config.id2label.values()).index("neutral")] += args.neutral_offset
    export_onnx(model, tmp / "plain.onnx")
    add_hidden_outputs(tmp / "plain.onnx", tmp / "model.onnx")
    (tmp / "plain.onnx").unlink()
    print("int8:", quantize_int8(tmp / "model.onnx", tmp / "model.int8.onnx"))
    shutil.copy(src / "tokenizer.json", tmp / "tokenizer.json")
    raw = json.loads((english / "manifest.json").read_text())
    keep = [f for f in raw["files"] if f not in ("model.onnx", "model.int8.onnx", "tokenizer.json")]
    for f in keep:
        shutil.copy(english / f, tmp / f)
    params = sum(p.numel() for p in model.parameters())
    st = json.loads((RUN / "trained.json").read_text()) if (RUN / "trained.json").exists() else {}
    raw.update({
        "id": MODEL_ID, "version": args.version, "languages": ["en", "fr", "de"],
        "name": f"English, French and German sentiment (cross-lingual ALBERT distilled from "
                f"albert-sentiment-en {raw['version']}, {params / 1e6:.1f}M parameters)",
        "parameters": params, "metrics": {},
        "base_model": (f"albert-sentiment-en {raw['version']} (teacher and starting point), vocabulary extended with "
                       f"French/German word pieces; multilingual knowledge distillation (Reimers & Gurevych 2020)"),
        "training_data": ("parallel text: Tatoeba en-fr/en-de, Multi30k train en-fr/en-de, WMT toy en-de"
                          + (", the documentation corpus" if st.get("docs") else "")
                          + "; English sentiment training sentences (SST-2, the domain sets) for the English side"),
        "files": ["model.onnx", "model.int8.onnx", "tokenizer.json", *keep],
    })
    if args.refined:
        from app.training.sentiment import calibrate

        T, fitted_on = calibrate(tmp / "model.onnx", tmp / "tokenizer.json", [model.config.id2label[i] for i in range(model.config.num_labels)])
        raw["calibration"] = {"temperature": T, "fitted_on": fitted_on,
                              "neutral_offset": float(args.neutral_offset or 0.0)}
        raw["name"] = (f"English, French and German sentiment (cross-lingual ALBERT, top layers distilled from a fine-tuned "
                       f"all-mpnet-base-v2, {params / 1e6:.1f}M parameters)")
        raw["base_model"] += ("; layers 5-6 and the classifier then distilled from all-mpnet-base-v2 (Apache-2.0) fine-tuned "
                              "here for three labels (app.training.teacher_sentiment), French/German kept aligned on parallel pairs")
        raw["training_data"] += ("; the teacher's soft labels on the English sentiment training rows and on sentences of "
                                 "Blitzer training reviews and unlabelled IMDB reviews")
        print(f"temperature {T:.3f} ({fitted_on})")
    raw.pop("files_sha256", None)
    raw.pop("alternative_to", None)  # the English model is the alternative to this one, not the other way round
    write_manifest(tmp, raw)
    card = Path(__file__).resolve().parent / "cards" / f"{MODEL_ID}.md"
    if card.exists():
        shutil.copy(card, tmp / "MODEL_CARD.md")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    print(f"exported {src} -> {dest} ({params:,} parameters)")
    _export_summary(args, raw["version"])


def _export_summary(args, version: str) -> None:
    """albert-summary-xx: the English summary scorer, unchanged, on the cross-lingual encoder's layer 4."""
    from app.core.registry import write_manifest

    src = args.summary_folder
    dest = args.models / SUMMARY_ID
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    raw = json.loads((tmp / "manifest.json").read_text())
    raw.update({
        "id": SUMMARY_ID, "version": version, "languages": ["en", "fr", "de"],
        "name": "English, French and German extractive summarizer (the English scorer on the cross-lingual encoder)",
        "shared_encoder": {**raw["shared_encoder"], "model": MODEL_ID, "version": version},
        "base_model": f"{MODEL_ID} {version}: its layer-4 hidden states, mean-pooled per sentence (the scorer of "
                      f"{raw['id']} {raw['version']}, unchanged)",
        "metrics": {},
    })
    raw.pop("alternative_to", None)  # albert-summary-en is the alternative to this one
    write_manifest(tmp, raw)
    (tmp / "MODEL_CARD.md").unlink(missing_ok=True)
    card = Path(__file__).resolve().parent / "cards" / f"{SUMMARY_ID}.md"
    if card.exists():
        shutil.copy(card, tmp / "MODEL_CARD.md")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    print(f"exported {dest} (scorer of {src.name} on {MODEL_ID} {version})")


def cmd_summary_eval(args) -> None:
    """ROUGE on the BBC validation split (English) of the summary scorer on the English encoder and on the
    cross-lingual one: the scorer is the same, only the layer-4 states it reads differ."""
    from app.core.segment import split_sentences
    from app.core.summary import Summarizer
    from app.training.summary import rouge_eval, splits

    _, _, val = splits(args.seed)
    out = {}
    for folder in (args.summary_folder, args.models / SUMMARY_ID):
        model = Summarizer.from_folder(folder)
        pairs = [(model.summarize(a["body"], sentences=3, sents=split_sentences(a["body"])).text, a["summary"])
                 for a in val]
        out[folder.name] = rouge_eval(pairs)
        print(folder.name, out[folder.name], flush=True)
    save_json({"validation": f"BBC News Summary, {len(val)} held-out articles, 3 sentences, ROUGE F1 x100",
               "rows": out}, RUN / "summary_eval.json")


def cmd_eval(args) -> None:
    """French/German labelled sets through the app's SentimentModel (no translation): polar accuracy (polar
    rows), label accuracy and neutral F1 where the set has neutral; TF-IDF+LR trained on fr-tvseries train."""
    import numpy as np

    from app.training.domain_eval import eval_model, score

    sets = labelled_sets()
    results = {}
    for spec in [f"{args.model.name}={args.model}", *args.compare]:
        name, _, folder = spec.partition("=")
        results[name] = eval_model(Path(folder), args.graph, sets)
    if args.baselines:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        train = _fr_train()
        vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        clf = LogisticRegression(C=4.0, max_iter=3000).fit(vec.fit_transform([t for t, _ in train]), [y for _, y in train])
        data = sets["fr-tvseries dev"]
        p = clf.predict_proba(vec.transform([t for t, _ in data]))[:, list(clf.classes_).index("positive")]
        results["TF-IDF+LR (fr-tvseries train)"] = {
            "fr-tvseries dev": score(["positive" if x >= 0.5 else "negative" for x in p], p, [g for _, g in data])}
    for name, r in results.items():
        print(name, json.dumps({k: {m: (round(v, 4) if isinstance(v, float) else v) for m, v in x.items()}
                                for k, x in r.items()}))
    save_json({"rows": results, "sizes": {k: len(v) for k, v in sets.items()}}, args.out)
    del np


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["vocab", "init", "train", "refine", "agreement", "export", "eval", "summary-eval"])
    ap.add_argument("--teacher", type=Path, default=RUNS_DIR / "sent3" / "final",
                    help="the English model's fp32 PyTorch weights")
    ap.add_argument("--teacher-folder", type=Path, default=MODELS_DIR / "albert-sentiment-en",
                    help="the English model folder (tokenizer, heads, manifest)")
    ap.add_argument("--student", type=Path, default=RUN / "last")
    ap.add_argument("--summary-folder", type=Path, default=MODELS_DIR / "albert-summary-en",
                    help="the English summary model whose scorer reads the English encoder's layer 4")
    ap.add_argument("--trained", type=int, default=16000, help="WordPiece vocabulary trained on French/German")
    ap.add_argument("--new", type=int, default=12000, help="at most this many new pieces")
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--save-minutes", type=float, default=10)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--steps", type=int, default=0, help="at most this many steps (the schedule ends there); 0: the epochs")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--max-len", type=int, default=64)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--embedding-lr-factor", type=float, default=10.0)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--logit-weight", type=float, default=0.5)
    ap.add_argument("--english-weight", type=float, default=1.0)
    ap.add_argument("--english", type=int, default=60000, help="English sentiment sentences kept as the teacher reads them")
    ap.add_argument("--soft", type=Path, default=RUNS_DIR / "teacher_sent" / "soft.jsonl",
                    help="refine: English rows with the stronger teacher's logits (app.training.teacher_sentiment label)")
    ap.add_argument("--refine-out", type=Path, default=REFINE, help="refine: run folder (last/, checkpoint.pt)")
    ap.add_argument("--freeze-below", type=int, default=4, help="refine: layer groups below this index stay as they are")
    ap.add_argument("--pair-batch", type=int, default=32, help="refine: parallel pairs per step")
    ap.add_argument("--pair-weight", type=float, default=1.0, help="refine: weight of the cross-lingual consistency loss")
    ap.add_argument("--kd-alpha", type=float, default=0.3, help="refine: weight of the gold-label loss on labelled rows")
    ap.add_argument("--kd-temp", type=float, default=2.0, help="refine: distillation temperature")
    ap.add_argument("--neutral-offset", type=float, default=None,
                    help="export --refined: add this to the neutral logit (default: fitted on the calibration splits)")
    ap.add_argument("--extra", action="append", default=[], choices=sorted(EXTRA_SETS),
                    help="refine: also train on this labelled French/German set's training part (a measured extra)")
    ap.add_argument("--extra-batch", type=int, default=16, help="refine: rows of the --extra sets per step")
    ap.add_argument("--extra-weight", type=float, default=1.0, help="refine: weight of their cross-entropy")
    ap.add_argument("--extra-max-len", type=int, default=128)
    ap.add_argument("--refined", action="store_true",
                    help="export: the student is a `refine` run (refit the temperature; say so in the manifest)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--n", type=int, default=500, help="held-out pairs per language for `agreement`")
    ap.add_argument("--version", default="1.0.0")
    ap.add_argument("--models", type=Path, default=MODELS_DIR)
    ap.add_argument("--model", type=Path, default=MODELS_DIR / MODEL_ID)
    ap.add_argument("--graph", default="int8")
    ap.add_argument("--compare", action="append", default=[], metavar="NAME=FOLDER")
    ap.add_argument("--baselines", action="store_true")
    ap.add_argument("--out", type=Path, default=RUN / "eval.json")
    args = ap.parse_args(argv)
    RUN.mkdir(parents=True, exist_ok=True)
    {"vocab": cmd_vocab, "init": cmd_init, "train": cmd_train, "refine": cmd_refine, "agreement": cmd_agreement, "export": cmd_export,
     "eval": cmd_eval, "summary-eval": cmd_summary_eval}[args.command](args)


if __name__ == "__main__":
    main()
