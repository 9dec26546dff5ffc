"""Per-CPU tuning: probed once per graph, CPU, runtime and thread count, cached, and never in the way."""
from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

from app.core import tuning
from app.core.runtime import RuntimeOptions, Session
from tests.fixtures.onnx_graphs import onnx_graph

AVX2_LAPTOP = "processor\t: 0\nmodel name\t: Intel(R) Core(TM) i5-8250U CPU @ 1.60GHz\nflags\t\t: fpu sse2 avx fma avx2\n"
VNNI_DESKTOP = ("processor\t: 0\nmodel name\t: Intel(R) Core(TM) i5-8250U CPU @ 1.60GHz\n"
                "flags\t\t: fpu sse2 avx fma avx2 avx512f avx512_vnni\n")
FAST = 0.2  # probe budget in tests: the choice may be noise, the behaviour is not


@pytest.fixture
def graph(tiny_models, tmp_path):
    """A private copy of the tiny sentiment model's fp32 graph (the smallest real ALBERT graph we have)."""
    dest = tmp_path / "model" / "model.onnx"
    dest.parent.mkdir()
    shutil.copy(tiny_models / "albert-sentiment-en" / "model.onnx", dest)
    return dest


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ALBERT_STUDIO_CACHE", str(tmp_path / "cache"))
    return tuning.TuningCache()


@pytest.fixture
def probes(monkeypatch):
    """Counts real probes (with a short budget)."""
    calls = []
    real = tuning.probe

    def counted(graph, threads, fused_dir, **kw):
        calls.append(graph)
        return real(graph, threads, fused_dir, **{**kw, "budget_s": FAST})

    monkeypatch.setattr(tuning, "probe", counted)
    return calls


def _feeds():
    ids = np.array([[2, 2307, 2326, 1010, 1045, 2293, 2009, 3], [2, 6659, 2326, 3, 0, 0, 0, 0]], dtype=np.int64)
    mask = (np.arange(8)[None, :] < np.array([[8], [4]])).astype(np.int64)
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def _logits(path, **opts):
    return Session(path, RuntimeOptions(device="cpu", tune=False, **opts))(_feeds())["logits"]


def test_cpu_flags_are_read_from_cpuinfo():
    cpu = tuning.read_cpu_info(VNNI_DESKTOP)
    assert cpu.model == "Intel(R) Core(TM) i5-8250U CPU @ 1.60GHz"
    assert cpu.flags == ("avx", "avx2", "avx512_vnni", "avx512f", "fma")
    assert tuning.read_cpu_info(AVX2_LAPTOP).flags == ("avx", "avx2", "fma")


def test_the_key_changes_when_the_model_file_or_the_cpu_flags_change(graph):
    laptop, desktop = tuning.read_cpu_info(AVX2_LAPTOP), tuning.read_cpu_info(VNNI_DESKTOP)
    key = tuning.graph_key(graph, 2, laptop)
    assert tuning.graph_key(graph, 2, laptop) == key
    assert tuning.graph_key(graph, 2, desktop) != key
    assert tuning.graph_key(graph, 4, laptop) != key
    with open(graph, "ab") as f:  # a retrained or damaged model is another file
        f.write(b"\0")
    assert tuning.graph_key(graph, 2, laptop) != key


def test_a_choice_is_reused_without_probing_again_until_the_model_or_cpu_changes(graph, cache, probes):
    laptop = tuning.read_cpu_info(AVX2_LAPTOP)
    first = tuning.choose(graph, 1, cpu=laptop)
    assert first.source == "probed" and len(probes) == 1
    again = tuning.choose(graph, 1, cpu=laptop)
    assert again.source == "cached" and (again.variant, again.level) == (first.variant, first.level)
    assert len(probes) == 1
    tuning.choose(graph, 1, cpu=tuning.read_cpu_info(VNNI_DESKTOP))
    assert len(probes) == 2
    model = onnx_model(graph)
    model.producer_name = "retrained"
    import onnx

    onnx.save(model, str(graph))
    assert tuning.choose(graph, 1, cpu=laptop).source == "probed" and len(probes) == 3
    entry = next(e for e in cache.entries().values() if e["flags"] == list(laptop.flags))
    assert entry["threads"] == 1 and entry["cpu"] == laptop.model and "shipped/all" in entry["timings_ms"]


def onnx_model(path):
    import onnx

    return onnx.load(str(path))


def test_a_corrupt_cache_file_is_ignored_and_rewritten(graph, cache, probes):
    cache.folder.mkdir(parents=True)
    cache.file.write_text('{"version": 1, "entries": {"abc": ', encoding="utf-8")
    assert cache.entries() == {}
    assert tuning.choose(graph, 1).source == "probed"
    assert len(json.loads(cache.file.read_text())["entries"]) == 1
    assert tuning.choose(graph, 1).source == "cached" and len(probes) == 1


def test_without_the_offline_optimizer_the_fused_candidate_is_skipped(graph, cache, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # as where the training extra is not installed
    assert tuning.offline_optimizer() is None
    result = tuning.probe(graph, 1, cache.folder / "graphs", budget_s=FAST)
    assert set(result.timings_ms) == {"shipped/all", "shipped/extended"}
    assert result.variant == "shipped" and "unavailable" in result.note
    assert not (cache.folder / "graphs").exists() or not list((cache.folder / "graphs").iterdir())


def test_the_fused_graph_computes_what_the_shipped_one_does(graph, tmp_path):
    pytest.importorskip("onnx")
    stats = {}
    fused = tuning.fuse_offline(graph, tmp_path / "fused.onnx", stats=stats)
    assert fused is not None and stats  # something was fused (SkipLayerNormalization at least)
    np.testing.assert_allclose(_logits(fused), _logits(graph), atol=1e-4)


def test_the_chosen_configuration_loads_and_gives_the_untuned_outputs(graph, cache, probes):
    tuned = Session(graph, RuntimeOptions(device="cpu", intra_op_threads=1, tune=True))
    assert tuned.tuning is not None and tuned.tuning.source == "probed" and len(probes) == 1
    np.testing.assert_allclose(tuned(_feeds())["logits"], _logits(graph), atol=1e-4)
    later = Session(graph, RuntimeOptions(device="cpu", intra_op_threads=1, tune=True))
    assert later.tuning.source == "cached" and len(probes) == 1


def test_a_fused_choice_is_written_to_the_cache_once_and_loaded_from_there(graph, cache, monkeypatch):
    pytest.importorskip("onnx")
    real = tuning.probe
    calls = []

    def prefer_fused(graph, threads, fused_dir, **kw):  # as on a CPU where fusion wins
        calls.append(graph)
        r = real(graph, threads, fused_dir, **{**kw, "budget_s": FAST})
        if r.discard is not None:
            r.variant, r.level, r.fused_file, r.discard = "fused", "all", r.discard, None
        return r

    monkeypatch.setattr(tuning, "probe", prefer_fused)
    first = Session(graph, RuntimeOptions(device="cpu", intra_op_threads=1, tune=True))
    assert first.tuning.variant == "fused" and first.loaded_path.parent == cache.folder / "graphs"
    second = Session(graph, RuntimeOptions(device="cpu", intra_op_threads=1, tune=True))
    assert second.tuning.source == "cached" and second.loaded_path == first.loaded_path and len(calls) == 1
    assert second.input_names == first.input_names  # the manifest's input check still passes
    np.testing.assert_allclose(second(_feeds())["logits"], _logits(graph), atol=1e-4)
    first.loaded_path.write_bytes(b"not a graph")  # a damaged cache file is not trusted: probe again
    third = Session(graph, RuntimeOptions(device="cpu", intra_op_threads=1, tune=True))
    assert len(calls) == 2 and third.tuning.source == "probed"
    np.testing.assert_allclose(third(_feeds())["logits"], _logits(graph), atol=1e-4)


def test_a_failed_probe_falls_back_to_the_shipped_graph_and_is_remembered(graph, cache, monkeypatch):
    calls = []

    def broken(*a, **kw):
        calls.append(1)
        raise RuntimeError("out of memory in the probe")

    monkeypatch.setattr(tuning, "probe", broken)
    s = Session(graph, RuntimeOptions(device="cpu", intra_op_threads=1, tune=True))
    assert (s.tuning.variant, s.tuning.level, s.loaded_path) == ("shipped", "all", graph)
    assert "out of memory" in s.tuning.note
    np.testing.assert_allclose(s(_feeds())["logits"], _logits(graph), atol=1e-6)
    Session(graph, RuntimeOptions(device="cpu", intra_op_threads=1, tune=True))
    assert len(calls) == 1


def test_a_graph_that_does_not_take_token_ids_is_not_probed(tmp_path, cache):
    shutil.copy(onnx_graph("float_relu"), tmp_path / "scorer.onnx")
    s = Session(tmp_path / "scorer.onnx", RuntimeOptions(device="cpu", tune=True))
    assert s.tuning.variant == "shipped" and "not probed" in s.tuning.note
    assert s({"x": -np.ones((1, 4), np.float32)})["y"].tolist() == [[0, 0, 0, 0]]


def test_tuning_is_off_with_albert_studio_tune_0(graph, cache, monkeypatch):
    monkeypatch.setenv("ALBERT_STUDIO_TUNE", "0")
    assert Session(graph, RuntimeOptions(device="cpu")).tuning is None
    assert not cache.file.exists()
    monkeypatch.setenv("ALBERT_STUDIO_TUNE", "1")
    assert tuning.tuning_enabled(None) and not tuning.tuning_enabled(False)


def test_default_threads_are_the_physical_cores(monkeypatch):
    from app.core.runtime import default_threads

    monkeypatch.delenv("ALBERT_STUDIO_THREADS", raising=False)
    cores = tuning.physical_cores()
    if sys.platform.startswith("linux"):
        assert 1 <= cores <= len(__import__("os").sched_getaffinity(0))
    assert default_threads() == cores
    monkeypatch.setenv("ALBERT_STUDIO_THREADS", "1")
    assert default_threads() == 1


def test_the_cli_shows_and_clears_the_choices(graph, cache, probes, capsys):
    from app.cli import main

    tuning.choose(graph, 1)
    assert main(["tune"]) == 0
    out = capsys.readouterr().out
    assert "model/model.onnx" in out and "shipped/all" in out
    assert main(["tune", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["entries"]) == 1
    assert main(["tune", "--clear"]) == 0
    assert "cleared 1 tuning choice" in capsys.readouterr().out
    assert cache.entries() == {}
