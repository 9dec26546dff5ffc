"""The same folder through the local engine and through Ray on this machine, in one run: docs/s, ratio, projection.

Local: run_batch, one process, ONNX Runtime on all `--cpus` threads. Ray: run_cluster_batch on a Ray runtime
started here with `--cpus` CPUs and `--workers` actors of one CPU each (one Analyzer and one inference thread
per actor). Both read the same .txt folder (the first three sentences of IMDB validation reviews, like tickets
or comments; `--reviews` for whole reviews), run sentiment + summary with the shipped models and write a fresh
library, so nothing is reused. Ray's figure is given with and without starting the Ray runtime (`ray.init`),
which a user with a running cluster does not pay. The projection multiplies the rate one worker sustained
inside its shards by the worker count, capped by the rate at which the driver merged shards into the library.

    python bench/bench_cluster.py [--docs 2000] [--workers 2] [--cpus 2] [--reviews] [--no-store]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    model = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")), "?")
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
    wanted = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile") if f in flags]
    return f"{model}; {', '.join(wanted) or 'no AVX2'}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cpus", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--shard-documents", type=int, default=256)
    ap.add_argument("--reviews", action="store_true", help="whole IMDB reviews instead of their first 3 sentences")
    ap.add_argument("--no-store", action="store_true", help="no library: shards only (Ray) / nothing (local)")
    args = ap.parse_args()

    import ray

    from app.core.analyzer import AnalysisOptions, Analyzer
    from app.core.runtime import RuntimeOptions
    from app.core.segment import split_sentences
    from app.core.store import Store
    from app.jobs.batch import run_batch
    from app.jobs.cluster import ClusterOptions, read_results, row_analysis, run_cluster_batch
    from app.training.sentiment_data import imdb_splits

    _, _, val = imdb_splits()
    texts = [t for t, _ in val]
    while len(texts) < args.docs:
        texts = texts + texts
    docs = [t if args.reviews else " ".join(s.text for s in split_sentences(t)[:3]) for t in texts[: args.docs]]
    opts = AnalysisOptions(tasks=("sentiment", "summary"))
    print(f"CPU: {cpu_flags()}; {os.cpu_count()} logical CPUs; load average {os.getloadavg()[0]:.2f} at start; "
          f"Ray workers at niceness {os.environ.get('RAY_worker_niceness', '0')}")
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        folder = td / "docs"
        folder.mkdir()
        for k, t in enumerate(docs):
            # distinct texts, so neither engine finds a repeat to reuse
            (folder / f"doc{k:05d}.txt").write_text(f"{t} (#{k})" if k >= len(val) else t, encoding="utf-8")
        kind = "whole IMDB reviews" if args.reviews else "short documents (3 sentences)"

        local = Analyzer(runtime=RuntimeOptions(device="cpu", intra_op_threads=args.cpus))
        run_batch([folder / "doc00000.txt"], local, None, opts)  # load the models outside the timing
        store = None if args.no_store else Store(td / "local.db")
        t = time.perf_counter()
        rep_local = run_batch([folder], local, store, opts)
        local_s = time.perf_counter() - t
        if store:
            store.close()

        # Ray runs its workers at niceness 15; this bench shares the machine with whatever else runs, so give
        # them the local engine's priority (0) or background load would weigh on Ray's side only
        os.environ.setdefault("RAY_worker_niceness", "0")
        t = time.perf_counter()
        ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
        init_s = time.perf_counter() - t
        shard_rates = []
        store = None if args.no_store else Store(td / "ray.db")
        t = time.perf_counter()
        rep_ray = run_cluster_batch([folder], local, store, opts, out=td / "out",
                                    cluster=ClusterOptions(workers=args.workers, cpus_per_worker=1,
                                                           shard_documents=args.shard_documents),
                                    on_shard=lambda s: shard_rates.append((s["documents"] + s["errors"], s["seconds"])))
        ray_s = time.perf_counter() - t
        ray.shutdown()
        if store:
            store.close()

        # how fast the driver can merge shards into a library (one transaction per shard, as the driver does):
        # the ceiling of any cluster's throughput into one library
        rows = list(read_results(td / "out"))
        merge = Store(td / "merge.db")
        keys = {t: k[2] for t, k in local.task_models(opts).items()}
        t = time.perf_counter()
        for k in range(0, len(rows), args.shard_documents):
            with merge.batch():
                for row in rows[k: k + args.shard_documents]:
                    merge.save_analysis(row_analysis(row), None, keys)
        merge_rate = len(rows) / (time.perf_counter() - t)
        merge.close()
        print(f"load average {os.getloadavg()[0]:.2f} at the end")

        n = rep_local.analyses
        assert rep_ray.analyses == n and not rep_ray.errors and not rep_local.errors, (rep_ray, rep_local)
        local_rate, ray_job_rate, ray_all_rate = n / local_s, n / ray_s, n / (ray_s + init_s)
        per_worker = sum(d for d, _ in shard_rates) / sum(s for _, s in shard_rates)
        print(f"{n} {kind}, sentiment + summary, {'no library' if args.no_store else 'into a fresh library'}; "
              f"Ray: {args.workers} workers x 1 CPU, {rep_ray.shards} shards of {args.shard_documents}")
        print(f"{'engine':44s}{'seconds':>10s}{'docs/s':>10s}{'ratio':>8s}")
        print(f"{'local (run_batch, ' + str(args.cpus) + ' threads)':44s}{local_s:10.1f}{local_rate:10.1f}{1:8.2f}")
        print(f"{'ray, cluster running (job only)':44s}{ray_s:10.1f}{ray_job_rate:10.1f}"
              f"{ray_job_rate / local_rate:8.2f}")
        print(f"{'ray, incl. starting Ray here':44s}{ray_s + init_s:10.1f}{ray_all_rate:10.1f}"
              f"{ray_all_rate / local_rate:8.2f}")
        print(f"per worker (1 CPU), inside its shards: {per_worker:.1f} docs/s; driver merge into the library: "
              f"{merge_rate:.0f} docs/s")
        print("projection (assumes: the same CPU per core on every node, one 1-CPU worker per core, documents like "
              "these, files on storage that keeps up, shards long enough that start-up is amortised; the "
              "single-writer library merge on the driver is the cap):")
        for machines, cores in ((1, args.cpus), (4, 8), (16, 16), (64, 32)):
            workers = machines * cores
            rate = per_worker * workers
            capped = min(rate, merge_rate) if not args.no_store else rate
            note = " (merge-bound; use --no-store and read the shards)" if capped < rate else ""
            print(f"  {machines:3d} machine(s) x {cores:2d} cores = {workers:4d} workers: ~{capped:,.0f} docs/s{note}")


if __name__ == "__main__":
    main()
