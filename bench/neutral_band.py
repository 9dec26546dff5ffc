"""Choose the sentiment model's neutral band: |p(positive) - 0.5| below it reads as "neutral".

    python bench/neutral_band.py [--model models/albert-sentiment-en] [--graph int8] [--write]

Neutral text is what the model was never taught: image captions (Multi30k) and factual news sentences
(BBC articles). Polar text is SST-2. The band is chosen on one set of texts and reported on another:

    choose: SST-2 calibration split (800), 1,000 Multi30k training captions, sentences of the BBC dev articles
    report: SST-2 validation split (1,800), the 1,014 Multi30k validation captions, sentences of the BBC
            validation articles (the summary recipe's splits; no sentence is in both)

The chosen band maximises Youden's J = (share of neutral texts inside the band) - (share of SST-2 sentences
inside it), i.e. it treats "neutral" as a detector and takes the best trade-off of its two error kinds, among
the bands that send at most --max-opinions-neutral (default 25%) of SST-2 sentences to neutral: an opinion
shown grey is a loss too, and the unconstrained optimum of a weak model greys out half of them. The
table prints, for each band, how many captions and news sentences land in it, how many SST-2 sentences are
lost to it and the SST-2 accuracy on the rest. `--write` stores the chosen band as the optional
"neutral_band" field of the model's manifest.json (the app reads it; Preferences or --neutral-band override it),
so a new model carries its own: rerun this script on the new model folder with --write.
"""
from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.training.common import DATA_DIR, MODELS_DIR  # noqa: E402

GRID = [round(0.01 * i, 2) for i in range(0, 46)]


def captions(split: str, n: int, seed: int = 13) -> list[str]:
    lines = [x.strip() for x in (DATA_DIR / "multi30k" / f"{split}.en").read_text(encoding="utf-8").splitlines()]
    lines = [x for x in lines if x]
    if n and len(lines) > n:
        lines = random.Random(seed).sample(lines, n)
    return lines


def news_sentences(which: str) -> list[str]:
    """Sentences of the BBC articles of the summary recipe's dev or validation split (factual news)."""
    from app.training.summary import splits

    _train, dev, val = splits()
    arts = dev if which == "dev" else val
    return [s for a in arts for s in a["sents"] if len(s.split()) >= 5]


def p_positive(model, texts: list[str]) -> np.ndarray:
    return model.probabilities(texts)[:, model.labels.index("positive")]


def measure(band: float, p_sst: np.ndarray, y_sst: np.ndarray, p_cap: np.ndarray, p_news: np.ndarray) -> dict:
    inside = lambda p: np.abs(p - 0.5) < band
    s_in = inside(p_sst)
    rest = ~s_in
    return {
        "band": band,
        "captions_neutral": float(inside(p_cap).mean()),
        "news_neutral": float(inside(p_news).mean()),
        "sst2_neutral": float(s_in.mean()),
        "sst2_acc_outside": float(((p_sst[rest] >= 0.5) == y_sst[rest]).mean()) if rest.any() else float("nan"),
        "sst2_acc_all": float(((p_sst >= 0.5) == y_sst).mean()),
    }


def youden(m: dict) -> float:
    return (m["captions_neutral"] + m["news_neutral"]) / 2 - m["sst2_neutral"]


def table(rows: list[dict], chosen: float) -> str:
    out = [f"{'band':>5s} {'captions':>9s} {'news':>7s} {'SST-2 in':>9s} {'SST-2 acc rest':>15s} {'J':>6s}"]
    for m in rows:
        mark = "  <- chosen" if abs(m["band"] - chosen) < 1e-9 else ""
        out.append(f"{m['band']:5.2f} {100 * m['captions_neutral']:8.1f}% {100 * m['news_neutral']:6.1f}% "
                   f"{100 * m['sst2_neutral']:8.1f}% {100 * m['sst2_acc_outside']:14.2f}% {youden(m):6.3f}{mark}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=MODELS_DIR / "albert-sentiment-en")
    ap.add_argument("--graph", default=None, help="graph to score with (default: the manifest's default)")
    ap.add_argument("--captions", type=int, default=1000, help="Multi30k training captions used to choose")
    ap.add_argument("--max-opinions-neutral", type=float, default=0.25,
                    help="largest share of SST-2 sentences the band may turn neutral (choose set)")
    ap.add_argument("--imdb", type=int, default=300, help="whole IMDB validation reviews in the report (0: none)")
    ap.add_argument("--write", action="store_true", help="store the chosen band in the model's manifest.json")
    args = ap.parse_args(argv)

    from app.core.registry import read_manifest
    from app.core.runtime import RuntimeOptions
    from app.core.sentiment import SentimentModel
    from app.training.sentiment_data import sst2_splits

    t0 = time.perf_counter()
    manifest = read_manifest(args.model)
    model = SentimentModel(manifest, RuntimeOptions(device="cpu"), graph=args.graph)
    print(f"model {manifest.id} {manifest.version} ({model.graph}) from {args.model}; {platform.processor() or platform.machine()}")
    _train, calib, val = sst2_splits()
    sets = {}
    for name, sst, cap, news in (("choose", calib, captions("train", args.captions), news_sentences("dev")),
                                 ("report", val, captions("val", 0), news_sentences("val"))):
        sets[name] = (p_positive(model, [t for t, _ in sst]), np.array([y for _, y in sst]),
                      p_positive(model, cap), p_positive(model, news), (len(sst), len(cap), len(news)))

    p_sst, y_sst, p_cap, p_news, n = sets["choose"]
    rows = [measure(b, p_sst, y_sst, p_cap, p_news) for b in GRID]
    unconstrained = max(rows, key=youden)
    best = max((m for m in rows if m["sst2_neutral"] <= args.max_opinions_neutral), key=youden)
    chosen = best["band"]
    print(f"\nchoose set: {n[0]} SST-2 calibration sentences, {n[1]} Multi30k training captions, {n[2]} BBC dev sentences")
    print(table(rows[::5] + ([best] if round(chosen * 100) % 5 else []), chosen))
    print(f"(unconstrained best J: band {unconstrained['band']:.2f}, J {youden(unconstrained):.3f}, "
          f"{100 * unconstrained['sst2_neutral']:.1f}% of SST-2 neutral; the limit is "
          f"{100 * args.max_opinions_neutral:.0f}%, --max-opinions-neutral)")
    p_sst, y_sst, p_cap, p_news, n = sets["report"]
    print(f"\nreport set: {n[0]} SST-2 validation sentences, {n[1]} Multi30k validation captions, {n[2]} BBC validation sentences")
    report = [measure(b, p_sst, y_sst, p_cap, p_news) for b in sorted({0.0, 0.1, chosen, 0.2, 0.3})]
    print(table(report, chosen))
    r = next(m for m in report if m["band"] == chosen)
    if args.imdb:
        from app.training.sentiment_data import imdb_splits

        reviews = imdb_splits()[2][: args.imdb]
        pos = model.labels.index("positive")
        p_doc = np.array([dict(model.analyze(t, per_sentence=False).probabilities)["positive"] for t, _ in reviews])
        y_doc = np.array([y for _, y in reviews])
        d_in = np.abs(p_doc - 0.5) < chosen
        r["imdb_neutral"] = float(d_in.mean())
        r["imdb_acc_outside"] = float(((p_doc[~d_in] >= 0.5) == y_doc[~d_in]).mean()) if (~d_in).any() else float("nan")
        print(f"whole IMDB validation reviews ({len(reviews)}): {100 * r['imdb_neutral']:.1f}% neutral at {chosen:.2f}, "
              f"accuracy on the rest {100 * r['imdb_acc_outside']:.2f}% (all {100 * ((p_doc >= 0.5) == y_doc).mean():.2f}%)")
        del pos
    print(f"\nchosen neutral band {chosen:.2f}: on the report set {100 * r['captions_neutral']:.1f}% of captions and "
          f"{100 * r['news_neutral']:.1f}% of news sentences read neutral; {100 * r['sst2_neutral']:.1f}% of SST-2 "
          f"sentences do, and SST-2 accuracy on the rest is {100 * r['sst2_acc_outside']:.2f}% "
          f"(all: {100 * r['sst2_acc_all']:.2f}%). {time.perf_counter() - t0:.0f} s")
    if args.write:
        path = Path(args.model) / "manifest.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        data["neutral_band"] = chosen
        data["neutral_band_measured"] = {
            "command": "python bench/neutral_band.py --write",
            "report": {k: round(v, 4) for k, v in r.items()},
            "report_sizes": {"sst2": n[0], "captions": n[1], "news_sentences": n[2]},
        }
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote neutral_band {chosen:.2f} to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
