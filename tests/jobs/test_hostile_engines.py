"""The Ray engine keeps the local engine's promises (issue 35, items 3, 4, 5, 10): the same hostile corpus
gives the same refusals through both engines (with --max-chars), one bad JSONL row is that row's error,
a header-only table is an error, and a cluster that fails mid-run still merges every committed shard and
ends "failed" with the reason."""
from __future__ import annotations

import pytest

ray = pytest.importorskip("ray")

from app.core.analyzer import AnalysisOptions, Analyzer  # noqa: E402
from app.core.registry import Registry  # noqa: E402
from app.core.store import Store  # noqa: E402
from app.jobs import cluster as cluster_mod  # noqa: E402
from app.jobs.batch import run_batch  # noqa: E402
from app.jobs.cluster import ClusterError, ClusterOptions, read_shard, run_cluster_batch  # noqa: E402
from tests.test_hostile_inputs import docx_entries, heavy_pdf, lying_zip  # noqa: E402

OPTS = AnalysisOptions(tasks=("sentiment",))
MAX_CHARS = 300


@pytest.fixture(scope="module")
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture()
def analyzer(tiny_models, tmp_path):
    return Analyzer(registry=Registry(roots=[tiny_models], settings_file=tmp_path / "d.json"))


def hostile_corpus(root):
    d = root / "hostile"
    d.mkdir()
    (d / "a_ok.txt").write_text("The service was wonderful. I love it.")
    (d / "b_long.txt").write_text("A long sentence about the weather today. " * 20)  # 820 > MAX_CHARS
    deep = "[" * 100_000 + "]" * 100_000
    (d / "c_deep.jsonl").write_text('{"text": "Great value."}\n{"text": ' + deep + '}\n{"text": "Awful support."}\n'
                                    + '{"text": "ok", "n": ' + "9" * 5000 + "}\n")
    (d / "d_header.csv").write_text("id,text\n")
    (d / "e_bomb.docx").write_bytes(lying_zip(docx_entries("Small."), "word/document.xml", 200))
    heavy_pdf(d / "f_shared.pdf", 1000, 20_000)
    (d / "g_cell.csv").write_text("id,text\n1,Fine.\n2," + "word " * 100 + "\n")
    return d


def outcome(report, got):
    return (report.status, report.analyses, sorted((s.rsplit("/", 1)[1], r) for s, r in report.errors),
            [x[0].rsplit("/", 1)[1] if isinstance(x, tuple) else x.document.source.rsplit("/", 1)[1] for x in got])


def test_the_same_hostile_corpus_gives_the_same_refusals_through_both_engines(local_ray, analyzer, tmp_path):
    folder = hostile_corpus(tmp_path)
    runs = {}
    for engine, runner, extra in (("local", run_batch, {}),
                                  ("ray", run_cluster_batch, {"out": tmp_path / "out",
                                                              "cluster": ClusterOptions(workers=2, shard_documents=2)})):
        got = []
        report = runner([folder], analyzer, Store(tmp_path / f"{engine}.db"), OPTS, max_chars=MAX_CHARS,
                        on_result=got.append, on_error=lambda s, r, got=got: got.append((s, r)), **extra)
        runs[engine] = outcome(report, got)
    assert runs["ray"] == runs["local"]
    status, analyses, errors, order = runs["local"]
    assert status == "done" and analyses == 4  # a_ok, c_deep#1 and #3, g_cell#1
    reasons = dict(errors)
    assert reasons["b_long.txt"].startswith(f"too long: 820 characters, limit {MAX_CHARS:,}")
    assert reasons["c_deep.jsonl#2"].startswith("refused: the JSON nests deeper than the reader allows")
    assert reasons["c_deep.jsonl#4"].startswith("refused: a number of more than 4,300 digits")
    assert reasons["d_header.csv"] == "no rows to analyse (only a header line)"
    assert reasons["e_bomb.docx"].startswith("refused: compression ratio over 100:1")
    assert reasons["f_shared.pdf"].startswith("refused: its pages draw more than 32.0 MB")
    assert reasons["g_cell.csv#2"].startswith(f"too long: 500 characters, limit {MAX_CHARS:,}")
    assert order[:4] == ["a_ok.txt", "b_long.txt", "c_deep.jsonl#1", "c_deep.jsonl#2"]


def test_a_cluster_failing_mid_run_merges_committed_shards_and_records_why(local_ray, analyzer, tmp_path,
                                                                           monkeypatch):
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(12):
        (folder / f"n{i:02d}.txt").write_text(f"Note {i}. The service was {'great' if i % 2 else 'awful'}.")
    out = tmp_path / "out"
    real = cluster_mod._pipeline
    lost = []

    def dies_after_two(*args, **kwargs):
        """The workers commit every shard; two summaries reach the driver, one shard file is lost (its worker
        died before the rename), then the cluster breaks down as a killed Ray component makes it."""
        summaries = list(real(*args, **kwargs))
        yield from summaries[:2]
        lost.append(next(s["index"] for s in summaries[2:] if s["index"] not in (0, 5)))  # a gap in the middle
        (out / cluster_mod.shard_name(lost[0])).unlink()
        raise RuntimeError("The actor died unexpectedly before finishing this task.\n"
                           "  class_name: ray::DashboardAgent\n  (a Ray traceback follows)")

    monkeypatch.setattr(cluster_mod, "_pipeline", dies_after_two)
    store = Store(tmp_path / "lib.db")
    with pytest.raises(ClusterError) as caught:
        run_cluster_batch([folder], analyzer, store, OPTS, out=out, cluster=ClusterOptions(workers=2, shard_documents=2))
    message = str(caught.value)
    assert message == ("the cluster stopped mid-run (RuntimeError: The actor died unexpectedly before finishing this "
                       "task.); 5 of 6 shards are saved and in the library; run the same batch again to finish the "
                       "other 1 (saved shards are not redone)")
    rows = [r for p in sorted(out.glob("shard-*.jsonl")) for r in read_shard(p)]
    assert len(rows) == 10
    (run,) = store.history()
    assert (run.status, run.n_done) == ("failed", 10)
    assert store.count_documents() == 10  # every committed shard merged, after the gap too
    assert [e.reason for e in store.errors()] == [message]

    monkeypatch.setattr(cluster_mod, "_pipeline", real)  # the same batch again: only the lost shard is redone
    done = []
    report = run_cluster_batch([folder], analyzer, store, OPTS, out=out, on_shard=done.append,
                               cluster=ClusterOptions(workers=2, shard_documents=2))
    assert report.status == "done" and report.shards_done_before == 5
    assert [s["index"] for s in done] == lost
    assert store.count_documents() == 12
    store.close()


def test_the_cli_hands_max_chars_to_the_cluster(local_ray, tiny_models, tmp_path, monkeypatch, capsys):
    from app.cli import main

    monkeypatch.setenv("ALBERT_STUDIO_MODELS", str(tiny_models))
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a_ok.txt").write_text("The service was wonderful. I love it.")
    (folder / "b_long.txt").write_text("A long sentence about the weather today. " * 20)
    rc = main(["analyze", str(folder), "--engine", "ray", "--max-chars", str(MAX_CHARS), "--out", str(tmp_path / "out"),
               "--db", str(tmp_path / "lib.db"), "--tasks", "sentiment", "--shard-documents", "1"])
    err = capsys.readouterr().err
    assert rc == 3, err  # some errors
    assert f"error: {folder / 'b_long.txt'}: too long: 820 characters, limit {MAX_CHARS:,}" in err
    assert "1 analysed (0 reused from the library), 1 errors" in err
