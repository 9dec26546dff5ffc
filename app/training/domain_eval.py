"""Sentiment on every validation split, movie reviews and the other domains, beside TF-IDF+LR and VADER.

    python -m app.training.domain_eval --model models/albert-sentiment-en [--compare NAME=FOLDER ...]
        [--graph int8] [--imdb 1000] [--baselines]

Each text is read as the app reads a document (`SentimentModel.analyze_many`: windows, the document head on
long ones, the model's own neutral band). Per set:
- polar accuracy: on rows whose gold label is positive or negative, is p(positive) against p(negative) on the
  right side of 0.5 (what the issue's "polar accuracy" means; neutral predictions do not count against it);
- label accuracy: the app's label (negative / positive / neutral) equals the gold one, on sets with neutral;
- neutral F1: of the app's "neutral" against the gold neutral rows;
- captions: the share of Multi30k validation captions (factual) that read neutral.
TF-IDF+LR is trained on all the same training data (SST-2, IMDB, the domains' training parts, the same
captions as neutral), three classes; VADER reads compound >= 0.05 positive, <= -0.05 negative, else neutral.
"""
from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np

from app.training.common import MODELS_DIR, RUNS_DIR, save_json
from app.training.domain_data import LABELS3, SETS, all_splits, captions
from app.training.sentiment_data import imdb_splits, sst2_splits

NEUTRAL = "neutral"


def validation_sets(n_imdb: int) -> dict[str, list[tuple[str, str]]]:
    """name -> [(text, gold label)], every validation split in one place."""
    _, _, sst = sst2_splits()
    _, _, imdb = imdb_splits()
    names = ("negative", "positive")
    out = {"sst2": [(t, names[y]) for t, y in sst], "imdb": [(t, names[y]) for t, y in imdb[:n_imdb]]}
    for name, (_, val) in all_splits().items():
        out[name] = [(r.text, r.label) for r in val]
    out["captions"] = [(r.text, r.label) for r in captions("val")]
    return out


def score(pred_labels: list[str], p_polar: np.ndarray, gold: list[str]) -> dict:
    """The table's numbers for one set from the app's labels and p(positive vs negative)."""
    gold_a = np.array(gold)
    pred_a = np.array(pred_labels)
    polar = gold_a != NEUTRAL
    out: dict = {"n": len(gold)}
    if polar.any():
        out["polar_acc"] = float(((p_polar[polar] >= 0.5) == (gold_a[polar] == "positive")).mean())
    if (~polar).any():
        tp = float(((pred_a == NEUTRAL) & ~polar).sum())
        prec = tp / max(1.0, float((pred_a == NEUTRAL).sum()))
        rec = tp / float((~polar).sum())
        out["neutral_f1"] = 0.0 if tp == 0 else 2 * prec * rec / (prec + rec)
        out["label_acc"] = float((pred_a == gold_a).mean())
        out["neutral_share"] = float((pred_a == NEUTRAL).mean())
    out["predicted"] = dict(Counter(pred_labels))
    return out


def eval_model(folder: Path, graph: str, sets: dict) -> dict:
    from app.core.registry import read_manifest
    from app.core.runtime import RuntimeOptions
    from app.core.sentiment import SentimentModel

    m = SentimentModel(read_manifest(folder), RuntimeOptions(device="cpu", tune=False), graph=graph)
    rows = {}
    for name, data in sets.items():
        t0 = time.perf_counter()
        res = m.analyze_many([t for t, _ in data], per_sentence=False)
        dt = time.perf_counter() - t0
        probs = np.array([[dict(r.probabilities).get(lab, 0.0) for lab in m.labels] for r in res])
        rows[name] = score([r.label for r in res], m.polarity(probs), [g for _, g in data])
        rows[name]["texts_per_s"] = len(data) / dt
    return rows


def training_texts() -> list[tuple[str, str]]:
    from app.training.sentiment_data import clean_review

    sst_train, _, _ = sst2_splits()
    imdb_train, _, _ = imdb_splits()
    names = ("negative", "positive")
    rows = [(t, names[y]) for t, y in sst_train] + [(clean_review(t), names[y]) for t, y in imdb_train]
    for _, (train, _) in all_splits().items():
        rows += [(r.text, r.label) for r in train]
    rows += [(r.text, r.label) for r in captions("train", 4000)]
    return rows


def eval_tfidf(sets: dict) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    train = training_texts()
    vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=400_000)
    clf = LogisticRegression(C=4.0, max_iter=3000).fit(vec.fit_transform([t for t, _ in train]), [y for _, y in train])
    classes = list(clf.classes_)
    rows = {}
    for name, data in sets.items():
        p = clf.predict_proba(vec.transform([t for t, _ in data]))
        pos, neg = p[:, classes.index("positive")], p[:, classes.index("negative")]
        rows[name] = score([classes[k] for k in p.argmax(1)], pos / np.maximum(pos + neg, 1e-12), [g for _, g in data])
    return rows


def eval_vader(sets: dict) -> dict:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    v = SentimentIntensityAnalyzer()
    rows = {}
    for name, data in sets.items():
        c = np.array([v.polarity_scores(t)["compound"] for t, _ in data])
        labels = ["positive" if x >= 0.05 else "negative" if x <= -0.05 else NEUTRAL for x in c]
        rows[name] = score(labels, (c >= 0).astype(float), [g for _, g in data])
    return rows


NEW_SETS = [s.name for s in SETS]


def summary_row(r: dict) -> dict:
    """Macro averages over the new English sets (polar accuracy; neutral F1 where the set has neutral)."""
    polar = [r[s]["polar_acc"] for s in NEW_SETS if "polar_acc" in r.get(s, {})]
    neut = [r[s]["neutral_f1"] for s in NEW_SETS if "neutral_f1" in r.get(s, {})]
    return {"macro_polar_acc": float(np.mean(polar)) if polar else None,
            "macro_neutral_f1": float(np.mean(neut)) if neut else None}


def print_table(results: dict, sets: dict) -> None:
    names = list(sets)
    print("\npolar accuracy % (neutral F1 where the set has neutral; captions: % read neutral)")
    print(f"{'model':38s}" + "".join(f"{n:>16s}" for n in names) + f"{'macro new':>12s}")
    for model, r in results.items():
        cells = []
        for n in names:
            x = r.get(n, {})
            if n == "captions":
                cells.append(f"{100 * x.get('neutral_share', 0):.1f}")
            elif "neutral_f1" in x:
                cells.append(f"{100 * x.get('polar_acc', 0):.1f} / {x['neutral_f1']:.2f}")
            else:
                cells.append(f"{100 * x.get('polar_acc', 0):.1f}")
        m = summary_row(r)
        print(f"{model:38s}" + "".join(f"{c:>16s}" for c in cells)
              + f"{100 * (m['macro_polar_acc'] or 0):>12.1f}")
    print("sizes: " + ", ".join(f"{n} {len(d)}" for n, d in sets.items()))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=MODELS_DIR / "albert-sentiment-en")
    ap.add_argument("--graph", default="int8")
    ap.add_argument("--compare", action="append", default=[], metavar="NAME=FOLDER")
    ap.add_argument("--imdb", type=int, default=1000, help="IMDB validation reviews")
    ap.add_argument("--baselines", action="store_true", help="also TF-IDF+LR (3 classes, all training data) and VADER")
    ap.add_argument("--out", type=Path, default=RUNS_DIR / "domain_eval" / "table.json")
    args = ap.parse_args(argv)
    sets = validation_sets(args.imdb)
    results = {}
    for spec in [f"{args.model.name} ({args.graph})={args.model}", *args.compare]:
        name, _, folder = spec.partition("=")
        results[name] = eval_model(Path(folder), args.graph, sets)
        print(name, json.dumps(summary_row(results[name])), flush=True)
    if args.baselines:
        results["TF-IDF 1-2gram + LR (3 classes)"] = eval_tfidf(sets)
        results["VADER"] = eval_vader(sets)
    print_table(results, sets)
    save_json({"labels": list(LABELS3), "sizes": {n: len(d) for n, d in sets.items()}, "rows": results}, args.out)


if __name__ == "__main__":
    main()
