"""No function or method in app/ is over 100 lines: a newcomer reads each in one sitting. A long one is
split by what its parts do (a builder per group of widgets, a step per phase of a run)."""
from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"
LIMIT = 100  # lines from `def` to the last line of the body, docstring and comments included


def long_functions(root: Path = APP, limit: int = LIMIT) -> list[str]:
    """'path:line name (N lines)' for every function (nested ones too) longer than `limit` lines."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                lines = node.end_lineno - first + 1
                if lines > limit:
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_function_in_app_is_over_100_lines():
    assert long_functions() == []


def test_the_check_finds_a_long_function(tmp_path):
    body = "\n".join(f"        x{i} = {i}" for i in range(LIMIT))
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "long.py").write_text(f"def short():\n    return 1\n\n\nclass A:\n    def long(self):\n{body}\n")
    assert long_functions(tmp_path / "pkg") == [f"pkg/long.py:6 long ({LIMIT + 1} lines)"]
