"""The fine-tuning page's background work, called as plain functions with a stand-in state: no QApplication."""
from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from app.core.errors import Cancelled
from app.core.registry import Registry
from app.core.store import Store
from app.core.types import Analysis, Document
from app.ui.finetune_ops import label_document, rank_documents, read_labelled_file, read_store_labels


class State:
    """What a test gives an op instead of BackgroundOp's OpContext."""

    def __init__(self, cancel_after: int | None = None):
        self.progress_values: list[float] = []
        self.cancel_after = cancel_after

    def progress(self, value: float) -> None:
        self.progress_values.append(value)

    def partial_result(self, value) -> None:
        raise AssertionError("these ops have no partial results")

    def status(self, text: str) -> None:
        pass

    def cancelled(self) -> bool:
        return self.cancel_after is not None and len(self.progress_values) >= self.cancel_after


def _library(db, n: int = 200) -> None:
    words = "great terrible slow friendly broken perfect late rude".split()
    with Store(db) as store:
        for i in range(n):
            text = f"Ticket {i}: the delivery was {words[i % 8]} and the shop {words[(i * 3) % 8]} (order {i})."
            store.save_analysis(Analysis(Document(f"/t/ticket{i}.txt", text, title=f"ticket {i}",
                                                  content_hash=f"h{i}")), None, {})


def test_the_module_needs_no_qt():
    code = "import sys, app.ui.finetune_ops; print(sorted(m for m in sys.modules if m.startswith('PySide6')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_library_labels_say_why_they_cannot_train_yet(tmp_path):
    db = str(tmp_path / "library.db")
    empty = read_store_labels(db, State())
    assert (empty.count, empty.dataset) == (0, None) and "right-click a sentence" in empty.problem

    with Store(db) as store:
        store.add_label("The parcel never came.", "complaint")
    one_class = read_store_labels(db, State())
    assert one_class.count == 1 and one_class.dataset is None and one_class.problem

    with Store(db) as store:
        for i in range(10):
            store.add_label(f"ticket {i} text", "question" if i % 2 else "complaint")
    usable = read_store_labels(db, State())
    assert usable.count == 11 and usable.problem == ""
    assert usable.dataset.classes == ("complaint", "question")


def test_a_labelled_file_comes_back_with_its_columns_guessed(tmp_path):
    path = tmp_path / "reviews.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "review", "sentiment"])
        w.writerows((i, f"review number {i} was fine", "positive" if i % 2 else "negative") for i in range(12))
    table, columns = read_labelled_file(str(path), State())
    assert columns == ("review", "sentiment")
    assert list(table.columns) == ["id", "review", "sentiment"]


def test_ranking_reports_progress_leaves_labelled_documents_out_and_stops_on_cancel(tmp_path, tiny_models):
    db = str(tmp_path / "library.db")
    _library(db)
    label_document(db, 2, "negative", State())
    with Store(db) as store:
        (label,) = store.labels()
    assert (label.document_id, label.label) == (2, "negative")
    assert label.text.startswith("Ticket 1: the delivery was terrible")

    reg = Registry(roots=[tiny_models], settings_file=tmp_path / "defaults.json")
    state, cache = State(), {}
    ranking = rank_documents(reg, db, None, cache, state, limit=10)
    assert len(ranking.documents) == 10 and 2 not in {d.document_id for d in ranking.documents}
    assert ranking.model.startswith(reg.default("sentiment").id)
    assert set(ranking.labels) == set(reg.default("sentiment").labels)
    assert state.progress_values and state.progress_values[-1] == 1.0
    margins = [d.margin for d in ranking.documents]
    assert margins == sorted(margins)

    with pytest.raises(Cancelled):
        rank_documents(reg, db, None, {}, State(cancel_after=1), limit=10)  # stops after its first batch
    again = State()
    assert [d.document_id for d in rank_documents(reg, db, None, cache, again, limit=10).documents] == \
        [d.document_id for d in ranking.documents]
    assert again.progress_values == []  # everything came from the cache


def test_ranking_runs_on_the_device_the_user_chose(tmp_path, tiny_models):
    import onnxruntime as ort

    from app.core.errors import ModelError

    db = str(tmp_path / "library.db")
    _library(db)
    reg = Registry(roots=[tiny_models], settings_file=tmp_path / "defaults.json")
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("a GPU is present: cuda would load")
    with pytest.raises(ModelError, match="GPU requested"):  # reached the session: it was not pinned to the CPU
        rank_documents(reg, db, None, {}, State(), limit=5, device="cuda")
