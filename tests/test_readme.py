"""The README's Python examples run as written: each indented block that starts with an import is executed,
in order and in one namespace (a later block uses names an earlier one made), in a folder holding the files
they name, with the shipped models."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"


def python_blocks(markdown: str) -> list[str]:
    """Indented (4-space) or ```python blocks whose first line is an import: the Python examples."""
    blocks = [m.group(1) for m in re.finditer(r"```python\n(.*?)```", markdown, re.S)]
    for chunk in re.split(r"\n(?:[ \t]*\n)+", markdown):
        lines = chunk.split("\n")
        if lines and all(line.startswith("    ") for line in lines if line.strip()):
            code = "\n".join(line[4:] for line in lines)
            if re.match(r"(from \w[\w.]* import |import \w)", code.lstrip()):
                blocks.append(code)
    return blocks


def test_the_block_finder_finds_indented_and_fenced_examples():
    md = "Text.\n\n    from a import b\n    b()\n\nMore.\n\n    albert-studio demo\n\n```python\nimport os\n```\n"
    assert python_blocks(md) == ["import os\n", "from a import b\nb()"]


@pytest.mark.slow
def test_the_readmes_python_examples_run(tmp_path, monkeypatch):
    blocks = python_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 2, "the README's Python examples were not found"
    # the files the examples name
    shutil.copy(SAMPLES / "glowing_review.txt", tmp_path / "review.txt")
    shutil.copy(SAMPLES / "meeting_notes.docx", tmp_path / "manual.docx")
    (tmp_path / "terms.txt").write_text("Albert Studio\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for code in blocks:
        exec(compile(code, "README.md", "exec"), namespace)  # the README's own examples
    a = namespace["a"]
    assert a.sentiment.label in ("positive", "negative", "neutral") and a.summary.sentences
    assert (tmp_path / "manual.fr.docx").stat().st_size > 0
    assert namespace["r"].detected.lang == "en"
