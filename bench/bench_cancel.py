"""How long a cancel takes to stop a batch and a long single document, with the shipped models.

    python bench/bench_cancel.py [--trials 5]

Batch: whole IMDB reviews as .txt files, sentiment + summary, cancelled at a random moment 2-6 s in;
the time from the cancel to run_batch returning is printed (the window's Esc does exactly this). Single
document: IMDB reviews joined into one ~170 KB text, analysed as the Document view does, cancelled likewise.
Also prints how many of the batch's documents were analysed, not analysed and errors (must be 0).
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--docs", type=int, default=300)
    args = ap.parse_args(argv)
    from app.core.analyzer import AnalysisOptions, Analyzer
    from app.core.errors import Cancelled
    from app.core.pasted import document_from_text
    from app.core.runtime import RuntimeOptions
    from app.core.store import Store
    from app.jobs.batch import run_batch
    from app.training.common import DATA_DIR, read_jsonl

    reviews = [r["text"] for r, _ in zip(read_jsonl(DATA_DIR / "imdb" / "train.jsonl"), range(args.docs))]
    analyzer = Analyzer(runtime=RuntimeOptions(device="cpu"))
    opts = AnalysisOptions(tasks=("sentiment", "summary"))
    analyzer.analyze(document_from_text(reviews[0]), opts)  # models loaded before timing
    rng = random.Random(1)
    try:
        load = open("/proc/loadavg").read().split()[0]
    except OSError:
        load = "?"
    print(f"{len(reviews)} IMDB reviews; load average {load} on {__import__('os').cpu_count()} CPUs")
    batch, single = [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "reviews"
        folder.mkdir()
        for i, text in enumerate(reviews):
            (folder / f"r{i:04d}.txt").write_text(text, encoding="utf-8")
        for trial in range(args.trials):
            stop = threading.Event()
            at = {}

            def cancel_later():
                time.sleep(rng.uniform(2, 6))
                at["t"] = time.perf_counter()
                stop.set()

            threading.Thread(target=cancel_later, daemon=True).start()
            with Store(Path(tmp) / f"lib{trial}.db") as store:
                rep = run_batch([folder], analyzer, store, opts, cancelled=stop.is_set)
            batch.append(time.perf_counter() - at["t"])
            print(f"batch {trial + 1}: stopped {batch[-1]:.2f} s after the cancel; {rep.summary()}")
        long_doc = document_from_text("\n\n".join(reviews)[:172_000], source="long.txt")
        for trial in range(args.trials):
            stop = threading.Event()
            at = {}

            def cancel_later():
                time.sleep(rng.uniform(1, 4))
                at["t"] = time.perf_counter()
                stop.set()

            threading.Thread(target=cancel_later, daemon=True).start()
            seen = []
            try:
                analyzer.analyze(long_doc, opts, stop.is_set, seen.append)
            except Cancelled:
                pass
            single.append(time.perf_counter() - at["t"])
            print(f"document {trial + 1}: stopped {single[-1]:.2f} s after the cancel, at {100 * (seen[-1] if seen else 0):.0f}%")
    print(f"\ncancel latency, median / max: batch {statistics.median(batch):.2f} / {max(batch):.2f} s, "
          f"172 KB document {statistics.median(single):.2f} / {max(single):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
