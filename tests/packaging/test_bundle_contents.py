"""What the PyInstaller spec puts in the bundle, checked without building it (the build is packaging/smoke_test.sh)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def helpers(tmp_path, monkeypatch):
    """spec_helpers pointed at a scratch project tree."""
    spec = importlib.util.spec_from_file_location("spec_helpers_under_test", ROOT / "packaging" / "spec_helpers.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "ROOT", tmp_path)
    return mod


def _touch(path: Path, text: str = "x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_every_model_folder_is_bundled_but_not_hidden_or_staging_files(helpers, tmp_path):
    _touch(tmp_path / "models" / "albert-sentiment-en" / "manifest.json")
    _touch(tmp_path / "models" / "albert-sentiment-en" / "model.int8.onnx")
    _touch(tmp_path / "models" / ".staging" / "half-written.onnx")
    _touch(tmp_path / "models" / "albert-mt-en-fr-de" / ".cache" / "tmp")
    _touch(tmp_path / "models" / "albert-mt-en-fr-de" / "manifest.json")
    _touch(tmp_path / "models" / "albert-summary-en.tmp" / "manifest.json")  # an export still being written
    _touch(tmp_path / "models" / "albert-encoder-en" / "model.onnx")  # no manifest (yet): not a model
    _touch(tmp_path / "runs" / "sentiment" / "checkpoint.pt")
    bundled = {Path(src).relative_to(tmp_path).as_posix() for src, _dest in helpers.model_datas()}
    assert bundled == {"models/albert-sentiment-en/manifest.json", "models/albert-sentiment-en/model.int8.onnx",
                       "models/albert-mt-en-fr-de/manifest.json"}
    assert sorted(helpers.model_folders()[1]) == ["albert-encoder-en (no manifest.json)",
                                                 "albert-summary-en.tmp (still being written)"]
    assert {dest for _src, dest in helpers.model_datas()} == {"models/albert-sentiment-en", "models/albert-mt-en-fr-de"}


def test_an_int8_model_ships_without_its_fp32_graph_and_still_verifies(helpers, tmp_path):
    """The bundle runs the CPU provider only: a model whose default graph is int8 leaves model.onnx out, and the
    staged manifest lists exactly what ships (the registry's sha256 check passes); --with-training keeps it."""
    import hashlib
    import json

    from app.core.registry import Registry, verify_files

    folder = tmp_path / "models" / "albert-sentiment-en"
    folder.mkdir(parents=True)
    files = {}
    for name, body in (("model.onnx", b"fp32"), ("model.int8.onnx", b"int8"), ("tokenizer.json", b"{}")):
        (folder / name).write_bytes(body)
        files[name] = hashlib.sha256(body).hexdigest()
    raw = json.loads((ROOT / "models" / "albert-sentiment-en" / "manifest.json").read_text())
    raw.update(files=files, graphs={g: {"file": f, "inputs": ["input_ids", "attention_mask", "token_type_ids"]}
                                    for g, f in (("fp32", "model.onnx"), ("int8", "model.int8.onnx"))},
               default_graph="int8")
    for key in ("heads", "document_head", "encoder_outputs"):
        raw.pop(key, None)
    (folder / "manifest.json").write_text(json.dumps(raw))
    slim = {Path(src).name: dest for src, dest in helpers.model_datas()}
    assert set(slim) == {"model.int8.onnx", "tokenizer.json", "manifest.json"}
    assert set(slim.values()) == {"models/albert-sentiment-en"}
    staged = tmp_path / "build" / "staged-models" / "albert-sentiment-en"
    m = Registry(roots=[staged.parent]).get("albert-sentiment-en")
    verify_files(m)
    assert list(m.graphs) == ["int8"] and "model.onnx" not in m.files
    assert (folder / "model.onnx").exists()  # the repository's folder is untouched
    full = {Path(src).name for src, _dest in helpers.model_datas(keep_fp32=True)}
    assert "model.onnx" in full


def test_resources_are_bundled_without_scripts(helpers, tmp_path):
    _touch(tmp_path / "resources" / "samples" / "review.txt")
    _touch(tmp_path / "resources" / "samples" / "make_docx.py")
    _touch(tmp_path / "resources" / "icons" / "app.png")
    bundled = {Path(src).name for src, _dest in helpers.resource_datas()}
    assert bundled == {"review.txt", "app.png"}


def test_qt_translations_and_unused_plugins_are_stripped(helpers, tmp_path):
    _touch(tmp_path / "resources" / "translations" / "albert_fr.qm")  # the app speaks French: keep Qt's French
    binaries = [("PySide6/Qt/plugins/platforms/libqxcb.so", "/x/libqxcb.so", "BINARY"),
                ("PySide6/Qt/plugins/platforms/libqvnc.so", "/x/libqvnc.so", "BINARY"),
                ("PySide6/Qt/plugins/sqldrivers/libqsqlite.so", "/x/libqsqlite.so", "BINARY"),
                ("PySide6/Qt/plugins/imageformats/libqsvg.so", "/x/libqsvg.so", "BINARY"),
                ("PySide6/Qt/plugins/imageformats/libqpdf.so", "/x/libqpdf.so", "BINARY")]
    datas = [("PySide6/Qt/translations/qtbase_fr.qm", "/x/qtbase_fr.qm", "DATA"),
             ("PySide6/Qt/translations/qtbase_ja.qm", "/x/qtbase_ja.qm", "DATA"),
             ("models/albert-sentiment-en/manifest.json", "/x/manifest.json", "DATA")]
    kept_bin, kept_datas, dropped = helpers.strip_qt(binaries, datas)
    assert [b[0].rsplit("/", 1)[1] for b in kept_bin] == ["libqxcb.so", "libqsvg.so"]
    assert [d[0] for d in kept_datas] == ["PySide6/Qt/translations/qtbase_fr.qm",
                                          "models/albert-sentiment-en/manifest.json"]
    assert len(dropped) == 4


def test_licenses_include_the_lgpl_text_for_pyside6(helpers, tmp_path):
    pytest.importorskip("PySide6")
    out = helpers.license_datas({"PySide6", "onnxruntime", "numpy"}, tmp_path / "build")
    dests = {dest for _src, dest in out}
    names = {(dest.split("/")[1].split("-")[0], Path(src).name) for src, dest in out if dest.count("/") == 1}
    assert any(d.startswith("licenses/PySide6") for d in dests)
    assert ("PySide6_Essentials", "LGPL-3.0.txt") in names or ("PySide6", "LGPL-3.0.txt") in names
    assert any(name == "LICENSE" and pkg == "onnxruntime" for pkg, name in names)
    assert any(d.startswith(f"licenses/Python-{sys.version.split()[0]}") for d in dests)
