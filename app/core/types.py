"""Small frozen values that cross layers: documents, sentences and analysis results."""
from __future__ import annotations

from dataclasses import dataclass, field

ANALYSIS_TASKS = ("sentiment", "summary", "translation")  # what a document can be analysed for, in run order


@dataclass(frozen=True)
class Sentence:
    """A sentence of a document: its text and character span in Document.text."""

    text: str
    start: int
    end: int
    paragraph: int = 0


@dataclass(frozen=True)
class Document:
    """Text read from a file (or one row of a CSV/JSONL file), with where it came from."""

    source: str  # path, or "path#row" for one row of a table file
    text: str
    title: str = ""
    format: str = "txt"
    encoding: str = "utf-8"
    content_hash: str = ""  # sha256 of the text, filled by the reader
    mtime: float = 0.0
    metadata: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SentenceSentiment:
    text: str
    label: str  # as SentimentResult.label: "neutral" inside the band
    score: float  # probability of the model's best label, 0..1
    start: int = 0
    end: int = 0
    p_positive: float | None = None  # the model's probability of "positive", when it has that label


@dataclass(frozen=True)
class SentimentResult:
    label: str  # the model's best label, or "neutral" when p(positive) is inside the neutral band
    score: float  # probability of the model's best label, 0..1
    probabilities: tuple[tuple[str, float], ...] = ()
    sentences: tuple[SentenceSentiment, ...] = ()
    chunks: int = 1  # how many model windows the document needed
    neutral_band: float = 0.0  # |p(positive) - 0.5| below this read as neutral (0: no band)
    unsupported_lang: str = ""  # the document's language when no model covers it: no label, label == ""
    forced_lang: str = ""  # the uncovered language the model was run on anyway (--any-language)

    @property
    def note(self) -> str:
        """What a reader must know beside (or instead of) the label ("" when nothing)."""
        return language_note(self.unsupported_lang, self.forced_lang)

    @property
    def p_positive(self) -> float | None:
        """The model's probability of "positive" (None for models without that label)."""
        return dict(self.probabilities).get("positive")


@dataclass(frozen=True)
class SummarySentence:
    text: str
    score: float
    index: int  # position of the sentence in the document
    start: int = 0
    end: int = 0


@dataclass(frozen=True)
class Summary:
    sentences: tuple[SummarySentence, ...]  # in document order
    unsupported_lang: str = ""  # the document's language when no model covers it: no sentences picked
    forced_lang: str = ""  # the uncovered language the model was run on anyway (--any-language)
    # written by an encoder-decoder (app.core.abstractive): its sentences are the model's, not the document's
    # (index -1; start/end span the part of the document each one summarises)
    abstractive: bool = False

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)

    @property
    def note(self) -> str:
        return language_note(self.unsupported_lang, self.forced_lang)


def language_note(unsupported_lang: str, forced_lang: str = "") -> str:
    """'unsupported language (es)', 'forced on unsupported language (es)' (--any-language), or ''."""
    if unsupported_lang:
        return f"unsupported language ({unsupported_lang})"
    if forced_lang:
        return f"forced on unsupported language ({forced_lang})"
    return ""


@dataclass(frozen=True)
class LanguageSpan:
    """A paragraph of a mixed-language document: its character span in Document.text and its language."""

    start: int
    end: int
    code: str
    confidence: float


@dataclass(frozen=True)
class DocumentLanguage:
    """The language a document is written in (its main one when it mixes several)."""

    code: str  # ISO 639-1; "" when the text gives nothing to go on
    confidence: float  # 0..1
    reliable: bool = False  # enough text and a clear enough winner to act on (refuse a model)
    spans: tuple[LanguageSpan, ...] = ()  # per paragraph, only when the paragraphs are not all in `code`

    @property
    def mixed(self) -> bool:
        return any(s.code != self.code for s in self.spans)

    def at(self, offset: int) -> str:
        """The language of the paragraph holding character `offset` (the document's own outside spans)."""
        for s in self.spans:
            if s.start <= offset < s.end:
                return s.code
        return self.code


@dataclass(frozen=True)
class TranslatedSentence:
    source: str
    text: str
    start: int = 0  # span of the source sentence in the translated text's source
    end: int = 0
    paragraph: int = 0
    target_start: int = 0  # span of `text` in Translation.text
    target_end: int = 0
    confidence: float | None = None  # 0..1, calibrated: how likely the sentence is usable (None: nothing to judge)
    low_confidence: bool = False  # below the model's threshold: shown marked, kept in the source on request
    reason: str = ""  # why the confidence is low, in words


@dataclass(frozen=True)
class Translation:
    lang: str
    text: str
    sentences: tuple[TranslatedSentence, ...] = ()
    source_lang: str = "en"
    protected: int = 0  # numbers, URLs, names, glossary terms... copied through
    reinserted: int = 0  # of those, put back at a sentence end because the model dropped them
    detected_lang: str = ""  # the input's language as detected ("" when not checked)
    detected_probability: float = 0.0
    note: str = ""  # why there is no translation (the input is not in the model's language...)


@dataclass(frozen=True)
class SentenceLabel:
    """One sentence's label from a classifier trained on sentences."""

    text: str
    label: str
    score: float  # probability of `label`, 0..1
    start: int = 0
    end: int = 0


@dataclass(frozen=True)
class ClassificationResult:
    """What a user's classifier (a fine-tuned "topic" or "urgency" model) says about a document."""

    name: str  # the classification's name, chosen by the user ("topic")
    label: str  # the best label
    score: float  # its probability, 0..1
    scores: tuple[tuple[str, float], ...] = ()  # every label's probability, in the model's order
    sentences: tuple[SentenceLabel, ...] = ()  # per sentence, for a classifier trained on sentences


CLASSIFICATION = "classification"  # a manifest's task for a user's classifier; stored per name


def classification_name(text: str) -> str:
    """A classification's name as stored and shown in column keys: "Ticket type" -> "ticket_type" (at most 40
    characters of a-z, 0-9 and _; "classification" when nothing is left)."""
    import re

    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40].strip("_") or CLASSIFICATION


def classification_title(name: str) -> str:
    """The column heading of a classification: "ticket_type" -> "Ticket type"."""
    return name.replace("_", " ").capitalize()


def classification_task(name: str) -> str:
    """The task a classification's results are stored and reused under ("classification:topic")."""
    return f"{CLASSIFICATION}:{name}"


@dataclass(frozen=True)
class ModelInfo:
    """Which model produced a result."""

    id: str
    version: str
    task: str
    provider: str = "CPUExecutionProvider"


@dataclass(frozen=True)
class Analysis:
    """Everything computed for one document in one run."""

    document: Document
    sentiment: SentimentResult | None = None
    summary: Summary | None = None
    translation: Translation | None = None
    models: tuple[ModelInfo, ...] = ()
    seconds: float = 0.0
    error: str | None = None
    language: DocumentLanguage | None = None  # detected on every analysis (None: stored before it was)
    extra: dict = field(default_factory=dict, compare=False, hash=False)
    classifications: tuple[ClassificationResult, ...] = ()  # the active classifiers', by name, beside sentiment

    def classification(self, name: str) -> ClassificationResult | None:
        return next((c for c in self.classifications if c.name == name), None)
