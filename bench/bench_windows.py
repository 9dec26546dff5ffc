"""How close do the sentiment model's 256-token review windows run to this CPU's matrix-product ceiling?

One run: the CPU model and flags; this CPU's fp32 GEMM ceiling measured through ONNX Runtime itself (a
single-MatMul graph per encoder shape, [batch*256, 384] x [384, 1536] / [384, 384] / [1536] x [1536, 384],
the same thread count and session settings as the app); then the default sentiment model's fp32 and int8
graphs on 256-token IMDB review windows, untuned (shipped graph, ORT_ENABLE_ALL) and with the per-CPU
tuned choice (core/tuning.py). The model's FLOPs per token are counted from its graph: 2 x the weights
of every weight MatMul + the attention products, 2 x 2 x T x H per layer. Prints tokens/s, achieved GFLOP/s,
fp32 as % of the ceiling (the time the model's own mix of shapes would take at GEMM speed), int8/fp32,
and the issue's targets: fp32 >= 75% of the ceiling, int8 >= 1.5x fp32.

    python bench/bench_windows.py [--threads N] [--batch 8] [--seconds 3] [--model models/albert-sentiment-en]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

TARGET_CEILING, TARGET_INT8 = 0.75, 1.5


def matmul_graph(path: Path, k: int, n: int) -> Path:
    """x[M, k] @ W[k, n] with W stored in the graph, as the encoder's weights are."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((k, n)).astype(np.float32) * 0.05, "w")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "gemm",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, k])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, n])], initializer=[w])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def timed(runs: dict, seconds: float) -> dict[str, float]:
    """Median seconds per call of each zero-argument callable, measured round robin for `seconds` in all
    (at least 3 calls each)."""
    for fn in runs.values():
        fn()  # warm-up
    times = {name: [] for name in runs}
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or min(len(t) for t in times.values()) < 3:
        for name, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def model_flops(graph: Path, tokens: int) -> dict:
    """Per-token FLOPs of an encoder graph: 2 x weights of each weight MatMul/Gemm (a shared weight counts at
    each use), plus attention's QK^T and PV, 2 x 2 x T x H per layer (layers = Softmax nodes)."""
    import onnx

    m = onnx.load(str(graph))
    g = m.graph
    shapes = {t.name: tuple(t.dims) for t in g.initializer}
    alias = {n.output[0]: n.input[0] for n in g.node if n.op_type == "Identity" and n.input[0] in shapes}
    weights, mix = 0, {}
    for n in g.node:
        if n.op_type not in ("MatMul", "Gemm"):
            continue
        for name in n.input[:2]:
            dims = shapes.get(alias.get(name, name))
            if dims is not None and len(dims) == 2:
                weights += dims[0] * dims[1]
                mix[dims] = mix.get(dims, 0) + 1
                break
    layers = sum(n.op_type == "Softmax" for n in g.node)
    hidden = max(mix, key=lambda d: mix[d] * (d[0] == d[1]))[0] if mix else 0
    attention = 2 * 2 * tokens * hidden * layers
    return {"per_token": 2 * weights + attention, "matmul": 2 * weights, "attention": attention,
            "layers": layers, "hidden": hidden, "weight_shapes": mix}


def review_windows(tokenizer: Path, count: int, width: int) -> list[list[int]]:
    """Full `width`-token windows ([CLS] pieces [SEP]) cut from IMDB training reviews, in file order."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer))
    tok.no_truncation()  # the file's own settings cut at 128 and pad; windows are cut here
    tok.no_padding()
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    out = []
    with open(ROOT.parent / "shared" / "data" / "imdb" / "train.jsonl", encoding="utf-8") as f:
        for line in f:
            text = json.loads(line)["text"].replace("<br />", " ")
            ids = tok.encode(text.lower(), add_special_tokens=False).ids
            for i in range(0, len(ids) - (width - 2) + 1, width - 2):
                out.append([cls, *ids[i:i + width - 2], sep])
                if len(out) == count:
                    return out
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=0, help="inference threads (0 = the app's default: physical cores)")
    ap.add_argument("--batch", type=int, default=8, help="windows per run (the GEMMs use batch x 256 rows)")
    ap.add_argument("--seconds", type=float, default=3.0, help="timed seconds per GEMM shape and per session")
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "albert-sentiment-en")
    args = ap.parse_args()

    from app.core import tuning
    from app.core.runtime import RuntimeOptions, Session, default_threads, onnxruntime_version

    threads = args.threads or default_threads()
    cpu = tuning.read_cpu_info()
    manifest = json.loads((args.model / "manifest.json").read_text(encoding="utf-8"))
    width = int(manifest.get("max_length", 256))
    rows = args.batch * width
    print(f"CPU: {cpu.model}")
    print(f"flags: {' '.join(cpu.flags)}")
    print(f"threads: {threads} (physical cores {tuning.physical_cores()}), onnxruntime {onnxruntime_version()}, "
          f"batch {args.batch} x {width} tokens")

    def untuned(path: Path) -> Session:
        return Session(path, RuntimeOptions(device="cpu", intra_op_threads=threads, tune=False))

    # --- the GEMM ceiling ---------------------------------------------------------------------------------
    graph32 = args.model / manifest["graphs"]["fp32"]["file"]
    graph8 = args.model / manifest["graphs"]["int8"]["file"]
    flops = model_flops(graph32, width)
    gemms = {}
    with tempfile.TemporaryDirectory() as td:
        for k, n in sorted({d for d in flops["weight_shapes"] if min(d) >= 128} or {(384, 1536), (384, 384)}):
            sess = untuned(matmul_graph(Path(td) / f"mm_{k}_{n}.onnx", k, n))  # loaded: the file may go
            x = np.random.default_rng(1).standard_normal((rows, k)).astype(np.float32)
            gemms[(k, n)] = (lambda s=sess, x=x: s({"x": x}))
    windows = review_windows(args.model / manifest["tokenizer"]["file"], args.batch * 4, width)
    if len(windows) < args.batch:
        raise SystemExit(f"only {len(windows)} full {width}-token windows found in the IMDB reviews")
    feeds = []
    for i in range(0, len(windows) - args.batch + 1, args.batch):
        ids = np.array(windows[i:i + args.batch], dtype=np.int64)
        feeds.append({"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)})
    sessions, labels = {}, {}
    for kind, path in (("fp32", graph32), ("int8", graph8)):
        sessions[(kind, "untuned")] = untuned(path)
        labels[(kind, "untuned")] = "shipped/all"
        t0 = time.perf_counter()
        choice = tuning.choose(path, threads)  # probes now unless this CPU's choice is cached
        tuned = Session(path, RuntimeOptions(device="cpu", intra_op_threads=threads, tune=True))
        sessions[(kind, "tuned")] = tuned
        labels[(kind, "tuned")] = f"{choice.variant}/{choice.level} ({choice.source}, {time.perf_counter() - t0:.1f}s)"
    counter = {name: 0 for name in sessions}

    def run(name):
        def go():
            sessions[name](feeds[counter[name] % len(feeds)])
            counter[name] += 1
        return go

    # GEMMs and model runs round robin in one loop, so a change in the machine's load hits both alike.
    jobs = {("gemm", kn): fn for kn, fn in gemms.items()} | {("model", name): run(name) for name in sessions}
    measured = timed(jobs, args.seconds * len(jobs))
    gemm_t = {kn: measured[("gemm", kn)] for kn in gemms}
    per_batch = {name: measured[("model", name)] for name in sessions}
    rate = {kn: 2 * rows * kn[0] * kn[1] / t / 1e9 for kn, t in gemm_t.items()}
    print(f"\nGEMM ceiling, fp32 MatMul through ONNX Runtime ({rows} rows):")
    for (k, n), r in rate.items():
        uses = flops["weight_shapes"].get((k, n), 0)
        print(f"  [{rows}, {k}] x [{k}, {n}]  {r:8.1f} GFLOP/s   ({uses} uses in the model)")
    # The ceiling for this model: its weight MatMuls' FLOPs at the GEMM speed of each shape (a time-weighted mean).
    used = {kn: flops["weight_shapes"].get(kn, 0) * 2 * kn[0] * kn[1] for kn in rate}
    if sum(used.values()):
        ceiling = sum(used.values()) / sum(f / rate[kn] for kn, f in used.items() if f)
    else:
        ceiling = max(rate.values())
    peak = max(rate.values())
    print(f"  ceiling for the model's mix of shapes: {ceiling:.1f} GFLOP/s (fastest shape {peak:.1f})")

    # --- the model ----------------------------------------------------------------------------------------
    print(f"\nmodel: {manifest['id']} {manifest.get('version', '')}, {flops['layers']} layers, hidden {flops['hidden']}, "
          f"{flops['per_token'] / 1e6:.1f} MFLOP/token at T={width} "
          f"(matmuls {flops['matmul'] / 1e6:.1f} + attention {flops['attention'] / 1e6:.1f})")
    tokens = args.batch * width
    tps = {name: tokens / t for name, t in per_batch.items()}
    print(f"\n{'graph':5s} {'session':8s} {'tokens/s':>9s} {'GFLOP/s':>8s} {'% ceiling':>9s} {'vs fp32':>8s}  choice")
    for name in sessions:
        gf = tps[name] * flops["per_token"] / 1e9
        ratio = tps[name] / tps[("fp32", name[1])]
        print(f"{name[0]:5s} {name[1]:8s} {tps[name]:9,.0f} {gf:8.1f} {100 * gf / ceiling:8.0f}% {ratio:7.2f}x  {labels[name]}")
    for mode in ("untuned", "tuned"):
        share = tps[("fp32", mode)] * flops["per_token"] / 1e9 / ceiling
        gain = tps[("int8", mode)] / tps[("fp32", mode)]
        print(f"targets ({mode}): fp32 {100 * share:.0f}% of ceiling (target >= {100 * TARGET_CEILING:.0f}%: "
              f"{'met' if share >= TARGET_CEILING else 'MISSED'}); int8 {gain:.2f}x fp32 "
              f"(target >= {TARGET_INT8}x: {'met' if gain >= TARGET_INT8 else 'MISSED'})")
    for name in sessions:
        note = tuning.choose(sessions[name].path, threads).note if name[1] == "tuned" else ""
        if note:
            print(f"{name[0]} tuning note: {note}")
    print(f"tuned / untuned: fp32 {tps[('fp32', 'tuned')] / tps[('fp32', 'untuned')]:.2f}x, "
          f"int8 {tps[('int8', 'tuned')] / tps[('int8', 'untuned')]:.2f}x")


if __name__ == "__main__":
    main()
