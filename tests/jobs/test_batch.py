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
                    on_result=count.append, cancelled=lambda: len(count) >= 1, chunk_documents=1)
    assert rep.status == "cancelled" and rep.analyses == 1
    assert store.history()[0].status == "cancelled"
    store.close()


def test_batch_cancel_with_chunks_keeps_what_it_reported(tmp_path, analyzer):
    rows = tmp_path / "rows.csv"
    rows.write_text("text\n" + "".join(f"Ticket {k}: the order arrived late.\n" for k in range(12)))
    store = Store(tmp_path / "lib.db")
    count = []
    rep = run_batch([rows], analyzer, store, AnalysisOptions(tasks=("sentiment",)),
                    on_result=count.append, cancelled=lambda: len(count) >= 1, chunk_documents=5)
    assert rep.status == "cancelled" and rep.analyses == len(count) == 5  # the first chunk, then stop
    assert store.count_documents() == 5
    # run again: the five stored rows are reused, and reused rows are reported chunk by chunk as well
    flushes = []
    real = store.update_run_progress
    store.update_run_progress = lambda *a: flushes.append(a) or real(*a)
    progress = []
    rep = run_batch([rows], analyzer, store, AnalysisOptions(tasks=("sentiment",)), chunk_documents=5,
                    progress=progress.append)
    assert rep.status == "done" and rep.analyses == 12 and rep.reused == 5
    assert len(flushes) == 3 and store.count_documents() == 12
    # one file, yet the document count moves while it is read
    assert [p.documents_done for p in progress] == [0, 5, 10, 12]
    store.close()


def _events(folder, analyzer, store, **kw):
    events = []
    rep = run_batch([folder], analyzer, store, AnalysisOptions(tasks=("sentiment", "summary"), sentences=1),
                    on_result=lambda a: events.append((a.document.source, a.sentiment.label,
                                                       round(a.sentiment.score, 2),
                                                       tuple(x.index for x in a.summary.sentences))),
                    on_error=lambda src, why: events.append((src, "error", why)), **kw)
    return rep, events


def test_chunked_batch_gives_the_one_by_one_results_in_input_order(folder, analyzer, tmp_path):
    (folder / "more.csv").write_text("text\n" + "".join(f"Row {k} was {'great' if k % 2 else 'awful'}. Thanks.\n"
                                                        for k in range(9)))
    one_rep, one = _events(folder, analyzer, Store(tmp_path / "one.db"), chunk_documents=1)
    many_rep, many = _events(folder, analyzer, Store(tmp_path / "many.db"), chunk_documents=4)
    assert one_rep.analyses == many_rep.analyses == 13 and len(many_rep.errors) == 3
    key = lambda e: (e[0], e[1], e[3] if len(e) == 4 else e[2])
    assert [key(e) for e in many] == [key(e) for e in one]  # same labels and summaries, errors in place
    # int8 quantizes activations per batch, so a score can move by a rounding step, no more
    assert all(abs(a[2] - b[2]) <= 0.02 for a, b in zip(many, one) if len(a) == 4)


def test_a_chunk_that_fails_is_redone_document_by_document(folder, analyzer, tmp_path, monkeypatch):
    real = analyzer.analyze_many
    chunks = []

    def analyze_many(docs, *a, **k):  # any call that holds the bad row fails, as a real batch would
        chunks.append(len(docs))
        if any("Terrible" in d.text for d in docs):
            raise RuntimeError("this one cannot be read")
        return real(docs, *a, **k)

    monkeypatch.setattr(analyzer, "analyze_many", analyze_many)
    store = Store(tmp_path / "lib.db")
    rep = run_batch([folder], analyzer, store, AnalysisOptions(tasks=("sentiment",)))
    assert rep.status == "done" and rep.analyses == 3
    failed = {s.split("/")[-1]: r for s, r in rep.errors}
    assert failed["rows.csv#3"] == "analysis failed: this one cannot be read"
    assert chunks == [4, 1, 1, 1, 1]  # the chunk, then each of its documents alone
    assert set(failed) == {"broken.pdf", "empty.txt", "rows.csv#2", "rows.csv#3"}
    assert store.count_documents() == 3
    store.close()


def test_repeated_rows_in_a_chunk_are_analysed_once(tmp_path, analyzer, monkeypatch):
    rows = tmp_path / "rows.csv"
    rows.write_text("text\nSame complaint again.\nA different one.\nSame complaint again.\n")
    seen = []
    real = analyzer.analyze_many
    monkeypatch.setattr(analyzer, "analyze_many", lambda docs, *a, **k: seen.append(len(docs)) or real(docs, *a, **k))
    store = Store(tmp_path / "lib.db")
    results = []
    rep = run_batch([rows], analyzer, store, AnalysisOptions(tasks=("sentiment",)), on_result=results.append)
    assert seen == [2] and rep.analyses == 3 and rep.reused == 1
    assert [r.document.source.split("/")[-1] for r in results] == ["rows.csv#1", "rows.csv#2", "rows.csv#3"]
    assert results[0].sentiment == results[2].sentiment
    assert store.count_documents() == 2
    store.close()


def test_cancel_still_records_the_errors_and_reused_rows_read_before_it(tmp_path, analyzer):
    rows = tmp_path / "rows.csv"
    rows.write_text("id,text\n1,First row is fine.\n2,\n3,Third row is new.\n4,Fourth row.\n")
    store = Store(tmp_path / "lib.db")
    run_batch([rows], analyzer, store, AnalysisOptions(tasks=("sentiment",)), chunk_documents=1,
              cancelled=lambda: store.count_documents() >= 1)  # stores row 1, then stops
    checks = []
    rep = run_batch([rows], analyzer, store, AnalysisOptions(tasks=("sentiment",)),
                    cancelled=lambda: checks.append(1) or len(checks) > 3)  # stop before row 4 is read
    assert rep.status == "cancelled"
    assert rep.reused == 1 and rep.analyses == 1
    assert [s.split("/")[-1] for s, _ in rep.errors] == ["rows.csv#2"]
    assert [e.source.split("/")[-1] for e in store.errors(rep.run_id)] == ["rows.csv#2"]
    assert store.count_documents() == 1  # row 3 was read but not analysed: nothing half-done is stored
    store.close()


def test_one_big_table_moves_the_progress_fraction_while_it_is_read(tmp_path, analyzer):
    rows = tmp_path / "tickets.csv"
    rows.write_text("id,text\n" + "".join(f"{k},Ticket {k} says the parcel arrived late and damaged.\n"
                                          for k in range(400)))
    progress = []
    rep = run_batch([rows], analyzer, None, AnalysisOptions(tasks=("sentiment",)), progress=progress.append)
    assert rep.analyses == 400
    fractions = [p.fraction for p in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    middle = [p for p in progress if 0 < p.fraction < 1]
    assert len(middle) >= 5 and all(p.files_done == 0 and p.remaining is not None for p in middle)


def test_eta_follows_the_recent_pace_not_the_average():
    from app.jobs.batch import BatchProgress, Eta

    eta = Eta(window_s=10.0)
    p = lambda t, done: BatchProgress(100, done, done, 0, 0, "x", t)
    assert eta.update(p(0.0, 0)) is None  # the pace is not known yet
    # a resumed batch: 50 files already in the library pass in 1 s, then one file per second
    eta.update(p(1.0, 50))
    for t in range(2, 30):
        left = eta.update(p(float(t), 50 + (t - 1)))
    done = 50 + 28
    assert left == pytest.approx(100 - done, rel=0.15)  # ~22 s, where the whole-run average says ~8 s
    assert p(29.0, done).remaining < 10
    eta.clear()
    assert eta.update(p(30.0, done)) is None


def test_cancel_inside_a_chunk_counts_its_documents_as_not_analysed(tmp_path, analyzer):
    import threading

    folder = tmp_path / "long"
    folder.mkdir()
    for i in range(12):
        (folder / f"d{i:02d}.txt").write_text(" ".join(f"Part {j} of {i} was great." for j in range(400)))
    (folder / "zz-broken.pdf").write_bytes(b"%PDF-1.4 not a pdf")
    store = Store(tmp_path / "lib.db")
    stop = threading.Event()
    batches = []

    def cancelled():  # the user presses Cancel while the models are inside the first chunk
        if len(batches) >= 2:
            stop.set()
        return stop.is_set()

    real = analyzer.analyze_many
    analyzer.analyze_many = lambda docs, o, c, *a: real(docs, o, lambda: batches.append(1) or c(), *a)
    rep = run_batch([folder], analyzer, store, AnalysisOptions(tasks=("sentiment", "summary")), cancelled=cancelled)
    assert rep.status == "cancelled"
    assert rep.errors == []  # "cancelled by the user" is not an error
    assert rep.analyses == 0 and rep.not_analysed == 8  # the first chunk (8 documents) was in hand
    assert rep.files_not_reached == 5  # d08..d11 and the pdf were never opened
    assert store.errors(rep.run_id) == []
    assert "8 documents and 5 files not analysed" in rep.summary()
    store.close()


def test_paths_given_as_a_generator_are_listed_and_recorded(folder, analyzer, tmp_path):
    """run_batch reads `paths` twice (listing the files, recording the run): a generator must not run dry."""
    store = Store(tmp_path / "lib.db")
    rep = run_batch((p for p in [folder / "a.txt", folder / "sub"]), analyzer, store,
                    AnalysisOptions(tasks=("sentiment",)))
    assert rep.analyses == 2 and store.count_documents() == 2
    run = next(r for r in store.history() if r.id == rep.run_id)
    assert run.params["paths"] == [str(folder / "a.txt"), str(folder / "sub")]
    store.close()
