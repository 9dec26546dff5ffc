"""ruff, with the rule set in pyproject.toml ([tool.ruff]), finds nothing in the repository."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _ruff() -> list[str] | None:
    """The ruff command: the one installed beside this Python (the dev extra), else one on PATH."""
    beside = Path(sys.executable).with_name("ruff")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("ruff")
    return [found] if found else None


def test_ruff_finds_nothing():
    ruff = _ruff()
    if ruff is None:
        pytest.skip("LINT NOT RUN: ruff is not installed; pip install -e '.[dev]' (or pip install ruff) to lint")
    done = subprocess.run([*ruff, "check", "--no-cache", "--output-format", "concise", "."], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_rule_set_is_the_one_in_pyproject(tmp_path):
    """The check above can fail: a file breaking a selected rule is reported with its path and code."""
    ruff = _ruff()
    if ruff is None:
        pytest.skip("LINT NOT RUN: ruff is not installed; pip install -e '.[dev]' (or pip install ruff) to lint")
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n", encoding="utf-8")
    done = subprocess.run([*ruff, "check", "--no-cache", "--output-format", "concise",
                           "--config", str(REPO / "pyproject.toml"), str(bad)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and "F401" in done.stdout
