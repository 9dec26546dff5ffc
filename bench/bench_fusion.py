"""Does onnxruntime's offline transformer fusion speed up the shipped ALBERT graphs on this CPU?

onnxruntime PR #5466 reports ~20% on CPU from onnxruntime.transformers.optimizer (model_type "bert") for
ALBERT; this measures it here. The shipped sentiment graph (fp32 and int8) against the same weights after Identity folding +
optimize_model (Attention, SkipLayerNormalization, BiasGelu fused; int8 quantized after fusion), all run by
the core's Session (graph optimizations ORT_ENABLE_ALL, as the app runs them) on SST-2 validation sentences
and 256-token IMDB review windows, batched by length as the app batches them. Prints tokens/s and ratios.

    python bench/bench_fusion.py [--threads 2] [--seconds 6]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def fuse(src: Path, dst_fp32: Path, dst_int8: Path, heads: int, hidden: int) -> dict:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    from app.training.common import fold_weight_identities

    model = onnx.load(str(src))
    fold_weight_identities(model)
    folded = dst_fp32.with_name("folded.onnx")
    onnx.save(model, str(folded))
    opt = optimize_model(str(folded), model_type="bert", num_heads=heads, hidden_size=hidden)
    opt.save_model_to_file(str(dst_fp32))
    quantize_dynamic(str(dst_fp32), str(dst_int8), weight_type=QuantType.QInt8,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    return {k: v for k, v in opt.get_fused_operator_statistics().items() if v}


def throughput(path: Path, batches, threads: int, seconds: float) -> float:
    import numpy as np

    from app.core.runtime import RuntimeOptions, Session

    sess = Session(path, RuntimeOptions(device="cpu", intra_op_threads=threads))
    feeds = [{"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)} for ids, mask in batches]
    sess(feeds[0])
    t0, tokens, k = time.perf_counter(), 0, 0
    while time.perf_counter() - t0 < seconds:
        f = feeds[k % len(feeds)]
        sess(f)
        tokens += int(f["attention_mask"].sum())
        k += 1
    return tokens / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "albert-sentiment-en")
    ap.add_argument("--heads", type=int, default=12, help="attention heads of the model (the shipped one: 12)")
    ap.add_argument("--hidden", type=int, default=384, help="hidden size of the model (the shipped one: 384)")
    args = ap.parse_args()

    import numpy as np

    from app.core.encoder_text import EncoderTokenizer
    from app.core.registry import read_manifest
    from app.core.runtime import length_batches, pad
    from app.training.sentiment_data import imdb_splits, sst2_splits

    manifest = read_manifest(args.model)
    tok = EncoderTokenizer(manifest.path("tokenizer.json"), manifest.max_length)
    _, _, sst = sst2_splits()
    _, _, imdb = imdb_splits()
    sents = tok.encode([t for t, _ in sst[:512]])
    windows = [w for t, _ in imdb[:48] for w, _ in tok.windows(tok.pieces([t]))][:64]
    loads = {}
    for name, seqs in (("sentences", sents), ("review windows", windows)):
        loads[name] = [pad([seqs[i] for i in b], tok.pad_id) for b in length_batches([len(s) for s in seqs], 8192)]
    with tempfile.TemporaryDirectory() as td:
        fused32, fused8 = Path(td) / "fused.onnx", Path(td) / "fused.int8.onnx"
        print("fused:", fuse(manifest.graph_file("fp32"), fused32, fused8, heads=args.heads, hidden=args.hidden))
        graphs = {"shipped fp32": manifest.graph_file("fp32"), "fused fp32": fused32,
                  "shipped int8": manifest.graph_file("int8"), "fused int8": fused8}
        print(f"{'graph':14s} " + " ".join(f"{n + ' tok/s':>22s}" for n in loads))
        res = {g: {n: throughput(p, b, args.threads, args.seconds) for n, b in loads.items()} for g, p in graphs.items()}
        for g, r in res.items():
            print(f"{g:14s} " + " ".join(f"{v:22,.0f}" for v in r.values()))
        for kind in ("fp32", "int8"):
            ratios = ", ".join(f"{n} {res['fused ' + kind][n] / res['shipped ' + kind][n]:.2f}x" for n in loads)
            print(f"fused / shipped {kind}: {ratios}")
        probe = loads["sentences"][0]
        from app.core.runtime import RuntimeOptions, Session

        for kind in ("fp32", "int8"):
            f = {"input_ids": probe[0], "attention_mask": probe[1], "token_type_ids": np.zeros_like(probe[0])}
            a = Session(graphs["shipped " + kind], RuntimeOptions(device="cpu"))(f)
            b = Session(graphs["fused " + kind], RuntimeOptions(device="cpu"))(f)
            diff = max(float(np.abs(a[k] - b[k]).max()) for k in a)
            print(f"max |logit difference| fused vs shipped {kind}: {diff:.2e}")


if __name__ == "__main__":
    main()
