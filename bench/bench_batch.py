"""Batch throughput: folders of files through run_batch, one document at a time vs chunks of documents.

Three ways, one column each: the baseline, documents one at a time with length batches that only watch
the token budget (RuntimeOptions(max_padding=inf): a document's 20-token sentences padded to its 254-token
windows); one at a time with padding-aware length batches (max_padding 0.5, the default, also what the
Document view gets); and run_batch's default, chunks of 32 documents per model call with padding-aware
batches. The padding is a real option of the runtime (RuntimeOptions.max_padding), read by every path
that batches (the one-pass shared encoder, sentiment, summary), so the baseline is what it says. Same
process, same shipped models, same files, a fresh library file for each (so nothing is reused), sentiment
+ summary (the defaults). Workloads written as .txt files: short documents (the first three sentences of
IMDB validation reviews, like tickets or comments) and whole IMDB reviews. Prints documents/s, ratios and
the CPU flags.

    python bench/bench_batch.py [--short 600] [--long 150] [--threads 2]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def write_folder(folder: Path, texts: list[str]) -> Path:
    folder.mkdir(parents=True)
    for k, t in enumerate(texts):
        (folder / f"doc{k:05d}.txt").write_text(t, encoding="utf-8")
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--short", type=int, default=600)
    ap.add_argument("--long", type=int, default=150)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=32)
    args = ap.parse_args()

    from app.core.analyzer import AnalysisOptions, Analyzer
    from app.core.runtime import RuntimeOptions
    from app.core.segment import split_sentences
    from app.core.store import Store
    from app.core.tuning import read_cpu_info
    from app.jobs.batch import run_batch
    from app.training.sentiment_data import imdb_splits

    _, _, val = imdb_splits()
    texts = [t for t, _ in val]
    short = [" ".join(s.text for s in split_sentences(t)[:3]) for t in texts[: args.short]]
    long_ = texts[args.short: args.short + args.long]
    print(f"CPU: {read_cpu_info().describe()}; {args.threads} threads; load average {os.getloadavg()[0]:.1f} at start")
    analyzers = {p: Analyzer(runtime=RuntimeOptions(device="cpu", intra_op_threads=args.threads, max_padding=p))
                 for p in (float("inf"), 0.5)}
    opts = AnalysisOptions(tasks=("sentiment", "summary"))
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        warm = write_folder(td / "warm", short[:20])
        for analyzer in analyzers.values():
            run_batch([warm], analyzer, None, opts)  # load the models outside the timings
        modes = [("budget only, 1 at a time", 1, float("inf")), ("padding-aware, 1 at a time", 1, 0.5),
                 (f"padding-aware, chunks of {args.chunk}", args.chunk, 0.5)]
        print(f"{'workload':26s}" + "".join(f"{m[0]:>32s}" for m in modes))
        for name, docs in ((f"{len(short)} short documents", short), (f"{len(long_)} whole IMDB reviews", long_)):
            folder = write_folder(td / name.split()[1], docs)
            rates, labels = [], []
            for k, (_, chunk, max_padding) in enumerate(modes):
                store = Store(td / f"{name.split()[1]}{k}.db")
                seen = []
                t = time.perf_counter()
                rep = run_batch([folder], analyzers[max_padding], store, opts, chunk_documents=chunk,
                                on_result=lambda a: seen.append(a.sentiment.label))
                rates.append(rep.analyses / (time.perf_counter() - t))
                labels.append(seen)
                store.close()
            print(f"{name:26s}" + "".join(f"{r:20.1f} docs/s {r / rates[0]:5.2f}x" for r in rates))
            agree = [sum(a == b for a, b in zip(labels[0], lab)) / max(1, len(lab)) for lab in labels[1:]]
            print(f"{'  labels as baseline':26s}{'':32s}" + "".join(f"{a:31.1%} " for a in agree))


if __name__ == "__main__":
    main()
