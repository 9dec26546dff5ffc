"""The neutral band of a two-label model (albert-sentiment-en-fast; the default model learned neutral and has
no default band, tests/core/test_sentiment_three_labels.py): plain captions and facts read neutral, opinions
keep their label, p(positive) is never lost."""
from __future__ import annotations

import json

import pytest

from app.core.export import analysis_to_csv_row, analysis_to_json
from app.core.registry import read_manifest, shipped_models_dir
from app.core.sentiment import DEFAULT_NEUTRAL_BAND, SentimentModel, model_neutral_band
from app.core.types import Analysis, Document

CAPTIONS = "Two young men are standing on a street corner. A dog runs through the grass. " \
           "A woman in a red coat walks past a bus stop."


@pytest.fixture(scope="module")
def sentiment():
    return SentimentModel(read_manifest(shipped_models_dir() / "albert-sentiment-en-fast"))


def test_three_plain_captions_read_neutral_and_opinions_do_not(sentiment):
    band = sentiment.neutral_band
    assert band == model_neutral_band(sentiment.manifest) > 0
    r = sentiment.analyze(CAPTIONS)
    assert r.label == "neutral", (r.label, r.p_positive)  # was "negative 0.77" before the band
    assert r.neutral_band == band
    loved = sentiment.analyze("This film is a masterpiece and I loved every minute of it.")
    hated = sentiment.analyze("The worst service I have ever had, rude and slow.")
    assert (loved.label, hated.label) == ("positive", "negative")


def test_the_label_is_neutral_exactly_inside_the_band_and_p_positive_is_kept(sentiment):
    text = CAPTIONS + " The film was wonderful. The food was awful and cold. The meeting is on Tuesday."
    for band in (0.0, 0.1, 0.3):
        r = sentiment.analyze(text, neutral_band=band)
        assert (r.label == "neutral") == (abs(r.p_positive - 0.5) < band)
        for s in r.sentences:
            assert (s.label == "neutral") == (abs(s.p_positive - 0.5) < band)
            if s.label != "neutral":
                assert s.label == ("positive" if s.p_positive >= 0.5 else "negative")
    off = sentiment.analyze(text, neutral_band=0)
    assert "neutral" not in {s.label for s in off.sentences} | {off.label}
    # exports keep the model's decision next to the label
    obj = json.loads(json.dumps(analysis_to_json(Analysis(Document("c.txt", text), r))))
    assert obj["sentiment"]["p_positive"] == pytest.approx(r.p_positive)
    assert obj["sentiment"]["neutral_band"] == 0.3
    assert all("p_positive" in s for s in obj["sentiment"]["sentences"])
    row = analysis_to_csv_row(Analysis(Document("c.txt", text), r))
    assert float(row["sentiment_p_positive"]) == pytest.approx(r.p_positive, abs=1e-4)


def test_a_manifest_carries_its_own_band_and_bad_values_fall_back(sentiment):
    from dataclasses import replace

    m = sentiment.manifest
    assert model_neutral_band(replace(m, raw={**m.raw, "neutral_band": 0.1})) == 0.1
    assert model_neutral_band(replace(m, raw={**m.raw, "neutral_band": "wide"})) == DEFAULT_NEUTRAL_BAND
    assert model_neutral_band(replace(m, raw={**m.raw, "neutral_band": 3})) == 0.5
    assert model_neutral_band(replace(m, labels=("billing", "shipping"))) == 0.0  # no neutral for other labels
