"""The stronger sentiment teacher: all-mpnet-base-v2 fine-tuned for three labels on all labelled English data,
measured on every validation split, and its soft labels written for distillation.

    python -m app.training.teacher_mpnet fetch                 # the verified snapshot (runs/teacher/...)
    python -m app.training.teacher_sentiment data              # training + transfer texts (fixed, seed 13)
    python -m app.training.teacher_sentiment cache --freeze 8  # layers 0-7 run once; their output kept (fp16)
    python -m app.training.teacher_sentiment train --minutes 40
    python -m app.training.teacher_sentiment eval              # every validation split, beside the student
    python -m app.training.teacher_sentiment label             # soft labels -> runs/teacher_sent/soft.jsonl

Two cores cannot fine-tune a 110M-parameter model end to end on 40k+ texts in a session, so the lower layers
stay as the pretrained snapshot has them: they run once over every text (training and transfer) and their
output is cached; training runs only the top layers, the mean pooling sentence-transformers uses, and a
3-way linear head. Labelling the transfer texts afterwards needs only the top layers again.

Texts: the domains' training rows (app.training.domain_data; airline tweets whose annotators agreed < 0.5
left out, the rest weighted by agreement), full SST-2 training sentences (a sample), one window of 2,000 IMDB
training reviews, Multi30k captions as neutral, Blitzer reviews as one window each. Transfer (unlabelled, for
the student only): sentences of the Blitzer training reviews and of unlabelled IMDB reviews. Long texts are
cut into windows of at most WINDOW_WORDS words, the same text the student will read.
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np

from app.training.common import RUNS_DIR, get_logger, read_jsonl, save_json, seed_everything
from app.training.domain_data import LABELS3
from app.training.teacher_mpnet import DEFAULT_DEST as MPNET_DIR

OUT = RUNS_DIR / "teacher_sent"
WINDOW_WORDS = 100
MAX_LEN = 160
UNLABELLED = -100


def word_windows(text: str, n: int = WINDOW_WORDS) -> list[str]:
    words = text.split()
    return [" ".join(words[i:i + n]) for i in range(0, max(1, len(words)), n)] if words else []


def build_rows(seed: int = 13, sst: int = 12000, imdb: int = 2000, captions_n: int = 3000,
               blitzer_sents: int = 12000, imdb_sents: int = 8000) -> list[dict]:
    """[{"text", "y" (index into LABELS3, or UNLABELLED), "w", "src"}]: the teacher's training rows, then the
    transfer rows; the same on every machine for a seed."""
    from app.core.segment import split_sentences
    from app.training.common import DATA_DIR
    from app.training.domain_data import all_splits, captions
    from app.training.distill import HELD_OUT_REVIEWS
    from app.training.sentiment_data import clean_review, imdb_stack_split, sst2_splits

    rng = random.Random(seed)
    rows: list[dict] = []
    blitzer_docs = []
    for name, (train, _) in all_splits(seed).items():
        for r in train:
            if name == "airline" and r.weight < 0.5:
                continue
            text = r.text
            if r.kind == "document":
                blitzer_docs.append(r.text)
                text = rng.choice(word_windows(r.text))
            rows.append({"text": text, "y": LABELS3.index(r.label), "w": r.weight, "src": name})
    sst_train, _, _ = sst2_splits()
    full = [(t, y) for t, y in sst_train if len(t.split()) >= 4]
    rng.shuffle(full)
    rows += [{"text": t, "y": int(y), "w": 1.0, "src": "sst2"} for t, y in full[:sst]]
    imdb_train, _ = imdb_stack_split()
    imdb_train = list(imdb_train)
    rng.shuffle(imdb_train)
    for t, y in imdb_train[:imdb]:
        rows.append({"text": rng.choice(word_windows(clean_review(t))), "y": int(y), "w": 1.0, "src": "imdb"})
    rows += [{"text": r.text, "y": LABELS3.index("neutral"), "w": 1.0, "src": "captions"}
             for r in captions("train", captions_n, seed=seed)]
    # transfer: review sentences of the new domains and of unlabelled movie reviews, soft labels only
    sents = []
    for doc in blitzer_docs:
        sents += [s.text for s in split_sentences(doc) if 4 <= len(s.text.split()) <= 60]
    rng.shuffle(sents)
    rows += [{"text": s, "y": UNLABELLED, "w": 1.0, "src": "blitzer-sent"} for s in sents[:blitzer_sents]]
    unsup = [r["text"] for r in read_jsonl(DATA_DIR / "unlabeled-en" / "imdb-unsup.jsonl")][:-HELD_OUT_REVIEWS]
    rng.shuffle(unsup)
    sents = []
    for doc in unsup[: imdb_sents // 5]:
        sents += [s.text for s in split_sentences(clean_review(doc)) if 5 <= len(s.text.split()) <= 60]
    rng.shuffle(sents)
    rows += [{"text": s, "y": UNLABELLED, "w": 1.0, "src": "imdb-unsup-sent"} for s in sents[:imdb_sents]]
    seen, out = set(), []
    for r in rows:
        if r["text"].strip() and r["text"] not in seen:
            seen.add(r["text"])
            out.append(r)
    return out


def cmd_data(args) -> None:
    rows = build_rows(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "rows.jsonl", "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    from collections import Counter
    print(f"{len(rows)} rows: {dict(Counter(r['src'] for r in rows))}")


def _load(folder: Path, threads: int):
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(str(MPNET_DIR))
    model = AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval()
    return tok, model


def top_model(model, freeze: int):
    """The layers from `freeze` up as a model that reads cached layer-`freeze` states as its input embeddings
    (app.training.frozen_layers.top_layers_model: one definition for the teacher and the fine-tunes)."""
    from app.training.frozen_layers import top_layers_model

    top = top_layers_model(model, freeze)
    assert len(model.encoder.layer) == model.config.num_hidden_layers
    return top


def _batches(lengths, max_tokens: int, shuffle_seed: int | None):
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches, cur, longest = [], [], 0
    for i in order:
        L = max(longest, lengths[i])
        if cur and L * (len(cur) + 1) > max_tokens:
            batches.append(cur)
            cur, L = [], lengths[i]
        cur.append(i)
        longest = L
    if cur:
        batches.append(cur)
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(batches)
    return batches


def _padded(tok, enc: list[list[int]], batch: list[int]):
    """(input ids, attention mask) of the batch's token lists, padded to the longest."""
    import torch

    L = max(len(enc[i]) for i in batch)
    ids = torch.full((len(batch), L), tok.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(batch), L), dtype=torch.long)
    for k, i in enumerate(batch):
        ids[k, : len(enc[i])] = torch.tensor(enc[i])
        mask[k, : len(enc[i])] = 1
    return ids, mask


def _read_rows(folder: Path) -> list[dict]:
    return list(read_jsonl(folder / "rows.jsonl"))


def cmd_cache(args) -> None:
    """Run layers 0..freeze-1 once over every row and keep their output (unpadded, fp16, one flat array)."""
    import torch

    log = get_logger("teacher_sent", args.out / "cache.log")
    rows = _read_rows(args.out)
    tok, model = _load(MPNET_DIR, args.threads)
    enc = tok([r["text"] for r in rows], truncation=True, max_length=MAX_LEN)["input_ids"]
    lengths = [len(i) for i in enc]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    store = np.lib.format.open_memmap(args.out / f"layer{args.freeze}.npy", mode="w+", dtype=np.float16,
                                      shape=(int(offsets[-1]), model.config.hidden_size))
    model.encoder.layer = torch.nn.ModuleList(list(model.encoder.layer)[: args.freeze])
    t0 = time.time()
    done = 0
    with torch.inference_mode():
        for b, batch in enumerate(_batches(lengths, args.max_tokens, None)):
            ids, mask = _padded(tok, enc, batch)
            h = model(input_ids=ids, attention_mask=mask).last_hidden_state.to(torch.float16).numpy()
            for k, i in enumerate(batch):
                store[offsets[i]: offsets[i + 1]] = h[k, : lengths[i]]
            done += sum(lengths[i] for i in batch)
            if b % 50 == 0:
                log.info(f"{done}/{offsets[-1]} tokens, {done / (time.time() - t0):.0f} tok/s")
    store.flush()
    np.save(args.out / "offsets.npy", offsets)
    log.info(f"cached layer {args.freeze} for {len(rows)} rows, {offsets[-1]} tokens in {time.time() - t0:.0f} s")


def _cached_batch(store, offsets, batch):
    import torch

    lens = [int(offsets[i + 1] - offsets[i]) for i in batch]
    L = max(lens)
    h = torch.zeros((len(batch), L, store.shape[1]), dtype=torch.float32)
    mask = torch.zeros((len(batch), L), dtype=torch.long)
    for k, i in enumerate(batch):
        h[k, : lens[k]] = torch.from_numpy(np.asarray(store[offsets[i]: offsets[i + 1]], dtype=np.float32))
        mask[k, : lens[k]] = 1
    return h, mask


def _pool_logits(top, head, h, mask):
    import torch

    out = top(inputs_embeds=h, attention_mask=mask).last_hidden_state
    m = mask.unsqueeze(-1).to(out.dtype)
    pooled = (out * m).sum(1) / m.sum(1).clamp_min(1e-9)
    return head(torch.nn.functional.dropout(pooled, 0.1, top.training))


def cmd_train(args) -> None:
    import torch

    seed_everything(args.seed)
    log = get_logger("teacher_sent", args.out / "train.log")
    rows = _read_rows(args.out)
    store = np.load(args.out / f"layer{args.freeze}.npy", mmap_mode="r")
    offsets = np.load(args.out / "offsets.npy")
    if args.in_memory:
        store = np.ascontiguousarray(store)
    _, model = _load(MPNET_DIR, args.threads)
    top = top_model(model, args.freeze).train()
    head = torch.nn.Linear(model.config.hidden_size, len(LABELS3))
    labelled = [i for i, r in enumerate(rows) if r["y"] != UNLABELLED]
    lengths = [int(offsets[i + 1] - offsets[i]) for i in labelled]
    for p in model.embeddings.parameters():
        p.requires_grad = False
    for layer in model.encoder.layer[: args.freeze]:
        for p in layer.parameters():
            p.requires_grad = False
    params = [p for p in list(top.encoder.parameters()) + list(head.parameters()) if p.requires_grad]
    opt = torch.optim.AdamW([{"params": [p for p in top.encoder.parameters() if p.requires_grad], "lr": args.lr},
                             {"params": list(head.parameters()), "lr": args.lr * 20}], weight_decay=0.01)
    batches_per_epoch = [[labelled[k] for k in b] for b in _batches(lengths, args.max_tokens, args.seed)]
    total = len(batches_per_epoch) * args.epochs
    ckpt = args.out / "teacher.pt"
    step = 0
    if ckpt.exists() and not args.restart:
        st = torch.load(ckpt, map_location="cpu", weights_only=True)
        top.encoder.load_state_dict(st["encoder"])
        head.load_state_dict(st["head"])
        opt.load_state_dict(st["opt"])
        step = st["step"]
        log.info(f"resumed at step {step}/{total}")
    warm = max(1, int(0.06 * total))
    log.info(f"{len(labelled)} labelled rows, {sum(lengths)} tokens, {len(batches_per_epoch)} batches/epoch x {args.epochs}; "
             f"{sum(p.numel() for p in params):,} parameters train (layers {args.freeze}-{model.config.num_hidden_layers - 1} + head)")
    y_all = torch.tensor([r["y"] for r in rows])
    w_all = torch.tensor([float(r["w"]) for r in rows])
    t0 = last = time.time()
    run, step0 = None, step
    while step < total and time.time() - t0 < args.minutes * 60:
        ep, k = divmod(step, len(batches_per_epoch))
        batch = batches_per_epoch[k] if ep == 0 else [labelled[j] for j in _batches(lengths, args.max_tokens, args.seed + ep)[k]]
        h, mask = _cached_batch(store, offsets, batch)
        logits = _pool_logits(top, head, h, mask)
        idx = torch.tensor(batch)
        loss = (torch.nn.functional.cross_entropy(logits, y_all[idx], reduction="none") * w_all[idx]).mean()
        s = step
        f = (s + 1) / warm if s < warm else max(0.0, (total - s) / (total - warm))
        for g, base in zip(opt.param_groups, (args.lr, args.lr * 20)):
            g["lr"] = base * f
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        run = loss.item() if run is None else 0.98 * run + 0.02 * loss.item()
        if step % 20 == 0:
            log.info(f"step {step}/{total} loss {run:.4f} {(time.time() - t0) / (step - step0):.2f} s/step")
        if time.time() - last > 300:
            torch.save({"encoder": top.encoder.state_dict(), "head": head.state_dict(), "opt": opt.state_dict(), "step": step}, ckpt)
            last = time.time()
    torch.save({"encoder": top.encoder.state_dict(), "head": head.state_dict(), "opt": opt.state_dict(), "step": step}, ckpt)
    log.info(f"saved at step {step}/{total} after {time.time() - t0:.0f} s")


def load_teacher(out: Path, freeze: int, threads: int = 2):
    """(tokenizer, full model with the trained top, head): the fine-tuned teacher for raw text."""
    import torch

    tok, model = _load(MPNET_DIR, threads)
    st = torch.load(out / "teacher.pt", map_location="cpu", weights_only=True)
    top = top_model(model, freeze)
    top.encoder.load_state_dict(st["encoder"])  # the same layer objects: the full model now carries them
    head = torch.nn.Linear(model.config.hidden_size, len(LABELS3))
    head.load_state_dict(st["head"])
    return tok, model.eval(), head.eval()


def teacher_logits(tok, model, head, texts: list[str], max_tokens: int = 4096) -> np.ndarray:
    import torch

    enc = tok(texts, truncation=True, max_length=MAX_LEN)["input_ids"]
    lengths = [len(i) for i in enc]
    out = np.zeros((len(texts), len(LABELS3)), dtype=np.float32)
    with torch.inference_mode():
        for batch in _batches(lengths, max_tokens, None):
            ids, mask = _padded(tok, enc, batch)
            h = model(input_ids=ids, attention_mask=mask).last_hidden_state
            m = mask.unsqueeze(-1).float()
            out[batch] = head((h * m).sum(1) / m.sum(1)).numpy()
    return out


def cmd_eval(args) -> None:
    """The teacher on every validation split (documents: windows of WINDOW_WORDS words, logits averaged)."""
    from app.training.domain_eval import score, summary_row, validation_sets

    tok, model, head = load_teacher(args.out, args.freeze, args.threads)
    sets = validation_sets(args.imdb)
    rows = {}
    for name, data in sets.items():
        t0 = time.time()
        windows, owner = [], []
        for k, (t, _) in enumerate(data):
            w = word_windows(t)
            windows += w
            owner += [k] * len(w)
        lg = teacher_logits(tok, model, head, windows)
        doc = np.zeros((len(data), len(LABELS3)))
        np.add.at(doc, np.array(owner), lg)
        doc /= np.bincount(owner, minlength=len(data))[:, None]
        p = np.exp(doc - doc.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        pol = p[:, 1] / (p[:, 0] + p[:, 1])
        rows[name] = score([LABELS3[i] for i in p.argmax(1)], pol, [g for _, g in data])
        rows[name]["seconds"] = time.time() - t0
        print(name, {k: round(v, 4) for k, v in rows[name].items() if isinstance(v, float)}, flush=True)
    rows["summary"] = summary_row(rows)
    print(json.dumps(rows["summary"]))
    save_json(rows, args.out / "eval.json")


def cmd_label(args) -> None:
    """Soft labels (the teacher's logits) on every row, from the cached lower layers: soft.jsonl."""
    import torch

    rows = _read_rows(args.out)
    store = np.load(args.out / f"layer{args.freeze}.npy", mmap_mode="r")
    offsets = np.load(args.out / "offsets.npy")
    tok, model, head = load_teacher(args.out, args.freeze, args.threads)
    top = top_model(model, args.freeze).eval()
    lengths = [int(offsets[i + 1] - offsets[i]) for i in range(len(rows))]
    logits = np.zeros((len(rows), len(LABELS3)), dtype=np.float32)
    t0 = time.time()
    with torch.inference_mode():
        for batch in _batches(lengths, args.max_tokens, None):
            h, mask = _cached_batch(store, offsets, batch)
            logits[batch] = _pool_logits(top, head, h, mask).numpy()
    with open(args.out / "soft.jsonl", "w", encoding="utf-8") as f:
        for r, lg in zip(rows, logits):
            f.write(json.dumps({**r, "logits": [round(float(x), 4) for x in lg]}, ensure_ascii=False) + "\n")
    lab = np.array([r["y"] for r in rows])
    m = lab != UNLABELLED
    print(f"labelled {len(rows)} rows in {time.time() - t0:.0f} s; teacher agrees with the gold label on "
          f"{(logits[m].argmax(1) == lab[m]).mean():.3f} of the training rows")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["data", "cache", "train", "eval", "label"])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--freeze", type=int, default=8, help="layers below this index are not trained (and cached)")
    ap.add_argument("--minutes", type=float, default=40)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--max-tokens", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--imdb", type=int, default=300, help="eval: IMDB validation reviews")
    ap.add_argument("--in-memory", action="store_true", help="train: read the cache into RAM first")
    ap.add_argument("--restart", action="store_true", help="train: ignore an existing checkpoint")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    {"data": cmd_data, "cache": cmd_cache, "train": cmd_train, "eval": cmd_eval, "label": cmd_label}[args.command](args)


if __name__ == "__main__":
    main()
