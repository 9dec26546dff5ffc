"""The schema every manifest.json must satisfy before any of its values is used (pydantic).

Types and ranges are checked first, so a hand-written or hostile manifest gives one ModelError naming
the field (`max_length: Input should be a valid integer`) instead of a traceback later: the id is a
name, never a path; every file is a relative path inside the folder; every digest is a sha256; numbers
are bounded. Fields this version does not know are kept (newer manifests may add some).
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from app.core.model_files import check_name
from app.core.types import ANALYSIS_TASKS

ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
MAX_POSITIONS = 8192  # no shipped or trainable model reads longer inputs than this
TASKS = (*ANALYSIS_TASKS, "encoder")

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


class Head(_Open):
    """A small graph that reads a shared encoder's outputs (app.core.shared_encoder)."""

    file: FilePath
    temperature: Annotated[float, Field(gt=0, le=100)] = 1.0


class SharedEncoder(_Open):
    """The model whose encoder a head-only model reads, and which of its outputs."""

    model: Annotated[str, Field(strict=True, pattern=ID_PATTERN)]
    version: Name | None = None
    inputs: Annotated[list[Name], Field(min_length=1, max_length=8)] = ["hidden_mid"]


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
    targets: dict[Annotated[str, Field(strict=True, max_length=16)], dict[str, Any]] | None = None
    encoder_outputs: Annotated[dict[Name, ShortText], Field(max_length=16)] = {}
    heads: Annotated[dict[Name, Head], Field(max_length=16)] = {}
    shared_encoder: SharedEncoder | None = None


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
