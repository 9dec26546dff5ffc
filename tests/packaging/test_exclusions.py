"""The bundle never leaves out a runtime dependency or a module app/ needs (issue 27: pydantic was excluded).

The exclude list is taken from the real spec, run here with PyInstaller's build steps replaced by
recorders (no build: PyInstaller itself need not be installed), so whatever the spec does to compute its
list, this checks the list it would hand to PyInstaller.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_under_test", PACKAGING / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def exclusions():
    return _load("exclusions")


class _Recorder:
    """Stands in for PyInstaller's Analysis/PYZ/EXE/COLLECT/BUNDLE: keeps the arguments, builds nothing."""

    calls: list = []

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        self.pure, self.scripts, self.binaries, self.datas = [], [], [], []
        _Recorder.calls.append((type(self).__name__, kwargs))


def run_spec(with_training: bool, tmp_path: Path, monkeypatch) -> list[str]:
    """Run packaging/albert_studio.spec as PyInstaller would, and return the `excludes` it gives Analysis."""
    classes = {n: type(n, (_Recorder,), {}) for n in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE")}
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_submodules = lambda package, filter=None: []  # noqa: A002  (PyInstaller's own keyword)
    hooks.collect_data_files = lambda package, excludes=None: []
    bindepend = types.ModuleType("PyInstaller.depend.bindepend")
    bindepend.get_imports = lambda path: []
    for name, mod in (("PyInstaller", types.ModuleType("PyInstaller")),
                      ("PyInstaller.utils", types.ModuleType("PyInstaller.utils")),
                      ("PyInstaller.utils.hooks", hooks),
                      ("PyInstaller.depend", types.ModuleType("PyInstaller.depend")),
                      ("PyInstaller.depend.bindepend", bindepend)):
        monkeypatch.setitem(sys.modules, name, mod)
    sys.modules["PyInstaller.depend"].bindepend = bindepend
    for name in ("spec_helpers", "exclusions"):  # the spec imports these by plain name from packaging/
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("ALBERT_STUDIO_WITH_TRAINING", "1" if with_training else "0")
    _Recorder.calls = []
    spec_file = PACKAGING / "albert_studio.spec"
    namespace = {"__file__": str(spec_file), "__name__": "__main__", "SPECPATH": str(PACKAGING),
                 "workpath": str(tmp_path / "work"), "DISTPATH": str(tmp_path / "dist"), **classes}
    exec(compile(spec_file.read_text(encoding="utf-8"), str(spec_file), "exec"), namespace)
    analyses = [kw for name, kw in _Recorder.calls if name == "Analysis"]
    assert len(analyses) == 1, "the spec should run exactly one Analysis"
    return list(analyses[0].get("excludes") or [])


@pytest.fixture(scope="module")
def spec_excludes(tmp_path_factory):
    """spec_excludes(with_training) -> the spec's excludes (each variant run once per module: it is slow)."""
    cache: dict[bool, list[str]] = {}

    def get(with_training: bool) -> list[str]:
        if with_training not in cache:
            with pytest.MonkeyPatch.context() as mp:
                cache[with_training] = run_spec(with_training, tmp_path_factory.mktemp("spec"), mp)
        return cache[with_training]

    return get


@pytest.mark.parametrize("with_training", [False, True], ids=["default-bundle", "training-bundle"])
def test_the_spec_excludes_no_runtime_dependency_and_nothing_app_imports(with_training, exclusions, spec_excludes):
    excludes = spec_excludes(with_training)
    kept = exclusions.kept_modules(with_training)
    clashes = exclusions.conflicts(excludes, kept)
    assert not clashes, "the spec's excludes leave out what the bundle needs:\n" + "\n".join(
        f"  {name}: {why}" for name, why in clashes.items())


def test_the_default_bundle_still_leaves_out_the_training_stack_and_the_dev_tools(exclusions, spec_excludes):
    excludes = set(spec_excludes(False))
    installed = {m for mods in exclusions.top_level_modules().values() for m in mods}
    for heavy in ("torch", "transformers", "sklearn", "scipy", "onnx", "pytest", "PyInstaller", "ray", "nltk"):
        if heavy in installed:  # only what this environment has can be found (CI installs all of them)
            assert heavy in excludes, f"{heavy} would be bundled"
    assert {"tests", "bench", "tkinter"} <= excludes
    # Qt bindings the window does not import are left out; the three it does import are not
    assert "PySide6.QtNetwork" in excludes
    assert not {"PySide6", "PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets"} & excludes


def test_the_runtime_closure_follows_dependencies_of_dependencies(exclusions):
    runtime = exclusions.runtime_distributions()
    assert runtime["pydantic"] == "pyproject.toml"
    assert runtime["pydantic-core"] == "pydantic"  # not in pyproject.toml, needed all the same
    assert "pyside6-essentials" in runtime and "shiboken6" in runtime
    assert "torch" not in runtime
    assert "torch" in exclusions.runtime_distributions(with_training=True)


def test_a_runtime_dependency_that_is_not_installed_stops_the_build(exclusions, tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\ndependencies = ["numpy", "no-such-distribution-anywhere>=1"]\n')
    with pytest.raises(exclusions.ExclusionError, match="no-such-distribution-anywhere"):
        exclusions.runtime_distributions(pyproject=pyproject)


def test_app_imports_are_read_from_the_source_lazy_ones_marked(exclusions):
    found = {(i.file, i.module): i.lazy for i in exclusions.app_imports()}
    assert found[("app/core/manifest_schema.py", "pydantic")] is False  # the import issue 27 was about
    assert found[("app/core/tuning.py", "onnx")] is True  # offline fusion, a training extra, made in a function
    assert not any(f.startswith("app/training/") and not f.endswith(("finetune.py", "common.py")) for f, _ in found)


def test_conflicts_name_what_an_exclude_would_remove_and_why(exclusions):
    kept = exclusions.kept_modules()
    clashes = exclusions.conflicts(["pydantic", "yaml", "PySide6", "onnxruntime.transformers", "torch",
                                    "PySide6.QtNetwork", "sqlite3", "pandas"], kept)
    assert set(clashes) == {"pydantic", "yaml", "PySide6", "onnxruntime.transformers", "sqlite3"}
    assert "app/core/manifest_schema.py" in clashes["pydantic"] or "runtime dependency" in clashes["pydantic"]
    assert "huggingface-hub" in clashes["yaml"]  # tokenizers -> huggingface-hub -> pyyaml
    assert "app/core/tuning.py" in clashes["onnxruntime.transformers"]


def test_bundle_excludes_refuses_a_hand_added_runtime_dependency(exclusions):
    excludes, refused = exclusions.bundle_excludes(extra=("pydantic", "rich"))
    assert "pydantic" not in excludes and "pydantic" in refused
    assert "rich" in excludes  # not needed by anything the app runs: left out as asked


def test_runtime_packages_without_a_pyinstaller_hook_get_their_data_collected():
    """py3langid has no PyInstaller hook, so its language model was left behind and translation failed."""
    pytest.importorskip("PyInstaller")
    sys.path.insert(0, str(PACKAGING))
    try:
        helpers = _load("spec_helpers")
        hookless = helpers.hookless_runtime_packages({"py3langid", "numpy", "torch", "pydantic", "json"})
    finally:
        sys.path.remove(str(PACKAGING))
    assert "py3langid" in hookless  # a runtime package with data and no hook
    assert "numpy" not in hookless and "pydantic" not in hookless  # PyInstaller has hooks for these
    assert "torch" not in hookless  # not a runtime dependency of the default bundle


def test_every_shipped_app_module_imports_with_the_excluded_modules_absent(spec_excludes, tmp_path):
    """As in the bundle: excluded modules cannot be imported; every shipped app module must still import
    (a runtime dependency that needs an excluded module unconditionally fails here, by name)."""
    excludes = spec_excludes(False)
    code = r'''
import importlib, importlib.abc, json, pkgutil, sys
excludes = json.loads(sys.argv[1])
sys.path.insert(0, sys.argv[2])
import exclusions
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == e or name.startswith(e + ".") for e in excludes):
            raise ModuleNotFoundError(f"No module named {name!r} (excluded from the bundle)", name=name)
        return None
sys.meta_path.insert(0, Absent())
import app
failed = {}
names = [m.name for m in pkgutil.walk_packages(app.__path__, "app.", onerror=lambda n: None)
         if exclusions.shipped_app_module(m.name) and not m.name.endswith(".__main__")]
for name in names:
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps({"imported": len(names) - len(failed), "failed": failed}))
'''
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_CACHE_HOME=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))
    cp = subprocess.run([sys.executable, "-c", code, json.dumps(excludes), str(PACKAGING)], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=300)
    assert cp.returncode == 0, cp.stderr[-2000:]
    result = json.loads(cp.stdout.strip().splitlines()[-1])
    assert result["imported"] > 50  # the walk found the app
    blocked = {n: e for n, e in result["failed"].items() if "excluded from the bundle" in e}
    assert not blocked, "shipped modules that need an excluded module:\n" + "\n".join(
        f"  {n}: {e}" for n, e in blocked.items())
    assert not result["failed"], f"shipped modules that do not import: {result['failed']}"
