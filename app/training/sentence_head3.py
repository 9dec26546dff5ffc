"""The per-sentence span head for a sentiment model that learned neutral (negative / positive / neutral).

    python -m app.training.sentence_head3 features [--model models/albert-sentiment-en]   # layer-4 span vectors
    python -m app.training.sentence_head3 fit                                              # fit + report
    python -m app.training.sentence_head3 install --dest FOLDER                            # into a model folder

A sentence that shares its window with others is scored by a small head over the mean of its layer-4 word-piece
vectors (app.core.shared_encoder); one alone in its window keeps the window's own score. The heads read layer 4,
which `sentiment train --freeze-below 4` leaves unchanged, so the span vectors of the shipped graph are the new
model's too. Training rows: the training sentences of every set of app.training.domain_data (captions as
neutral) and a sample of SST-2 sentences, packed 3-12 to a pseudo-document among sentences of the same set (the
worst case the app meets: a neighbour's opinion leaks in through attention), with their gold labels.
Validation: the same sets' validation sentences, packed the same way.
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np

from app.training.common import MODELS_DIR, RUNS_DIR, get_logger, seed_everything
from app.training.domain_data import LABELS3, all_splits, captions, spec

OUT = RUNS_DIR / "sentence_head3"
HEAD_FILE = "sentence_head.onnx"
SENTENCE_SETS = ("uci", "phrasebank", "semeval", "airline", "tweeteval")


def _rows(part: str, sst_n: int, seed: int) -> dict[str, list[tuple[str, int]]]:
    from app.training.sentiment_data import sst2_splits

    out = {}
    for name, (train, val) in all_splits(seed).items():
        if spec(name).kind != "sentence":
            continue
        rows = train if part == "train" else val
        if rows:
            out[name] = [(r.text, LABELS3.index(r.label)) for r in rows
                         if not (name == "airline" and part == "train" and r.weight < 0.5)]
    out["captions"] = [(r.text, 2) for r in captions(part, 3000 if part == "train" else None, seed)]
    sst_train, _, sst_val = sst2_splits()
    sst = [(t, y) for t, y in (sst_train if part == "train" else sst_val) if len(t.split()) >= 5]
    random.Random(seed).shuffle(sst)
    out["sst2"] = sst[: sst_n] if part == "train" else sst
    return out


def _packed(rows, rng, per_doc=(3, 12)):
    rows = list(rows)
    rng.shuffle(rows)
    docs, i = [], 0
    while i < len(rows):
        n = rng.randint(*per_doc)
        docs.append(rows[i:i + n])
        i += n
    return docs


def cmd_features(args) -> None:
    from app.core.registry import read_manifest
    from app.core.runtime import RuntimeOptions
    from app.core.sentiment import SentimentModel

    OUT.mkdir(parents=True, exist_ok=True)
    log = get_logger("head3", OUT / "train.log")
    m = SentimentModel(read_manifest(args.model), RuntimeOptions(device="cpu", tune=False, intra_op_threads=args.threads),
                       graph=args.graph)
    rng = random.Random(args.seed)
    t0 = time.time()
    for part in ("train", "val"):
        for name, rows in _rows(part, args.sst_train, args.seed).items():
            docs = _packed(rows, rng)
            enc = m.encode([[t for t, _ in d] for d in docs], ["hidden_mid"])
            np.savez_compressed(OUT / f"{part}_{name}.npz",
                                mid=np.concatenate([e.pooled["hidden_mid"] for e in enc]).astype(np.float32),
                                y=np.array([y for d in docs for _, y in d], dtype=np.int64),
                                alone=np.concatenate([e.alone for e in enc]))
            log.info(f"{part} {name}: {sum(len(d) for d in docs)} sentences in {len(docs)} documents "
                     f"({time.time() - t0:.0f}s)")


def _load(part: str, name: str) -> dict:
    with np.load(OUT / f"{part}_{name}.npz") as z:
        return {k: z[k] for k in z.files}


def head_module(dim: int, hidden: int, n_out: int = 3):
    import torch

    return torch.nn.Sequential(torch.nn.LayerNorm(dim), torch.nn.Linear(dim, hidden), torch.nn.GELU(),
                               torch.nn.Dropout(0.1), torch.nn.Linear(hidden, n_out))


def report(head, names) -> dict:
    """Per validation set, packed among its own sentences: polar accuracy, neutral F1, label accuracy."""
    import torch

    from app.training.domain_eval import score

    rep = {}
    for name in names:
        d = _load("val", name)
        with torch.no_grad():
            p = torch.softmax(head(torch.tensor(d["mid"])), -1).numpy()
        labels = [LABELS3[k] for k in p.argmax(1)]
        rep[name] = score(labels, p[:, 1] / np.maximum(p[:, 0] + p[:, 1], 1e-12), [LABELS3[k] for k in d["y"]])
    return rep


def cmd_fit(args) -> None:
    import torch

    log = get_logger("head3", OUT / "train.log")
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    names = sorted(p.stem[len("train_"):] for p in OUT.glob("train_*.npz"))
    parts = [_load("train", n) for n in names]
    X = torch.tensor(np.concatenate([p["mid"] for p in parts]))
    y = torch.tensor(np.concatenate([p["y"] for p in parts]))
    counts = torch.bincount(y, minlength=3).float()
    weight = (counts.sum() / (3 * counts.clamp_min(1))).clamp(max=3.0)  # neutral is rarer: weigh it up
    head = head_module(X.shape[1], args.hidden)
    opt = torch.optim.AdamW(head.parameters(), lr=args.lr, weight_decay=1e-2)
    steps = args.epochs * ((len(X) + 255) // 256)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps)
    lossf = torch.nn.CrossEntropyLoss(weight=weight)
    for epoch in range(args.epochs):
        head.train()
        perm = torch.randperm(len(X))
        for i in range(0, len(perm), 256):
            b = perm[i:i + 256]
            loss = lossf(head(X[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        head.eval()
        log.info(f"epoch {epoch}: loss {loss.item():.4f}")
    val_names = sorted(p.stem[len("val_"):] for p in OUT.glob("val_*.npz"))
    rep = report(head, val_names)
    log.info("packed validation: " + json.dumps({k: {m: round(v, 4) for m, v in r.items() if isinstance(v, float)}
                                                  for k, r in rep.items()}))
    torch.save({"state": head.state_dict(), "hidden": args.hidden, "report": rep}, OUT / "head.pt")
    export(head, OUT / HEAD_FILE)
    (OUT / "report.json").write_text(json.dumps(rep, indent=2) + "\n")


def export(head, dest: Path) -> None:
    import torch

    head.eval()
    torch.onnx.export(head, (torch.zeros(3, 384),), str(dest), dynamo=False, opset_version=17,
                      input_names=["hidden_mid"], output_names=["logits"],
                      dynamic_axes={"hidden_mid": {0: "sentences"}, "logits": {0: "sentences"}})


def cmd_install(args) -> None:
    import shutil

    from app.core.registry import write_manifest

    dest = args.dest
    raw = json.loads((dest / "manifest.json").read_text())
    if list(raw["labels"]) != list(LABELS3):
        raise SystemExit(f"{dest}: labels {raw['labels']}, the head is for {list(LABELS3)}")
    shutil.copy(OUT / HEAD_FILE, dest / HEAD_FILE)
    rep = json.loads((OUT / "report.json").read_text())
    raw["heads"] = {"sentence": {
        "file": HEAD_FILE, "temperature": 1.0, "inputs": ["hidden_mid"],
        "pooling": "mean over the sentence's word pieces in its window",
        "trained_on": ("training sentences of UCI, Financial PhraseBank, SemEval-2014, airline tweets, Multi30k "
                       "captions (neutral) and SST-2, each packed 3-12 to a window among sentences of its own set, "
                       "gold labels (negative / positive / neutral)"),
        "measured": "python -m app.training.sentence_head3 fit",
        "metrics": {k: {m: round(v, 4) for m, v in r.items() if isinstance(v, float)} for k, r in rep.items()}}}
    files = raw["files"] if isinstance(raw["files"], list) else list(raw["files"])
    raw["files"] = files + ([HEAD_FILE] if HEAD_FILE not in files else [])
    write_manifest(dest, raw)
    print(f"{dest}: sentence head installed")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["features", "fit", "install"])
    ap.add_argument("--model", type=Path, default=MODELS_DIR / "albert-sentiment-en")
    ap.add_argument("--graph", default="int8")
    ap.add_argument("--dest", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--sst-train", type=int, default=8000)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=2e-3)
    args = ap.parse_args(argv)
    {"features": cmd_features, "fit": cmd_fit, "install": cmd_install}[args.command](args)


if __name__ == "__main__":
    main()
