"""A 1,000-document batch never stalls the window: the GUI thread never works 50 ms without returning to the
event loop (its own CPU time between two ticks of a 5 ms timer; the wall gap is held to 1 s, a sanity bound).

The models are loaded before the probe starts, as they are once the window has analysed anything: loading
one is core work (`load_task_model`), and the tokenizers library's `Tokenizer.from_file` and `get_vocab`
hold the GIL for 20-50 ms each, which no code in the window can shorten (see app/core/encoder_text.py).
"""
from __future__ import annotations

import codecs
import time

import pytest
from PySide6.QtCore import Qt

from app.core.store import Store
from app.core.memory import keep_long_lived
from app.ui.main_window import Page
from tests.ui.latency import LatencyProbe

N_FILES = 1000
WORDS = "great terrible slow friendly broken perfect late rude parcel delivery shop order refund courier".split()
# what a folder of real files holds besides documents: each is recorded as an error and the batch goes on
BAD_FILES = {
    "empty.txt": b"",
    "blank.txt": b" \n\t\n  \n",
    "photo.txt": bytes(range(256)) * 8,  # binary content with a text suffix
    "archive.txt": b"PK\x03\x04\x00\x00\x08\x00" + bytes(500),
    "lying_bom.txt": codecs.BOM_UTF8 + "Caf\u00e9 cr\u00e8me, tr\u00e8s cher.".encode("cp1252"),  # says UTF-8, is not
    "lying_bom2.md": codecs.BOM_UTF8 + "# Na\u00efve r\u00e9sum\u00e9\n\nd\u00e9j\u00e0 vu".encode("latin-1"),
}


def _document(i: int) -> str:
    """Document i: one to forty sentences (varied lengths, so chunks vary), every text unique."""
    h = (i * 2654435761) & 0xFFFFFFFF
    sentences = []
    for k in range(1 + h % 40):
        w = [WORDS[(h >> (3 * j + k)) % len(WORDS)] for j in range(4)]
        sentences.append(f"The {w[0]} {w[1]} of order {i}-{k} was {w[2]} and {w[3]}.")
    return f"Ticket {i}\n\n" + " ".join(sentences) + "\n"


@pytest.fixture(scope="module")
def tickets(tmp_path_factory):
    """A folder of 1,000 files: 994 tickets of one to forty sentences and the six bad files above."""
    folder = tmp_path_factory.mktemp("tickets")
    for name, data in BAD_FILES.items():
        (folder / name).write_bytes(data)
    for i in range(N_FILES - len(BAD_FILES)):
        (folder / f"ticket{i:04d}.txt").write_text(_document(i), encoding="utf-8")
    return folder


def _ready(qtbot, window, ctx, folder):
    """The batch view shown with `folder` chosen, and the models it will use already loaded."""
    for task in ("sentiment", "summary"):
        ctx.analyzer.model(task)
    # the app freezes what is alive once a model loads (core/memory.keep_long_lived); in a test run what is
    # alive also includes earlier tests' leftovers, and the models may come from a cache: freeze them here too
    keep_long_lived()
    window.show_page(Page.BATCH)
    window.batch.set_paths([str(folder)])
    qtbot.wait(200)  # the window painted, and the windows of earlier tests deleted, before the probe starts
    return window.batch


def test_a_1000_document_batch_never_stalls_the_event_loop(window, ctx, tickets, qtbot):
    good = N_FILES - len(BAD_FILES)
    batch = _ready(qtbot, window, ctx, tickets)
    bar = []
    batch.progress.valueChanged.connect(lambda v: bar.append((v, batch.progress.maximum())))

    with LatencyProbe(5) as probe:
        qtbot.mouseClick(batch.run_button, Qt.LeftButton)  # the user's Start
        assert batch.running
        qtbot.waitUntil(lambda: not batch.running, timeout=600_000)
        qtbot.waitUntil(lambda: batch.model.rowCount() == good, timeout=10_000)  # rows still being shown
        qtbot.waitUntil(lambda: batch.history.currentData() == batch.report.run_id, timeout=10_000)
        qtbot.wait(300)  # what the end of the batch set off (library, chart) lands inside the probe too
    print(f"\n{N_FILES} files in {batch.report.seconds:.1f} s: {probe.describe()}")

    report = batch.report
    assert report.status == "done" and report.analyses == good
    assert sorted(src.rsplit("/", 1)[-1] for src, _ in batch.errors) == sorted(BAD_FILES)
    assert batch.error_table.rowCount() == len(BAD_FILES) and batch.errors_box.title() == f"Errors ({len(BAD_FILES)})"
    assert batch.files_label.text().startswith(f"Files: {N_FILES} / {N_FILES}")
    assert batch.status_label.text().startswith(f"Finished: {good} analysed, {len(BAD_FILES)} errors")
    titles = {r[0] for r in batch.visible_rows()}
    assert len(titles) == good and "Ticket 0" in titles and f"Ticket {good - 1}" in titles
    assert sum(batch.chart.counts().values()) == good
    assert f"done: {good} analysed, {len(BAD_FILES)} errors" in batch.history.currentText()
    # the bar moved through the run, not only at its end, and ends full
    per_mille = {v for v, m in bar if m == 1000}
    assert len(per_mille) >= 10 and max(per_mille) == 1000
    assert batch.progress.value() == batch.progress.maximum() > 0

    with Store(ctx.db_path, readonly=True) as store:
        assert store.count_documents() == good
        assert len(store.run_document_ids(report.run_id)) == good
        errors = store.errors(report.run_id)
        assert sorted(e.source.rsplit("/", 1)[-1] for e in errors) == sorted(BAD_FILES)
        reasons = {e.source.rsplit("/", 1)[-1]: e.reason for e in errors}
        assert "empty" in reasons["empty.txt"] and "no text" in reasons["blank.txt"]
        assert "binary" in reasons["photo.txt"] and "binary" in reasons["archive.txt"]
        assert "decode" in reasons["lying_bom.txt"] and "decode" in reasons["lying_bom2.md"]
        run = store.history(1)[0]
        assert (run.status, run.n_done, run.n_failed) == ("done", good, len(BAD_FILES))

    assert probe.ticks > 100
    probe.assert_responsive("during the batch")

    # run again: the table of 994 rows is cleared, and every result comes back from the library at once
    with LatencyProbe(5) as probe:
        qtbot.mouseClick(batch.run_button, Qt.LeftButton)
        qtbot.waitUntil(lambda: not batch.running, timeout=600_000)
        qtbot.waitUntil(lambda: batch.history.findData(batch.report.run_id) >= 0, timeout=10_000)
        qtbot.wait(300)
    print(f"run again in {batch.report.seconds:.1f} s: {probe.describe()}")
    assert batch.report.status == "done" and batch.report.reused == good
    assert batch.model.rowCount() == good and len(batch.errors) == len(BAD_FILES)
    probe.assert_responsive("while the batch ran again")

    # a row's document id came with it from the worker: double-clicking the row opens that document
    row = next(r for r in range(batch.model.rowCount()) if batch.model.item(r, 0).text() == "Ticket 7")
    with qtbot.waitSignal(batch.open_requested) as opened:
        batch._open_row(batch.proxy.mapFromSource(batch.model.index(row, 0)))
    with Store(ctx.db_path, readonly=True) as store:
        assert store.load_analysis(opened.args[0]).document.title == "Ticket 7"


def test_cancelling_a_1000_document_batch_never_stalls_the_event_loop(window, ctx, tickets, qtbot):
    batch = _ready(qtbot, window, ctx, tickets)
    with LatencyProbe(5) as probe:
        qtbot.mouseClick(batch.run_button, Qt.LeftButton)
        qtbot.waitUntil(lambda: batch.model.rowCount() >= 200, timeout=120_000)
        assert batch.running and batch.progress.maximum() == 1000 and 0 < batch.progress.value() < 1000
        cancelled_at = time.monotonic()
        qtbot.mouseClick(batch.cancel_button, Qt.LeftButton)
        assert batch.status_label.text() == "Cancelling…" and not batch.cancel_button.isEnabled()
        qtbot.waitUntil(lambda: not batch.running, timeout=5_000)
        latency = time.monotonic() - cancelled_at
        qtbot.waitUntil(lambda: batch.history.currentData() == batch.report.run_id, timeout=10_000)
        qtbot.wait(300)
    print(f"\ncancelled after {latency:.2f} s: {probe.describe()}")

    report = batch.report
    assert latency < 1.0
    assert report.status == "cancelled" and 200 <= report.analyses < N_FILES - len(BAD_FILES)
    assert batch.status_label.text().startswith(f"Cancelled: {report.analyses} analysed")
    assert batch.model.rowCount() == report.analyses  # every stored document has its row, none more
    assert batch.run_button.isEnabled() and not batch.cancel_button.isEnabled()
    assert batch.remaining_label.text() == "Remaining: –"
    assert batch.history.currentText().startswith(f"#{report.run_id} ") and "cancelled" in batch.history.currentText()
    with Store(ctx.db_path, readonly=True) as store:
        assert store.count_documents() == report.analyses
        assert store.history(1)[0].status == "cancelled"
    probe.assert_responsive("during the batch or its cancel")


def test_a_folder_of_1000_unreadable_files_never_stalls_the_event_loop(window, ctx, tmp_path, qtbot):
    """Errors come far faster than results (no model runs for them): each is still recorded and shown."""
    folder = tmp_path / "junk"
    folder.mkdir()
    for i in range(N_FILES):
        (folder / f"junk{i:04d}.txt").write_bytes(b"" if i % 2 else bytes(range(256)) + i.to_bytes(4, "little"))
    batch = _ready(qtbot, window, ctx, folder)
    with LatencyProbe(5) as probe:
        qtbot.mouseClick(batch.run_button, Qt.LeftButton)
        qtbot.waitUntil(lambda: not batch.running, timeout=120_000)
        qtbot.waitUntil(lambda: batch.history.currentData() == batch.report.run_id, timeout=10_000)
        qtbot.wait(300)
    print(f"\n{N_FILES} unreadable files in {batch.report.seconds:.1f} s: {probe.describe()}")
    assert batch.report.status == "done" and batch.report.analyses == 0 and len(batch.report.errors) == N_FILES
    assert batch.error_table.rowCount() == N_FILES and batch.errors_box.title() == f"Errors ({N_FILES})"
    assert batch.error_table.item(N_FILES - 1, 0).text() == f"junk{N_FILES - 1:04d}.txt"  # in the order read
    assert batch.model.rowCount() == 0
    with Store(ctx.db_path, readonly=True) as store:
        assert len(store.errors(batch.report.run_id)) == N_FILES and store.count_documents() == 0
    probe.assert_responsive("while the errors came in")


def test_a_coalescing_op_hands_over_every_result_in_order_and_the_newest_progress(qtbot):
    """What keeps a batch's reports from flooding the event loop (BackgroundOp(coalesce=True))."""
    from app.ui.ops import BackgroundOp

    n = 20_000

    def op(ctx):
        for i in range(n):
            ctx.partial_result(i)
            ctx.progress(i)
        return "done"

    results, progress, done = [], [], []
    op_ = BackgroundOp(None, op, success=done.append, progress=progress.append, partial_result=results.append,
                       coalesce=True).run()
    qtbot.waitUntil(lambda: op_.finished, timeout=60_000)
    assert done == ["done"] and results == list(range(n))  # every piece, in order, before success
    assert progress[-1] == n - 1 and progress == sorted(set(progress))  # the newest, never an older one again
    assert len(progress) < n  # values sent while one waited were replaced, not queued
