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
    assert len(view.table.item(row, 5).text()) == 10  # the date it was installed, YYYY-MM-DD
    assert "sst2_accuracy 0.5" in view.table.item(row, 6).text()
    assert view.table.item(row, 7).text() == "shipped"
    assert view.table.item(row, 8).text() == "✓"
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
        assert view.table.item(ids.index("albert-sentiment-alt"), 8).text() == "✓"
        assert view.table.item(ids.index("albert-sentiment-en"), 8).text() == ""

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
    assert window.models.table.item(ids.index("albert-summary-mine"), 7).text() == "user"
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
    assert view.in_use.text() == "In use: CPU (sentiment, summary)"  # grouped by provider, short: fits at 1024x768
    gpu = view.device.model().item(view.device.findData("cuda"))
    assert gpu.isEnabled() == ("CUDAExecutionProvider" in available_providers())


def test_only_providers_that_run_here_are_listed(window):
    text = window.models.available.text()
    assert text.startswith("Can run on: ") and "CPU" in text
    assert "Azure" not in text and "Azure" not in window.models.available.toolTip()


def test_user_models_can_be_renamed_and_removed_shipped_ones_cannot(window, ctx, tiny_models, tmp_path, wait_op):
    from PySide6.QtWidgets import QMessageBox

    ctx.registry.user_dir = tmp_path / "user-models"
    ctx.registry.roots = [*ctx.registry.roots, ctx.registry.user_dir]
    src = _copy_model(tiny_models / "albert-sentiment-en", tmp_path / "incoming", "my-tickets", "1")
    view = window.models
    wait_op(view.import_folder(str(src)))
    ids = [view.table.item(r, 0).text() for r in range(view.table.rowCount())]
    view.table.selectRow(ids.index("albert-sentiment-en"))
    assert not view.rename_button.isEnabled() and not view.remove_button.isEnabled()
    view.table.selectRow(ids.index("my-tickets"))
    assert view.rename_button.isEnabled() and view.remove_button.isEnabled()

    dlg = view._rename_dialog()
    dlg.setTextValue("Support tickets (March)")
    dlg.accept()
    assert ctx.registry.get("my-tickets").name == "Support tickets (March)"
    assert "Support tickets (March)" in view.table.item(ids.index("my-tickets"), 0).toolTip()

    view.set_default("sentiment", "my-tickets")
    view.table.selectRow([view.table.item(r, 0).text() for r in range(view.table.rowCount())].index("my-tickets"))
    box = view._remove_dialog()
    assert "Support tickets (March)" in box.text()
    box.button(QMessageBox.Cancel).click()
    assert "my-tickets" in [m.id for m in ctx.registry.manifests()]
    box = view._remove_dialog()
    next(b for b in box.buttons() if b.text() == "Remove").click()
    assert "my-tickets" not in [m.id for m in ctx.registry.manifests()]
    assert not (ctx.registry.user_dir / "my-tickets").exists()
    assert ctx.registry.default("sentiment").id == "albert-sentiment-en"  # analyses fall back to the shipped one
    wait_op(window.open_file(str(SAMPLES / "glowing_review.txt")))
    assert "albert-sentiment-en" in window.document.details.value("Models")


def test_the_window_and_the_cli_show_the_same_sizes_and_defaults(qtbot, tmp_path, monkeypatch, settings):
    """Issue 34: the window said 125.7 MB (MiB, really) where `models list` said 131.8 MB, and only the CLI
    marked the encoder as the default. Both read the shipped models here, with an empty user folder."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from app.core.registry import Registry, shipped_models_dir
    from app.ui.context import AppContext
    from app.ui.models_view import ModelsView

    user = tmp_path / "user-models"
    user.mkdir()
    monkeypatch.setenv("ALBERT_STUDIO_MODELS", str(user))
    reg = Registry()
    if not reg.for_task("encoder"):
        import pytest

        pytest.skip("no shipped encoder in models/")
    ctx = AppContext(tmp_path / "library.db", reg, "cpu")
    try:
        view = ModelsView(ctx)
        qtbot.addWidget(view)
        window_rows = {view.table.item(r, 0).text(): (view.table.item(r, 4).text(), view.table.item(r, 8).text() == "✓")
                       for r in range(view.table.rowCount())}
    finally:
        ctx.close()
    out = subprocess.run([sys.executable, "-m", "app", "models", "list"], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[2], env=dict(os.environ, ALBERT_STUDIO_MODELS=str(user)))
    assert out.returncode == 0, out.stderr
    cli_rows = {}
    for line in out.stdout.splitlines()[2:]:
        cols = line.split()
        size = next(i for i, c in enumerate(cols) if c in ("MB", "GB"))
        cli_rows[cols[0]] = (f"{cols[size - 1]} {cols[size]}", cols[size + 2] == "*")
    assert window_rows == cli_rows
    encoder = reg.for_task("encoder")[0].id
    assert window_rows[encoder][1]  # the base fine-tuning starts from is marked in both
    big = max(reg.manifests(), key=lambda m: m.size_bytes)
    assert window_rows[big.id][0] == f"{big.size_bytes / 1e6:.1f} MB"
    assert shipped_models_dir().is_dir()


def test_the_encoder_default_can_be_seen_and_changed_in_the_window(qtbot, tmp_path, monkeypatch):
    """The ✓ on the encoder (the base fine-tuning starts from) has its own row under Default model per task,
    and choosing another encoder there moves the ✓ and is what the CLI's `models list` marks too."""
    import pytest

    from app.core.registry import Registry, shipped_models_dir
    from app.ui.context import AppContext
    from app.ui.models_view import ModelsView

    monkeypatch.setenv("ALBERT_STUDIO_MODELS", str(tmp_path / "user-models"))
    shipped = Registry(roots=[shipped_models_dir()], settings_file=tmp_path / "unused.json").for_task("encoder")
    if not shipped:
        pytest.skip("no shipped encoder in models/")
    _copy_model(shipped[0].folder, tmp_path / "user-models" / "albert-encoder-mine", "albert-encoder-mine")
    reg = Registry(settings_file=tmp_path / "defaults.json")
    ctx = AppContext(tmp_path / "library.db", reg, "cpu")
    try:
        view = ModelsView(ctx)
        qtbot.addWidget(view)
        combo = view.default_combos["encoder"]
        assert view.defaults_form.labelForField(combo).text() == "Fine-tuning base:"
        assert combo.currentData() == reg.default("encoder").id == shipped[0].id

        combo.setCurrentIndex(combo.findData("albert-encoder-mine"))
        assert reg.default("encoder").id == "albert-encoder-mine"
        qtbot.waitUntil(lambda: _tick(view, "albert-encoder-mine") == "✓", timeout=5000)
        assert _tick(view, shipped[0].id) == ""
        assert "albert-encoder-mine" in reg.default_ids()
    finally:
        ctx.close()


def _tick(view, model_id):
    ids = [view.table.item(r, 0).text() for r in range(view.table.rowCount())]
    return view.table.item(ids.index(model_id), 8).text()
