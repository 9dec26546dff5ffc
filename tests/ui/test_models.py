"""The Models view: listing, choosing the default per task, importing, and the device setting."""
from __future__ import annotations

import json
import shutil

from app.core.registry import write_manifest
from tests.ui.conftest import SAMPLES


def _copy_model(src, dest, model_id, version="2.0.0"):
    shutil.copytree(src, dest)
    raw = json.loads((dest / "manifest.json").read_text())
    raw.update(id=model_id, version=version, files=list(raw["files"]))
    write_manifest(dest, raw)
    return dest


def test_models_view_lists_installed_models(window, ctx):
    view = window.models
    ids = [view.table.item(r, 0).text() for r in range(view.table.rowCount())]
    assert ids == ["albert-sentiment-en", "albert-summary-en"]
    row = ids.index("albert-sentiment-en")
    assert view.table.item(row, 2).text() == "sentiment"
    assert view.table.item(row, 3).text() == "en"
    assert view.table.item(row, 4).text().endswith("MB")
    assert "sst2_accuracy 0.5" in view.table.item(row, 5).text()
    assert view.table.item(row, 6).text() == "shipped"
    assert view.table.item(row, 7).text() == "✓"
    view.table.selectRow(row)
    assert "Tiny random model for tests" in view.card.toPlainText()
    assert "Apache-2.0" in view.card.toPlainText()


def test_switching_the_default_model_changes_what_analyses(window, ctx, tiny_models, tmp_path, wait_op):
    _copy_model(tiny_models / "albert-sentiment-en", tiny_models / "albert-sentiment-alt", "albert-sentiment-alt")
    try:
        view = window.models
        view.refresh()
        combo = view.default_combos["sentiment"]
        combo.setCurrentIndex(combo.findData("albert-sentiment-alt"))
        assert ctx.registry.default("sentiment").id == "albert-sentiment-alt"
        ids = [view.table.item(r, 0).text() for r in range(view.table.rowCount())]
        assert view.table.item(ids.index("albert-sentiment-alt"), 7).text() == "✓"
        assert view.table.item(ids.index("albert-sentiment-en"), 7).text() == ""

        wait_op(window.open_file(str(SAMPLES / "glowing_review.txt")))
        assert "albert-sentiment-alt 2.0.0" in window.document.details.value("Models")
    finally:
        shutil.rmtree(tiny_models / "albert-sentiment-alt")


def test_importing_a_model_folder_validates_it(window, ctx, tiny_models, tmp_path, monkeypatch, wait_op):
    ctx.registry.user_dir = tmp_path / "user-models"
    ctx.registry.roots = [*ctx.registry.roots, ctx.registry.user_dir]
    good = _copy_model(tiny_models / "albert-summary-en", tmp_path / "incoming", "albert-summary-mine", "0.1.0")
    wait_op(window.models.import_folder(str(good)))
    ids = [window.models.table.item(r, 0).text() for r in range(window.models.table.rowCount())]
    assert "albert-summary-mine" in ids
    assert window.models.table.item(ids.index("albert-summary-mine"), 6).text() == "user"
    assert "Imported albert-summary-mine" in window.banner.text()

    broken = _copy_model(tiny_models / "albert-summary-en", tmp_path / "broken", "albert-summary-broken")
    (broken / "scorer.onnx").write_bytes(b"damaged")
    wait_op(window.models.import_folder(str(broken)))
    assert "damaged" in window.banner.text() or "sha256" in window.banner.text()
    ids = [window.models.table.item(r, 0).text() for r in range(window.models.table.rowCount())]
    assert "albert-summary-broken" not in ids


def test_device_setting_shows_what_onnx_runtime_uses(window, ctx, settings, wait_op):
    from app.core.runtime import available_providers

    view = window.models
    view.set_device("auto")
    assert ctx.device == "auto" and ctx.analyzer.runtime.device == "auto"
    view.set_device("cpu")
    assert ctx.device == "cpu" and ctx.analyzer.runtime.device == "cpu"
    assert window.device_label.text() == "Device: cpu"
    wait_op(window.open_file(str(SAMPLES / "glowing_review.txt")))
    assert window.device_label.text() == "Device: cpu (running on CPU)"
    assert settings.value("device") == "cpu"
    wait_op(view.check_device())
    assert view.in_use.text() == "In use: sentiment on CPUExecutionProvider, summary on CPUExecutionProvider"
    gpu = view.device.model().item(view.device.findData("cuda"))
    assert gpu.isEnabled() == ("CUDAExecutionProvider" in available_providers())
