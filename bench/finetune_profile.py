"""Where a small fine-tune's time goes: one run of the app's own `fine_tune` (split, train, check, refit on
every example, export, score the exported graphs), timed by phase and by the calls inside the phases.

    python bench/finetune_profile.py                          # BBC 5 topics, 64 labelled examples, seed 13
    python bench/finetune_profile.py --task sst2 --n 64 --seed 14
    python bench/finetune_profile.py --task frtv --base models/albert-sentiment-xx --seed 7   # long French reviews
    python bench/finetune_profile.py --baseline     # also the recipe as it was, in the same process, and the ratio

`--baseline` first runs the job as it was before 2026-12-07 (embedding tables trained, and each of the job's
own score-once loads tuned its ONNX session first, `RuntimeOptions(tune=None)`), then as it is now; the
refit's in-memory copy of the untrained model (2.6 s) is in both.

The phases are the ones the window's bar names (preparing, training, checking, refit, exporting); the calls
are timed by wrapping them in this process only. Wall seconds on a machine that is not otherwise busy are the
figure to compare with the fine-tuning issue's 120 s; the CPU seconds of the process are printed beside them.
"""
from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.finetune_curve import balanced_sample, bbc5_task, frtv_task, sst2_task

TIMED = {  # module -> the calls timed inside it (wrapped where they are looked up)
    "app.training.finetune": ["_export_onnx", "_save_weights", "_graph_agreement", "tfidf_baseline",
                              "evaluate_installed", "installed_classifier", "load_base", "embed_all", "fit_head",
                              "_val_eval", "label_names_help", "train_few_shot", "train_standard"],
    "app.training.common": ["quantize_int8"],
}


TRAINING = ("train_few_shot", "train_standard")
LIVE_CURVE = ("embed_all", "fit_head", "_val_eval")


def _wrap(totals, name, fn, inside):
    """`fn` timed into totals[name]; the live curve's calls made inside a training recipe are kept apart."""
    @functools.wraps(fn)
    def timed(*a, **k):
        key = f"{name} (inside training: the live curve)" if inside[0] and name in LIVE_CURVE else name
        inside[0] += name in TRAINING
        t0 = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            inside[0] -= name in TRAINING
            n, sec = totals[key]
            totals[key] = (n + 1, sec + time.perf_counter() - t0)
    return timed


def profile(data, args, settings: dict, label: str) -> float:
    """One fine_tune with export, timed by phase and call; prints the tables and returns the wall seconds."""
    import importlib

    from app.training.finetune import TrainSettings, fine_tune

    totals: dict[str, tuple[int, float]] = defaultdict(lambda: (0, 0.0))
    inside = [0]
    originals = []
    for mod, names in TIMED.items():
        m = importlib.import_module(mod)
        for name in names:
            originals.append((m, name, getattr(m, name)))
            setattr(m, name, _wrap(totals, name, getattr(m, name), inside))
    phases: list[tuple[str, float]] = []
    steps: dict[str, list[float]] = defaultdict(list)

    def emit(e: dict) -> None:
        now = time.perf_counter()
        if e.get("kind") == "phase" and (not phases or phases[-1][0] != e["phase"]):
            phases.append((e["phase"], now))
        elif e.get("kind") == "step":
            steps[e["phase"]].append(now)

    try:
        with tempfile.TemporaryDirectory() as models:
            s = TrainSettings(base=str(args.base), models_dir=models, model_id="profile", threads=args.threads,
                              seed=args.seed, **settings)
            t0, c0 = time.perf_counter(), time.process_time()
            report = fine_tune(data, s, emit)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        for m, name, fn in originals:
            setattr(m, name, fn)
    print(f"\n### {label}\n\nrecipe {report['mode']}, {report['n_train']} to train + {report['n_val']} held back, "
          f"refit on all; validation accuracy {report['evaluation']['accuracy']:.3f}: **{wall:.1f} s wall**, "
          f"{cpu:.1f} s CPU (threads {args.threads or 'auto'})\n")
    print("| phase | wall s | share |\n|---|---|---|")
    ends = [t for _, t in phases[1:]] + [t0 + wall]
    for (ph, start), end in zip(phases, ends):
        extra = ""
        if steps.get(ph):
            st = steps[ph]
            per = (st[-1] - st[0]) / max(1, len(st) - 1)
            extra = f" ({len(st)} steps, {per:.2f} s a step)"
        print(f"| {ph}{extra} | {end - start:.1f} | {(end - start) / wall:.0%} |")
    print("\n| call | calls | wall s |\n|---|---|---|")
    for k, (n, sec) in sorted(totals.items(), key=lambda kv: -kv[1][1]):
        print(f"| {k} | {n} | {sec:.1f} |")
    return wall


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="bbc5", choices=("bbc5", "sst2", "frtv"))
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--base", type=Path, default=Path(__file__).resolve().parents[1] / "models" / "albert-encoder-en")
    ap.add_argument("--baseline", action="store_true", help="also the job as it was, first, in this process")
    args = ap.parse_args(argv)

    import os

    # a fresh tuning cache: a graph exported here is new to the user's machine (the same seed exports the same
    # bytes, and a cache warmed by an earlier run of this script made the tuned loads look free)
    os.environ["ALBERT_STUDIO_CACHE"] = tempfile.mkdtemp(prefix="tuning-")
    from app.core.labeled_data import make_dataset

    name, pool, _held = {"bbc5": bbc5_task, "sst2": sst2_task, "frtv": frtv_task}[args.task](args.seed)
    data = make_dataset(balanced_sample(pool, args.n, args.seed), min_per_class=2)
    print(f"{name}, {args.n} labelled examples (seed {args.seed}), base {args.base.name}")
    before = None
    if args.baseline:
        import app.training.finetune as ft
        from app.core.runtime import RuntimeOptions

        now_loader = ft.installed_classifier

        def tuned(folder, threads=0, device="auto", graph=None):  # the loads as they were: session tuning on
            from app.core.registry import read_manifest
            from app.core.task_model import load_task_model

            return load_task_model(read_manifest(Path(folder)), RuntimeOptions(device=device, intra_op_threads=threads),
                                   graph=graph)

        ft.installed_classifier = tuned
        try:
            before = profile(data, args, {"few_shot_freeze_embeddings": False}, "before (embeddings trained, tuned loads)")
        finally:
            ft.installed_classifier = now_loader
    after = profile(data, args, {}, "now")
    if before:
        print(f"\nnow / before: {after:.1f} s / {before:.1f} s = {after / before:.2f}x the time ({before / after:.2f}x faster)")


if __name__ == "__main__":
    main()
