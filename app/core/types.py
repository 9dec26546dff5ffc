"""Small frozen values that cross layers: documents, sentences and analysis results."""
from __future__ import annotations

ANALYSIS_TASKS = ("sentiment", "summary", "translation")  # what a document can be analysed for, in run order

from dataclasses import dataclass, field


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

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)


@dataclass(frozen=True)
class TranslatedSentence:
    source: str
    text: str
    start: int = 0  # span of the source sentence in the translated text's source
    end: int = 0
    paragraph: int = 0
    target_start: int = 0  # span of `text` in Translation.text
    target_end: int = 0


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
    extra: dict = field(default_factory=dict, compare=False, hash=False)
