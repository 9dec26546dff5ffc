"""How far to trust each translated sentence, from the model itself.

Signals of one sentence (`sentence_signals`): the length-normalised log-probability of the hypothesis the
decoder chose and its least likely token, repetition the source does not have, a loop that was cut, the
target/source length ratio, and how much of the output is the source copied untranslated. A logistic
regression over these (`ConfidenceModel`, fitted per target language by
`python -m app.training.translation_confidence` and stored in the manifest's "confidence" field) gives the
probability that the sentence is usable (sentence chrF >= 50 against a reference translation); below the
manifest's threshold the sentence is marked low-confidence with the reason that weighed most.

A model without a calibration (an imported Marian model) gets the geometric-mean token probability as its
confidence, threshold 0.5, and says so in the reason.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence

from app.core.errors import ModelError

FEATURES = ("mean_logprob", "min_logprob", "repetition", "loop", "length_dev", "copied", "source_words")
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_PLACEHOLDER = re.compile(r"｟\s*\d+\s*｠")
# expected log(target chars / source chars) when a model has no calibration of its own
DEFAULT_LENGTH_RATIO = {"fr": 0.12, "de": 0.08}
MIN_LOGPROB_FLOOR = -15.0
UNCALIBRATED_THRESHOLD = 0.5


@dataclass(frozen=True)
class Signals:
    """What the model and the two texts say about one translated sentence."""

    mean_logprob: float  # per token, </s> included
    min_logprob: float  # the least likely token (floored at MIN_LOGPROB_FLOOR)
    repetition: float  # share of repeated word pairs in the output beyond the source's own
    loop: bool  # the output repeated a phrase and was cut
    log_length_ratio: float  # log(output characters / source characters)
    copied: float  # share of the output's words (3+ letters) found in the source
    source_words: int

    def vector(self, length_ratio: float) -> list[float]:
        return [self.mean_logprob, self.min_logprob, self.repetition, float(self.loop),
                abs(self.log_length_ratio - length_ratio), self.copied, math.log1p(self.source_words)]


def _words(text: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(_PLACEHOLDER.sub(" ", text))]


def _repeated_pairs(words: Sequence[str]) -> float:
    pairs = list(zip(words, words[1:]))
    return 1.0 - len(set(pairs)) / len(pairs) if pairs else 0.0


def cut_repeats(output: str, source: str, times: int = 4) -> tuple[str, bool]:
    """An output in which one word, or a phrase of up to three words, comes back `times` times or more (and
    twice as often as in the source) is cut before its third occurrence: "beim X beim Y beim Z beim…" keeps
    "beim X beim Y". Returns the text and whether it was cut. Short function words are not counted alone."""
    matches = list(_WORD.finditer(output))
    words = [m.group().casefold() for m in matches]
    src = _words(source)
    best = None
    for n in (1, 2, 3):
        seen: dict[tuple[str, ...], list[int]] = {}
        for i in range(len(words) - n + 1):
            gram = tuple(words[i:i + n])
            if sum(len(w) for w in gram) < (4 if n == 1 else 5):
                continue
            seen.setdefault(gram, []).append(i)
        for gram, at in seen.items():
            if len(at) < times:
                continue
            in_source = sum(1 for i in range(len(src) - n + 1) if tuple(src[i:i + n]) == gram)
            if len(at) <= 2 * in_source:
                continue
            if best is None or at[2] < best:
                best = at[2]
    if best is None:
        return output, False
    text = output[:matches[best].start()].rstrip(" ,;:-–—")
    return text, True


def sentence_signals(source: str, output: str, logprobs: Sequence[float], loop: bool) -> Signals:
    """The signals of one sentence: `source` is what the model was shown, `output` what it wrote (protected
    spans and placeholders are ignored), `logprobs` every token's log-probability."""
    src_words, out_words = _words(source), _words(output)
    lp = list(logprobs) or [0.0]
    src_chars = len(_PLACEHOLDER.sub("", source).strip()) or 1
    out_chars = len(_PLACEHOLDER.sub("", output).strip())
    long_out = [w for w in out_words if len(w) >= 3]
    src_set = set(src_words)
    copied = sum(w in src_set for w in long_out) / len(long_out) if long_out else 0.0
    return Signals(
        mean_logprob=sum(lp) / len(lp),
        min_logprob=max(min(lp), MIN_LOGPROB_FLOOR),
        repetition=max(0.0, _repeated_pairs(out_words) - _repeated_pairs(src_words)),
        loop=loop,
        log_length_ratio=math.log(max(out_chars, 1) / src_chars),
        copied=copied,
        source_words=len(src_words),
    )


@dataclass(frozen=True)
class Verdict:
    confidence: float  # 0..1, the calibrated probability that the sentence is usable
    low: bool
    reason: str  # why it is low ("" when it is not)


@dataclass(frozen=True)
class LanguageCalibration:
    weights: tuple[float, ...]  # on standardised features, in FEATURES order
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    bias: float
    threshold: float
    length_ratio: float


class ConfidenceModel:
    """The calibrated confidence of a translation model (or the uncalibrated fallback)."""

    def __init__(self, languages: dict[str, LanguageCalibration], features: Sequence[str] = FEATURES,
                 source: str = ""):
        self.languages = languages
        self.features = tuple(features)
        self.source = source

    @property
    def calibrated(self) -> bool:
        return bool(self.languages)

    @classmethod
    def from_manifest(cls, raw: dict, where: str = "manifest") -> "ConfidenceModel":
        spec = raw.get("confidence")
        if not spec:
            return cls({})
        features = tuple(spec.get("features") or ())
        if features != FEATURES:
            raise ModelError(f"{where}: confidence.features must be {', '.join(FEATURES)} "
                             f"(this version computes those), not {', '.join(features) or 'nothing'}")
        langs = {}
        for lang, c in (spec.get("languages") or {}).items():
            parts = [tuple(float(x) for x in c.get(k) or ()) for k in ("weights", "mean", "scale")]
            if any(len(p) != len(FEATURES) for p in parts):
                raise ModelError(f"{where}: confidence.languages.{lang}: weights, mean and scale need "
                                 f"{len(FEATURES)} numbers each")
            if any(s <= 0 for s in parts[2]):
                raise ModelError(f"{where}: confidence.languages.{lang}.scale must be positive")
            langs[lang] = LanguageCalibration(parts[0], parts[1], parts[2], float(c.get("bias", 0.0)),
                                              float(c.get("threshold", 0.5)), float(c.get("length_ratio", 0.0)))
        return cls(langs, features, str(spec.get("target", "")))

    def judge(self, signals: Signals, lang: str) -> Verdict:
        cal = self.languages.get(lang)
        if cal is None:
            p = math.exp(signals.mean_logprob)
            low = p < UNCALIBRATED_THRESHOLD or signals.loop
            x = signals.vector(DEFAULT_LENGTH_RATIO.get(lang, 0.1))
            reason = _reason(signals, None, x, DEFAULT_LENGTH_RATIO.get(lang, 0.1)) if low else ""
            return Verdict(p, low, (reason + " (this model has no confidence calibration)").strip() if low else "")
        x = signals.vector(cal.length_ratio)
        z = [(v - m) / s for v, m, s in zip(x, cal.mean, cal.scale)]
        logit = cal.bias + sum(w * v for w, v in zip(cal.weights, z))
        p = 1.0 / (1.0 + math.exp(-max(min(logit, 60.0), -60.0)))
        # a cut loop is incomplete by construction, and a sentence of four or more words handed back
        # unchanged is not a translation: neither is ever marked confident
        forced = signals.loop or (signals.copied >= 0.9 and signals.source_words >= 4)
        low = p < cal.threshold or forced
        contrib = [w * v for w, v in zip(cal.weights, z)]
        return Verdict(p, low, _reason(signals, contrib, x, cal.length_ratio) if low else "")


def _reason(signals: Signals, contrib: Sequence[float] | None, x: Sequence[float], length_ratio: float) -> str:
    """The one or two things that weighed most against the sentence, in words."""
    why: list[str] = []
    if signals.loop:
        why.append("the model repeated itself; the repetition was cut")
    if signals.copied >= 0.9 and signals.source_words >= 4:
        why.append("the output is the source copied, not translated")
    if contrib is None:  # uncalibrated: only the model's own probability
        contrib = [x[0], 0.0, -x[2], 0.0, -x[4], -x[5], 0.0]
    ranked = sorted(((c, name) for c, name in zip(contrib, FEATURES) if c < 0), key=lambda t: t[0])
    for _c, name in ranked:
        if len(why) >= 2:
            break
        text = {
            "mean_logprob": "the model was unsure of its wording",
            "min_logprob": "the model was unsure of some words",
            "repetition": "the output repeats words the source does not",
            "copied": "much of the output is the source left untranslated",
            "source_words": "a long sentence, which this model often gets wrong",
            "length_dev": ("the output is much shorter than the source" if signals.log_length_ratio < length_ratio
                           else "the output is much longer than the source"),
            "loop": "",
        }[name]
        if text and text not in why and not (name == "min_logprob" and "the model was unsure of its wording" in why):
            why.append(text)
    return "; ".join(why) or "the model's own scores were low"


def confidence_counts(sentences) -> tuple[int, int]:
    """(confident, judged) over sentences carrying a confidence (those with nothing to translate carry none)."""
    judged = [s for s in sentences if getattr(s, "confidence", None) is not None]
    return sum(1 for s in judged if not s.low_confidence), len(judged)


def quality_line(sentences) -> str:
    """'31 of 45 sentences confident' ('' when no sentence was judged)."""
    ok, n = confidence_counts(sentences)
    if not n:
        return ""
    return f"{ok} of {n} sentence{'s' if n != 1 else ''} confident"
