"""Shared test fixtures: Qt runs offscreen, and tiny working models are built once per session."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("ALBERT_STUDIO_TUNE", "0")  # no per-CPU probe per model load (tests/core/test_tuning.py turns it on)

import pytest


@pytest.fixture(scope="session")
def tiny_models(request, tmp_path_factory):
    """A folder holding tiny random albert-sentiment-en and albert-summary-en models in the shipped layouts.

    Point a registry at it: Registry(roots=[tiny_models], settings_file=tmp_path / "defaults.json").
    Built once (about half a minute) and kept in pytest's cache, keyed by the builder's source, so
    later runs start at once; tests must not write into it (copy a model first to change it).
    """
    import hashlib
    import shutil
    from pathlib import Path

    from tests import fixtures_models

    key = hashlib.sha256(Path(fixtures_models.__file__).read_bytes()).hexdigest()[:12]
    cache = getattr(request.config, "cache", None)  # absent with -p no:cacheprovider
    base = Path(cache.mkdir("tiny_models")) if cache is not None else tmp_path_factory.mktemp("tiny_models_build")
    cached = base / key
    if not (cached / ".complete").exists():
        pytest.importorskip("torch")
        pytest.importorskip("transformers")
        shutil.rmtree(cached, ignore_errors=True)
        fixtures_models.build_tiny_models(cached)
        (cached / ".complete").write_text("ok\n")
    folder = tmp_path_factory.mktemp("tiny_models")
    for sub in cached.iterdir():  # a private copy, so a test that damages a model harms no other run
        if sub.is_dir():
            shutil.copytree(sub, folder / sub.name)
    return folder
