"""Evaluate the shipped sentiment model (ONNX fp32 and int8) against VADER, TF-IDF+LR and the teacher.

    python -m app.training.sentiment_eval [--teacher] [--imdb 1000] \
        [--compare "MiniLM teacher fine-tuned the same way=runs/cand/minilm-sentiment-en"]

Validation: the leak-free SST-2 sentence split and whole IMDB reviews (app.training.sentiment_data).
Whole reviews are read by the core exactly as the app reads documents: packed into 256-token windows,
window probabilities averaged by length, nothing truncated.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from app.training.common import MODELS_DIR, RUNS_DIR, save_json, teacher_dir
from app.training.sentiment_data import imdb_splits, sst2_splits


def ece(probs_pos: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of the predicted label's probability."""
    pred = (probs_pos >= 0.5).astype(int)
    conf = np.where(pred == 1, probs_pos, 1 - probs_pos)
    correct = (pred == labels).astype(float)
    edges = np.linspace(0.5, 1.0, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf >= lo) & (conf < hi if hi < 1 else conf <= hi)
        if m.any():
            total += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(total)


def eval_onnx(folder: Path, graph: str, sst, imdb) -> dict:
    from app.core.registry import read_manifest
    from app.core.runtime import RuntimeOptions
    from app.core.sentiment import SentimentModel

    m = SentimentModel(read_manifest(folder), RuntimeOptions(device="cpu"), graph=graph)
    pos = m.labels.index("positive")
    t = time.perf_counter()
    ps = m.probabilities([x for x, _ in sst])[:, pos]
    t_sst = time.perf_counter() - t
    t = time.perf_counter()
    pd = np.array([dict(m.analyze(x, per_sentence=False).probabilities)["positive"] for x, _ in imdb])
    t_imdb = time.perf_counter() - t
    ys, yd = np.array([y for _, y in sst]), np.array([y for _, y in imdb])
    out = {"sst2_acc": float(((ps >= 0.5) == ys).mean()), "imdb_acc": float(((pd >= 0.5) == yd).mean()),
           "sst2_ece": ece(ps, ys), "imdb_ece": ece(pd, yd),
           "sst2_sentences_per_s": len(sst) / t_sst, "imdb_docs_per_s": len(imdb) / t_imdb}
    if m.document_head is not None:  # the same model without its document head: windows averaged
        pw = np.array([dict(r.probabilities)["positive"]
                       for r in m.analyze_many([x for x, _ in imdb], per_sentence=False, document_head=False)])
        out.update(imdb_acc_window_average=float(((pw >= 0.5) == yd).mean()), imdb_ece_window_average=ece(pw, yd))
    return out


def eval_vader(sst, imdb) -> dict:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    v = SentimentIntensityAnalyzer()
    acc = lambda data: float(np.mean([(v.polarity_scores(x)["compound"] >= 0) == bool(y) for x, y in data]))
    return {"sst2_acc": acc(sst), "imdb_acc": acc(imdb)}


def eval_tfidf(train, sst, imdb) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=400_000)
    X = vec.fit_transform([x for x, _ in train])
    clf = LogisticRegression(C=4.0, max_iter=2000).fit(X, [y for _, y in train])
    acc = lambda data: float((clf.predict(vec.transform([x for x, _ in data])) == np.array([y for _, y in data])).mean())
    return {"sst2_acc": acc(sst), "imdb_acc": acc(imdb)}


def eval_teacher(sst_train, imdb_train, sst, imdb, n_sst_train: int, n_imdb_train: int) -> dict:
    """Frozen MiniLM teacher sentence embeddings + logistic regression (a cheap stand-in for fine-tuning it)."""
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegression

    st = SentenceTransformer(str(teacher_dir()), device="cpu")
    st.max_seq_length = 256
    enc = lambda texts: st.encode(texts, batch_size=64, convert_to_numpy=True)
    train = sst_train[:n_sst_train] + imdb_train[:n_imdb_train]
    clf = LogisticRegression(C=2.0, max_iter=3000).fit(enc([x for x, _ in train]), [y for _, y in train])
    acc = lambda data: float((clf.predict(enc([x for x, _ in data])) == np.array([y for _, y in data])).mean())
    return {"sst2_acc": acc(sst), "imdb_acc": acc(imdb), "note": f"frozen embeddings (first 256 tokens) + LR, {len(train)} training texts"}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=MODELS_DIR / "albert-sentiment-en")
    ap.add_argument("--imdb", type=int, default=1000, help="IMDB validation reviews to use")
    ap.add_argument("--teacher", action="store_true", help="also evaluate the frozen teacher + LR (slow)")
    ap.add_argument("--teacher-sst", type=int, default=10000, help="SST-2 training sentences for the teacher's LR")
    ap.add_argument("--teacher-imdb", type=int, default=2000, help="IMDB training reviews for the teacher's LR")
    ap.add_argument("--only-teacher", action="store_true", help="add the teacher row to an existing metrics file")
    ap.add_argument("--compare", action="append", default=[], metavar="NAME=FOLDER",
                    help="also score another exported sentiment model folder (fp32 graph) on the same splits")
    ap.add_argument("--no-baselines", action="store_true", help="skip VADER and TF-IDF + LR")
    ap.add_argument("--out", type=Path, default=RUNS_DIR / "sentiment" / "metrics.json")
    args = ap.parse_args(argv)
    sst_train, _, sst = sst2_splits()
    imdb_train, _, imdb = imdb_splits()
    imdb = imdb[: args.imdb]
    if args.only_teacher:
        saved = json.loads(args.out.read_text()) if args.out.exists() else {"rows": {}}
        saved["rows"]["MiniLM teacher, frozen + LR"] = eval_teacher(sst_train, imdb_train, sst, imdb, args.teacher_sst, args.teacher_imdb)
        print(saved["rows"]["MiniLM teacher, frozen + LR"])
        save_json(saved, args.out)
        return
    rows = {}
    for g in ("fp32", "int8"):
        rows[f"ALBERT (ours) ONNX {g}"] = eval_onnx(args.model, g, sst, imdb)
        print(g, rows[f"ALBERT (ours) ONNX {g}"], flush=True)
    for spec in args.compare:
        name, _, folder = spec.partition("=")
        rows[name] = eval_onnx(Path(folder), "fp32", sst, imdb)
        print(name, rows[name], flush=True)
    if not args.no_baselines:
        rows["VADER (lexicon)"] = eval_vader(sst, imdb)
        rows["TF-IDF 1-2gram + LR"] = eval_tfidf(sst_train + imdb_train, sst, imdb)
    if args.teacher:
        rows["MiniLM teacher, frozen + LR"] = eval_teacher(sst_train, imdb_train, sst, imdb, args.teacher_sst, args.teacher_imdb)
    print(f"\nvalidation: {len(sst)} SST-2 sentences (leak-free split), {len(imdb)} whole IMDB reviews")
    print(f"{'model':32s} {'SST-2 acc':>9s} {'IMDB acc':>9s}")
    for name, r in rows.items():
        extra = (f"   (windows averaged, no document head: {100 * r['imdb_acc_window_average']:.2f})"
                 if "imdb_acc_window_average" in r else "")
        print(f"{name:32s} {100 * r['sst2_acc']:9.2f} {100 * r['imdb_acc']:9.2f}{extra}")
    save_json({"validation": {"sst2_sentences": len(sst), "imdb_reviews": len(imdb)}, "rows": rows}, args.out)
    write_metrics(args.model, rows, len(sst), len(imdb))


def write_metrics(folder: Path, rows: dict, n_sst: int, n_imdb: int) -> None:
    """The measured numbers travel with the model: its manifest's metrics (what the Models view quotes)."""
    from app.core.registry import write_manifest

    rd = lambda x: round(float(x), 4)
    both = lambda r: {"sst2": rd(r["sst2_acc"]), "imdb": rd(r["imdb_acc"])}
    m = {"validation": f"{n_sst:,} SST-2 sentences (leak-free split) and {n_imdb:,} whole IMDB reviews, seed 13",
         "measured": f"{time.strftime('%Y-%m-%d')}, python -m app.training.sentiment_eval"}
    for g in ("fp32", "int8"):
        r = rows[f"ALBERT (ours) ONNX {g}"]
        m.update({f"sst2_accuracy_{g}": rd(r["sst2_acc"]), f"imdb_accuracy_{g}": rd(r["imdb_acc"]),
                  f"sst2_ece_{g}": rd(r["sst2_ece"]), f"imdb_ece_{g}": rd(r["imdb_ece"])})
        if "imdb_acc_window_average" in r:
            m[f"imdb_accuracy_window_average_{g}"] = rd(r["imdb_acc_window_average"])
    if "TF-IDF 1-2gram + LR" in rows:
        m["baseline_tfidf_lr"] = both(rows["TF-IDF 1-2gram + LR"])
        m["baseline_vader"] = both(rows["VADER (lexicon)"])
    others = {k: both(r) for k, r in rows.items() if not k.startswith("ALBERT (ours)") and not k.startswith(("TF-IDF", "VADER"))}
    if others:
        m["compared"] = others
    raw = json.loads((folder / "manifest.json").read_text())
    raw["metrics"] = m
    write_manifest(folder, raw)


if __name__ == "__main__":
    main()
