"""Training checkpoints are read as weights only: one that would run code when unpickled is refused."""
from __future__ import annotations

import os

import pytest

torch = pytest.importorskip("torch")

from app.training.common import load_checkpoint  # noqa: E402


class _RunsCode:
    """Pickles to a call of os.system: what a swapped-in checkpoint could do to the trainer."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "last.pt"
    torch.save({"model": {}, "config": _RunsCode(marker)}, bad)
    with pytest.raises(ValueError, match="refusing to load code"):
        load_checkpoint(bad)
    assert not marker.exists()


def test_a_real_training_checkpoint_still_loads(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    state = {"model": model.state_dict(), "optim": opt.state_dict(), "config": {"d_model": 3, "dropout": 0.1},
             "step": 7, "epoch": 1, "pos": 12, "seconds": 3.5, "rng": torch.get_rng_state()}
    torch.save(state, tmp_path / "last.pt")
    back = load_checkpoint(tmp_path / "last.pt")
    assert back["step"] == 7 and back["config"] == {"d_model": 3, "dropout": 0.1}
    assert torch.equal(back["model"]["weight"], model.state_dict()["weight"])
    restored = torch.optim.Adam(torch.nn.Linear(3, 2).parameters())
    restored.load_state_dict(back["optim"])
