"""Batches on a local Ray runtime: the local engine's results, in order; library reuse; a killed worker; bad models."""
from __future__ import annotations

import os
import shutil
import signal
import sys

import pytest
import ray

from app.core.analyzer import AnalysisOptions, Analyzer
from app.core.registry import Registry
from app.core.store import Store
from app.jobs.batch import run_batch
from app.jobs.cluster import ClusterError, ClusterOptions, read_results, run_cluster_batch

pytestmark = pytest.mark.slow  # a real local Ray runtime starts per test

OPTS = AnalysisOptions(tasks=("sentiment", "summary"))
SCORE_TOLERANCE = 0.1  # int8 scales activations per batch (dynamic quantization): another batch make-up moves a
# score (the tiny random models are the most sensitive: up to 0.062 measured between a shard and the whole run);
# labels, sentence labels and summaries must still be equal. Static activation scales would remove it.


@pytest.fixture(scope="module")
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def make_folder(root, n_files=30, n_rows=40):
    """Text files, a broken PDF, an empty file, and a table big enough to be cut into spans."""
    d = root / "docs"
    (d / "sub").mkdir(parents=True)
    for i in range(n_files):
        mood = "wonderful, I love it" if i % 2 else "terrible, a broken mess"
        (d / f"note{i:02d}.txt").write_text(f"Note {i}. The service was {mood}. We met on day {i}.")
    (d / "sub" / "b.md").write_text("# Notes\n\nThe package arrived broken. Nobody answered my emails.")
    (d / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (d / "empty.txt").write_text("   ")
    rows = "".join(f'{k},"Ticket {k}: the order was {"great" if k % 3 else "awful"}.\nSecond line."\n'
                   for k in range(n_rows))
    (d / "tickets.csv").write_text("id,text\n" + rows + f"{n_rows},\n")  # the last row has no text
    return d


@pytest.fixture()
def analyzer(tiny_models, tmp_path):
    return Analyzer(registry=Registry(roots=[tiny_models], settings_file=tmp_path / "d.json"))


def collect(runner, *args, **kw):
    out = []
    report = runner(*args, on_result=out.append, on_error=lambda s, r: out.append((s, r)), **kw)
    return report, out


def assert_same(local, cluster):
    assert [x[0] if isinstance(x, tuple) else x.document.source for x in cluster] == \
           [x[0] if isinstance(x, tuple) else x.document.source for x in local]
    for a, b in zip(local, cluster):
        if isinstance(a, tuple):
            assert a == b
            continue
        assert b.sentiment.label == a.sentiment.label
        assert abs(b.sentiment.score - a.sentiment.score) < SCORE_TOLERANCE
        assert [s.label for s in b.sentiment.sentences] == [s.label for s in a.sentiment.sentences]
        assert b.summary.text == a.summary.text
        assert b.document.text == a.document.text and b.document.title == a.document.title


def test_ray_gives_the_local_engines_results_in_order_and_merges_them(local_ray, analyzer, tmp_path):
    folder = make_folder(tmp_path)
    local_store, ray_store = Store(tmp_path / "local.db"), Store(tmp_path / "ray.db")
    rep_local, local = collect(run_batch, [folder], analyzer, local_store, OPTS)
    progress = []
    rep, got = collect(run_cluster_batch, [folder], analyzer, ray_store, OPTS, out=tmp_path / "out",
                       cluster=ClusterOptions(workers=2, shard_documents=8), progress=progress.append)
    assert rep.status == "done" and rep.shards >= 8 and len(rep.workers) == 2
    assert_same(local, got)
    assert rep.analyses == rep_local.analyses == 71 and rep.errors == rep_local.errors
    assert {s.split("/")[-1] for s, _ in rep.errors} == {"broken.pdf", "empty.txt", "tickets.csv#41"}
    # the output folder holds every document once, in input order; the library the same rows as locally
    rows = list(read_results(rep.out))
    assert [r["source"] for r in rows] == [x[0] if isinstance(x, tuple) else x.document.source for x in local]
    assert ray_store.count_documents() == local_store.count_documents() == 71
    assert [(e.source, e.reason) for e in ray_store.errors(rep.run_id)] == rep_local.errors
    assert ray_store.history()[0].status == "done"
    assert progress[-1].files_done == progress[-1].files_total == rep.shards
    assert progress[-1].documents_total == 74 and progress[-1].documents_done == 71

    # the same command again: every shard is already committed, nothing is sent to the cluster
    rep2, again = collect(run_cluster_batch, [folder], analyzer, ray_store, OPTS, out=tmp_path / "out",
                          cluster=ClusterOptions(workers=2, shard_documents=8))
    assert rep2.shards_done_before == rep2.shards == rep.shards and not rep2.workers
    assert_same(local, again)
    local_store.close()
    ray_store.close()


def test_texts_already_in_the_library_are_not_analysed_again(local_ray, analyzer, tmp_path):
    folder = make_folder(tmp_path, n_files=6, n_rows=4)
    store = Store(tmp_path / "lib.db")
    run_batch([folder / "note00.txt", folder / "note01.txt", folder / "tickets.csv"], analyzer, store, OPTS)
    rep, got = collect(run_cluster_batch, [folder], analyzer, store, OPTS, out=tmp_path / "out",
                       cluster=ClusterOptions(workers=1, shard_documents=4))
    rows = {r["source"]: r for r in read_results(rep.out)}
    reused = sorted(s.split("/")[-1] for s, r in rows.items() if r.get("reused"))
    assert reused == ["note00.txt", "note01.txt"] + [f"tickets.csv#{k}" for k in range(1, 5)]
    assert rep.reused == 6 and rep.analyses == 11
    # reused documents still come back whole, with the stored results
    by_source = {a.document.source: a for a in got if not isinstance(a, tuple)}
    assert by_source[str(folder / "note01.txt")].sentiment is not None
    assert store.count_documents() == 11
    store.close()


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(local_ray, analyzer, tmp_path):
    folder = make_folder(tmp_path, n_files=60, n_rows=60)
    store = Store(tmp_path / "lib.db")
    killed = []

    def kill_first(summary):
        if not killed:  # the actor that finished the first shard has more queued: kill it now
            killed.append(summary["pid"])
            os.kill(summary["pid"], signal.SIGKILL)

    rep, got = collect(run_cluster_batch, [folder], analyzer, store, OPTS, out=tmp_path / "out",
                       cluster=ClusterOptions(workers=2, shard_documents=6), on_shard=kill_first)
    assert killed and rep.status == "done"
    with pytest.raises(ProcessLookupError):
        os.kill(killed[0], 0)
    sources = [r["source"] for r in read_results(rep.out)]
    expected = run_batch([folder], analyzer, None, OPTS)
    assert len(sources) == len(set(sources)) == expected.analyses + len(expected.errors)
    assert rep.analyses == expected.analyses and rep.errors == expected.errors
    assert store.count_documents() == expected.analyses
    store.close()


@pytest.mark.parametrize("damage", ["tampered", "missing"])
def test_a_worker_whose_model_differs_fails_with_a_clear_message(local_ray, analyzer, tiny_models, tmp_path,
                                                                 damage):
    worker_models = tmp_path / "worker-models"  # what the workers have installed on their node
    shutil.copytree(tiny_models / "albert-summary-en", worker_models / "albert-summary-en")
    graph = next((worker_models / "albert-summary-en").glob("*.onnx"))
    if damage == "tampered":
        with open(graph, "ab") as f:
            f.write(b"\0")
    else:
        graph.unlink()
    folder = make_folder(tmp_path, n_files=3, n_rows=2)
    env = {"env_vars": {"ALBERT_STUDIO_MODELS": str(worker_models)}}
    with pytest.raises(ClusterError) as exc:
        run_cluster_batch([folder], analyzer, None, OPTS, out=tmp_path / "out",
                          cluster=ClusterOptions(workers=1, runtime_env=env))
    msg = str(exc.value)
    assert msg.startswith("worker ") and "albert-summary-en" in msg and graph.name in msg
    assert ("sha256 does not match" if damage == "tampered" else "is missing") in msg
    assert not list((tmp_path / "out").glob("shard-*.jsonl"))


def test_without_ray_installed_the_message_says_how_to_get_it(analyzer, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets when Ray is not installed
    folder = make_folder(tmp_path, n_files=1, n_rows=1)
    with pytest.raises(ClusterError, match=r"pip install 'albert-studio\[cluster\]'"):
        run_cluster_batch([folder], analyzer, None, OPTS, out=tmp_path / "out")


def test_cancel_stops_between_shards_and_the_same_batch_resumes(local_ray, analyzer, tmp_path):
    folder = make_folder(tmp_path, n_files=40, n_rows=40)
    store = Store(tmp_path / "lib.db")
    seen = []
    rep = run_cluster_batch([folder], analyzer, store, OPTS, out=tmp_path / "out", on_shard=seen.append,
                            cluster=ClusterOptions(workers=2, shard_documents=4), cancelled=lambda: len(seen) >= 2)
    committed = sorted(p.name for p in (tmp_path / "out").glob("shard-*.jsonl"))
    assert rep.status == "cancelled" and 2 <= len(committed) < rep.shards
    assert store.history()[0].status == "cancelled"
    assert store.count_documents() == rep.analyses <= 4 * len(committed)  # merged: committed shards, in order

    rep2, got = collect(run_cluster_batch, [folder], analyzer, store, OPTS, out=tmp_path / "out",
                        cluster=ClusterOptions(workers=2, shard_documents=4))
    assert rep2.status == "done" and rep2.shards_done_before >= len(committed)
    sources = [r["source"] for r in read_results(rep2.out)]
    assert len(sources) == len(set(sources)) == len(got) == 84
    assert store.count_documents() == 81
    store.close()


def test_a_summary_only_worker_gets_the_encoder_its_summary_model_reads(tmp_path):
    """The shipped summary model is heads on the sentiment model's encoder: a `--tasks summary` Ray run must send
    that model to the workers too; each one failed with "No installed model 'albert-sentiment-xx'" before."""
    from dataclasses import asdict

    from app.core.analyzer import AnalysisOptions
    from app.jobs.cluster import Shard, ShardWorker, _model_specs, analyse_shard

    analyzer = Analyzer(registry=Registry())  # the shipped models
    opts = AnalysisOptions(tasks=("summary",))
    assert analyzer.manifest_for("summary").raw.get("shared_encoder")
    job = {"models": _model_specs(analyzer, opts), "cpus_per_worker": 1, "device": "cpu",
           "options": asdict(opts), "out": str(tmp_path)}
    worker = ShardWorker(job)  # what each Ray actor builds: loads the task models on its node
    doc = tmp_path / "report.txt"
    doc.write_text("The council met on Tuesday. It agreed to spend more on schools. The vote is next month. "
                   "Parks get a new budget too.", encoding="utf-8")
    (row,) = analyse_shard(Shard(0, (str(doc),), None, 1), worker.analyzer, worker.options, None)
    assert row["summary"]["sentences"] and {m["task"] for m in row["models"]} == {"summary"}


def test_a_shard_row_keeps_the_language_the_classifications_and_an_abstractive_summary():
    """What a Ray worker commits is what the driver merges into the library: the document's language and the
    classifiers' results were left out of the row (a Ray run stored neither), unlike the local engine."""
    import json

    from app.core.types import (Analysis, ClassificationResult, Document, DocumentLanguage, LanguageSpan,
                                ModelInfo, SentenceLabel, Summary, SummarySentence)
    from app.jobs.cluster import analysis_row, row_analysis

    text = "The council met. Le conseil s'est réuni."
    a = Analysis(Document("/d/council.txt", text, content_hash="c1"),
                 summary=Summary((SummarySentence("The council met twice.", 0.5, -1, 0, len(text)),), abstractive=True),
                 models=(ModelInfo("distilbart-cnn", "1.0.0", "summary"), ModelInfo("topics", "1.0.0", "classification")),
                 language=DocumentLanguage("en", 0.93, True, (LanguageSpan(17, len(text), "fr", 0.88),)),
                 classifications=(ClassificationResult("topic", "politics", 0.8, (("politics", 0.8), ("sport", 0.2)),
                                                       (SentenceLabel("The council met.", "politics", 0.7, 0, 16),)),))
    back = row_analysis(json.loads(json.dumps(analysis_row(a))))  # as the shard file holds it
    assert back.language == a.language and back.classifications == a.classifications
    assert back.summary == a.summary and back.models == a.models
