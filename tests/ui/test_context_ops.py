"""The window's background work (app/ui/context.py) called as plain functions with a stand-in state: no
QApplication, a real library and the tiny models."""
from __future__ import annotations

import pytest

from app.core.analyzer import AnalysisOptions
from app.core.errors import Cancelled, DocumentError
from app.core.store import Store
from app.jobs.batch import run_batch
from app.ui.context import (
    add_label,
    analyze_shown,
    analyze_unsaved,
    load_stored,
    open_library,
    read_history,
    read_run,
    remove_document,
    run_batch_in_library,
)


class State:
    """What a test gives an op instead of BackgroundOp's OpContext."""

    def __init__(self, cancel: bool = False):
        self.cancel = cancel
        self.progress_values: list[float] = []
        self.partials: list = []

    def progress(self, value: float) -> None:
        self.progress_values.append(value)

    def partial_result(self, value) -> None:
        self.partials.append(value)

    def status(self, text: str) -> None:
        pass

    def cancelled(self) -> bool:
        return self.cancel


@pytest.fixture
def analyzer(registry):
    from app.core.analyzer import Analyzer

    a = Analyzer(registry=registry)
    yield a
    a.unload()


def test_a_batch_into_the_library_then_read_back_as_a_past_run(analyzer, batch_folder, tmp_path):
    db = str(tmp_path / "library.db")
    state = State()
    report = run_batch_in_library(run_batch, [str(batch_folder)], analyzer, db, AnalysisOptions(), state)
    assert report.status == "done" and report.analyses == 4
    rows = [p for p in state.partials if not isinstance(p, DocumentError)]
    errors = [p for p in state.partials if isinstance(p, DocumentError)]
    assert len(rows) == 4 and [e.source for e in errors] == [str(batch_folder / "broken.docx")]
    assert all(isinstance(i, int) for i, _ in rows)  # each result comes with the library's id of its document
    last = state.progress_values[-1]  # the batch's own progress, as the view shows it
    assert (last.files_done, last.files_total, last.documents_done, last.failed) == (5, 5, 4, 1)

    run, stored, run_errors = read_run(db, report.run_id, State())
    assert run.id == report.run_id and run.status == "done"
    assert sorted(i for i, _ in stored) == sorted(i for i, _ in rows)
    assert [source for source, _ in run_errors] == [str(batch_folder / "broken.docx")]
    assert [r.id for r in read_history(db, 10, State())] == [report.run_id]
    with pytest.raises(Cancelled):
        read_history(db, 10, State(cancel=True))

    doc_id = rows[0][0]
    assert load_stored(db, doc_id, {}, State()).document.title == rows[0][1].document.title
    with pytest.raises(Cancelled):
        load_stored(db, doc_id, {}, State(cancel=True))
    assert add_label(db, "The delivery was late.", "negative", doc_id, 0) == 1
    assert add_label(db, "Lovely staff.", "positive", doc_id, 1) == 2
    remove_document(db, doc_id)
    with Store(db) as store:
        assert store.count_documents() == 3

    moved = str(tmp_path / "elsewhere" / "library.db")
    assert open_library(db, moved, move=True) == 3
    assert open_library(db, str(tmp_path / "new.db"), move=False) == 0  # a new library, created


def test_tasks_run_on_shown_text_replace_only_their_results(analyzer):
    from app.core.pasted import document_from_text

    document = document_from_text("The staff were lovely. The room was dirty and the food was cold.")
    shown = analyze_unsaved(analyzer, document, AnalysisOptions(tasks=("sentiment",)))
    assert shown.summary is None
    opened = analyze_shown(analyzer, shown, AnalysisOptions(tasks=("summary",)))
    assert opened.document_id is None
    assert opened.stored.sentiment == shown.sentiment  # kept as shown
    assert opened.stored.summary is not None and opened.fresh.summary == opened.stored.summary
