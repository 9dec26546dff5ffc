"""Class names for labelled data whose labels are codes (0/1): --label-names and the Fine-tune page."""
from __future__ import annotations

import pytest

from app.core.errors import LabelDataError
from app.core.labeled_data import make_dataset, parse_label_names


def _data():
    return make_dataset([(f"text {i}", str(i % 2)) for i in range(20)], min_per_class=4)


def test_codes_are_renamed_and_every_text_keeps_its_class():
    data = _data()
    assert data.needs_names()
    named = data.renamed(parse_label_names("0=negative, 1=positive"))
    assert named.classes == ("negative", "positive")
    assert [y for y in named.labels] == ["negative" if y == "0" else "positive" for y in data.labels]
    assert not named.needs_names()
    assert data.renamed({"1": "yes"}).classes == ("0", "yes")  # unnamed classes keep their label


def test_bad_names_are_refused_with_a_reason():
    with pytest.raises(LabelDataError, match="cannot both be named"):
        _data().renamed({"0": "same", "1": "same"})
    with pytest.raises(LabelDataError, match="no class '2'"):
        _data().renamed({"2": "other"})
    with pytest.raises(LabelDataError, match="LABEL=NAME"):
        parse_label_names("0:negative")
