"""One bad model folder never makes the app unusable (issue 35, items 6 and 7): a manifest that cannot be
read is listed as broken with its reason and skipped by `models list`, `analyze` and the registry the
window reads; and the manifest schema checks every field a loader reads, so a field of the wrong shape is
refused at import instead of crashing an analysis."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from app.cli import main
from app.core.errors import ModelError
from app.core.manifest_schema import ManifestSchema
from app.core.registry import Registry

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def models(tiny_models, tmp_path, monkeypatch):
    folder = tmp_path / "models"
    shutil.copytree(tiny_models, folder)
    monkeypatch.setenv("ALBERT_STUDIO_MODELS", str(folder))
    return folder


def _bad_copy(models: Path, name: str, edit) -> Path:
    bad = models / name
    shutil.copytree(models / "albert-sentiment-en", bad)
    text = (bad / "manifest.json").read_text()
    (bad / "manifest.json").write_text(edit(text))
    return bad


def test_a_manifest_with_a_5000_digit_integer_is_listed_as_broken_and_the_rest_works(models, tmp_path, capsys):
    huge = "9" * 5000
    _bad_copy(models, "huge-int", lambda t: t.replace('"max_length": ', f'"max_length": {huge}, "was": ', 1))
    _bad_copy(models, "not-json", lambda t: t[: len(t) // 2])
    reg = Registry(roots=[models], settings_file=tmp_path / "defaults.json")
    assert sorted(m.id for m in reg.manifests()) == ["albert-sentiment-en", "albert-summary-en"]
    problems = dict((p.name, why) for p, why in reg.problems())
    assert set(problems) == {"huge-int", "not-json"}
    assert "manifest is not valid JSON" in problems["huge-int"] and "4300 digits" in problems["huge-int"]

    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "albert-sentiment-en" in out and "albert-summary-en" in out
    broken = [line for line in out.splitlines() if line.startswith("broken")]
    assert len(broken) == 2 and any("huge-int" in line and "4300 digits" in line for line in broken)

    doc = tmp_path / "a.txt"
    doc.write_text("Great service. I love it.")
    assert main(["analyze", str(doc), "--no-store", "--tasks", "sentiment"]) == 0
    assert "a.txt" in capsys.readouterr().out


@pytest.mark.parametrize("field, value, message", [
    ("calibration", [1], "calibration: Input should be a valid dictionary"),
    ("calibration", {"temperature": "hot"}, "calibration.temperature: Input should be a valid number"),
    ("neutral_band", {"x": 1}, "neutral_band: Input should be a valid number"),
    ("document_head", {"file": "../x.onnx", "vocab_size": 5, "bigram_buckets": 5}, "document_head.file"),
    ("heads", {"sentence": {"file": "model.onnx", "temperature": -1}}, "heads.sentence.temperature"),
    ("variants", {"fp32": ["encoder"]}, "variants.fp32: Input should be a valid dictionary"),
    ("suppress_token_ids", "all", "suppress_token_ids: Input should be a valid list"),
    ("alternative_to", "../other", "alternative_to: String should match pattern"),
])
def test_a_field_of_the_wrong_shape_is_refused_at_import_naming_it(models, tmp_path, field, value, message):
    source = tmp_path / "incoming"
    shutil.copytree(models / "albert-sentiment-en", source)
    raw = json.loads((source / "manifest.json").read_text())
    raw.update(id="incoming-model", **{field: value})
    (source / "manifest.json").write_text(json.dumps(raw))
    reg = Registry(roots=[models], settings_file=tmp_path / "defaults.json")
    with pytest.raises(ModelError, match="invalid manifest: " + re.escape(message)):
        reg.import_folder(source)
    assert not (models / "incoming-model").exists()


def test_new_manifest_shapes_still_pass(models, tmp_path):
    """Permissive where the lead's models need it: labels in any order, per-set metrics of any shape on a head,
    fields no loader reads."""
    source = tmp_path / "three"
    shutil.copytree(models / "albert-sentiment-en", source)
    raw = json.loads((source / "manifest.json").read_text())
    raw.update(id="three-labels", labels=["negative", "positive", "neutral"], notes={"any": [1, {"shape": None}]},
               calibration={"temperature": 1.2, "fitted_on": "calibration splits", "per_domain": {"imdb": 1.1}})
    (source / "manifest.json").write_text(json.dumps(raw))
    ManifestSchema.model_validate({**raw, "heads": {"sentence": {"file": "model.onnx", "temperature": 1.0,
                                                                 "metrics": {"sst2": {"accuracy": 0.9}}}}})
    reg = Registry(roots=[models], settings_file=tmp_path / "defaults.json")
    assert reg.import_folder(source).labels == ("negative", "positive", "neutral")


def test_every_manifest_field_a_loader_reads_is_in_the_schema():
    read: set[str] = set()
    for path in (REPO / "app" / "core").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        read |= set(re.findall(r"\braw\.get\(\s*\"(\w+)\"", text))
        read |= set(re.findall(r"\braw\[\s*\"(\w+)\"\s*\]", text))
    assert {"calibration", "neutral_band", "document_head", "variants", "targets", "shared_encoder"} <= read
    unchecked = sorted(read - set(ManifestSchema.model_fields) - {"origin", "name"})  # written, not read
    assert unchecked == [], f"fields read by a loader but not checked by the schema: {unchecked}"
