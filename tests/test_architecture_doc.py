"""docs/ARCHITECTURE.md is true file by file: its Files section lists every module of app/ and nothing else,
and every path it names under app/, tests/, bench/ or docs/ exists."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "ARCHITECTURE.md"


def listed_modules(doc: str) -> set[str]:
    """'app/core/store/runs.py', ... from the Files section: a **`app/...`/** heading, then `- `name.py`:` lines."""
    section = doc.split("## Files", 1)[1].split("\n## ", 1)[0]
    found, package = set(), None
    for line in section.splitlines():
        if m := re.match(r"\*\*`(app(?:/[\w]+)*)/`\*\*", line):
            package = m.group(1)
        elif (m := re.match(r"- `([\w]+\.py)`:", line)) and package:
            found.add(f"{package}/{m.group(1)}")
    return found


def test_the_files_section_lists_every_module_and_no_other():
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / "app").rglob("*.py") if "__pycache__" not in p.parts}
    listed = listed_modules(DOC.read_text(encoding="utf-8"))
    assert sorted(modules - listed) == [], "modules missing from docs/ARCHITECTURE.md's Files section"
    assert sorted(listed - modules) == [], "listed in docs/ARCHITECTURE.md but not in app/"


def test_every_path_the_document_names_exists():
    doc = DOC.read_text(encoding="utf-8")
    paths = set(re.findall(r"`((?:app|tests|bench|docs|packaging)/[\w/.-]+?\.(?:py|md))`", doc))
    paths |= {f"app/{p}" for p in re.findall(r"`((?:core|ui|jobs|training)/[\w/-]+\.py)`", doc)}
    assert len(paths) > 20
    assert sorted(p for p in paths if not (ROOT / p).exists()) == []


def test_the_reader_sees_a_missing_module(tmp_path):
    doc = "## Files\n\n**`app/core/`**\n\n- `a.py`: A\n- `b.py`: B\n\n## Tests\n"
    assert listed_modules(doc) == {"app/core/a.py", "app/core/b.py"}
