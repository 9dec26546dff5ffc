"""The layers of app/ as docs/ARCHITECTURE.md states them, read from the source (every import, at the top of a
file or inside a function: a lazy import is still a dependency): imports point down only, no two modules
import each other, and ONNX Runtime is imported in one place in the core."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[1] / "app"

# layer -> the layers it may import (besides itself). app.cli and app.__main__ sit on top.
MAY_IMPORT = {
    "core": set(),
    "training": {"core"},
    "jobs": {"core", "training"},  # training lazily, for fine-tuning (jobs/finetune.py and its worker)
    "ui": {"core", "jobs"},
}
# Two-file circles that are known and owned elsewhere; each needs a reason. (app.ui.main <-> app.ui.main_window
# was one; it is gone, so none is allowed now.)
ALLOWED_CIRCLES: set[frozenset[str]] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(APP.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in APP.rglob("*.py")}


def _owner(name: str) -> str | None:
    """The module of app/ that `name` (a module, or a name inside one) lives in."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imported_names(path: Path) -> set[str]:
    """Every module (or module.name) a file imports, relative imports resolved, at any depth of the file."""
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:  # `from package import module` imports that module, not the package
                full = f"{base}.{alias.name}"
                out.add(full if full in MODULES else base)
    return out


def import_graph() -> dict[str, set[str]]:
    """module of app/ -> the modules of app/ it imports."""
    graph = {}
    for name, path in MODULES.items():
        owners = {_owner(i) for i in imported_names(path) if i == "app" or i.startswith("app.")}
        graph[name] = {o for o in owners if o and o != name and o != "app"}
    return graph


def two_file_circles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    return {frozenset((a, b)) for a, deps in graph.items() for b in deps if a in graph.get(b, ())}


def test_the_graph_sees_lazy_relative_and_submodule_imports(tmp_path):
    """The reader itself: an import inside a function, a relative one and `from package import module` all count."""
    graph = import_graph()
    assert "app.core.tuning" in graph["app.core.runtime"]  # imported at the top
    assert "app.core.store.schema" in graph["app.core.store.connection"]  # `from app.core.store import schema`
    assert "app.core.summary" in graph["app.core.task_model"]  # inside a function
    made_up = {"app.a": {"app.b"}, "app.b": {"app.a", "app.c"}, "app.c": set()}
    assert two_file_circles(made_up) == {frozenset(("app.a", "app.b"))}


def test_no_two_modules_import_each_other():
    circles = two_file_circles(import_graph()) - ALLOWED_CIRCLES
    assert not circles, "modules that import each other: " + "; ".join(" <-> ".join(sorted(c)) for c in circles)


@pytest.mark.parametrize("layer", sorted(MAY_IMPORT))
def test_imports_point_down(layer):
    wrong = []
    for name, deps in sorted(import_graph().items()):
        if name.split(".")[1:2] != [layer]:
            continue
        for dep in sorted(deps):
            other = dep.split(".")[1]
            if other != layer and other not in MAY_IMPORT[layer]:
                wrong.append(f"{name} -> {dep}")
    assert wrong == []


def test_onnxruntime_is_imported_in_one_core_module():
    """Sessions are opened only by core/ort_session.py; core/tuning.py rewrites graphs offline with
    onnxruntime.transformers and nothing else of it."""
    users = {}
    for name, path in MODULES.items():
        if not name.startswith("app.core."):
            continue
        ort = sorted(i for i in imported_names(path) if i.split(".")[0] == "onnxruntime")
        if ort:
            users[name] = ort
    assert users.pop("app.core.ort_session") == ["onnxruntime"]
    assert all(i.startswith("onnxruntime.transformers") for i in users.pop("app.core.tuning", []))
    assert users == {}
