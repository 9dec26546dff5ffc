"""Language detection on validation paragraphs of 20+ words in English, French and German (target: >= 99%).

    python bench/bench_langid.py [--data ../shared/data] [--per-source 400]

Paragraphs come from held-apart portions only (never an official test split): Multi30k's val captions, the
last (longest) lines of the Tatoeba en-fr / en-de prefixes, the last lines of the WMT toy en-de set, the
last 200 BBC articles, fr-tvseries-sentiment dev and germeval2017-db dev. Consecutive sentences are joined
until a paragraph has 20 words; single texts shorter than that are left out. The app's detector
(`app.core.language`, py3langid over its 97 languages) is compared with the same model restricted to
en/fr/de, which is the most a detector that knows only those three could do on this set.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from collections import defaultdict
from pathlib import Path

MIN_WORDS = 20


def _cpu_flags() -> str:
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return platform.processor() or "unknown"
    return " ".join(f for f in ("avx2", "avx512f", "avx512_vnni", "amx_tile") if f in flags)


def _joined(lines: list[str], limit: int) -> list[str]:
    """Consecutive lines joined into paragraphs of MIN_WORDS+ words."""
    out, cur = [], []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        cur.append(line)
        if sum(len(x.split()) for x in cur) >= MIN_WORDS:
            out.append(" ".join(cur))
            cur = []
            if len(out) >= limit:
                break
    return out


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _long_texts(path: Path, field: str, limit: int) -> list[str]:
    rows = (json.loads(line)[field] for line in _lines(path))
    return [t for t in rows if len(t.split()) >= MIN_WORDS][:limit]


def _bbc_paragraphs(path: Path, limit: int) -> list[str]:
    articles = [json.loads(line)["article"] for line in _lines(path)][-200:]
    paragraphs = [p.strip() for a in articles for p in a.split("\n") if len(p.split()) >= MIN_WORDS]
    return paragraphs[:limit]


def paragraphs(data: Path, n: int) -> dict[str, dict[str, list[str]]]:
    """language -> source -> paragraphs."""
    tail = 6 * n  # the last lines of a training file sorted short -> long: held apart for validation here
    return {
        "en": {
            "multi30k val": _joined(_lines(data / "multi30k/val.en"), n),
            "tatoeba en-fr tail": _joined(_lines(data / "tatoeba-en-fr/train.en")[-tail:], n),
            "bbc news (last 200)": _bbc_paragraphs(data / "bbc-summary/train.jsonl", n),
        },
        "fr": {
            "multi30k val": _joined(_lines(data / "multi30k/val.fr"), n),
            "tatoeba en-fr tail": _joined(_lines(data / "tatoeba-en-fr/train.fr")[-tail:], n),
            "fr-tvseries dev": _long_texts(data / "fr-tvseries-sentiment/dev.jsonl", "text", n),
        },
        "de": {
            "multi30k val": _joined(_lines(data / "multi30k/val.de"), n),
            "tatoeba en-de tail": _joined(_lines(data / "tatoeba-en-de/train.de")[-tail:], n),
            "wmt toy tail": _joined(_lines(data / "wmt-toy-en-de/train.de")[-tail:], n),
            "germeval2017 dev": _long_texts(data / "germeval2017-db/dev.jsonl", "text", n),
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--per-source", type=int, default=400, help="paragraphs per source at most")
    args = ap.parse_args()

    from app.core.language import LanguageDetector, detect_document_language

    sets = paragraphs(args.data, args.per_source)
    detectors = {"app (97 languages)": LanguageDetector(), "en/fr/de only": LanguageDetector(["en", "fr", "de"])}
    print(f"CPU: {platform.machine()} {_cpu_flags()}; paragraphs of {MIN_WORDS}+ words")
    print(f"{'language':8} {'source':22} {'n':>5} " + " ".join(f"{name:>20}" for name in detectors))
    totals: dict[str, dict[str, list[int]]] = {name: defaultdict(lambda: [0, 0]) for name in detectors}
    wrong: list[tuple[str, str, str]] = []
    seconds = dict.fromkeys(detectors, 0.0)
    count = 0
    for lang, sources in sets.items():
        for source, texts in sources.items():
            cells = []
            for name, det in detectors.items():
                t0 = time.perf_counter()
                guesses = [det.detect(t) for t in texts]
                seconds[name] += time.perf_counter() - t0
                right = sum(g.lang == lang for g in guesses)
                totals[name][lang][0] += right
                totals[name][lang][1] += len(texts)
                cells.append(f"{100 * right / max(len(texts), 1):19.2f}%")
                if name.startswith("app"):
                    wrong += [(lang, g.lang, t) for g, t in zip(guesses, texts) if g.lang != lang]
            count += len(texts)
            print(f"{lang:8} {source:22} {len(texts):5} " + " ".join(cells))
    for lang in sets:
        cells = [f"{100 * totals[name][lang][0] / max(totals[name][lang][1], 1):19.2f}%" for name in detectors]
        print(f"{lang:8} {'all':22} {totals[next(iter(detectors))][lang][1]:5} " + " ".join(cells))
    overall = [sum(r for r, _ in totals[name].values()) / max(sum(n for _, n in totals[name].values()), 1)
               for name in detectors]
    print(f"{'all':8} {'':22} {count:5} " + " ".join(f"{100 * a:19.2f}%" for a in overall))
    rates = [count / max(seconds[name], 1e-9) for name in detectors]
    print(f"{'speed':8} {'paragraphs/s':22} {'':5} " + " ".join(f"{r:20.0f}" for r in rates)
          + f"   ({rates[0] / rates[1]:.2f}x the restricted one)")
    docs = [t for sources in sets.values() for texts in sources.values() for t in texts]
    t0 = time.perf_counter()
    for t in docs:
        detect_document_language(t)
    print(f"detect_document_language (what every analysis runs): {len(docs) / (time.perf_counter() - t0):.0f} "
          "single-paragraph documents/s")
    if wrong:
        print(f"\nmisread by the app's detector ({len(wrong)}), first 10:")
        for lang, got, text in wrong[:10]:
            print(f"  {lang} read as {got}: {text[:110]!r}")


if __name__ == "__main__":
    main()
