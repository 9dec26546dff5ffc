"""The models shipped in models/ behave as a user expects on unambiguous inputs (not just shapes)."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.core.documents import read_document
from app.core.registry import read_manifest, shipped_models_dir, verify
from app.core.sentiment import SentimentModel
from app.core.task_model import load_task_model

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"


@pytest.fixture(scope="module")
def sentiment():
    return SentimentModel(read_manifest(shipped_models_dir() / "albert-sentiment-en"))


@pytest.fixture(scope="module")
def summarizer():
    return load_task_model(read_manifest(shipped_models_dir() / "albert-summary-en"))


@pytest.mark.parametrize("folder", ["albert-sentiment-en", "albert-sentiment-en-fast", "albert-summary-en", "albert-encoder-en"])
def test_shipped_models_verify(folder):
    m = read_manifest(shipped_models_dir() / folder)
    verify(m)
    assert (m.folder / "MODEL_CARD.md").exists(), "every shipped model carries a model card"


def _default_files(m) -> set[str]:
    """What the app loads by default: the default graph, the tokenizer and any document head."""
    files = {m.raw["graphs"][m.default_graph]["file"], m.raw["tokenizer"]["file"]}
    if m.raw.get("document_head"):
        files.add(m.raw["document_head"]["file"])
    return files


def test_default_sentiment_files_fit_20_mb_and_all_models_fit_their_budget():
    m = read_manifest(shipped_models_dir() / "albert-sentiment-en")
    default = sum((m.folder / f).stat().st_size for f in _default_files(m))
    assert default <= 20e6, f"default sentiment files: {default / 1e6:.1f} MB (budget 20 MB)"
    total = 0
    for folder in ("albert-sentiment-en", "albert-sentiment-en-fast", "albert-summary-en"):
        m = read_manifest(shipped_models_dir() / folder)
        total += sum((m.folder / f).stat().st_size for f in m.raw["files"])
    # fp32 graphs ship too (the CUDA provider cannot run dynamic int8)
    assert total < 130e6, f"shipped sentiment + summary files: {total / 1e6:.1f} MB (budget 130 MB)"


def test_shipped_int8_graphs_are_int8_in_every_layer():
    """The quantizer must reach the shared layers 2..L too (see app.training.common.quantize_int8)."""
    onnx = pytest.importorskip("onnx")
    from app.training.common import float_weight_matmuls
    for folder, graph in (("albert-sentiment-en", "int8"), ("albert-sentiment-en-fast", "int8"),
                          ("albert-mt-en-fr-de", "encoder_int8"), ("albert-mt-en-fr-de", "decoder_int8"),
                          ("albert-mt-en-fr-de", "decoder_with_past_int8")):
        m = read_manifest(shipped_models_dir() / folder)
        left = float_weight_matmuls(onnx.load(str(m.folder / m.raw["graphs"][graph]["file"])).graph)
        assert not left, f"{folder}: float MatMuls left in the int8 graph: {left[:3]}"


@pytest.mark.parametrize("text,label", [
    ("a wonderful, moving film", "positive"),
    ("One of the best films I have seen this year: funny, warm and beautifully acted.", "positive"),
    ("a dull, lifeless and painfully boring movie", "negative"),
    ("The plot makes no sense and the acting is terrible.", "negative"),
])
def test_unambiguous_sentences(sentiment, text, label):
    got, score = sentiment.classify([text])[0]
    assert got == label
    assert score > 0.8


def test_the_fast_variant_is_installed_and_selectable():
    from app.core.registry import Registry

    reg = Registry(roots=[shipped_models_dir()])
    ids = [m.id for m in reg.for_task("sentiment")]
    # the default reads English, French and German; the English-only models stay selectable beside it
    assert reg.default("sentiment").id == "albert-sentiment-xx" and {"albert-sentiment-en", "albert-sentiment-en-fast"} <= set(ids)
    assert reg.default("summary").id == "albert-summary-xx"
    fast = SentimentModel(reg.get("albert-sentiment-en-fast"))
    assert fast.classify(["a dull, lifeless and painfully boring movie"])[0][0] == "negative"


def test_long_reviews_get_the_document_head(sentiment):
    assert sentiment.document_head is not None
    review = ("I went in with high hopes. The first hour drags, and some of the dialogue is clumsy. "
              "But the final act is tremendous, the two leads are wonderful and the ending moved me to tears. "
              "Flaws and all, I loved it and would happily watch it again. ") * 2
    assert sentiment.analyze(review).label == "positive"


def test_wonderful_moving_film_is_confidently_positive(sentiment):
    label, score = sentiment.classify(["a wonderful, moving film"])[0]
    assert label == "positive" and score > 0.9


def test_long_review_is_read_whole_and_per_sentence(sentiment):
    good = "I expected little, but this film won me over completely. The performances are superb and the score is lovely. "
    bad = "Sadly the last twenty minutes are a mess. "
    text = good * 12 + bad
    r = sentiment.analyze(text)
    assert r.chunks >= 2
    assert r.label == "positive"
    assert r.sentences[-1].label == "negative"


def test_news_summary_keeps_the_lead_fact(summarizer):
    doc = read_document(SAMPLES / "news_article.html")
    s = summarizer.summarize(doc.text, sentences=3)
    assert len(s.sentences) == 3
    assert any("4.2 million euro footbridge" in x.text for x in s.sentences)
