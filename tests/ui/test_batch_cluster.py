"""The Batch view on a Ray cluster: offered only when Preferences name one, then runs there with the same rows."""
from __future__ import annotations

from dataclasses import replace

from app.core.store import Store
from app.ui.preferences import Preferences


def test_cluster_option_follows_preferences_and_runs_the_batch_on_ray(window, ctx, batch_folder, wait_op, settings):
    batch = window.batch
    assert batch.on_cluster.isHidden()  # no cluster in the settings: nothing to choose
    window.apply_preferences(replace(Preferences.load(settings), cluster_address="local", cluster_workers=2))
    assert Preferences.load(settings).cluster_address == "local"
    assert not batch.on_cluster.isHidden()
    assert batch.on_cluster.text() == "On the Ray cluster (local, 2 workers)"

    batch.on_cluster.setChecked(True)
    assert batch.start([str(batch_folder)])
    assert batch.status_label.text() == "Running on the Ray cluster…"
    wait_op(batch.op, timeout_s=120)
    report = batch.report
    assert report.status == "done" and report.shards == 1 and len(report.workers) == 1
    assert batch.files_label.text().startswith("Shards: 1 / 1")
    assert len(batch.visible_rows()) == 4
    assert [src.rsplit("/", 1)[-1] for src, _ in batch.errors] == ["broken.docx"]
    with Store(ctx.db_path) as store:
        assert store.count_documents() == 4
        assert store.history(1)[0].params["engine"] == "ray"

    window.apply_preferences(replace(Preferences.load(settings), cluster_address=""))
    assert batch.on_cluster.isHidden() and not batch.on_cluster.isChecked()
