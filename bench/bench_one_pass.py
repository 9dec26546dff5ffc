"""The app's default analysis (sentiment + per-sentence sentiment + summary): one encoder pass vs three.

Baseline, in the same process: the layout before 2026-12-02 evening, where a document's windows, then every
sentence on its own, then every sentence again in the summary model's own encoder were run (the same
sentiment weights without the sentence head, and albert-summary-en 1.2.0 taken from git at BASELINE_REV).
One pass: the shipped albert-sentiment-en 2.1.0 + albert-summary-en 2.0.0 (heads on a shared encoder).
Both through run_batch into a fresh library, same files (IMDB validation reviews written as .txt, the 150
whole reviews of bench/bench_batch.py, and 600 short three-sentence documents), runs alternated so load on the
machine hits both alike. Prints docs/s, the ratio, how often document labels agree and summaries overlap,
and the CPU flags.

    python bench/bench_one_pass.py [--long 150] [--short 600] [--threads 2] [--repeats 2]
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_batch import write_folder  # noqa: E402

BASELINE_REV = "1d7e548"  # albert-summary-en 1.2.0 (own encoder), the last separate layout


def cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        import platform

        return platform.processor()
    name = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")), "?")
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), [])
    keep = [f for f in flags if f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "amx_bf16")]
    return f"{name}; {' '.join(keep)}"


def baseline_models(dest: Path) -> Path:
    """A models root with the separate layout: sentiment without its sentence head, summary 1.2.0."""
    from app.core.registry import write_manifest

    src = ROOT / "models" / "albert-sentiment-en"
    sdir = dest / "albert-sentiment-en"
    sdir.mkdir(parents=True)
    raw = json.loads((src / "manifest.json").read_text())
    raw.pop("heads", None)
    raw["files"] = [f for f in raw["files"] if f != "sentence_head.onnx"]
    for f in raw["files"]:
        shutil.copy(src / f, sdir / f)
    write_manifest(sdir, raw)
    udir = dest / "albert-summary-en"
    udir.mkdir()
    names = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "--name-only", f"{BASELINE_REV}:models/albert-summary-en"],
                           check=True, capture_output=True, text=True).stdout.split()
    for name in names:
        data = subprocess.run(["git", "-C", str(ROOT), "show", f"{BASELINE_REV}:models/albert-summary-en/{name}"],
                              check=True, capture_output=True).stdout
        (udir / name).write_bytes(data)
    return dest


class TorchSession:
    """The sentiment graph's call (logits + hidden states) run by PyTorch/transformers on the same weights
    (rebuilt from the fp32 graph by app.training.albert_from_onnx), so the app's one pass runs unchanged."""

    provider = "PyTorch (transformers)"
    device = "cpu"

    def __init__(self, folder: Path, threads: int):
        import torch

        from app.training.albert_from_onnx import load

        torch.set_num_threads(threads)
        self.model = load(folder)
        self.output_names = ["logits", "hidden_last", "hidden_mid"]
        self.input_names = ["input_ids", "attention_mask", "token_type_ids"]

    def __call__(self, feeds, outputs=None):
        import torch

        with torch.inference_mode():
            r = self.model(input_ids=torch.from_numpy(feeds["input_ids"]),
                           attention_mask=torch.from_numpy(feeds["attention_mask"]),
                           token_type_ids=torch.from_numpy(feeds["token_type_ids"]), output_hidden_states=True)
        every = {"logits": r.logits, "hidden_last": r.hidden_states[6], "hidden_mid": r.hidden_states[4]}
        return {k: every[k].numpy() for k in (outputs or self.output_names)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--long", type=int, default=150)
    ap.add_argument("--short", type=int, default=600)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--hf", action="store_true", help="also the same one pass run by PyTorch/transformers (fp32), "
                    "and the ONNX fp32 graph")
    args = ap.parse_args()

    from app.core.analyzer import AnalysisOptions, Analyzer
    from app.core.registry import Registry
    from app.core.runtime import RuntimeOptions
    from app.core.segment import split_sentences
    from app.core.store import Store
    from app.jobs.batch import run_batch
    from app.training.sentiment_data import imdb_splits

    _, _, val = imdb_splits()
    texts = [t for t, _ in val]
    short = [" ".join(s.text for s in split_sentences(t)[:3]) for t in texts[: args.short]]
    long_ = texts[args.short: args.short + args.long]
    opts = AnalysisOptions(tasks=("sentiment", "summary"))
    rt = RuntimeOptions(device="cpu", intra_op_threads=args.threads)
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        base_root = baseline_models(td / "baseline_models")
        engines = {
            "three passes (before)": Analyzer(registry=Registry(roots=[base_root], settings_file=td / "b.json"), runtime=rt),
            "one pass (now)": Analyzer(registry=Registry(settings_file=td / "o.json"), runtime=rt),
        }
        if args.hf:
            fp32 = Analyzer(registry=Registry(settings_file=td / "f.json"), runtime=rt,
                            model_ids={"sentiment": "albert-sentiment-en"})
            engines["one pass, ONNX fp32"] = fp32
            hf = Analyzer(registry=Registry(settings_file=td / "h.json"), runtime=rt)
            engines["one pass, PyTorch fp32"] = hf
        warm = write_folder(td / "warm", short[:16])
        if args.hf:
            from app.core.sentiment import SentimentModel

            m = SentimentModel(fp32.registry.get("albert-sentiment-en"), rt, graph="fp32")
            fp32._loaded["albert-sentiment-en@" + m.manifest.version] = m
            hf.model("sentiment").session = TorchSession(ROOT / "models" / "albert-sentiment-en", args.threads)
        for an in engines.values():
            run_batch([warm], an, None, opts)  # load the models outside the timings
        print(f"CPU: {cpu_flags()}; threads {args.threads}")
        for an_name, an in engines.items():
            print(f"  {an_name}: " + ", ".join(f"{m.id} {m.version}" for m in
                                               (an.manifest_for("sentiment"), an.manifest_for("summary"))))
        names = list(engines)
        print(f"{'workload':26s}" + "".join(f"{n:>24s}" for n in names) + "   (ratio to the first; labels / summaries as the second)")
        for name, docs in ((f"{len(long_)} whole IMDB reviews", long_), (f"{len(short)} short documents", short)):
            folder = write_folder(td / name.split()[1], docs)
            secs = {k: [] for k in engines}
            results = {}
            for r in range(args.repeats):
                for k, an in engines.items():
                    store = Store(td / f"{name.split()[1]}-{r}-{names.index(k)}.db")
                    seen = []
                    t = time.perf_counter()
                    run_batch([folder], an, store, opts, on_result=seen.append)
                    secs[k].append(time.perf_counter() - t)
                    store.close()
                    results[k] = {a.document.source: a for a in seen}
            best = {k: min(v) for k, v in secs.items()}
            base = best[names[0]]
            print(f"{name:26s}" + "".join(f"{len(docs) / best[k]:9.1f} doc/s {base / best[k]:5.2f}x  " for k in names))
            ref = results[names[1]]
            for k in names:
                if k == names[1]:
                    continue
                agree = sum(results[k][s].sentiment.label == ref[s].sentiment.label for s in ref) / len(ref)
                same = sum([x.text for x in results[k][s].summary.sentences] == [x.text for x in ref[s].summary.sentences]
                           for s in ref) / len(ref)
                print(f"{'':26s}{k}: document labels as one pass (int8) {agree:.1%}, summaries equal {same:.1%}")
        shutil.rmtree(td / "baseline_models", ignore_errors=True)


if __name__ == "__main__":
    main()
