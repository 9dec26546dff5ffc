"""Learning curve of fine-tuning: held-out accuracy against 16, 64, 256, 1,024 labelled examples, with wall time,
next to TF-IDF + logistic regression trained on the very same examples in the same run.

    python bench/finetune_curve.py                               # shipped encoder, SST-2 + BBC 3-class
    python bench/finetune_curve.py --threads 1 --encoder runs/distill/encoder --tasks sst2
    python bench/finetune_curve.py --threads 1 --modes none --teacher-probe     # only the teacher reference rows
    python bench/finetune_curve.py --threads 1 --tasks sst2 --base-teacher      # the recipe on the teacher itself

Tasks
  sst2  SST-2 sentences (>= 5 words) from the leak-free training part of app.training.sentiment_data;
        scored on its validation split (1,800 whole sentences, never seen in training).
  bbc5  the same with all five categories (500 articles held out; the issue's topic task).
  frtv  French TV-series reviews: sampled from fr-tvseries train, scored on its dev file (389 reviews); long
        texts near the 128-piece window (use --encoder models/albert-sentiment-xx, the base the app picks).
  bbc3  3-class topic (business / politics / tech): headline + first sentence of BBC News articles;
        300 articles held out (100 per class), the examples drawn from the rest (754 exist, so the largest size is 754).
Each size draws a class-balanced sample (seed fixed). The fine-tune uses 80% of it to train and 20% to
validate, as the app does, and (few-shot, by default) then trains again on all of it: the rows score the model
the app would install; TF-IDF + LR gets all of it. `--seeds 13,14,15` repeats every row on other samples
and prints the mean and range (at 16 examples one sample says little). `--train-seeds 13,14,15` keeps the
labelled sample and varies only the training seed (TrainSettings.seed: split, batches, initial head): the spread
of "the same labels, another run", printed as mean and range. Times: the training call's wall
time, and its CPU time (with --threads 1, roughly the wall time on an idle core).

    python bench/finetune_curve.py --tasks bbc5 --sizes 64 --modes auto --compare-below 0 --train-seeds 13,14,15
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core.labeled_data import evaluate, make_dataset
from app.training.common import DATA_DIR, REPO_ROOT, read_jsonl


def sst2_task(seed: int):
    from app.training.sentiment_data import sst2_splits

    train, _, val = sst2_splits()
    names = ["negative", "positive"]
    pool = [(t, names[y]) for t, y in train if len(t.split()) >= 5]
    return "SST-2 (2 classes)", pool, [(t, names[y]) for t, y in val]


def bbc3_task(seed: int, classes=("business", "politics", "tech"), held_per_class: int = 100):
    rows = []
    for r in read_jsonl(DATA_DIR / "bbc-summary" / "train.jsonl"):
        if r["category"] in classes:
            parts = [p.strip() for p in r["article"].split("\n") if p.strip()]
            head, body = parts[0], " ".join(parts[1:])
            first = body.split(". ")[0]
            rows.append((f"{head}. {first}.", r["category"]))
    rng = random.Random(seed)
    rng.shuffle(rows)
    held, pool = [], []
    seen = {c: 0 for c in classes}
    for t, y in rows:
        if seen[y] < held_per_class:
            held.append((t, y))
            seen[y] += 1
        else:
            pool.append((t, y))
    return f"BBC topic ({len(classes)} classes)", pool, held


def bbc5_task(seed: int):
    """All five BBC categories (business, entertainment, politics, sport, tech), 100 articles each held out."""
    return bbc3_task(seed, classes=("business", "entertainment", "politics", "sport", "tech"))


def frtv_task(seed: int):
    """French TV-series reviews (positive / negative): its train file is the pool, its dev file (389) held out."""
    def read(name):
        return [(r["text"], r["label"]) for r in read_jsonl(DATA_DIR / "fr-tvseries-sentiment" / name)]
    return "fr TV-series reviews (2 classes)", read("train.jsonl"), read("dev.jsonl")


def balanced_sample(pool, n: int, seed: int):
    rng = random.Random(seed)
    by: dict[str, list] = {}
    for t, y in pool:
        by.setdefault(y, []).append((t, y))
    for v in by.values():
        rng.shuffle(v)
    k = len(by)
    out = []
    for i, (y, rows) in enumerate(sorted(by.items())):
        out += rows[: n // k + (1 if i < n % k else 0)]
    if len(out) < n:  # a small class ran out: fill from the others
        rest = [r for rows in by.values() for r in rows if r not in out]
        rng.shuffle(rest)
        out += rest[: n - len(out)]
    rng.shuffle(out)
    return out


def tfidf(train, held, classes):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    index = {c: i for i, c in enumerate(classes)}
    t0 = time.time()
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    X = vec.fit_transform([t for t, _ in train])
    clf = LogisticRegression(C=10.0, max_iter=2000, class_weight="balanced").fit(X, [index[y] for _, y in train])
    pred = clf.predict(vec.transform([t for t, _ in held]))
    return evaluate([index[y] for _, y in held], pred.tolist(), classes), time.time() - t0


_CACHE: dict = {}


def _probe(name: str, embed, train, held, classes, C: float, seed: int):
    """Logistic regression on frozen embeddings of the same examples; held-out embeddings computed once."""
    from sklearn.linear_model import LogisticRegression

    index = {c: i for i, c in enumerate(classes)}
    t0 = time.time()
    key = (name, id(held))
    if key not in _CACHE:
        _CACHE[key] = embed(held)
    clf = LogisticRegression(C=C, max_iter=3000, class_weight="balanced", random_state=seed)
    clf.fit(embed(train), [index[y] for _, y in train])
    pred = clf.predict(_CACHE[key])
    return evaluate([index[y] for _, y in held], pred.tolist(), classes), time.time() - t0


def teacher_probe(train, held, classes, seed: int):
    """Reference: the 22.7M MiniLM teacher's frozen sentence embeddings (normalised mean pooling) + LR, C=10."""
    from sentence_transformers import SentenceTransformer

    from app.training.common import teacher_dir

    if "st" not in _CACHE:
        _CACHE["st"] = SentenceTransformer(str(teacher_dir()), device="cpu")
    st = _CACHE["st"]
    embed = lambda rows: st.encode([t for t, _ in rows], batch_size=64, convert_to_numpy=True, normalize_embeddings=True)
    return _probe("teacher", embed, train, held, classes, 10.0, seed)


def encoder_probe(train, held, classes, encoder: Path, seed: int):
    """Reference: the ALBERT encoder's frozen mean-pooled embeddings + the recipe's starting head (LR, C=1)."""
    from tokenizers import Tokenizer

    from app.training.finetune import _tokenizer_file, embed_all, load_base

    if "enc" not in _CACHE:
        _CACHE["enc"] = load_base(encoder, classes)  # the head is not used: embeddings only
        _CACHE["tok"] = Tokenizer.from_file(str(_tokenizer_file(encoder)))
    model, tok = _CACHE["enc"], _CACHE["tok"]
    embed = lambda rows: embed_all(model, [e.ids[:128] for e in tok.encode_batch([t for t, _ in rows])]).numpy()
    return _probe("encoder", embed, train, held, classes, 1.0, seed)


def use_teacher_as_base() -> None:
    """Reference runs only: make the fine-tuning recipe start from the 22.7M MiniLM teacher (BERT, same 6 x 384
    shape and the same WordPiece vocabulary as the ALBERT encoder) instead of an ALBERT folder. It shows what
    the recipe reaches with the real pretrained model the encoder was distilled from. The app itself only
    fine-tunes ALBERT models."""
    import torch
    from transformers import BertModel

    from app.training import finetune
    from app.training.common import teacher_dir

    def load_teacher(folder, classes):
        enc = BertModel.from_pretrained(str(teacher_dir()), dtype=torch.float32, attn_implementation="eager",
                                        add_pooling_layer=False)
        return finetune._classifier_class()(enc, len(classes))

    finetune.load_base = load_teacher


def albert(train, held, encoder: Path, mode: str, args):
    from app.training.finetune import TrainSettings, logits_all, train_model

    data = make_dataset(train, min_per_class=2)
    s = TrainSettings(base=str(encoder), models_dir=tempfile.mkdtemp(), model_id="bench", mode=mode,
                      epochs=args.epochs, patience=args.epochs, threads=args.threads,
                      seed=getattr(args, "train_seed", None) or args.seed, export=False,
                      refit=args.refit, name_hints=args.name_hints, **dict(args.set))
    t0, c0 = time.time(), time.process_time()
    t = train_model(data, s)
    seconds = time.time() - t0
    t.report["cpu_seconds"] = time.process_time() - c0  # what it costs when the CPU is not shared
    index = {c: i for i, c in enumerate(data.classes)}
    logits = logits_all(t.model, t.tokenizer.encode([x for x, _ in held]))
    ev = evaluate([index[y] for _, y in held], logits.argmax(1).tolist(), data.classes)
    return ev, seconds, t.report


def run_size(name, pool, held, n_eff, sample_seed, encoder, args, rows) -> None:
    """The rows of one labelled-sample size drawn with one seed."""
    train = balanced_sample(pool, n_eff, sample_seed)
    classes = tuple(sorted({y for _, y in train}))
    base_ev, _ = tfidf(train, held, classes)
    from app.training.finetune import TrainSettings, choose_mode

    auto = choose_mode(make_dataset(train, min_per_class=2), TrainSettings(base="", models_dir="", model_id=""))
    modes = [auto if m == "auto" else m for m in args.modes.split(",") if m != "none"]
    if args.teacher_probe:
        for label, fn in (("MiniLM teacher (22.7M) frozen + LR, reference",
                           lambda: teacher_probe(train, held, classes, sample_seed)),
                          ("ALBERT encoder frozen + LR, reference",
                           lambda: encoder_probe(train, held, classes, encoder, sample_seed))):
            ev, secs = fn()
            rows.append({"task": name, "n": n_eff, "mode": label, "recipe": label, "acc": ev.accuracy,
                         "f1": ev.macro_f1, "tfidf_acc": base_ev.accuracy, "seconds": secs, "held_out": len(held),
                         "sample_seed": sample_seed})
            print(f"| {name} | {n_eff} | {label} | {ev.accuracy:.3f} | {ev.macro_f1:.3f} | {base_ev.accuracy:.3f} "
                  f"| {ev.accuracy - base_ev.accuracy:+.3f} | {secs:.0f} | - |", flush=True)
    if n_eff <= args.compare_below and modes:
        modes += ["standard", "few-shot"]
    for mode, train_seed in ((m, t) for m in dict.fromkeys(modes) for t in (args.train_seed_list or [None])):
        args.train_seed = train_seed
        ev, secs, rep = albert(train, held, encoder, mode, args)
        label = mode + (" (auto's pick)" if mode == auto else "") + (
            ", class names" if (rep.get("name_hints") or {}).get("used") else "") + (
            f", then all {rep['refit']['n_train']}" if rep.get("refit") else "")
        if train_seed is not None:
            label += f", training seed {train_seed}"
        row = {"task": name, "n": n_eff, "mode": label, "recipe": mode + (" (auto's pick)" if mode == auto else ""),
               "sample_seed": sample_seed, "train_seed": rep["seed"], "acc": ev.accuracy, "f1": ev.macro_f1,
               "tfidf_acc": base_ev.accuracy, "seconds": secs, "held_out": len(held),
               "cpu_seconds": rep["cpu_seconds"], "n_train": rep["n_train"], "n_val": rep["n_val"], "steps": rep["steps"],
               "epochs_run": rep["epochs_run"], "name_hints": rep.get("name_hints"), "refit": rep.get("refit")}
        rows.append(row)
        print(f"| {name} | {n_eff} | {label} | {ev.accuracy:.3f} | {ev.macro_f1:.3f} | {base_ev.accuracy:.3f} "
              f"| {ev.accuracy - base_ev.accuracy:+.3f} | {secs:.0f} | {rep['cpu_seconds']:.0f} |", flush=True)


def _setting(text: str) -> tuple[str, object]:
    from app.training.finetune import TrainSettings

    name, _, value = text.partition("=")
    kind = type(TrainSettings.__dataclass_fields__[name].default)
    if kind is bool:  # bool("False") is True
        if value.lower() not in ("true", "false", "1", "0"):
            raise argparse.ArgumentTypeError(f"{name} takes true or false, not {value!r}")
        return name, value.lower() in ("true", "1")
    return name, kind(value)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encoder", type=Path, default=None, help="default: models/albert-encoder-en, else runs/distill/encoder")
    ap.add_argument("--tasks", default="sst2,bbc3")
    ap.add_argument("--sizes", default="16,64,256,1024")
    ap.add_argument("--modes", default="auto", help="comma list of auto, standard, few-shot")
    ap.add_argument("--compare-below", type=int, default=64, help="also run the other recipe at sizes up to this")
    ap.add_argument("--epochs", type=int, default=3, help="standard recipe: exactly N epochs, no early stop")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=13, help="the held-out split and the training seed")
    ap.add_argument("--seeds", default=None, help="comma list of seeds drawing the labelled sample (default: --seed); "
                                                   "with several, a mean row follows each size")
    ap.add_argument("--train-seeds", default=None,
                    help="comma list of training seeds run on the same labelled sample (the spread of a rerun); "
                         "a mean-and-range row follows each size")
    ap.add_argument("--set", action="append", default=[], type=_setting, metavar="NAME=VALUE",
                    help="another TrainSettings field, e.g. few_shot_max_steps=600 (repeatable)")
    ap.add_argument("--refit", default="auto", choices=("auto", "always", "never"), help="TrainSettings.refit")
    ap.add_argument("--name-hints", default="auto", choices=("auto", "always", "never"), help="TrainSettings.name_hints")
    ap.add_argument("--teacher-probe", action="store_true",
                    help="add reference rows: the MiniLM teacher's and the encoder's frozen embeddings + LR, same examples")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    ap.add_argument("--base-teacher", action="store_true",
                    help="reference: fine-tune the MiniLM teacher itself with the same recipe (tokenizer from --encoder)")
    args = ap.parse_args(argv)
    args.train_seed_list = [int(x) for x in args.train_seeds.split(",")] if args.train_seeds else []
    if args.base_teacher:
        use_teacher_as_base()
    encoder = args.encoder
    if encoder is None:
        shipped = REPO_ROOT / "models" / "albert-encoder-en"
        encoder = shipped if (shipped / "model.safetensors").exists() else REPO_ROOT / "runs" / "distill" / "encoder"
    import torch

    torch.set_num_threads(args.threads or 2)
    base = "MiniLM teacher (reference)" if args.base_teacher else encoder
    print(f"base: {base}   torch threads: {torch.get_num_threads()}   epochs: {args.epochs}   seed: {args.seed}")
    sizes = [int(x) for x in args.sizes.split(",")]
    seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else [args.seed]
    rows = []
    header = ("| task | labelled examples | recipe | ALBERT acc | ALBERT macro-F1 | TF-IDF+LR acc | ALBERT - TF-IDF "
              "| fine-tune wall s | CPU s |")
    print(header + "\n|---|---|---|---|---|---|---|---|---|", flush=True)
    for task in args.tasks.split(","):
        name, pool, held = {"sst2": sst2_task, "bbc3": bbc3_task, "bbc5": bbc5_task, "frtv": frtv_task}[task](args.seed)
        for n in sizes:
            n_eff = min(n, len(pool))
            first = len(rows)
            for sample_seed in seeds:
                run_size(name, pool, held, n_eff, sample_seed, encoder, args, rows)
            if len(seeds) > 1 or len(args.train_seed_list) > 1:
                done = [r for r in rows[first:] if "acc" in r and "accs" not in r]
                for mode in dict.fromkeys(r["recipe"] for r in done):
                    accs = [r["acc"] for r in done if r["recipe"] == mode]
                    tf = [r["tfidf_acc"] for r in done if r["recipe"] == mode]
                    mean = sum(accs) / len(accs)
                    runs = "runs" if len(seeds) == 1 else "samples"
                    rows.append({"task": name, "n": n_eff, "mode": f"{mode}: mean of {len(accs)} {runs}",
                                 "recipe": mode, "acc": mean, "accs": accs, "range": [min(accs), max(accs)],
                                 "tfidf_acc": sum(tf) / len(tf), "seeds": seeds, "train_seeds": args.train_seed_list})
                    print(f"| {name} | {n_eff} | **{mode}: mean of {len(accs)} {runs}** "
                          f"({', '.join(f'{a:.3f}' for a in accs)}; range {min(accs):.3f}-{max(accs):.3f}) "
                          f"| **{mean:.3f}** | - | {sum(tf) / len(tf):.3f} | {mean - sum(tf) / len(tf):+.3f} | - | - |",
                          flush=True)
    print(f"held out: SST-2 {len(sst2_task(args.seed)[2]) if 'sst2' in args.tasks else '-'} sentences, "
          f"BBC 100 articles per class")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
