"""Translation speed on CPU: decoding with the key/value cache vs re-running the whole prefix per token.

Same model, same sentences, same run: target words per second at batch 1 and batched, greedy and
beam 4, fp32 and int8 graphs, and the cached/uncached ratio. Sentences are the Multi30k validation
captions when the data is present, otherwise a built-in set of captions.

    python bench/bench_translate.py [--sentences 128] [--threads 1] [--lang fr] [--model models/albert-mt-en-fr-de]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FALLBACK = [
    "A man in a blue shirt is standing on a ladder cleaning windows.",
    "Two young girls are playing with a ball in the park.",
    "A woman with a red umbrella walks down a busy street.",
    "Several people are waiting for the bus at night.",
    "A brown dog jumps over a fence in the garden.",
    "A group of men are playing soccer on a field.",
    "A little boy in a yellow jacket is eating ice cream.",
    "An old man sits on a bench reading a newspaper.",
]


def sentences(n: int) -> list[str]:
    from app.training.common import DATA_DIR

    path = DATA_DIR / "multi30k" / "val.en"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else FALLBACK
    return (lines * (n // len(lines) + 1))[:n]


def main() -> None:
    from app.core.registry import read_manifest
    from app.core.runtime import RuntimeOptions
    from app.core.translate import Translator
    from app.training.translation_export import speed_table

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(ROOT / "models" / "albert-mt-en-fr-de"))
    p.add_argument("--sentences", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--lang", default="fr")
    p.add_argument("--batch", type=int, default=32)
    args = p.parse_args()
    man = read_manifest(Path(args.model))
    src = sentences(args.sentences)
    print(f"{man.id}: {len(src)} sentences, en->{args.lang}, {args.threads} ONNX Runtime thread(s)\n")
    print(f"{'graphs':6} {'decoding':8} {'batch':>5} {'cached w/s':>11} {'uncached w/s':>13} {'cached/uncached':>16}")
    for variant in man.raw.get("variants", {"fp32": {}}):
        tr = Translator.from_manifest(man, RuntimeOptions(device="cpu", intra_op_threads=args.threads), graph=variant)
        tr.translate_batch(src[:4], beam=1, target_lang=args.lang)  # warm-up
        for beam in (1, 4):
            for r in speed_table(tr, src, beam, args.lang, (1, args.batch)):
                print(f"{variant:6} {r['decoding']:8} {r['batch']:>5} {r['cached_wps']:>11.0f} "
                      f"{r['uncached_wps']:>13.0f} {r['ratio']:>15.2f}x")


if __name__ == "__main__":
    main()
