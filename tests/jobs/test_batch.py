"""Batch analysis: errors recorded and skipped, results reused on re-run, cancel, progress."""
from __future__ import annotations

import pytest

from app.core.analyzer import AnalysisOptions, Analyzer
from app.core.registry import Registry
from app.core.store import Store
from app.jobs.batch import run_batch


@pytest.fixture()
def folder(tmp_path):
    d = tmp_path / "docs"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_text("The service was wonderful. I will come back.")
    (d / "sub" / "b.md").write_text("# Notes\n\nThe package arrived broken. Nobody answered my emails.")
    (d / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (d / "empty.txt").write_text("   ")
    (d / "rows.csv").write_text("id,text\n1,Great value.\n2,\n3,Terrible support.\n")
    return d


@pytest.fixture()
def analyzer(tiny_models, tmp_path):
    return Analyzer(registry=Registry(roots=[tiny_models], settings_file=tmp_path / "d.json"))


def test_batch_records_errors_and_goes_on(folder, analyzer, tmp_path):
    store = Store(tmp_path / "lib.db")
    seen, progress = [], []
    rep = run_batch([folder], analyzer, store, AnalysisOptions(tasks=("sentiment",)),
                    on_result=lambda a: seen.append(a.document.source), progress=progress.append)
    assert rep.status == "done"
    assert rep.analyses == 4  # a.txt, b.md, rows #1 and #3
    failed = {s.split("/")[-1]: r for s, r in rep.errors}
    assert set(failed) == {"broken.pdf", "empty.txt", "rows.csv#2"}
    assert store.count_documents() == 4
    assert len(store.errors(rep.run_id)) == 3
    assert progress[-1].files_done == progress[-1].files_total == 5
    assert [p.files_done for p in progress] == sorted(p.files_done for p in progress)
    # a second run over unchanged files reuses every stored result and adds nothing
    rep2 = run_batch([folder], analyzer, store, AnalysisOptions(tasks=("sentiment",)))
    assert rep2.reused == 4 and store.count_documents() == 4
    store.close()


def test_batch_cancel_stops_between_documents(folder, analyzer, tmp_path):
    store = Store(tmp_path / "lib.db")
    count = []
    rep = run_batch([folder], analyzer, store, AnalysisOptions(tasks=("sentiment",)),
                    on_result=count.append, cancelled=lambda: len(count) >= 1)
    assert rep.status == "cancelled" and rep.analyses == 1
    assert store.history()[0].status == "cancelled"
    store.close()
