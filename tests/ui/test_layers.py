"""The UI's imports: down the layers only (core and jobs), and no circle among its own modules."""
from __future__ import annotations

import ast
from pathlib import Path

UI = Path(__file__).resolve().parents[2] / "app" / "ui"


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function (a lazy import is still a dependency)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def _ui_graph() -> dict[str, set[str]]:
    mods = {f"app.ui.{p.stem}": p for p in UI.glob("*.py") if p.stem != "__init__"}
    return {m: {i for i in _imports(p) if i in mods and i != m} for m, p in mods.items()}


def test_the_ui_imports_only_core_jobs_and_itself():
    bad = {}
    for p in sorted(UI.glob("*.py")):
        wrong = sorted(i for i in _imports(p) if i.split(".")[0] == "tests" or i.startswith(("app.training", "app.cli")))
        if wrong:
            bad[p.name] = wrong
    assert bad == {}


def test_no_import_circle_among_ui_modules():
    graph = _ui_graph()
    circles = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in path:
                circles.append(path[path.index(nxt):] + [nxt])
            elif len(path) < 12:
                visit(nxt, path + [nxt])

    for m in sorted(graph):
        visit(m, [m])
    assert circles == []
    assert "app.ui.main" not in graph["app.ui.main_window"]
