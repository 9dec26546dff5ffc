"""English speed of the cross-lingual sentiment model against the English-only one, in one process.

Both models run the app's own SentimentModel (int8, ONNX Runtime, the same threads) on the same English text:
SST-2 validation sentences and IMDB validation reviews (documents, per-sentence scores on). The rounds alternate
(en, xx, en, xx, ...) so that a load change on a shared machine hits both; the median round is reported, with
the ratio xx / en (1.00 = the same speed). Also prints the French/German tokenizer's pieces per English word,
the only place the two can differ (a larger vocabulary is a bigger lookup table, not more work per token).

    python bench/bench_xx_speed.py [--sentences 1000] [--docs 60] [--rounds 3] [--threads 2]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=1000)
    ap.add_argument("--docs", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--en", type=Path, default=ROOT / "models" / "albert-sentiment-en")
    ap.add_argument("--xx", type=Path, default=ROOT / "models" / "albert-sentiment-xx")
    args = ap.parse_args()

    from app.core.registry import read_manifest
    from app.core.ort_session import RuntimeOptions
    from app.core.sentiment import SentimentModel
    from app.training.sentiment_data import clean_review, imdb_splits, sst2_splits

    sentences = [t for t, _ in sst2_splits()[2][:args.sentences]]
    docs = [clean_review(t) for t, _ in imdb_splits()[2][:args.docs]]
    opts = RuntimeOptions(device="cpu", tune=False, intra_op_threads=args.threads)
    models = {name: SentimentModel(read_manifest(folder), opts, graph="int8")
              for name, folder in (("en", args.en), ("xx", args.xx))}
    words = sum(len(t.split()) for t in sentences + docs)
    for name, m in models.items():
        pieces = sum(len(p) for p in m.tokenizer.pieces(sentences + docs))
        print(f"{name}: {read_manifest(args.en if name == 'en' else args.xx).version}, "
              f"{pieces / words:.3f} word pieces per English word")
    times: dict[str, dict[str, list[float]]] = {n: {"sentences": [], "documents": []} for n in models}
    for name, m in models.items():  # warm-up: first-run allocations out of the timings
        m.analyze_many(sentences[:32], per_sentence=False)
    for _ in range(args.rounds):
        for name, m in models.items():
            t0 = time.perf_counter()
            m.analyze_many(sentences, per_sentence=False)
            times[name]["sentences"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            m.analyze_many(docs, per_sentence=True)
            times[name]["documents"].append(time.perf_counter() - t0)
    print(f"\n{'workload':<34}{'en texts/s':>12}{'xx texts/s':>12}{'xx / en':>9}")
    for work, n in (("sentences", len(sentences)), ("documents", len(docs))):
        en = n / statistics.median(times["en"][work])
        xx = n / statistics.median(times["xx"][work])
        label = f"SST-2 sentences ({n})" if work == "sentences" else f"IMDB reviews, per sentence ({n})"
        print(f"{label:<34}{en:>12.1f}{xx:>12.1f}{xx / en:>9.2f}")
    print(f"(median of {args.rounds} alternating rounds, {args.threads} threads, int8)")


if __name__ == "__main__":
    main()
