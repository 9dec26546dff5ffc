"""Which model a fine-tune starts from when the user names none: the shipped models decide (no training here)."""
from __future__ import annotations

from app.core.registry import Registry, shipped_models_dir
from app.jobs.finetune import examples_language, suggested_base

FR = ["Le service client a été rapide et très aimable, je recommande.",
      "Livraison en retard, colis abîmé et aucune réponse à mes messages.",
      "La qualité est correcte pour le prix, sans plus."] * 4
DE = ["Der Zug war pünktlich und das Personal sehr freundlich.",
      "Die Klimaanlage war kaputt und niemand hat sich entschuldigt."] * 5
EN = ["The battery lasts all day and the screen is bright.",
      "Support never answered my emails about the refund."] * 5


def _registry(tmp_path):
    return Registry(roots=[shipped_models_dir()], settings_file=tmp_path / "defaults.json")


def test_the_language_of_the_examples_is_read_from_a_sample_of_them():
    assert examples_language(FR) == "fr" and examples_language(DE) == "de" and examples_language(EN) == "en"
    assert examples_language([]) == ""


def test_positive_negative_labels_start_from_the_default_sentiment_model_even_with_three_labels(tmp_path):
    reg = _registry(tmp_path)
    m, note = suggested_base(reg, ("negative", "positive"), EN)
    assert m is not None and m.id == reg.default("sentiment").id and "positive/negative" in note


def test_topic_labels_on_french_or_german_examples_start_from_the_cross_lingual_encoder(tmp_path):
    reg = _registry(tmp_path)
    for texts, name in ((FR, "French"), (DE, "German")):
        m, note = suggested_base(reg, ("billing", "delivery", "quality"), texts)
        assert m is not None and m.id == "albert-sentiment-xx" and name in note
    # English topics keep the general encoder (the user's own choice otherwise)
    assert suggested_base(reg, ("billing", "delivery", "quality"), EN) == (None, "")
