"""Shared test fixtures: Qt runs offscreen, and tiny working models are built once per session."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """A folder holding tiny random albert-sentiment-en and albert-summary-en models in the shipped layouts.

    Point a registry at it: Registry(roots=[tiny_models], settings_file=tmp_path / "defaults.json").
    """
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tests.fixtures_models import build_tiny_models

    return build_tiny_models(tmp_path_factory.mktemp("tiny_models"))
