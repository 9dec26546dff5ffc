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


def _present(monkeypatch, packages):
    """find_spec as if exactly `packages` of the training stack were installed."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: real(name, *a) if name in packages or name not in finetune.TRAINING_PACKAGES
                        else None)


def test_the_message_names_only_what_is_missing(monkeypatch):
    _present(monkeypatch, {"torch", "transformers"})
    reason = finetune.training_unavailable_reason()
    assert reason.endswith("Missing: sklearn.")


def test_with_the_training_stack_a_job_is_built_with_the_choices_made(monkeypatch, tiny_encoder, sst2_rows, tmp_path):
    from app.core.labeled_data import make_dataset
    from app.core.registry import Registry

    _present(monkeypatch, set(finetune.TRAINING_PACKAGES))
    assert finetune.training_unavailable_reason() is None
    user = tmp_path / "user"
    registry = Registry(roots=[tmp_path / "shipped", user], settings_file=user / "defaults.json")
    registry.user_dir = user
    job = finetune.FineTuneJob(make_dataset(sst2_rows(8), "reviews.csv"), registry=registry, base=str(tiny_encoder),
                               name="Support tickets", epochs=2, device="cpu")
    assert job.model_id == "support-tickets"
    s = job.settings
    assert (s.base, s.epochs, s.device, s.models_dir) == (str(tiny_encoder), 2, "cpu", str(user))
