"""What a translation model's card says it scored on validation text, per kind of text, in one line.

The numbers come from the manifest, never from here: `metrics.quality` (written by the training recipe's
evaluation on its validation splits: the documentation corpus and Multi30k val) and the confidence
calibration's own run (`confidence.measured`, app/training/translation_confidence.py: documentation,
Multi30k and a Tatoeba validation slice of everyday sentences). A kind of text with no measurement is said
to be unmeasured, not guessed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

DOMAINS = (("docs", "documentation"), ("multi30k", "captions"), ("tatoeba", "everyday sentences"))


@dataclass(frozen=True)
class DomainQuality:
    domain: str  # documentation, captions, everyday sentences
    bleu: float
    chrf: float
    sentences: int
    setting: str  # "int8, beam 4"


def _setting(key: str) -> str:
    graphs = "int8" if "int8" in key else "fp32" if "fp32" in key else ""
    decoding = "beam 4" if "beam" in key else "greedy" if "greedy" in key else ""
    return ", ".join(x for x in (graphs, decoding) if x)


def measured_quality(raw: dict, lang: str) -> list[DomainQuality]:
    """Validation BLEU/chrF per kind of text for target `lang`, the default graphs and beam 4 preferred."""
    metrics = raw.get("metrics") or {}
    quality = metrics.get("quality") or {}
    variant = raw.get("default_variant") or "fp32"
    found: dict[str, DomainQuality] = {}
    split = str(metrics.get("split", ""))
    for key, q in quality.items():
        if not isinstance(q, dict) or "@" in key or "bleu" not in q:
            continue
        words = re.split(r"[\s-]+", key)
        if lang not in words or (variant not in words and ("int8" in words or "fp32" in words)):
            continue
        if "greedy" in words:
            continue
        name = next((d for d in ("docs", "multi30k", "tatoeba") if d in words), None)
        if name is None and "multi30k" in split:
            name = "multi30k"
        if name is None:
            continue
        found[name] = DomainQuality(dict(DOMAINS)[name], float(q["bleu"]), float(q.get("chrf", 0.0)),
                                    int(q.get("sentences", 0)), _setting(key))
    measured = ((raw.get("confidence") or {}).get("measured") or {}).get(lang) or {}
    for name, q in (measured.get("quality") or {}).items():
        if name in dict(DOMAINS) and name not in found and isinstance(q, dict) and "bleu" in q:
            found[name] = DomainQuality(dict(DOMAINS)[name], float(q["bleu"]), float(q.get("chrf", 0.0)),
                                        int(q.get("sentences", 0)), "int8, beam 4")
    return [found[name] for name, _ in DOMAINS if name in found]


def quality_note(raw: dict, lang: str) -> str:
    """'Measured on validation text (BLEU / chrF): documentation 27.0 / 48.2 (300 sentences), captions …;
    everyday sentences not measured.' ('' when the manifest has no measurement for `lang`)."""
    rows = measured_quality(raw, lang)
    if not rows:
        return ""
    settings = sorted({r.setting for r in rows if r.setting})
    parts = [f"{r.domain} {r.bleu:.1f} / {r.chrf:.1f} ({r.sentences:,} sentences)" for r in rows]
    missing = [label for _, label in DOMAINS if label not in {r.domain for r in rows}]
    line = (f"Measured on validation text into {lang} (BLEU / chrF{', ' + '; '.join(settings) if settings else ''}): "
            + ", ".join(parts))
    if missing:
        line += f"; {' and '.join(missing)} not measured"
    return line + "."
