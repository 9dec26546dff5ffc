"""An added Hugging Face classifier (ONNX Runtime, the app's runtime) against the same weights in the transformers
pipeline, one run, same sentences, same batch size; prints a table with the ratio and this CPU's flags.

    python bench/bench_imported.py                       # a random ALBERT of the given size, built here
    python bench/bench_imported.py --source ./albert-sst2 --sentences 256
    python bench/bench_imported.py --size base            # ALBERT-base shapes (12 layers, 768 wide)

The checkpoint goes through `models add` (app/jobs/model_add.py) into a temporary models folder first.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SIZES = {  # ALBERT shapes: layers, hidden, heads, ffn, embedding
    "small": (4, 256, 4, 1024, 128),
    "base": (12, 768, 12, 3072, 128),
}
SENTENCES = [
    "The film was wonderful, and the actors were great.",
    "I would not recommend this product to anyone who values their time or money.",
    "Service was slow; the food arrived cold after 45 minutes.",
    "A quiet, thoughtful book that stays with you.",
    "Terrible.",
    "The update broke my settings again, and support never answered my three emails about it.",
    "Prices rose 3.5% in March (the highest since 2019), the office said on Tuesday.",
    "Nothing about this phone feels cheap, although the battery could last longer.",
]


def cpu_flags() -> str:
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return "unknown"
    return " ".join(f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile") if f in flags) or "none"


def build(folder: Path, size: str) -> Path:
    import torch
    from transformers import AlbertConfig, AlbertForSequenceClassification, PreTrainedTokenizerFast

    from tests.hf_checkpoints import train_tokenizer

    layers, hidden, heads, ffn, emb = SIZES[size]
    tok = train_tokenizer("unigram", "[CLS]", "[SEP]", "<pad>", "<unk>", vocab_size=300)
    PreTrainedTokenizerFast(tokenizer_object=tok, cls_token="[CLS]", sep_token="[SEP]", pad_token="<pad>",
                            unk_token="<unk>", mask_token="[MASK]", model_max_length=512).save_pretrained(str(folder))
    cfg = AlbertConfig(vocab_size=tok.get_vocab_size(), embedding_size=emb, hidden_size=hidden,
                       num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=ffn,
                       max_position_embeddings=512, pad_token_id=tok.token_to_id("<pad>"),
                       id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1},
                       architectures=["AlbertForSequenceClassification"])
    torch.manual_seed(0)
    AlbertForSequenceClassification(cfg).eval().save_pretrained(str(folder))
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", help="a save_pretrained folder of a sequence classifier (default: build one)")
    ap.add_argument("--size", choices=sorted(SIZES), default="small")
    ap.add_argument("--sentences", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    os.environ.setdefault("ALBERT_STUDIO_TUNE", "0")

    import torch
    from transformers import pipeline

    from app.core.registry import Registry
    from app.core.runtime import RuntimeOptions, default_threads
    from app.core.task_model import load_task_model
    from app.jobs.model_add import add_model

    texts = (SENTENCES * (args.sentences // len(SENTENCES) + 1))[: args.sentences]
    threads = default_threads() or os.cpu_count() or 1
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as td:
        source = Path(args.source) if args.source else build(Path(td) / f"albert-{args.size}-random", args.size)
        reg = Registry(roots=[Path(td) / "models"], settings_file=Path(td) / "defaults.json")
        reg.user_dir = Path(td) / "models"
        t = time.perf_counter()
        man = add_model(str(source), reg, model_id="bench-imported")
        add_s = time.perf_counter() - t
        rows = []
        pipe = pipeline("text-classification", model=str(source), tokenizer=str(source), device="cpu", top_k=None)
        pipe(texts[: args.batch], batch_size=args.batch)  # warm-up
        t = time.perf_counter()
        pipe(texts, batch_size=args.batch)
        base = time.perf_counter() - t
        rows.append(("transformers pipeline (PyTorch fp32)", base))
        for graph in ("fp32", "int8"):
            model = load_task_model(man, RuntimeOptions(device="cpu", intra_op_threads=threads), graph=graph)
            model.max_tokens = args.batch * 64  # about `batch` sentences per run, like the pipeline's batches
            model.probabilities(texts[: args.batch])
            t = time.perf_counter()
            model.probabilities(texts)
            rows.append((f"added model, ONNX Runtime {graph}", time.perf_counter() - t))
    print(f"CPU flags: {cpu_flags()}; threads {threads}; {len(texts)} sentences, batch {args.batch}; "
          f"source {source.name}; models add took {add_s:.1f} s")
    print(f"{'runtime':40s} {'seconds':>9s} {'sent/s':>9s} {'speed-up':>9s}")
    for name, secs in rows:
        print(f"{name:40s} {secs:9.3f} {len(texts) / secs:9.1f} {base / secs:8.2f}x")


if __name__ == "__main__":
    main()
