"""Hostile model folders: ids and file paths that escape, links, FIFOs, empty digests and bad values are refused.

Each test builds a folder a careful attacker could hand a user ("import this model") and checks that
`models import` / `models verify` refuse it with a ModelError naming the problem, and that nothing is
written outside the models folder or left half-copied inside it.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from app.cli import main
from app.core.errors import ModelError
from app.core.registry import Registry, read_manifest, verify, write_manifest
from tests.core.test_registry import _model_folder


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _rewrite(folder: Path, **changes) -> Path:
    raw = json.loads((folder / "manifest.json").read_text())
    raw.update(changes)
    (folder / "manifest.json").write_text(json.dumps(raw))
    return folder


@pytest.fixture()
def reg(tmp_path):
    user = tmp_path / "home" / "models"
    r = Registry(roots=[user], settings_file=tmp_path / "defaults.json")
    r.user_dir = user
    return r


def _nothing_left(reg: Registry, tmp_path: Path) -> None:
    leftovers = [p for p in tmp_path.rglob("*importing*")]
    assert leftovers == []
    assert not reg.user_dir.exists() or [p.name for p in reg.user_dir.iterdir()] == []


@pytest.mark.parametrize("bad_id", ["../../escaped", "../escaped", "/ABSOLUTE", "a/b", "UPPER", ".hidden", ""])
def test_an_id_that_is_a_path_is_refused_and_nothing_is_written_outside(tmp_path, reg, bad_id):
    src = _model_folder(tmp_path / "src", "m1")
    _rewrite(src, id=bad_id.replace("/ABSOLUTE", str(tmp_path / "ABSOLUTE")))
    with pytest.raises(ModelError, match=r"\bid\b"):
        reg.import_folder(src)
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "home" / "escaped").exists()
    assert not (tmp_path / "ABSOLUTE").exists()
    _nothing_left(reg, tmp_path)


@pytest.mark.parametrize("entry", ["../../../../../../etc/hostname", "/etc/hostname", "sub/../../x", "C:/x", "a\\b"])
def test_file_paths_outside_the_folder_are_refused(tmp_path, reg, entry):
    src = _model_folder(tmp_path / "src", "m1")
    raw = json.loads((src / "manifest.json").read_text())
    raw["files"][entry] = _sha("/etc/hostname") if os.path.exists("/etc/hostname") else "0" * 64
    (src / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="inside the model folder"):
        read_manifest(src)
    with pytest.raises(ModelError):
        reg.import_folder(src)
    _nothing_left(reg, tmp_path)


def test_an_absolute_graph_file_is_refused_so_analysis_never_loads_it(tmp_path, reg):
    outside = _model_folder(tmp_path / "elsewhere", "other")
    src = _model_folder(tmp_path / "src", "m1")
    raw = json.loads((src / "manifest.json").read_text())
    target = str(outside / "model.onnx")
    raw["graphs"]["fp32"]["file"] = target
    raw["files"][target] = _sha(outside / "model.onnx")
    (src / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="graphs.fp32.file.*inside the model folder"):
        read_manifest(src)


def test_a_symlinked_file_is_refused_and_its_target_never_copied(tmp_path, reg):
    secret = tmp_path / "secret.txt"
    secret.write_text("password=hunter2\n")
    src = _model_folder(tmp_path / "src", "m1")
    (src / "notes.txt").symlink_to(secret)
    raw = json.loads((src / "manifest.json").read_text())
    raw["files"]["notes.txt"] = _sha(secret)
    (src / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="symbolic link"):
        reg.import_folder(src)
    with pytest.raises(ModelError, match="symbolic link"):
        verify(read_manifest(src))
    _nothing_left(reg, tmp_path)


def test_a_link_that_is_not_listed_is_not_copied_either(tmp_path, reg):
    secret = tmp_path / "secret.txt"
    secret.write_text("password=hunter2\n")
    src = _model_folder(tmp_path / "src", "m1")
    (src / "notes.txt").symlink_to(secret)
    m = reg.import_folder(src)
    copied = sorted(p.name for p in m.folder.iterdir())
    assert copied == ["manifest.json", "model.onnx", "tokenizer.json"]
    assert all("hunter2" not in p.read_text(errors="replace") for p in m.folder.iterdir())


def _finishes(fn, seconds: float = 20.0):
    """Run fn in a thread; return its exception (or None), failing if it has not finished in time (a hang)."""
    out: dict = {}

    def target():
        try:
            fn()
            out["exc"] = None
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            out["exc"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert "exc" in out, "hung"
    return out["exc"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_listed_as_a_model_file_is_refused_without_hanging(tmp_path, reg):
    src = _model_folder(tmp_path / "src", "m1")
    (src / "tokenizer.json").unlink()
    os.mkfifo(src / "tokenizer.json")
    exc = _finishes(lambda: reg.import_folder(src))
    assert isinstance(exc, ModelError) and "not a regular file" in str(exc)
    _nothing_left(reg, tmp_path)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_link_to_dev_zero_is_refused_without_hanging(tmp_path, reg):
    src = _model_folder(tmp_path / "src", "m1")
    (src / "tokenizer.json").unlink()
    (src / "tokenizer.json").symlink_to("/dev/zero")
    exc = _finishes(lambda: reg.import_folder(src))
    assert isinstance(exc, ModelError) and "symbolic link" in str(exc)
    _nothing_left(reg, tmp_path)


def test_an_empty_digest_is_refused_and_verify_reports_a_tampered_model(tmp_path, monkeypatch, capsys):
    user = tmp_path / "models"
    src = _model_folder(user, "m1")
    raw = json.loads((src / "manifest.json").read_text())
    raw["files"]["tokenizer.json"] = ""
    (src / "manifest.json").write_text(json.dumps(raw))
    (src / "tokenizer.json").write_text('{"tampered": true}')
    with pytest.raises(ModelError, match="files.tokenizer.json"):
        read_manifest(src)
    monkeypatch.setenv("ALBERT_STUDIO_MODELS", str(user))
    code = main(["models", "verify"])
    out = capsys.readouterr().out
    assert code == 1 and "FAILED" in out and "files.tokenizer.json" in out
    assert "ok      m1" not in out


BAD_VALUES = [
    ("max_length", 1e999, "max_length"),
    ("max_length", "lots", "max_length"),
    ("max_length", None, "max_length"),
    ("max_length", 10**12, "max_length"),
    ("max_length", 0, "max_length"),
    ("files", ["model.onnx", "tokenizer.json"], "files"),
    ("labels", 5, "labels"),
    ("graphs", {"fp32": "model.onnx"}, "graphs.fp32"),
    ("version", {"major": 1}, "version"),
    ("tokenizer", "tokenizer.json", "tokenizer"),
]


@pytest.mark.parametrize("key,value,field", BAD_VALUES, ids=[f"{k}={str(v)[:20]}" for k, v, _ in BAD_VALUES])
def test_bad_manifest_values_are_a_model_error_naming_the_field(tmp_path, reg, key, value, field):
    src = _model_folder(tmp_path / "src", "m1")
    text = json.dumps({**json.loads((src / "manifest.json").read_text()), key: value})
    (src / "manifest.json").write_text(text.replace("Infinity", "1e999"))
    with pytest.raises(ModelError, match=rf"invalid manifest: {field}\b"):
        reg.import_folder(src)
    _nothing_left(reg, tmp_path)


def test_json_nested_100000_deep_is_a_model_error(tmp_path, reg):
    src = _model_folder(tmp_path / "src", "m1")
    raw = (src / "manifest.json").read_text()
    (src / "manifest.json").write_text(raw.rstrip().rstrip("}") + ', "deep": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ModelError, match="nested too deeply"):
        reg.import_folder(src)


def test_max_length_beyond_the_graphs_position_table_is_refused_at_import(tiny_models, tmp_path, reg):
    src = tmp_path / "src" / "long-sentiment"
    shutil.copytree(tiny_models / "albert-sentiment-en", src)
    raw = json.loads((src / "manifest.json").read_text())
    raw.update(id="long-sentiment", max_length=2048)  # the tiny graph has 512 positions
    write_manifest(src, raw)
    with pytest.raises(ModelError, match="max_length 2048 is more than graph"):
        reg.import_folder(src)
    _nothing_left(reg, tmp_path)
    raw["max_length"] = 512
    write_manifest(src, raw)
    assert reg.import_folder(src).max_length == 512


def test_cli_import_prints_one_line_naming_the_field(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ALBERT_STUDIO_MODELS", str(tmp_path / "models"))
    src = _rewrite(_model_folder(tmp_path / "src", "m1"), id="../../../tmp/x/ESCAPED")
    assert main(["models", "import", str(src)]) == 1
    err = capsys.readouterr().err
    assert "invalid manifest: id" in err and "Traceback" not in err
    assert not (tmp_path / "tmp").exists()
