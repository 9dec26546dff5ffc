"""Label next (Fine-tune page, app.core.active_learning.rank_library): ranking time for a library of N documents.

    python bench/bench_label_next.py [--docs 1000]

Builds a temporary library from N IMDB training reviews, then times with the shipped sentiment model:
  cold   nothing stored: every document's opening is run through the model
  stored the library was analysed by that model: its stored probabilities are reused
  cached a second ranking in the same session (the page keeps a cache)
The baseline is the previous implementation's cost model: one load_analysis per document and the full first
window of each (measured here the same way, as `old`).
"""
from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=1000)
    args = ap.parse_args(argv)
    from app.core.active_learning import rank_library, uncertainty
    from app.core.documents import content_hash
    from app.core.registry import read_manifest, shipped_models_dir
    from app.core.runtime import RuntimeOptions
    from app.core.sentiment import SentimentModel
    from app.core.store import Store
    from app.core.types import Analysis, Document, ModelInfo
    from app.training.common import DATA_DIR, read_jsonl

    model = SentimentModel(read_manifest(shipped_models_dir() / "albert-sentiment-en"), RuntimeOptions(device="cpu"))
    reviews = [r["text"] for r, _ in zip(read_jsonl(DATA_DIR / "imdb" / "train.jsonl"), range(args.docs))]
    flags = ""
    try:
        flags = " ".join(f for f in ("avx2", "avx512f", "avx512_vnni") if f in Path("/proc/cpuinfo").read_text())
    except OSError:
        pass
    print(f"{len(reviews)} IMDB reviews, {model.manifest.id} {model.manifest.version} ({model.graph}); "
          f"{platform.machine()} {flags}")
    with tempfile.TemporaryDirectory() as tmp:
        with Store(Path(tmp) / "lib.db") as store:
            for i, text in enumerate(reviews):
                store.save_analysis(Analysis(Document(f"/r/{i}.txt", text, content_hash=content_hash(text))), None, {})
            t = time.perf_counter()
            probs = model.probabilities([store.load_analysis(r.id).document.text for r in store.list_documents(limit=len(reviews))])
            uncertainty(probs)
            old = time.perf_counter() - t
            t = time.perf_counter()
            cache: dict = {}
            rank_library(model, store, limit=30, pool=len(reviews), cache=cache)
            cold = time.perf_counter() - t
            t = time.perf_counter()
            rank_library(model, store, limit=30, pool=len(reviews), cache=cache)
            cached = time.perf_counter() - t
            info = ModelInfo(model.manifest.id, model.manifest.version, "sentiment")
            for r in store.list_documents(limit=len(reviews)):  # as if the library had been analysed
                a = store.load_analysis(r.id)
                s = model.analyze(a.document.text[:2000], per_sentence=False)
                store.save_analysis(Analysis(a.document, s, models=(info,)), None, {"sentiment": ""})
            t = time.perf_counter()
            rank_library(model, store, limit=30, pool=len(reviews))
            stored = time.perf_counter() - t
    print(f"{'ranking':24s} {'seconds':>8s} {'vs old':>7s}")
    for name, sec in (("old (full windows)", old), ("cold (openings)", cold), ("stored results", stored),
                      ("cached (second time)", cached)):
        print(f"{name:24s} {sec:8.2f} {old / sec:6.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
