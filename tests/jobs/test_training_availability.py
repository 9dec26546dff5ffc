"""Without the training stack (the desktop bundle), fine-tuning says how to enable it instead of failing."""
from __future__ import annotations

import importlib.util

import pytest

from app.jobs import finetune


def test_missing_torch_gives_an_actionable_message(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    reason = finetune.training_unavailable_reason()
    assert reason and "pip install -e '.[train]'" in reason and "torch" in reason
    with pytest.raises(finetune.FineTuneFailed, match="needs PyTorch"):
        finetune.FineTuneJob(data=None)


def test_training_available_here():
    assert finetune.training_unavailable_reason() is None
