"""Languages in the window: the library's Lang column and language filter, and the document view's language
line, with "unsupported language (es)" where no model reads the document (issue 30 items 1 and 3)."""
from __future__ import annotations

import pytest

from app.core.store import Store
from app.core.types import (
    Analysis,
    Document,
    DocumentLanguage,
    LanguageSpan,
    ModelInfo,
    SentenceSentiment,
    SentimentResult,
    Summary,
    SummarySentence,
)

EN = "The grinder is excellent and I use it every single morning before work."
ES = "El producto llegó roto y nadie de la empresa contestó a mis mensajes durante dos semanas."
FR = "Le service client ne répond jamais aux courriels et la livraison a pris trois semaines."
MODELS = (ModelInfo("albert-sentiment-en", "1", "sentiment"), ModelInfo("albert-summary-en", "1", "summary"))


def english() -> Analysis:
    s = SentimentResult("positive", 0.93, (("negative", 0.07), ("positive", 0.93)),
                        (SentenceSentiment(EN, "positive", 0.93, 0, len(EN), 0.93),))
    return Analysis(Document("/docs/en.txt", EN, content_hash="en"), s, Summary((SummarySentence(EN, 0.9, 0, 0, len(EN)),)),
                    models=MODELS, language=DocumentLanguage("en", 0.99, True))


def spanish() -> Analysis:
    return Analysis(Document("/docs/es.txt", ES, content_hash="es"), SentimentResult("", 0.0, unsupported_lang="es"),
                    Summary((), unsupported_lang="es"), models=MODELS, language=DocumentLanguage("es", 0.98, True))


def mixed() -> Analysis:
    """English with a French paragraph the English model did not read (as the analyzer leaves it)."""
    text = f"{EN}\n\n{FR}"
    s = SentimentResult("positive", 0.9, (("negative", 0.1), ("positive", 0.9)),
                        (SentenceSentiment(EN, "positive", 0.9, 0, len(EN), 0.9),))
    lang = DocumentLanguage("en", 0.99, True, (LanguageSpan(len(EN) + 2, len(text), "fr", 1.0),))
    return Analysis(Document("/docs/mixed.txt", text, content_hash="mixed"), s,
                    Summary((SummarySentence(EN, 0.9, 0, 0, len(EN)),)), models=MODELS, language=lang)


@pytest.fixture
def pane(qtbot, tmp_path):
    from app.ui.library import LibraryPane

    store = Store(tmp_path / "library.db")
    keys = {"sentiment": "", "summary": "sentences=3"}
    for a in (english(), spanish(), mixed()):
        store.save_analysis(a, None, keys)
    p = LibraryPane(store)
    qtbot.addWidget(p)
    p.resize(480, 500)
    p.show()
    qtbot.waitUntil(lambda: not p.reading, timeout=10_000)
    yield p
    p.stop()
    store.close()


def _column(pane, heading: str) -> dict[str, str]:
    col = next(i for i in range(pane.model.columnCount()) if pane.model.heading(i) == heading)
    return {e.cells[0]: e.cells[col] for e in pane.model.entries}


def test_the_library_lists_each_document_s_language(pane):
    assert _column(pane, "Lang") == {"en.txt": "en", "es.txt": "es", "mixed.txt": "en"}
    assert _column(pane, "Sentiment")["es.txt"] == "unsupported", "no label made up for Spanish"
    assert not pane.view.isColumnHidden(5)
    es = next(i for i, e in enumerate(pane.model.entries) if e.cells[0] == "es.txt")
    tips = pane.model.entry(es).tips
    assert "Spanish" in tips[5] and "unsupported language (es)" in tips[5] and tips[1] == tips[5]


def test_the_language_filter_keeps_one_language(pane, qtbot):
    assert pane.lang_filter.isVisibleTo(pane)
    items = {pane.lang_filter.itemData(i): pane.lang_filter.itemText(i) for i in range(pane.lang_filter.count())}
    assert items[None] == "All langs" and items["es"] == "es – Spanish" and items["en"] == "en – English"
    assert items[""] == "Not detected"
    assert [pane.lang_filter.itemData(i) for i in range(1, 3)] == ["en", "es"], "most documents first"
    pane.lang_filter.setCurrentIndex(pane.lang_filter.findData("es"))
    qtbot.waitUntil(lambda: not pane.reading and pane.titles() == ["es.txt"], timeout=10_000)
    assert pane.count.text() == "1 of 3 documents"
    pane.lang_filter.setCurrentIndex(pane.lang_filter.findData("en"))
    qtbot.waitUntil(lambda: not pane.reading and sorted(pane.titles()) == ["en.txt", "mixed.txt"], timeout=10_000)
    pane.lang_filter.setCurrentIndex(0)
    qtbot.waitUntil(lambda: not pane.reading and len(pane.titles()) == 3, timeout=10_000)


def test_one_language_needs_no_filter(qtbot, tmp_path):
    from app.ui.library import LibraryPane

    with Store(tmp_path / "one.db") as store:
        store.save_analysis(english(), None, {})
        p = LibraryPane(store)
        qtbot.addWidget(p)
        p.show()
        qtbot.waitUntil(lambda: not p.reading, timeout=10_000)
        assert not p.lang_filter.isVisibleTo(p) and _column(p, "Lang") == {"en.txt": "en"}
        p.stop()


@pytest.fixture
def page(qtbot):
    from app.ui.document_view import DocumentPage

    p = DocumentPage()
    qtbot.addWidget(p)
    p.resize(1000, 700)
    p.show()
    return p


def test_the_document_view_shows_the_language(page):
    page.show_analysis(english())
    assert page.language.isVisible() and page.language.text() == "Language: English (99%)"
    assert page.details.value("Language") == "English (99%)"
    assert page.badge.isVisible() and "positive" in page.badge.text()


def test_an_unsupported_language_gets_no_label_in_the_view(page):
    page.show_analysis(spanish())
    line = page.language.text()
    assert line == "Language: Spanish (98%) · unsupported language (es): no sentiment, no summary"
    assert not page.badge.isVisible(), "no sentiment badge: no label was made up"
    assert page.text.highlighted == []
    assert "unsupported language (es)" in page.summary.text.toPlainText()
    assert page.details.value("Sentiment") == "unsupported language (es) (no label)"
    assert page.details.value("Sentences") == "– (not analysed)", "not 0: nothing was read"
    assert page.details.value("Probabilities") == page.details.value("Model windows") == "–"
    assert page.legend.isHidden(), "nothing is coloured: no colour key"
    assert page.details.value("Models").splitlines() == [
        "sentiment: albert-sentiment-en 1 (does not read this language; not run)",
        "summary: albert-summary-en 1 (does not read this language; not run)"]
    page.show_analysis(english())
    legend = page.legend.text()
    assert not page.legend.isHidden() and legend.index("negative") < legend.index("positive"), "one order"


def test_a_mixed_document_says_which_paragraphs_have_no_colour(page):
    page.show_analysis(mixed())
    assert [t for t, _label, _score in page.text.highlighted] == [EN]
    assert page.language.text().endswith("French not coloured (no model reads it)")
    assert page.details.value("Language") == "English (99%), with paragraphs in French"


def test_a_document_stored_before_languages_were_detected(page):
    old = english()
    page.show_analysis(Analysis(old.document, old.sentiment, old.summary, models=MODELS))
    assert page.language.text() == "Language: not detected"
    page.show_analysis(None)
    assert not page.language.isVisible()


def test_a_batch_lists_a_spanish_file_as_unsupported_and_keeps_it_out_of_the_chart(window, tmp_path, wait_op):
    folder = tmp_path / "mixed-folder"
    folder.mkdir()
    (folder / "en.txt").write_text(EN + " " + EN, encoding="utf-8")
    (folder / "es.txt").write_text(ES, encoding="utf-8")
    assert window.batch.start([str(folder)])
    wait_op(window.batch.op)
    rows = {r[-1].rsplit("/", 1)[-1]: r for r in window.batch.visible_rows()}
    assert rows["es.txt"][1] == "unsupported language (es)" and rows["es.txt"][2] == ""
    assert rows["en.txt"][1] in ("negative", "positive", "neutral")
    assert sum(window.batch.chart.counts().values()) == 1, "the Spanish file has no label to count"
