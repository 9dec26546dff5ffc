"""Decoder step graph: the inference-written one-token step vs the graph traced from the training code.

Both are exported from the same trained checkpoint (the newest snapshot under runs/translation, so run
the recipe first) into temporary folders that differ only in decoder_with_past_model(.int8).onnx; the
same captions are then translated by both in the same run, alternating batch by batch, and the table
prints target words/s, the step graph's speed-up and the cached/uncached ratio of each.

    python bench/bench_decoder_step.py [--sentences 64] [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def export_pair(tmp: Path) -> dict[str, Path]:
    import torch

    from app.training import translation as T
    from app.training.mt_model import DecoderExport, DecoderStepExport, DecoderWithPastExport, EncoderExport
    from app.training.translation_export import export_graphs, quantize

    snaps = T.checkpoint_files()
    if not snaps:
        raise SystemExit(f"no checkpoint in {T.RUN}: train with python -m app.training.translation --minutes N")
    st = torch.load(snaps[-1], weights_only=False)
    model = T.build_model(st["config"])
    model.load_state_dict(st["model"])
    model.eval()
    c = model.config
    manifest = json.loads((ROOT / "models" / "albert-mt-en-fr-de" / "manifest.json").read_text())
    out = {}
    for name, step in (("traced", DecoderWithPastExport), ("step", DecoderStepExport)):
        d = tmp / name
        d.mkdir()
        graphs = export_graphs(model, c.dec_layers, c.heads, c.d_model // c.heads, c.d_model, d,
                               EncoderExport(model), DecoderExport(model), step(model), c.vocab_size)
        graphs.update(quantize(d, graphs))
        shutil.copy(T.RUN / "spm.model", d / "spm.model")
        (d / "manifest.json").write_text(json.dumps(manifest))
        out[name] = d
    return out


def main() -> None:
    from app.core.registry import read_manifest
    from app.core.runtime import RuntimeOptions
    from app.core.translate import Translator
    from bench.bench_translate import sentences

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sentences", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    src = sentences(args.sentences)
    opts = RuntimeOptions(device="cpu", intra_op_threads=args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        dirs = export_pair(Path(tmp))
        print(f"{len(src)} captions en->fr, {args.threads} ONNX Runtime thread(s); words/s\n")
        print(f"{'graphs':6} {'decoding':8} {'batch':>5} {'traced step':>12} {'new step':>9} {'speed-up':>9} "
              f"{'uncached':>9} {'new/uncached':>13}")
        for variant in ("fp32", "int8"):
            trs = {n: Translator(read_manifest(d), opts, graph=variant, check=False) for n, d in dirs.items()}
            for tr in trs.values():
                tr.translate_batch(src[:4], beam=1)
            for beam in (1, 4):
                for bs in (1, 32):
                    words = {"traced": 0, "step": 0, "uncached": 0}
                    secs = dict.fromkeys(words, 0.0)
                    for i in range(0, len(src), bs):
                        for name in words:
                            tr = trs["step" if name == "uncached" else name]
                            t0 = time.perf_counter()
                            outs = tr.translate_batch(src[i:i + bs], beam=beam, use_cache=name != "uncached")
                            secs[name] += time.perf_counter() - t0
                            words[name] += sum(len(o.split()) for o in outs)
                    wps = {k: words[k] / secs[k] for k in words}
                    dec = "greedy" if beam == 1 else f"beam {beam}"
                    print(f"{variant:6} {dec:8} {bs:>5} {wps['traced']:>12.0f} {wps['step']:>9.0f} "
                          f"{wps['step'] / wps['traced']:>8.2f}x {wps['uncached']:>9.0f} {wps['step'] / wps['uncached']:>12.2f}x")


if __name__ == "__main__":
    main()
