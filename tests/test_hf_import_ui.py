"""The Models view's "Add Model…": a Hugging Face checkpoint added in the background with progress and Cancel;
a refused one is shown in the banner and nothing is installed."""
from __future__ import annotations

import json

import pytest

from tests.ui.conftest import ctx, registry, settings, wait_op, window  # noqa: F401  (fixtures)


def _user_dir(ctx, tmp_path):  # noqa: F811
    ctx.registry.user_dir = tmp_path / "user-models"
    ctx.registry.roots = [*ctx.registry.roots, ctx.registry.user_dir]
    return ctx.registry.user_dir


def test_a_refused_checkpoint_is_reported_and_nothing_is_added(window, ctx, tmp_path, wait_op):  # noqa: F811
    user = _user_dir(ctx, tmp_path)
    src = tmp_path / "gpt"
    src.mkdir()
    (src / "config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}))
    view = window.models
    view.add_source.setText(str(src))
    view._add_clicked()
    assert view.add_op is not None and not view.add_button.isEnabled() and not view.add_cancel.isHidden()
    wait_op(view.add_op)
    assert "GPT2LMHeadModel is not supported" in window.banner.text()
    assert view.add_button.isEnabled() and view.add_progress.isHidden()
    assert not user.exists() or list(user.iterdir()) == []


def test_the_add_row_passes_the_chosen_task_like_models_add_task(window, ctx, tmp_path, wait_op):  # noqa: F811
    """The window offers `--task` too: a plain BERT encoder asked to become a summarizer is refused with what it
    can become (read from the checkpoint, it would have been exported as a base)."""
    user = _user_dir(ctx, tmp_path)
    src = tmp_path / "bert-plain"
    src.mkdir()
    (src / "config.json").write_text(json.dumps({"architectures": ["BertModel"], "model_type": "bert",
                                                 "vocab_size": 100, "hidden_size": 32}))
    view = window.models
    view.add_source.setText(str(src))
    view.add_task.setCurrentIndex(view.add_task.findData("summary"))
    view._add_clicked()
    assert not view.add_task.isEnabled()  # no change of mind while it runs
    wait_op(view.add_op)
    assert "BertModel becomes a fine-tuning base, not summary" in window.banner.text()
    assert view.add_task.isEnabled() and (not user.exists() or list(user.iterdir()) == [])


@pytest.mark.slow  # exports an ALBERT checkpoint with torch, then a second one that is cancelled
def test_a_checkpoint_is_added_with_progress_and_a_cancel_leaves_nothing(window, ctx, tmp_path, wait_op, qtbot):  # noqa: F811
    pytest.importorskip("torch")
    from tests.hf_checkpoints import build_classifier

    user = _user_dir(ctx, tmp_path)
    view = window.models
    src = build_classifier(tmp_path / "albert-tiny", "albert")
    shown = []
    view.add_progress.valueChanged.connect(shown.append)
    wait_op(view.add_model(str(src)), timeout_s=300)
    ids = [view.table.item(r, 0).text() for r in range(view.table.rowCount())]
    assert "albert-tiny" in ids and "Added albert-tiny" in window.banner.text()
    assert shown and shown == sorted(shown) and max(shown) == 100

    other = build_classifier(tmp_path / "albert-other", "albert", seed=1)
    op = view.add_model(str(other))
    qtbot.waitUntil(lambda: view.add_progress.value() >= 45, timeout=300_000)  # exporting
    view.add_cancel.click()
    wait_op(op, timeout_s=300)
    assert "cancelled; nothing was installed" in window.banner.text()
    assert sorted(p.name for p in user.iterdir()) == ["albert-tiny"]


@pytest.mark.slow  # adds a checkpoint with torch
def test_an_added_summarizer_chosen_in_the_models_view_writes_the_document_summary(window, ctx, tmp_path, wait_op):  # noqa: F811
    pytest.importorskip("torch")
    from app.core.abstractive import AbstractiveSummarizer
    from app.core.runtime import RuntimeOptions
    from tests.hf_checkpoints import build_summarizer

    _user_dir(ctx, tmp_path)
    view = window.models
    src = build_summarizer(tmp_path / "news-pegasus", "pegasus")
    wait_op(view.add_model(str(src)), timeout_s=120)
    said = window.banner.text()  # what was checked, in a summarizer's terms (not a classifier's)
    assert "Added" in said and "news-pegasus" in said and "beam-4 summaries equal transformers' generate" in said
    combo = view.default_combos["summary"]
    at = combo.findData("news-pegasus")
    assert at >= 0 and combo.itemText(at).endswith("(abstractive)")
    combo.setCurrentIndex(at)
    assert ctx.registry.default("summary").id == "news-pegasus"

    text = "The city council met to discuss the budget. Members agreed to spend more on schools."
    doc = tmp_path / "council.txt"
    doc.write_text(text, encoding="utf-8")
    wait_op(window.open_file(str(doc)))
    page = window.document
    assert page.analysis.summary.abstractive and page.text.summary_marked == []  # nothing picked from the text
    shown = page.summary.text.toPlainText()
    written = AbstractiveSummarizer.from_folder(ctx.registry.get("news-pegasus").folder,
                                                RuntimeOptions(device="cpu")).summarize(text)
    assert written.text and written.sentences[0].text in shown and "Abstractive summary" in shown
    assert not page.summary.length_box.isEnabled() and "abstractive" in page.summary.note.text()


@pytest.mark.slow  # adds a checkpoint with torch
def test_an_added_encoder_is_offered_as_a_base_in_the_fine_tune_view(window, ctx, tmp_path, wait_op):  # noqa: F811
    pytest.importorskip("torch")
    from tests.hf_checkpoints import build_encoder

    _user_dir(ctx, tmp_path)
    window._load_finetune()  # the page is open before the model arrives
    src = build_encoder(tmp_path / "tiny-bert", "bert")
    wait_op(window.models.add_model(str(src)), timeout_s=120)
    assert ctx.registry.get("tiny-bert").task == "encoder"
    combo = window.finetune_view.base_combo
    at = combo.findData("tiny-bert")
    assert at >= 0 and combo.itemText(at).startswith("tiny-bert (")


def test_the_summary_pane_says_when_an_abstractive_model_wrote_nothing():
    from app.core.types import Summary, SummarySentence
    from app.ui.document_view import abstractive_html

    nothing = abstractive_html(Summary((), abstractive=True))
    assert "wrote nothing for this document" in nothing
    two = abstractive_html(Summary((SummarySentence("Spending rises.", 0.5, -1, 0, 40),
                                    SummarySentence("A storm hit.", 0.4, -1, 41, 90)), abstractive=True))
    assert "Spending rises." in two and "A storm hit." in two and "in 2 parts" in two and "wrote nothing" not in two
