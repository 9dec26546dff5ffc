"""Loading a task model: one table from task to class, hashes checked once, no session opened only to check."""
from __future__ import annotations

import hashlib
import json
import shutil

import onnxruntime
import pytest

from app.core import model_files
from app.core.errors import ModelError
from app.core.registry import Registry, read_manifest, write_manifest
from app.core.runtime import RuntimeOptions
from app.core.sentiment import SentimentModel
from app.core.summary import Summarizer
from app.core.task_model import load_task_model


@pytest.fixture()
def registry(tiny_models, tmp_path):
    return Registry(roots=[tiny_models], settings_file=tmp_path / "defaults.json")


@pytest.fixture()
def counted(monkeypatch):
    """How many files were hashed and how many ONNX Runtime sessions were opened."""
    counts = {"hashed": 0, "sessions": 0}
    real_sha, real_session = hashlib.sha256, onnxruntime.InferenceSession

    def sha256(*args):
        counts["hashed"] += 1
        return real_sha(*args)

    def session(*args, **kw):
        counts["sessions"] += 1
        return real_session(*args, **kw)

    monkeypatch.setattr(model_files.hashlib, "sha256", sha256)
    monkeypatch.setattr(onnxruntime, "InferenceSession", session)
    return counts


def test_each_task_gets_its_class(registry):
    assert isinstance(load_task_model(registry.default("sentiment")), SentimentModel)
    assert isinstance(load_task_model(registry.default("summary")), Summarizer)


def test_a_second_load_does_not_hash_again_and_no_session_is_opened_only_to_check(tiny_models, tmp_path, counted):
    folder = tmp_path / "albert-sentiment-en"
    shutil.copytree(tiny_models / "albert-sentiment-en", folder)  # a path no other test has hashed
    manifest = read_manifest(folder)

    first = load_task_model(manifest, RuntimeOptions(device="cpu"))
    assert counted["hashed"] == len(manifest.files)
    assert counted["sessions"] == 1 + (first.document_head is not None)  # the model's own graphs only

    load_task_model(manifest, RuntimeOptions(device="cpu"))
    assert counted["hashed"] == len(manifest.files)


def test_a_changed_file_is_hashed_again_and_refused(tiny_models, tmp_path):
    folder = tmp_path / "albert-sentiment-en"
    shutil.copytree(tiny_models / "albert-sentiment-en", folder)
    load_task_model(read_manifest(folder))
    with open(folder / "tokenizer.json", "a", encoding="utf-8") as fh:
        fh.write(" ")
    with pytest.raises(ModelError, match="sha256"):
        load_task_model(read_manifest(folder))


def test_the_graph_check_runs_on_the_models_own_session(tiny_models, tmp_path):
    folder = tmp_path / "albert-sentiment-en"
    shutil.copytree(tiny_models / "albert-sentiment-en", folder)
    raw = json.loads((folder / "manifest.json").read_text())
    graph = raw["default_graph"]
    raw["graphs"][graph]["inputs"] = ["input_ids", "pixel_values"]
    write_manifest(folder, raw)
    with pytest.raises(ModelError, match="declares"):
        load_task_model(read_manifest(folder))


def test_the_device_asked_for_reaches_the_session(registry, monkeypatch):
    from app.core import runtime

    asked = []
    monkeypatch.setattr(runtime, "choose_providers", lambda device: asked.append(device) or ["CPUExecutionProvider"])
    load_task_model(registry.default("sentiment"), RuntimeOptions(device="cuda"))
    assert asked and set(asked) == {"cuda"}


def test_an_encoder_is_not_an_analysis_model(registry, tmp_path):
    folder = tmp_path / "enc"
    folder.mkdir()
    (folder / "vocab.txt").write_text("x")
    write_manifest(folder, {"id": "enc", "version": "1", "task": "encoder", "graphs": {}, "files": ["vocab.txt"],
                            "tokenizer": {"type": "wordpiece", "file": "vocab.txt"}})
    with pytest.raises(ModelError, match="only sentiment, summary, translation"):
        load_task_model(read_manifest(folder))
