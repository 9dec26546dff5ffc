"""Which language a text is in, with py3langid (BSD-3-Clause): a naive Bayes model over byte n-grams,
about 4 MB, numpy only, offline, 97 languages, microseconds per sentence.

Why this detector: it runs where the app runs (no network, no model download, no compiled extension to
ship), its licence is permissive, it is maintained (a 2026 release of Lui & Baldwin's langid.py), and its
probabilities are normalised per text length, which gives the "reliable" flag below a meaning. Larger
detectors (fastText lid.176, CLD3, lingua) are more accurate on one or two words, which is not what
the app decides on: whole paragraphs and documents.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Sequence

from app.core.errors import LanguageMismatchError
from app.core.segment import split_paragraphs
from app.core.types import DocumentLanguage, LanguageSpan

# English names of the languages a user is likely to meet (others show their ISO code).
NAMES = {
    "en": "English", "fr": "French", "de": "German", "es": "Spanish", "it": "Italian", "nl": "Dutch",
    "pt": "Portuguese", "sv": "Swedish", "da": "Danish", "no": "Norwegian", "fi": "Finnish", "pl": "Polish",
    "cs": "Czech", "ru": "Russian", "uk": "Ukrainian", "tr": "Turkish", "el": "Greek", "ar": "Arabic",
    "he": "Hebrew", "zh": "Chinese", "ja": "Japanese", "ko": "Korean", "hu": "Hungarian", "ro": "Romanian",
}
MIN_WORDS = 4  # below this a guess is shown but never acted on
MIN_PROBABILITY = 0.8
SAMPLE_CHARS = 20_000
# A paragraph gets a language of its own only when it is long and clear enough: a name, a quoted title or
# a code line in another language must not make a document "mixed" (and lose its colour there).
PARAGRAPH_MIN_WORDS = 10
PARAGRAPH_MIN_PROBABILITY = 0.9
MAX_PARAGRAPHS = 400  # checked per document, spread evenly over it (a 1,000-page file costs under a second)
MODEL_LANGUAGES = ("en",)  # what a task model covers when its manifest does not say


@dataclass(frozen=True)
class LanguageGuess:
    lang: str  # ISO 639-1 code, "" when the text has nothing to go on
    probability: float
    words: int

    @property
    def reliable(self) -> bool:
        """Enough text and a clear enough winner to act on (refuse a model, skip a paragraph)."""
        return bool(self.lang) and self.words >= MIN_WORDS and self.probability >= MIN_PROBABILITY

    @property
    def name(self) -> str:
        return language_name(self.lang)

    def describe(self) -> str:
        if not self.lang:
            return "language unknown"
        return f"{self.name} ({self.probability:.0%})" + ("" if self.reliable else ", uncertain")


def language_name(code: str) -> str:
    return NAMES.get(code, code or "unknown")


class LanguageDetector:
    """py3langid with probabilities, optionally restricted to `languages`."""

    def __init__(self, languages: Sequence[str] | None = None):
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        self._ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        if languages:
            self._ident.set_languages(list(languages))
        self._lock = threading.Lock()  # set_languages and the model arrays are shared state

    def detect(self, text: str) -> LanguageGuess:
        sample = _sample(text)
        words = len(sample.split())
        if not any(ch.isalpha() for ch in sample):
            return LanguageGuess("", 0.0, words)
        with self._lock:
            lang, p = self._ident.classify(sample)
        return LanguageGuess(lang, float(p), words)


def _sample(text: str) -> str:
    """Up to SAMPLE_CHARS from across the text (start, middle, end), so a long document costs little."""
    if len(text) <= SAMPLE_CHARS:
        return text
    third = SAMPLE_CHARS // 3
    mid = len(text) // 2
    return " ".join((text[:third], text[mid - third // 2: mid + third // 2], text[-third:]))


_default: LanguageDetector | None = None
_default_lock = threading.Lock()


def detect_language(text: str) -> LanguageGuess:
    """The language of `text` among all 97 that the detector knows."""
    global _default
    with _default_lock:
        if _default is None:
            _default = LanguageDetector()
    return _default.detect(text)


def check_source_language(text: str, model_lang: str, model_name: str) -> LanguageGuess:
    """The detected language; raises LanguageMismatchError when the text is reliably not in `model_lang`."""
    guess = detect_language(text)
    if guess.reliable and guess.lang != model_lang:
        raise LanguageMismatchError(
            guess.lang, model_lang,
            f"This text looks {guess.name} ({guess.probability:.0%} sure), but {model_name} translates from "
            f"{language_name(model_lang)} only, so it was not run: its output would be nonsense. "
            f"Choose a model for {guess.name} input, or translate anyway if the detection is wrong.")
    return guess


def detect_document_language(text: str) -> DocumentLanguage:
    """The language of a document, and of each of its paragraphs that is long and clear enough when they
    are not all in the same one (a mixed document). The main language is the one most of the text is in:
    reliable paragraphs count for their own language, the rest for the language of the whole."""
    whole = detect_language(text)
    paragraphs = [(a, b) for a, b in split_paragraphs(text) if len(text[a:b].split()) >= PARAGRAPH_MIN_WORDS]
    if len(paragraphs) > MAX_PARAGRAPHS:
        step = len(paragraphs) / MAX_PARAGRAPHS
        paragraphs = [paragraphs[int(i * step)] for i in range(MAX_PARAGRAPHS)]
    found: list[tuple[int, int, LanguageGuess]] = []
    if len(paragraphs) >= 2:  # one paragraph is the whole text: nothing to compare
        for a, b in paragraphs:
            g = detect_language(text[a:b])
            if g.lang and g.probability >= PARAGRAPH_MIN_PROBABILITY:
                found.append((a, b, g))
    if not found or all(g.lang == whole.lang for _, _, g in found):
        return DocumentLanguage(whole.lang, whole.probability, whole.reliable)
    chars: dict[str, int] = {}
    for a, b, g in found:
        chars[g.lang] = chars.get(g.lang, 0) + (b - a)
    if whole.lang:
        chars[whole.lang] = chars.get(whole.lang, 0) + max(0, len(text.strip()) - sum(b - a for a, b, _ in found))
    main = max(chars, key=lambda code: (chars[code], code == whole.lang))
    mine = [(b - a, g.probability) for a, b, g in found if g.lang == main]
    if mine:  # the whole text's probability is diluted by the other languages: its own paragraphs speak for it
        confidence, reliable = sum(n * p for n, p in mine) / sum(n for n, _ in mine), True
    else:
        confidence, reliable = whole.probability, whole.reliable
    spans = tuple(LanguageSpan(a, b, g.lang, round(g.probability, 4)) for a, b, g in found if g.lang != main)
    return DocumentLanguage(main, confidence, reliable, spans)


def covered_languages(declared: Sequence[str]) -> tuple[str, ...]:
    """The languages a task model covers: what its manifest declares, English when it declares none."""
    return tuple(declared) or MODEL_LANGUAGES


def uncovered_language(language: DocumentLanguage | None, covered: Sequence[str]) -> str:
    """The document's language when it is reliably one that `covered` does not include, else ""
    (an unknown or uncertain language runs the model, as before languages were checked)."""
    if language is None or not language.reliable or not language.code or language.code in covered:
        return ""
    return language.code


def describe_document_language(language: DocumentLanguage | None) -> str:
    """'French (97%)', 'English (99%), with paragraphs in French', 'Serbian (1%), uncertain' or 'not detected'."""
    if language is None:
        return "not detected"
    if not language.code:
        return "unknown"
    text = f"{language_name(language.code)} ({language.confidence:.0%})" + ("" if language.reliable else ", uncertain")
    others = list(dict.fromkeys(s.code for s in language.spans if s.code != language.code))
    if others:
        text += ", with paragraphs in " + ", ".join(language_name(c) for c in others)
    return text
