"""A user's classifier in the window: its column and filter in the library, its line and sentence labels in the
document view, and the fine-tune page's progress (named phases, one bar, epochs as set, one loss line a phase)."""
from __future__ import annotations


import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt

from app.core.store import Store
from app.core.types import (
    Analysis,
    ClassificationResult,
    Document,
    ModelInfo,
    SentenceLabel,
    SentenceSentiment,
    SentimentResult,
)

TEXT = "The striker scored twice. Shares fell sharply."


def _analysis(name: str, topic: str, score: float, sentiment: str = "positive") -> Analysis:
    text = TEXT.replace("striker", name)  # another text per document (the library keeps one per text)
    s1, s2 = text.split(" Shares")
    sentences = (SentenceSentiment(s1, sentiment, 0.9, 0, len(s1)),
                 SentenceSentiment("Shares" + s2, sentiment, 0.8, len(s1) + 1, len(text)))
    return Analysis(
        Document(f"/news/{name}.txt", text, title=name, content_hash=name),
        SentimentResult(sentiment, 0.9, (("negative", 0.1), ("positive", 0.9)), sentences),
        models=(ModelInfo("albert-sentiment-en", "1", "sentiment"), ModelInfo("topic", "1.0.0", "classification:topic")),
        classifications=(ClassificationResult("topic", topic, score, ((topic, score), ("other", 1 - score)), (
            SentenceLabel(s1, "sport", 0.81, 0, len(s1)),
            SentenceLabel("Shares" + s2, "business", 0.77, len(s1) + 1, len(text)))),))


@pytest.fixture
def pane(qtbot, tmp_path):
    from app.ui.library import LibraryPane

    store = Store(tmp_path / "library.db")
    for a in (_analysis("derby", "sport", 0.93), _analysis("markets", "business", 0.88, "negative"),
              _analysis("final", "sport", 0.71)):
        store.save_analysis(a, None, {})
    p = LibraryPane(store)
    qtbot.addWidget(p)
    p.resize(700, 400)
    p.show()
    qtbot.waitUntil(lambda: not p.reading, timeout=10_000)
    yield p
    p.stop()
    store.close()


def test_the_library_has_a_column_beside_sentiment_and_filters_by_its_labels(pane, qtbot):
    from app.ui.library import COLUMNS

    topic = len(COLUMNS)
    assert pane.model.headerData(topic, Qt.Horizontal) == "Topic"
    assert pane.view.header().visualIndex(topic) == 2  # right after Sentiment
    assert not pane.view.isColumnHidden(topic)
    pane.resize(260, 400)  # a narrow pane (the window's default at 1024 px): the name's tooltip says it instead
    qtbot.waitUntil(lambda: pane.view.isColumnHidden(topic), timeout=5_000)
    derby = next(e for e in pane.model.entries if e.cells[0] == "derby.txt")
    assert "Topic: sport 0.93" in derby.tips[0]
    pane.resize(700, 400)
    qtbot.waitUntil(lambda: not pane.view.isColumnHidden(topic), timeout=5_000)
    cells = {e.cells[0]: (e.cells[1], e.cells[topic]) for e in pane.model.entries}
    assert cells == {"derby.txt": ("positive 0.90", "sport 0.93"), "markets.txt": ("negative 0.90", "business 0.88"),
                     "final.txt": ("positive 0.90", "sport 0.71")}
    items = [pane.label_filter.itemText(i) for i in range(pane.label_filter.count())]
    assert "Topic: business" in items and "Topic: sport" in items and "positive" in items
    pane.label_filter.setCurrentIndex(items.index("Topic: sport"))
    qtbot.waitUntil(lambda: not pane.reading, timeout=10_000)
    assert sorted(pane.titles()) == ["derby.txt", "final.txt"]
    assert pane.label_filter.currentText() == "Topic: sport"  # kept across the read it started
    pane.label_filter.setCurrentIndex(items.index("negative"))
    qtbot.waitUntil(lambda: not pane.reading, timeout=10_000)
    assert pane.titles() == ["markets.txt"]


def test_the_document_view_shows_the_classification_and_each_sentence_s_label(qtbot):
    from app.ui.document_view import DocumentPage

    page = DocumentPage()
    qtbot.addWidget(page)
    page.resize(1000, 600)
    page.show()
    page.show_analysis(_analysis("derby", "sport", 0.93))
    assert page.classes.isVisible() and "<b>Topic</b> sport 0.93" in page.classes.text()
    tips = [tip for _, _, tip in page.text.spans]
    assert tips[0].endswith("Topic: sport 0.81") and tips[1].endswith("Topic: business 0.77")
    assert page.details.value("Classifications").startswith("Topic: sport (0.930)")
    page.show_analysis(Analysis(Document("a.txt", "Plain."), SentimentResult("positive", 0.8)))
    assert not page.classes.isVisible()


def test_fine_tune_progress_names_phases_over_one_bar_with_epochs_as_set(qtbot, tmp_path, tiny_models):
    from app.core.registry import Registry
    from app.jobs.finetune import FineTuneProgress
    from app.ui.context import AppContext
    from app.ui.finetune_view import FineTuneView

    ctx = AppContext(tmp_path / "lib.db", Registry(roots=[tiny_models], settings_file=tmp_path / "d.json"), "cpu")
    view = FineTuneView(ctx)
    qtbot.addWidget(view)
    view.resize(1024, 768)
    view.show()
    events = [FineTuneProgress("phase", phase="preparing", message="Preparing", overall=0.0)]
    events += [FineTuneProgress("step", step=k, total=40, epoch=k / 4, epochs=10.0, loss=1.0 / k, phase="training",
                                overall=0.05 + 0.4 * k / 40, seconds=2.0 * k) for k in range(1, 41)]
    events += [FineTuneProgress("phase", phase="checking", message="Checking", overall=0.45, seconds=82)]
    events += [FineTuneProgress("step", step=k, total=50, epoch=k / 5, epochs=10.0, loss=0.8 / k, phase="refit",
                                overall=0.5 + 0.35 * k / 50, seconds=82 + 2.0 * k) for k in range(1, 26)]
    for e in events:
        view._progress(e)
    assert view.progress.value() == round(1000 * events[-1].overall)
    assert "Training on all examples" in view.progress.format()
    assert "epoch 5.0 of 10" in view.status.text() and "left" in view.status.text()  # 132 s for 0.675 of the job
    assert "about 1 min 04 s left" in view.status.text()
    lines = view.plot.loss_lines()
    assert list(lines) == ["training", "refit"] and len(lines["training"]) == 40 and len(lines["refit"]) == 25
    assert max(e for e, _ in lines["training"]) == 10.0  # epochs as set, not a 0..1 fraction
    view.grab().save(str(tmp_path / "finetune_progress.png"))
    ctx.close()
