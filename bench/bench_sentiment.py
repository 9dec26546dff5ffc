"""Sentiment throughput on CPU: Albert Studio's ONNX Runtime engine vs the Hugging Face pipeline.

Both engines run the same weights (the shipped encoder with the sentiment head of runs/sentiment/final
when it exists; otherwise the shipped encoder with a fixed random head, which does not change speed).
Each engine runs in its own child process so its peak RSS is its own. Prints a table and the ratios.

    python bench/bench_sentiment.py [--sentences 2000] [--docs 200] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def workloads(n_sent: int, n_docs: int):
    from app.training.sentiment_data import imdb_splits, sst2_splits

    _, _, sst_val = sst2_splits()
    _, _, imdb_val = imdb_splits()
    return [t for t, _ in sst_val[:n_sent]], [t for t, _ in imdb_val[:n_docs]]


def prepare(folder: Path, threads: int, weights: Path | None = None) -> tuple[Path, Path]:
    """A torch model folder and an ONNX model folder (core manifest layout) with identical weights."""
    import shutil

    import torch
    from transformers import AlbertForSequenceClassification

    from app.core.registry import write_manifest
    from app.training.common import RUNS_DIR, teacher_dir

    torch.set_num_threads(threads)
    final = weights or RUNS_DIR / "sentiment" / "final"
    if final.exists():
        model = AlbertForSequenceClassification.from_pretrained(str(final), attn_implementation="eager")
        origin = str(final)
    else:
        torch.manual_seed(0)
        model = AlbertForSequenceClassification.from_pretrained(str(ROOT / "models" / "albert-encoder-en"), num_labels=2,
                                                                attn_implementation="eager", dtype=torch.float32)
        origin = "models/albert-encoder-en + random head"
    model = model.float().eval()
    tdir, odir = folder / "torch", folder / "onnx"
    model.save_pretrained(tdir)
    for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (teacher_dir() / f).exists():
            shutil.copy(teacher_dir() / f, tdir / f)
    odir.mkdir(parents=True)
    ids = torch.tensor([[101, 7592, 2088, 102]])
    torch.onnx.export(model, (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(odir / "model.onnx"), dynamo=False,
                      opset_version=17, input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["logits"],
                      dynamic_axes={k: {0: "b", 1: "s"} for k in ("input_ids", "attention_mask", "token_type_ids")} | {"logits": {0: "b"}})
    from app.training.common import quantize_int8

    quantize_int8(odir / "model.onnx", odir / "model.int8.onnx")
    shutil.copy(teacher_dir() / "tokenizer.json", odir / "tokenizer.json")
    graphs = {g: {"file": f, "inputs": ["input_ids", "attention_mask", "token_type_ids"]}
              for g, f in (("fp32", "model.onnx"), ("int8", "model.int8.onnx"))}
    write_manifest(odir, {"id": "bench", "version": "0", "task": "sentiment", "labels": ["negative", "positive"],
                          "max_length": 256, "tokenizer": {"file": "tokenizer.json"}, "graphs": graphs,
                          "files": ["model.onnx", "model.int8.onnx", "tokenizer.json"]})
    return tdir, odir, origin


def child(engine: str, folder: Path, threads: int, n_sent: int, n_docs: int) -> dict:
    sents, docs = workloads(n_sent, n_docs)
    out = {}
    if engine.startswith("onnx"):
        from app.core.registry import read_manifest
        from app.core.runtime import RuntimeOptions
        from app.core.sentiment import SentimentModel

        graph = engine.split("-")[1]
        m = SentimentModel(read_manifest(folder), RuntimeOptions(device="cpu", intra_op_threads=threads), graph=graph)
        m.probabilities(sents[:32])  # warm-up
        ntok_s = sum(len(s) for s in m.tokenizer.encode(sents))
        ntok_d = sum(len(s) for s in m.tokenizer.encode(docs))
        t = time.perf_counter()
        m.probabilities(sents)
        out["sent_s"] = time.perf_counter() - t
        t = time.perf_counter()
        m.probabilities(docs)
        out["doc_s"] = time.perf_counter() - t
        t = time.perf_counter()
        for d in docs:
            m.analyze(d)
        out["full_s"] = time.perf_counter() - t
    else:
        import torch
        from transformers import pipeline

        torch.set_num_threads(threads)
        pipe = pipeline("text-classification", model=str(folder), tokenizer=str(folder), device=-1)
        tok = pipe.tokenizer
        ntok_s = sum(len(x) for x in tok(sents, truncation=True, max_length=256)["input_ids"])
        ntok_d = sum(len(x) for x in tok(docs, truncation=True, max_length=256)["input_ids"])
        pipe(sents[:32], batch_size=32)
        with torch.inference_mode():
            t = time.perf_counter()
            pipe(sents, batch_size=32, truncation=True, max_length=256)
            out["sent_s"] = time.perf_counter() - t
            t = time.perf_counter()
            pipe(docs, batch_size=16, truncation=True, max_length=256)
            out["doc_s"] = time.perf_counter() - t
    out.update(ntok_s=ntok_s, ntok_d=ntok_d, n_sent=len(sents), n_docs=len(docs),
               peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sentences", type=int, default=2000)
    ap.add_argument("--docs", type=int, default=200)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--child", nargs=2, metavar=("ENGINE", "FOLDER"))
    ap.add_argument("--weights", type=Path, default=None,
                    help="a trained AlbertForSequenceClassification folder (default: runs/sentiment/final)")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]), args.threads, args.sentences, args.docs)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        tdir, odir, origin = prepare(Path(tmp), args.threads, args.weights)
        res = {}
        for engine, folder in (("hf-pipeline", tdir), ("onnx-fp32", odir), ("onnx-int8", odir)):
            p = subprocess.run([sys.executable, __file__, "--child", engine, str(folder), "--threads", str(args.threads),
                                "--sentences", str(args.sentences), "--docs", str(args.docs)],
                               capture_output=True, text=True, check=True)
            res[engine] = json.loads(p.stdout.strip().splitlines()[-1])
    base = res["hf-pipeline"]
    flags = sorted({f for line in open("/proc/cpuinfo") if line.startswith("flags") for f in line.split()[2:]}
                   & {"avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8"}) if os.path.exists("/proc/cpuinfo") else []
    print(f"CPU flags: {' '.join(flags) or 'unknown'}")
    print(f"weights: {origin}; {args.threads} threads; {base['n_sent']} SST-2 sentences, {base['n_docs']} IMDB reviews (<=256 tokens)")
    print(f"{'engine':14s} {'sent/s':>8s} {'tok/s':>8s} {'docs/s':>7s} {'tok/s':>8s} {'x sent':>7s} {'x docs':>7s} {'peak RSS MB':>11s}")
    for name, r in res.items():
        print(f"{name:14s} {r['n_sent'] / r['sent_s']:8.1f} {r['ntok_s'] / r['sent_s']:8.0f} {r['n_docs'] / r['doc_s']:7.2f} "
              f"{r['ntok_d'] / r['doc_s']:8.0f} {base['sent_s'] / r['sent_s']:7.2f} {base['doc_s'] / r['doc_s']:7.2f} {r['peak_rss_mb']:11.0f}")
    for name in ("onnx-fp32", "onnx-int8"):
        r = res[name]
        print(f"{name}: whole reviews, all windows + every sentence (analyze): {r['n_docs'] / r['full_s']:.2f} docs/s")


if __name__ == "__main__":
    main()
