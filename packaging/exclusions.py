"""What the bundle leaves out, derived from what the app needs rather than kept as a hand list of names.

Kept, always:
- every distribution in the closure of pyproject.toml's `dependencies` (followed through
  importlib.metadata `requires()`, markers evaluated; with the training bundle, the `train` extra too),
  with every module it provides;
- every module a shipped app/ module imports (found by reading app/ with `ast`), and its parent packages.

Left out: every other distribution installed in the build environment (training, evaluation, test,
cluster and packaging tools, or whatever else happens to be there), the few standard-library parts no
runtime code imports (STDLIB_UNUSED), the repository's own tests/ and bench/, and the Qt binding modules
app/ never imports (PyInstaller's Qt hooks would otherwise pull in their libraries and plugins).

`bundle_excludes()` is what the spec passes to PyInstaller; it strips (and names, loudly) any entry that
would cover a kept module, so a drifting list can never again leave a runtime dependency out. The test
tests/packaging/test_exclusions.py fails on any such entry, so CI catches the drift at its source.
"""
from __future__ import annotations

import ast
import functools
import importlib.metadata as md
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "albert-studio"
TRAINING_EXTRA = "train"
# app.training is imported lazily and left out of the default bundle, except these two: the fine-tune
# job's entry and its helpers, which explain that torch is missing instead of failing on import.
BUNDLED_TRAINING_MODULES = ("app.training.finetune", "app.training.common")
# Standard-library parts nothing at run time imports (tests/packaging/test_exclusions.py imports every
# shipped app module and checks). The training stack does use some (torch imports unittest in places).
STDLIB_UNUSED = ("tkinter", "_tkinter", "idlelib", "turtledemo", "turtle", "ensurepip", "lib2to3", "pydoc_data",
                 "unittest", "xmlrpc", "distutils")
STDLIB_UNUSED_WITH_TRAINING = ("tkinter", "_tkinter", "idlelib", "turtledemo", "turtle", "ensurepip")
# Folders of this repository that are not the app.
REPO_NOT_APP = ("tests", "bench")

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ExclusionError(Exception):
    """The build environment cannot say what the bundle needs (a runtime dependency is not installed)."""


def canonical(name: str) -> str:
    """PEP 503 name: 'PySide6_Essentials' and 'pyside6-essentials' are the same distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def project_requirements(pyproject: Path | None = None, extras: tuple[str, ...] = ()) -> list[str]:
    """pyproject.toml's `dependencies`, plus the requirements of the given extras."""
    path = pyproject or ROOT / "pyproject.toml"
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    project = tomllib.loads(path.read_text(encoding="utf-8"))["project"]
    reqs = list(project.get("dependencies", []))
    for extra in extras:
        if extra not in project.get("optional-dependencies", {}):
            raise ExclusionError(f"{path}: no optional-dependencies group named {extra!r}")
        reqs += project["optional-dependencies"][extra]
    return reqs


def requirement_closure(requirements: list[str], source: str = "pyproject.toml") -> dict[str, str]:
    """Every installed distribution the requirements need, transitively: canonical name -> what requires it.

    Markers are evaluated for this interpreter and for the extras each requirement asks for. A required
    distribution that is not installed is an error: the bundle would silently lack it.
    """
    from packaging.requirements import Requirement

    needed: dict[str, str] = {}
    extras_seen: dict[str, set[str]] = {}
    missing: list[str] = []
    todo = [(Requirement(r), source) for r in requirements]
    while todo:
        req, by = todo.pop()
        name = canonical(req.name)
        if name == PROJECT:  # the project's own extras referring back to it, e.g. albert-studio[cluster]
            continue
        extras = set(req.extras)
        if name in needed and extras <= extras_seen[name]:
            continue
        try:
            dist = md.distribution(req.name)
        except md.PackageNotFoundError:
            missing.append(f"{req} (required by {by})")
            continue
        needed.setdefault(name, by)
        extras_seen.setdefault(name, set()).update(extras)
        for text in dist.requires or []:
            sub = Requirement(text)
            if sub.marker is not None and not any(sub.marker.evaluate({"extra": e}) for e in (extras or {""})):
                continue
            todo.append((sub, name))
    if missing:
        raise ExclusionError(f"not installed in {sys.prefix}, so the bundle cannot include them: {'; '.join(missing)}"
                             f" (install the project first: pip install -e '.[package]')")
    return needed


@functools.lru_cache(maxsize=1)
def top_level_modules() -> dict[str, frozenset[str]]:
    """Installed distributions (canonical names) -> the top-level modules they provide (read once: slow)."""
    out: dict[str, set[str]] = {}
    for module, dists in md.packages_distributions().items():
        if _IDENTIFIER.match(module):
            for d in dists:
                out.setdefault(canonical(d), set()).add(module)
    return {d: frozenset(mods) for d, mods in out.items()}


def runtime_distributions(with_training: bool = False, pyproject: Path | None = None) -> dict[str, str]:
    """The distributions the bundle must carry: canonical name -> what requires it."""
    extras = (TRAINING_EXTRA,) if with_training else ()
    return requirement_closure(project_requirements(pyproject, extras))


@dataclass(frozen=True)
class AppImport:
    """One import statement in a shipped app/ module."""

    module: str  # as written: "PySide6.QtWidgets", "pydantic", "onnxruntime.transformers.optimizer"
    file: str  # relative to the repository root
    line: int
    # made only when a feature runs (inside a function), or the code copes with it missing (inside a try
    # block), or only for type checkers (`if TYPE_CHECKING:`); otherwise importing the module needs it
    lazy: bool


def shipped_app_module(name: str, with_training: bool = False) -> bool:
    """Is this app module in the bundle? (the spec collects exactly these)"""
    return with_training or not name.startswith("app.training.") or name in BUNDLED_TRAINING_MODULES


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def app_imports(with_training: bool = False, root: Path | None = None) -> list[AppImport]:
    """Every absolute import of a non-app module in the shipped app/ modules, from their source."""
    base = root or ROOT
    out: list[AppImport] = []
    for path in sorted((base / "app").rglob("*.py")):
        if not shipped_app_module(_module_name(path, base), with_training):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        rel = path.relative_to(base).as_posix()

        def visit(node: ast.AST, lazy: bool) -> None:
            for child in ast.iter_child_nodes(node):
                opt = lazy or isinstance(child, (ast.Try, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) or (
                    isinstance(child, ast.If) and "TYPE_CHECKING" in ast.dump(child.test))
                names: list[str] = []
                if isinstance(child, ast.Import):
                    names = [a.name for a in child.names]
                elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                    names = [child.module]
                for name in names:
                    if name.split(".")[0] != "app":
                        out.append(AppImport(name, rel, child.lineno, opt))
                visit(child, opt)

        visit(tree, False)
    return out


def installed_qt_bindings() -> set[str]:
    """PySide6's binding modules in this environment: {"PySide6.QtCore", "PySide6.QtNetwork", ...}."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return set()
    folder = Path(next(iter(spec.submodule_search_locations)))
    return {"PySide6." + p.name.split(".")[0] for p in folder.iterdir()
            if p.name.startswith("Qt") and p.suffix in (".so", ".pyd")}


@dataclass(frozen=True)
class Kept:
    """A module the bundle must carry, and why."""

    module: str
    reason: str


def optional_modules(with_training: bool = False, pyproject: Path | None = None) -> set[str]:
    """Top-level modules the bundle may lack: those of installed distributions outside the runtime closure
    (training, evaluation, test, cluster, packaging tools) and this repository's tests/ and bench/."""
    runtime = runtime_distributions(with_training, pyproject)
    tops = top_level_modules()
    runtime_tops = {m for d in runtime for m in tops.get(d, ())} | {"app"}
    return ({m for d, mods in tops.items() if d not in runtime and d != PROJECT for m in mods} - runtime_tops) \
        | set(REPO_NOT_APP)


def kept_modules(with_training: bool = False, pyproject: Path | None = None, root: Path | None = None) -> list[Kept]:
    """Modules no exclude may cover: runtime distributions' top levels, app/'s imports, the app itself.

    Of app/'s imports, only a lazy one (see AppImport.lazy) of an optional module (see optional_modules)
    may be left out: torch in the fine-tuning code, onnx in the offline graph fusion, ray in the cluster
    engine. Everything else app/ imports, standard library included, stays.
    """
    kept = [Kept("app", "the app itself")]
    tops = top_level_modules()
    for dist, by in sorted(runtime_distributions(with_training, pyproject).items()):
        for module in sorted(tops.get(dist, ())):
            kept.append(Kept(module, f"provided by {dist}, a runtime dependency (required by {by})"))
    optional = optional_modules(with_training, pyproject)
    for imp in app_imports(with_training, root):
        if not (imp.lazy and imp.module.split(".")[0] in optional):
            kept.append(Kept(imp.module, f"imported by {imp.file}:{imp.line}"))
    return kept


def covers(exclude: str, module: str) -> bool:
    """Does excluding `exclude` remove `module`? (PyInstaller excludes a name and everything below it)"""
    return module == exclude or module.startswith(exclude + ".")


def conflicts(excludes: list[str], kept: list[Kept]) -> dict[str, str]:
    """Each exclude that would remove a kept module -> what it would remove and why that is needed."""
    out = {}
    for e in excludes:
        hits = [k for k in kept if covers(e, k.module)]
        if hits:
            out[e] = (f"{hits[0].module} ({hits[0].reason})" + (f" and {len(hits) - 1} more" if len(hits) > 1 else ""))
    return out


def derived_excludes(with_training: bool = False, pyproject: Path | None = None,
                     root: Path | None = None) -> list[str]:
    """What the spec leaves out, computed from the environment and app/ (see the module docstring)."""
    imported = {i.module for i in app_imports(with_training, root)}
    qt = installed_qt_bindings()
    qt_unused = {q for q in qt if not any(covers(q, m) for m in imported)}
    stdlib = STDLIB_UNUSED_WITH_TRAINING if with_training else STDLIB_UNUSED
    return sorted(optional_modules(with_training, pyproject)) + list(stdlib) + sorted(qt_unused)


def bundle_excludes(with_training: bool = False, extra: tuple[str, ...] = ()) -> tuple[list[str], dict[str, str]]:
    """(excludes for PyInstaller, the refused ones -> why). `extra`: further names asked for by hand; any of
    them (or of the derived ones) that would leave out a kept module is dropped, and the spec says so."""
    wanted = list(dict.fromkeys(derived_excludes(with_training) + list(extra)))
    refused = conflicts(wanted, kept_modules(with_training))
    return [e for e in wanted if e not in refused], refused
