"""Glossary matching cost with a large glossary: the shipped index against one regex per term (the old way).

    python bench/bench_glossary.py [--terms 300000] [--paragraphs 40]

Prints the CPU seconds to load the glossary and to match it over N paragraphs of 4 sentences; the per-term
baseline runs on 2 paragraphs only (it takes seconds each) and is scaled per paragraph.
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core.protect import Glossary

WORDS = ["alpha", "brick", "cobalt", "delta", "ember", "fjord", "garnet", "harbor", "iris", "jasper"]
PARAGRAPH = ("Open the spreadsheet in LibreOffice and compare cobalt2 delta2 with the figures that Apple "
             "published; an apple a day is not a glossary term here, and neither is alpha0x. ") * 4


def per_term_regex(glossary: Glossary, text: str) -> int:
    taken = [False] * len(text)
    n = 0
    for e in sorted(glossary.entries, key=lambda e: -len(e.term)):
        pat = re.compile(rf"(?<!\w){re.escape(e.term)}(?!\w)", 0 if e.case_sensitive else re.I)
        for m in pat.finditer(text):
            if not any(taken[m.start():m.end()]):
                taken[m.start():m.end()] = [True] * (m.end() - m.start())
                n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--terms", type=int, default=300_000)
    ap.add_argument("--paragraphs", type=int, default=40)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "terms.txt"
        lines = [f"{WORDS[i % 10]}{i}" for i in range(args.terms)]
        path.write_text("\n".join([*lines, "cobalt2 delta2 = terme2", "LibreOffice", "spreadsheet = classeur",
                                   "=Apple"]) + "\n", encoding="utf-8")
        t0 = time.process_time()
        g = Glossary.from_file(path)
        load = time.process_time() - t0
        size = path.stat().st_size
    t0 = time.process_time()
    for _ in range(args.paragraphs):
        g.find(PARAGRAPH, "fr")
    ours = (time.process_time() - t0) / args.paragraphs
    t0 = time.process_time()
    for _ in range(2):
        per_term_regex(g, PARAGRAPH)
    base = (time.process_time() - t0) / 2
    print(f"glossary: {len(g.entries):,} terms, {size / 1e6:.1f} MB, loaded in {load:.2f} s CPU")
    print(f"{'matcher':24s} {'s CPU / paragraph':>18s} {'ratio':>8s}")
    print(f"{'one regex per term':24s} {base:18.3f} {1.0:8.1f}")
    print(f"{'term index (shipped)':24s} {ours:18.4f} {base / max(ours, 1e-9):8.0f}x")


if __name__ == "__main__":
    main()
