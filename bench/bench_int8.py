"""Which int8 kernels pay on this CPU? Dynamic vs static QDQ, per-tensor vs per-channel, s8 vs u8 weights.

One run: the default sentiment model's fp32 graph is quantized here several ways (shared weights folded first,
as the shipped recipe does, app.training.common.quantize_int8), and each graph, the shipped int8 graph and the
fp32 graph run round robin in one loop on full 256-token IMDB training-review windows, so a change in the
machine's load hits all alike. Accuracy: SST-2 validation sentences (app.training.sentiment_data, never
trained on), each alone, label by the graph's logits; and the largest logit difference from fp32 there.
Prints the CPU flags, tokens/s, the ratio to fp32 and to the shipped int8 graph, file size and accuracy.

    python bench/bench_int8.py [--batch 4] [--seconds 2] [--sentences 600] [--threads 0]

Variants
  shipped      the model's model.int8.onnx: dynamic, weights s8 per tensor, activations u8 on the fly (u8s8)
  dyn-pc       dynamic, weights s8 per output channel
  dyn-u8       dynamic, weights u8 per tensor (u8u8 kernels)
  qdq          static QDQ: activations u8 and weights s8, scales calibrated (MinMax) on 64 training windows
  qdq-pc       the same with per-channel weights
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402

from bench_windows import review_windows, timed  # noqa: E402


def feeds_of(windows: list[list[int]], batch: int) -> list[dict]:
    out = []
    for i in range(0, len(windows) - batch + 1, batch):
        ids = np.array(windows[i:i + batch], dtype=np.int64)
        out.append({"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)})
    return out


def quantized(fp32: Path, td: Path, calibration: list[dict]) -> dict[str, Path]:
    """The variants, written under td (shared weights folded first, as the shipped recipe does)."""
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic,
                                          quantize_static)

    from app.core.tuning import fold_weight_identities

    model = onnx.load(str(fp32))
    fold_weight_identities(model)
    folded = td / "folded.onnx"
    onnx.save(model, str(folded))

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(calibration)

        def get_next(self):
            return next(self.it, None)

    out = {}
    quantize_dynamic(str(folded), str(td / "dyn-pc.onnx"), weight_type=QuantType.QInt8, per_channel=True)
    out["dyn-pc"] = td / "dyn-pc.onnx"
    quantize_dynamic(str(folded), str(td / "dyn-u8.onnx"), weight_type=QuantType.QUInt8)
    out["dyn-u8"] = td / "dyn-u8.onnx"
    for name, per_channel in (("qdq", False), ("qdq-pc", True)):
        quantize_static(str(folded), str(td / f"{name}.onnx"), Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=per_channel,
                        op_types_to_quantize=["MatMul"])
        out[name] = td / f"{name}.onnx"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "albert-sentiment-en")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=2.0, help="timed seconds per graph")
    ap.add_argument("--sentences", type=int, default=600, help="SST-2 validation sentences for accuracy")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()

    from tokenizers import Tokenizer

    from app.core import tuning
    from app.core.runtime import RuntimeOptions, Session, default_threads, onnxruntime_version
    from app.training.sentiment_data import sst2_splits

    threads = args.threads or default_threads()
    cpu = tuning.read_cpu_info()
    manifest = json.loads((args.model / "manifest.json").read_text(encoding="utf-8"))
    width = int(manifest.get("max_length", 256))
    print(f"CPU: {cpu.model}\nflags: {' '.join(cpu.flags)}")
    print(f"threads {threads}, onnxruntime {onnxruntime_version()}, batch {args.batch} x {width} tokens, "
          f"model {manifest['id']} {manifest['version']}")

    windows = review_windows(args.model / manifest["tokenizer"]["file"], 64 + args.batch * 8, width)
    calibration = feeds_of(windows[:64], 8)  # training reviews; the timed windows are the ones after them
    timed_feeds = feeds_of(windows[64:], args.batch)
    tok = Tokenizer.from_file(str(args.model / manifest["tokenizer"]["file"]))
    tok.no_padding()
    _, _, val = sst2_splits()
    val = val[: args.sentences]
    sentences = [tok.encode(t.lower()).ids[:width] for t, _ in val]
    gold = np.array([y for _, y in val])

    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        t0 = time.perf_counter()
        graphs = {"fp32": args.model / manifest["graphs"]["fp32"]["file"],
                  "shipped": args.model / manifest["graphs"]["int8"]["file"],
                  **quantized(args.model / manifest["graphs"]["fp32"]["file"], td, calibration)}
        print(f"quantized in {time.perf_counter() - t0:.0f} s")
        sessions = {k: Session(p, RuntimeOptions(device="cpu", intra_op_threads=threads, tune=False))
                    for k, p in graphs.items()}
        sizes = {k: p.stat().st_size / 1e6 for k, p in graphs.items()}

        logits = {}
        for k, s in sessions.items():
            rows = []
            for ids in sentences:  # one sentence at a time: no padding, as the app scores a sentence alone
                a = np.array([ids], dtype=np.int64)
                rows.append(s({"input_ids": a, "attention_mask": np.ones_like(a), "token_type_ids": np.zeros_like(a)},
                              ["logits"])["logits"][0])
            logits[k] = np.array(rows)

        counter = dict.fromkeys(sessions, 0)

        def run(k):
            def go():
                sessions[k](timed_feeds[counter[k] % len(timed_feeds)], ["logits"])
                counter[k] += 1
            return go

        secs = timed({k: run(k) for k in sessions}, args.seconds * len(sessions))

    tokens = args.batch * width
    tps = {k: tokens / t for k, t in secs.items()}
    print(f"\n{'graph':8s} {'tokens/s':>9s} {'vs fp32':>8s} {'vs shipped':>10s} {'MB':>6s} {'SST-2 acc':>9s} "
          f"{'max |dlogit|':>12s}")
    for k in sessions:
        acc = float((logits[k].argmax(1) == gold).mean())
        diff = float(np.abs(logits[k] - logits["fp32"]).max())
        print(f"{k:8s} {tps[k]:9,.0f} {tps[k] / tps['fp32']:7.2f}x {tps[k] / tps['shipped']:9.2f}x "
              f"{sizes[k]:6.1f} {100 * acc:8.2f}% {diff:12.3f}")
    print(f"({len(val)} SST-2 validation sentences; speed on {len(timed_feeds)} batches of full {width}-token windows)")


if __name__ == "__main__":
    main()
