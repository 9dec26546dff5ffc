"""An added abstractive summarizer (the app's ONNX Runtime decoder, fp32 and int8) against the same weights in
transformers' `generate`, one run, same paragraphs, same settings (beam 4, the same number of new tokens for
both: min_length = max_length); prints a table with the ratio and this CPU's flags.

    python bench/bench_imported_summary.py                       # a random BART of the "small" size, built here
    python bench/bench_imported_summary.py --size base --arch t5 # wider and deeper
    python bench/bench_imported_summary.py --source ./distilbart-cnn-12-6 --paragraphs 8

Random weights write nonsense; their speed is the real thing (the same graphs and decoder as a real checkpoint
of that shape; a real model's vocabulary is 32-50k: the random one gets 16,384 ids). The checkpoint goes through
`models add` (export, checks) into a temporary models folder first.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_imported import cpu_flags

SIZES = {"small": (256, 3), "base": (512, 6)}  # d_model, layers (encoder and decoder each)
PARAGRAPHS = [
    "The city council met on Tuesday to discuss the new budget. Members agreed to spend more on parks and "
    "schools, and to delay the new bus line by a year. The vote is planned for next month.",
    "A storm hit the coast overnight. Thousands of homes lost power, and several roads were closed by fallen "
    "trees. Crews expect to restore electricity by Friday.",
    "The company reported higher sales in the third quarter. Its new phone sold well in Europe and Asia, while "
    "sales of laptops fell. Shares rose 5% after the announcement.",
    "Researchers found that walking every day improves sleep. The study followed two thousand adults for a year. "
    "Those who walked slept longer and woke less often.",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", help="a summarizer checkpoint folder (default: a random one built here)")
    ap.add_argument("--arch", choices=["bart", "pegasus", "t5"], default="bart")
    ap.add_argument("--size", choices=list(SIZES), default="small")
    ap.add_argument("--paragraphs", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=48)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    os.environ["ALBERT_STUDIO_THREADS"] = str(args.threads)
    os.environ.setdefault("ALBERT_STUDIO_TUNE", "0")
    import torch
    import transformers

    from app.core.abstractive import AbstractiveSummarizer
    from app.core.registry import Registry
    from app.core.runtime import RuntimeOptions
    from app.jobs.model_add import add_model

    torch.set_num_threads(args.threads)
    n = args.new_tokens
    with tempfile.TemporaryDirectory() as tmp:
        src = args.source
        if src is None:
            from tests.hf_checkpoints import build_summarizer

            d, layers = SIZES[args.size]
            src = str(build_summarizer(Path(tmp) / f"random-{args.arch}", args.arch, layers=layers, d_model=d,
                                       vocab_size=16_384, generation={"min_length": n + 1, "max_length": n + 1,
                                                                      "num_beams": 4, "length_penalty": 1.0,
                                                                      "no_repeat_ngram_size": 3}))
        reg = Registry(roots=[Path(tmp) / "models"], settings_file=Path(tmp) / "defaults.json")
        reg.user_dir = Path(tmp) / "models"
        t0 = time.perf_counter()
        man = add_model(src, reg, task="summary")
        add_s = time.perf_counter() - t0
        a = man.raw["abstractive"]
        texts = [a["prefix"] + p for p in (PARAGRAPHS * args.paragraphs)[:args.paragraphs]]
        rows = []
        opts = RuntimeOptions(device="cpu", intra_op_threads=args.threads)
        for variant in ("fp32", "int8"):
            sm = AbstractiveSummarizer(man, opts, graph=variant)
            sm.generate(texts[:1], beam=4, max_new_tokens=n)  # warm-up
            t = time.perf_counter()
            out = sm.generate(texts, beam=4, max_new_tokens=n)
            rows.append((f"app ONNX Runtime {variant}", sum(len(o) for o in out), time.perf_counter() - t))
        model = getattr(transformers, man.raw["architecture"]).from_pretrained(src).eval()
        tok = transformers.AutoTokenizer.from_pretrained(src)
        batch = tok(texts, truncation=True, max_length=man.max_length, padding=True, return_tensors="pt")
        kw = dict(num_beams=4, do_sample=False, max_new_tokens=n, min_length=man.raw["min_length"],
                  no_repeat_ngram_size=man.raw["no_repeat_ngram_size"], length_penalty=a["length_penalty"],
                  early_stopping=False, forced_eos_token_id=None, bad_words_ids=[[model.config.pad_token_id]])
        with torch.no_grad():
            model.generate(**{k: v[:1] for k, v in batch.items()}, **kw)  # warm-up
            t = time.perf_counter()
            ref = model.generate(**batch, **kw)
            secs = time.perf_counter() - t
        eos, pad = model.config.eos_token_id, model.config.pad_token_id
        rows.append(("transformers generate (PyTorch)", sum(sum(1 for x in r[1:].tolist() if x not in (eos, pad))
                                                              for r in ref), secs))
    base = rows[-1][1] / rows[-1][2]
    print(f"{man.raw['architecture']} from {Path(src).name}: {man.raw['imported_from']['parameters_estimated']:,} "
          f"parameters (estimate); {len(texts)} paragraphs, beam 4, {n} new tokens each; {args.threads} thread(s); "
          f"models add took {add_s:.1f} s")
    print(f"CPU flags: {cpu_flags()}")
    print("| runtime | new tokens | seconds | tokens/s | ratio |\n|---|---:|---:|---:|---:|")
    for name, tokens, s in rows:
        print(f"| {name} | {tokens} | {s:.2f} | {tokens / s:.1f} | {tokens / s / base:.2f}x |")


if __name__ == "__main__":
    main()
