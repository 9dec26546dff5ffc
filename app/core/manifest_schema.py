"""The schema every manifest.json must satisfy before any of its values is used (pydantic).

Types and ranges are checked first, so a hand-written or hostile manifest gives one ModelError naming
the field (`max_length: Input should be a valid integer`) instead of a traceback later: the id is a
name, never a path; every file is a relative path inside the folder; every digest is a sha256; numbers
are bounded. Every field a loader reads (registry, sentiment, document head, summary, translation) is
declared here with its type, so a field of the wrong shape (`"calibration": [1]`) is refused when the
model is imported or listed, never met as an AttributeError mid-analysis. Fields no loader reads are kept
as they are (notes, measurements, newer fields), and `metrics` may hold anything JSON can.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from app.core.model_files import check_name
from app.core.types import ANALYSIS_TASKS, CLASSIFICATION

ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
MAX_POSITIONS = 8192  # no shipped or trainable model reads longer inputs than this
TASKS = (*ANALYSIS_TASKS, CLASSIFICATION, "encoder")
CLASSIFICATION_NAME_PATTERN = r"^[a-z0-9][a-z0-9_]{0,39}$"

FilePath = Annotated[str, AfterValidator(check_name)]
ShortText = Annotated[str, Field(strict=True, max_length=200)]
LongText = Annotated[str, Field(strict=True, max_length=5000)]
Name = Annotated[str, Field(strict=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Graph(_Open):
    file: FilePath
    inputs: Annotated[list[Annotated[str, Field(strict=True, max_length=200)]], Field(max_length=64)] | None = None


class Tokenizer(_Open):
    type: ShortText = ""
    file: FilePath | None = None
    source: FilePath | None = None
    target: FilePath | None = None


Temperature = Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)]
TokenId = Annotated[int, Field(strict=True, ge=0, le=10_000_000)]
Lang = Annotated[str, Field(strict=True, max_length=16)]


class Head(_Open):
    """A small graph that reads a shared encoder's outputs (app.core.shared_encoder)."""

    file: FilePath
    temperature: Temperature = 1.0
    metrics: dict[str, Any] = {}  # per evaluation set, any JSON shape


class Calibration(_Open):
    """Temperature scaling of a classifier's logits (app.core.sentiment)."""

    temperature: Temperature = 1.0


class DocumentHead(_Open):
    """The bag-of-word-pieces document head of a sentiment model (app.core.document_head)."""

    file: FilePath
    vocab_size: Annotated[int, Field(strict=True, ge=1, le=10_000_000)]
    bigram_buckets: Annotated[int, Field(strict=True, ge=1, le=100_000_000)]
    min_tokens: Annotated[int, Field(strict=True, ge=0, le=1_000_000)] = 0


class Target(_Open):
    """One target language of a translation model."""

    decoder_start_token_id: TokenId | None = None


class Variant(_Open):
    """Which graphs make up one translation variant (fp32, int8): graph names from `graphs`."""

    encoder: Name
    decoder: Name
    decoder_with_past: Name | None = None


class SharedEncoder(_Open):
    """The model whose encoder a head-only model reads, and which of its outputs."""

    model: Annotated[str, Field(strict=True, pattern=ID_PATTERN)]
    version: Name | None = None
    inputs: Annotated[list[Name], Field(min_length=1, max_length=8)] = ["hidden_mid"]


class Classification(_Open):
    """A user's classifier: the name its column and results go under, and what it was trained on."""

    name: Annotated[str, Field(strict=True, pattern=CLASSIFICATION_NAME_PATTERN)]
    unit: Literal["document", "sentence"] = "document"  # sentence: it labels each sentence too


Num = Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]


class ConfidenceLanguage(_Open):
    """One target language's logistic regression over standardised sentence signals
    (app.core.translation_confidence), and the probability above which a sentence counts as confident."""

    weights: Annotated[list[Num], Field(min_length=1, max_length=32)]
    mean: Annotated[list[Num], Field(min_length=1, max_length=32)]
    scale: Annotated[list[Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]], Field(min_length=1, max_length=32)]
    bias: Num = 0.0
    threshold: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.5
    length_ratio: Num = 0.0


class ConfidenceCalibration(_Open):
    """A translation model's sentence confidence, fitted by app/training/translation_confidence.py."""

    features: Annotated[list[Name], Field(min_length=1, max_length=32)]
    languages: Annotated[dict[Lang, ConfidenceLanguage], Field(max_length=200)] = {}
    target: LongText = ""
    measured: dict[str, Any] = {}  # per language and source, any JSON shape


class Abstractive(_Open):
    """How an abstractive summary model writes: what goes before the text, how long, which decoding."""

    prefix: ShortText = ""  # T5's "summarize: "
    max_new_tokens: Annotated[int, Field(strict=True, ge=1, le=2048)] = 128
    num_beams: Annotated[int, Field(strict=True, ge=1, le=16)] = 4
    length_penalty: Annotated[float, Field(ge=-10, le=10, allow_inf_nan=False)] = 1.0


class ManifestSchema(_Open):
    format: Literal[1] = 1
    id: Annotated[str, Field(strict=True, pattern=ID_PATTERN)]
    version: Name
    task: Literal[TASKS]
    name: ShortText | None = None
    languages: Annotated[list[Annotated[str, Field(strict=True, max_length=16)]], Field(max_length=200)] = []
    labels: Annotated[list[Annotated[str, Field(strict=True, min_length=1, max_length=100)]], Field(max_length=1000)] = []
    max_length: Annotated[int, Field(strict=True, ge=1, le=MAX_POSITIONS)] = 512
    tokenizer: Tokenizer = Tokenizer()
    graphs: Annotated[dict[Name, Graph], Field(max_length=64)]
    default_graph: Name | None = None
    files: Annotated[dict[FilePath, Annotated[str, Field(strict=True, pattern=SHA256_PATTERN)]], Field(max_length=256)]
    metrics: dict[str, Any] = {}
    license: LongText = ""
    base_model: LongText = ""
    origin: ShortText = ""
    source_lang: Annotated[str, Field(strict=True, max_length=16)] = ""
    target_lang: Annotated[str, Field(strict=True, max_length=16)] = ""
    targets: Annotated[dict[Lang, Target], Field(max_length=200)] | None = None
    encoder_outputs: Annotated[dict[Name, ShortText], Field(max_length=16)] = {}
    heads: Annotated[dict[Name, Head], Field(max_length=16)] = {}
    shared_encoder: SharedEncoder | None = None
    # registry
    alternative_to: Annotated[str, Field(strict=True, pattern=ID_PATTERN)] | None = None
    source: LongText = ""  # where the model came from: "fine-tuned", an imported checkpoint, ...
    domain: LongText = ""
    # classification
    classification: Classification | None = None
    # sentiment
    calibration: Calibration = Calibration()
    neutral_band: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None  # the loader clamps to 0.5
    document_head: DocumentHead | None = None
    # summary
    redundancy: Annotated[float, Field(ge=-100, le=100, allow_inf_nan=False)] = 0.0
    length_bonus: Annotated[float, Field(ge=-100, le=100, allow_inf_nan=False)] = 0.0
    precision: Literal["fp32", "int8"] = "fp32"
    abstractive: Abstractive | None = None  # a summary written by an encoder-decoder (app.core.abstractive)
    # translation
    default_variant: Name | None = None
    variants: Annotated[dict[Name, Variant], Field(max_length=16)] | None = None
    eos_token_id: TokenId = 0
    pad_token_id: TokenId = 0
    unk_token_id: TokenId | None = None
    decoder_start_token_id: TokenId | None = None
    forced_bos_token_id: TokenId | None = None  # every output starts with this token (BART summarizers)
    min_length: Annotated[int, Field(strict=True, ge=0, le=2048)] = 0  # no </s> before this many tokens
    no_repeat_ngram_size: Annotated[int, Field(strict=True, ge=0, le=16)] = 0  # no n-gram of this size twice
    transformers_scores: bool = False  # suppressed tokens scored as transformers' generate does (imported models)
    encoder_output: Name = "last_hidden_state"
    suppress_token_ids: Annotated[list[TokenId], Field(max_length=10_000)] | None = None
    max_repeat: Annotated[int, Field(strict=True, ge=0, le=1000)] = 0
    max_source_tokens: Annotated[int, Field(strict=True, ge=1, le=MAX_POSITIONS)] | None = None
    placeholders: dict[str, Any] | bool | None = None
    cut_loops: bool = True  # a phrase repeated back to back ends the output
    confidence: ConfidenceCalibration | None = None


def validate(raw: object) -> tuple[ManifestSchema | None, list[str]]:
    """(schema, []) when `raw` is a valid manifest, else (None, ["field: problem", ...])."""
    if not isinstance(raw, dict):
        return None, ["the manifest must be a JSON object ({...})"]
    try:
        return ManifestSchema.model_validate(raw), []
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(manifest)"
            problems.append(f"{where}: {err['msg']}")
        return None, problems
