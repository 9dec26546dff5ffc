"""Model folders: manifests are validated on load (missing files, wrong hashes, wrong graph inputs)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from app.core.errors import ModelError
from app.core.registry import Registry, read_manifest, verify, write_manifest
from app.core.runtime import choose_providers, length_batches, pad
from tests.fixtures.onnx_graphs import onnx_graph


def _tiny_onnx(path: Path) -> None:
    """A graph taking input_ids and attention_mask (logits = input_ids), from tests/fixtures/onnx."""
    shutil.copy(onnx_graph("ids_identity"), path)


def _model_folder(root: Path, mid="m1", task="sentiment", declared=("input_ids", "attention_mask")) -> Path:
    folder = root / mid
    folder.mkdir(parents=True)
    _tiny_onnx(folder / "model.onnx")
    (folder / "tokenizer.json").write_text("{}")
    write_manifest(folder, {"id": mid, "version": "1.0", "task": task, "labels": ["negative", "positive"],
                            "graphs": {"fp32": {"file": "model.onnx", "inputs": list(declared)}},
                            "files": ["model.onnx", "tokenizer.json"]})
    return folder


def test_valid_folder_verifies(tmp_path):
    m = read_manifest(_model_folder(tmp_path))
    verify(m)
    assert m.task == "sentiment" and m.labels == ("negative", "positive")
    assert len(m.files["model.onnx"]) == 64


def test_missing_file_is_a_clear_error(tmp_path):
    folder = _model_folder(tmp_path)
    (folder / "tokenizer.json").unlink()
    with pytest.raises(ModelError, match="tokenizer.json is missing"):
        verify(read_manifest(folder))


def test_changed_file_fails_the_hash_check(tmp_path):
    folder = _model_folder(tmp_path)
    (folder / "tokenizer.json").write_text('{"changed": true}')
    with pytest.raises(ModelError, match="sha256"):
        verify(read_manifest(folder))


def test_graph_inputs_must_match_manifest(tmp_path):
    folder = _model_folder(tmp_path, declared=("input_ids", "token_type_ids"))
    with pytest.raises(ModelError, match="declares"):
        verify(read_manifest(folder))


def test_bad_manifest_json_and_unknown_task(tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        read_manifest(folder)
    (folder / "manifest.json").write_text(json.dumps({"id": "x", "version": "1", "task": "poetry", "graphs": {"a": {}}, "files": {}}))
    with pytest.raises(ModelError, match="unknown task"):
        read_manifest(folder)
    with pytest.raises(ModelError, match="not a model folder"):
        read_manifest(tmp_path / "nowhere")


def test_registry_defaults_and_import(tmp_path):
    shipped = tmp_path / "shipped"
    _model_folder(shipped, "a")
    _model_folder(shipped, "b")
    user = tmp_path / "user"
    reg = Registry(roots=[shipped, user], settings_file=tmp_path / "defaults.json")
    reg.user_dir = user
    assert reg.default("sentiment").id == "a"
    reg.set_default("sentiment", "b")
    assert reg.default("sentiment").id == "b"
    with pytest.raises(ModelError, match="No installed model for summary"):
        reg.default("summary")
    other = _model_folder(tmp_path / "elsewhere", "c")
    m = reg.import_folder(other)
    assert m.origin == "user" and (user / "c" / "manifest.json").exists()
    assert {x.id for x in reg.manifests()} == {"a", "b", "c"}
    with pytest.raises(ModelError, match="already installed"):
        reg.import_folder(other)
    # a damaged folder is refused and nothing half-copied stays behind
    bad = _model_folder(tmp_path / "bad", "d")
    (bad / "model.onnx").write_bytes(b"garbage")
    with pytest.raises(ModelError):
        reg.import_folder(bad)
    assert not (user / "d").exists()


def test_provider_choice_on_cpu_machine():
    assert choose_providers("cpu") == ["CPUExecutionProvider"]
    assert choose_providers("auto")[-1] == "CPUExecutionProvider"
    with pytest.raises(ModelError, match="device"):
        choose_providers("tpu")


def test_length_batches_cover_every_index_once_and_respect_budget():
    lengths = [5, 300, 7, 120, 6, 250, 9, 8, 60]
    batches = length_batches(lengths, max_tokens=400)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(lengths)))
    for b in batches:
        assert max(lengths[i] for i in b) * len(b) <= 400 or len(b) == 1
    # one document: two 254-token windows and twelve sentences of about 20 tokens
    doc = [254, 254] + [18 + k for k in range(12)]
    parts = length_batches(doc, max_tokens=8192)
    assert sorted(sorted(doc[i] for i in b) for b in parts) == [sorted(doc[2:]), [254, 254]]  # not padded to 254
    assert len(length_batches([10, 12, 15, 20, 25, 30], max_tokens=8192)) == 1  # a little padding is fine
    ids, mask = pad([[1, 2, 3], [4]])
    assert ids.tolist() == [[1, 2, 3], [4, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]


def test_each_shipped_model_states_its_headline_figures():
    from app.core.registry import shipped_models_dir

    reg = Registry(roots=[shipped_models_dir()])
    heads = {m.task: m.headline for m in reg.manifests()}
    assert heads["translation"].startswith("BLEU en→fr ") and "en→de" in heads["translation"]
    assert heads["summary"].startswith("ROUGE-1/2/L ")
    assert heads["sentiment"].startswith("accuracy SST-2 ") and "IMDB" in heads["sentiment"]
    assert heads["encoder"].startswith("agreement with its teacher 0.")


def test_headline_of_a_fine_tuned_model_and_of_a_bare_manifest(tmp_path):
    folder = _model_folder(tmp_path)
    raw = json.loads((folder / "manifest.json").read_text())
    assert read_manifest(folder).headline == ""  # no metrics: nothing to claim
    raw["metrics"] = {"validation": {"accuracy": 0.8125, "macro_f1": 0.8, "n": 48}}
    write_manifest(folder, raw)
    assert read_manifest(folder).headline == "accuracy 81.2%, macro-F1 0.800 (48 held out)"
    raw["metrics"] = {"validation": {"accuracy": "n/a"}}  # hand-written nonsense does not break the list
    write_manifest(folder, raw)
    assert read_manifest(folder).headline == ""


def test_the_default_translator_is_the_documentation_model_and_quotes_its_domains():
    from app.core.registry import Registry, read_manifest, shipped_models_dir

    reg = Registry(roots=[shipped_models_dir()], settings_file=shipped_models_dir() / "no-such-defaults.json")
    assert reg.default("translation", "fr").id == "albert-mt-docs-en-fr-de"
    assert reg.get("albert-mt-en-fr-de").raw["alternative_to"] == "albert-mt-docs-en-fr-de"  # still selectable
    docs = read_manifest(shipped_models_dir() / "albert-mt-docs-en-fr-de")
    assert docs.headline == ("BLEU documentation en→fr 29.9, en→de 17.4; captions 41.3 / 27.6; everyday sentences "
                             "17.5 / 15.1 (int8, beam 4, 300 val sentences)")


def test_a_scan_is_reused_until_a_manifest_changes(tmp_path):
    """A batch asks the registry several times a chunk: the folder is re-read only when a manifest changed
    (its mtime, size or file), never served stale."""
    folder = _model_folder(tmp_path)
    reg = Registry(roots=[tmp_path], settings_file=tmp_path / "d.json")
    first = reg.manifests()
    assert reg.manifests()[0] is first[0]  # cached: the same object, not re-read
    raw = json.loads((folder / "manifest.json").read_text())
    raw["name"] = "renamed model"
    write_manifest(folder, raw)
    assert reg.manifests()[0].name == "renamed model"
    shutil.rmtree(folder)
    assert reg.manifests() == []
