"""The fine-tuning page's background work as plain functions, each `fn(inputs..., state)` (Orange's shape).

`state` is the OpContext BackgroundOp passes (progress, partial_result, status, cancelled); a test passes
any object with those methods. Nothing here imports Qt or touches a widget.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.core.errors import AlbertStudioError

if TYPE_CHECKING:
    from app.core.active_learning import UncertainDocument
    from app.core.labeled_data import LabeledDataset, Table
    from app.core.registry import Registry
    from app.ui.ops import OpContext


@dataclass(frozen=True)
class LibraryLabels:
    """The library's labels as training data: how many, the dataset (None when unusable) and why not."""

    count: int
    dataset: LabeledDataset | None
    problem: str = ""


@dataclass(frozen=True)
class Ranking:
    """Unlabelled documents, least sure first, with the model that ranked them."""

    labels: tuple[str, ...]  # the model's classes: what the user may label a suggestion as
    documents: list[UncertainDocument]
    model: str  # "id version"
    seconds: float


def read_store_labels(db_path: str, state: OpContext) -> LibraryLabels:
    """The labels made in the library (right-click a sentence), checked as a training set."""
    from app.core.labeled_data import dataset_from_store
    from app.core.store import Store

    with Store(db_path) as store:
        rows = store.labels()
    if not rows:
        return LibraryLabels(0, None, "No labels in the library yet: right-click a sentence in the viewer to label it.")
    try:
        return LibraryLabels(len(rows), dataset_from_store(rows))
    except AlbertStudioError as exc:
        return LibraryLabels(len(rows), None, str(exc))


def read_labelled_file(path: str, state: OpContext) -> tuple[Table, tuple[str, str]]:
    """A labelled file's table and the (text, label) columns guessed for it."""
    from app.core.labeled_data import guess_columns, read_labeled_table

    table = read_labeled_table(path)
    return table, guess_columns(table)


def rank_documents(registry: Registry, db_path: str, model_id: str | None, cache: dict[Any, Any],
                   state: OpContext, limit: int = 30, device: str = "auto") -> Ranking:
    """The library's unlabelled documents the model (`model_id`, else the default sentiment model) is least
    sure of; `cache` keeps probabilities between calls, so a second ranking is instant."""
    from app.core.active_learning import rank_library
    from app.core.runtime import RuntimeOptions
    from app.core.store import Store
    from app.core.task_model import load_task_model

    man = registry.get(model_id) if model_id else registry.default("sentiment")
    model = load_task_model(man, RuntimeOptions(device=device))  # the device the user chose
    t0 = time.perf_counter()
    with Store(db_path) as store:
        ranked = rank_library(model, store, limit=limit, progress=state.progress, cancelled=state.cancelled,
                              cache=cache)
    return Ranking(tuple(model.labels), ranked, f"{man.id} {man.version}", time.perf_counter() - t0)


def label_document(db_path: str, document_id: int, label: str, state: OpContext) -> int:
    """Keep the user's label for a whole document (its text, tied to it); returns the label's id."""
    from app.core.store import Store

    with Store(db_path) as store:
        text = store.load_analysis(document_id).document.text
        return store.add_label(text, label, document_id=document_id)
