"""The default sentiment model learned neutral: facts read neutral because the model says so, opinions from
other domains than movie reviews keep their polarity, and p(positive) and the band still mean what they say."""
from __future__ import annotations

import json

import numpy as np
import pytest

from app.core.export import analysis_to_json
from app.core.registry import read_manifest, shipped_models_dir
from app.core.sentiment import SentimentModel, model_neutral_band
from app.core.types import Analysis, Document


@pytest.fixture(scope="module")
def sentiment():
    return SentimentModel(read_manifest(shipped_models_dir() / "albert-sentiment-en"))


def test_the_default_model_has_a_learned_neutral_and_no_default_band(sentiment):
    assert sentiment.labels == ["negative", "positive", "neutral"]
    assert model_neutral_band(sentiment.manifest) == 0.0
    assert sentiment.manifest.raw["heads"]["sentence"]["file"] == "sentence_head.onnx"


@pytest.mark.parametrize("text", [
    "The hotel is a ten-minute walk from the central station.",
    pytest.param("The kettle holds 1.7 litres and comes in three colours.",
                 marks=pytest.mark.xfail(strict=True, reason="3.0.0 reads it positive (model card: Limits)")),
    "Two men are loading boxes into a white van.",
    "The meeting has been moved to Thursday at 3 pm.",
])
def test_factual_sentences_read_neutral(sentiment, text):
    assert sentiment.analyze(text).label == "neutral"


@pytest.mark.parametrize("text,label", [
    ("For the price, I expected much better build quality, and I would not buy it again.", "negative"),
    pytest.param("The support agent solved my problem in five minutes, brilliant service.", "positive",
                 marks=pytest.mark.xfail(strict=True, reason="3.0.0: 'problem' leans negative (model card: Limits)")),
    ("The app crashes every time I open the camera.", "negative"),
    pytest.param("Our room was spotless and the staff could not have been kinder.", "positive",
                 marks=pytest.mark.xfail(strict=True, reason="3.0.0 misses this negation (model card: Limits)")),
    pytest.param("The staff were friendly and the room was spotless.", "positive",
                 marks=pytest.mark.xfail(strict=True, reason="'spotless' reads negative (spot + ##less), 2.1.1 too")),
    ("Works exactly as described, very happy.", "positive"),
    ("Great phone, fast shipping.", "positive"),
    ("Delivery took three weeks and nobody answered my emails.", "negative"),
    ("Waited 40 minutes on hold and then the call dropped.", "negative"),
])
def test_customer_opinions_keep_their_polarity(sentiment, text, label):
    assert sentiment.analyze(text).label == label


def test_polarity_and_band_work_on_positive_against_negative(sentiment):
    r = sentiment.analyze("The food was good but the service was slow.", neutral_band=0.0)
    p = dict(r.probabilities)
    assert set(p) == {"negative", "positive", "neutral"}
    assert abs(sum(p.values()) - 1) < 1e-4
    polarity = p["positive"] / (p["positive"] + p["negative"])
    assert np.isclose(float(sentiment.polarity(np.array([p["negative"], p["positive"], p["neutral"]]))), polarity)
    # a band of 0.5 makes every opinion neutral; the label keeps the neutral share as its score
    wide = sentiment.analyze("The support agent solved my problem in five minutes, brilliant service.", neutral_band=0.5)
    assert wide.label == "neutral"
    assert np.isclose(wide.score, dict(wide.probabilities)["neutral"])


def test_json_keeps_the_model_probability_of_positive(sentiment):
    r = sentiment.analyze("The hotel is a ten-minute walk from the central station. The room was lovely.")
    out = json.loads(json.dumps(analysis_to_json(Analysis(Document("t.txt", "x"), sentiment=r))))
    assert out["sentiment"]["p_positive"] == pytest.approx(dict(r.probabilities)["positive"])
    assert [s["label"] for s in out["sentiment"]["sentences"]][0] == "neutral"


def test_a_long_review_gets_the_document_heads_polarity_and_the_windows_neutral_share(sentiment):
    review = " ".join(["I bought this blender for smoothies and it has been a disappointment from day one."] +
                      ["The motor struggles with frozen fruit, the lid leaks and the jug is hard to clean."] * 12 +
                      ["I would not recommend it to anyone."])
    r = sentiment.analyze(review)
    assert r.label == "negative"
    assert r.chunks >= 1
