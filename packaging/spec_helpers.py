"""What goes into the bundle and what is stripped; used by albert_studio.spec (kept here to stay readable).

Everything is decided from what exists at build time: every models/*/ folder (never runs/ or data),
resources/ without scripts, the license files of every Python distribution whose code was collected,
and only the Qt plugins and libraries a QtWidgets desktop app needs. The Python modules left out come
from packaging/exclusions.py.
"""
from __future__ import annotations

import fnmatch
import json
import importlib.metadata as md
import os
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent

# Which Python modules are left out is not listed here: packaging/exclusions.py derives it from
# pyproject.toml's dependencies and app/'s imports, so a runtime dependency can never be left out.

# Qt plugins: keep what a desktop QtWidgets window needs on each platform (display, input methods,
# themes, images, SVG icons); drop embedded/VNC platforms, Qt Quick tooling, SQL drivers, TLS, etc.
QT_PLUGIN_DROP = [
    "platforms/*eglfs*", "platforms/*linuxfb*", "platforms/*vnc*", "platforms/*minimalegl*", "platforms/*vkkhrdisplay*",
    "egldeviceintegrations/*", "generic/*", "networkinformation/*", "tls/*", "qmltooling/*", "sqldrivers/*",
    "designer/*", "vectorimageformats/*", "platforminputcontexts/*virtualkeyboard*", "imageformats/*qpdf*",
    "imageformats/*tiff*", "imageformats/*webp*", "imageformats/*tga*", "imageformats/*wbmp*",
    "wayland-graphics-integration-server/*",
    # GTK3 theme plugin: needs the system's GTK, and would load it next to the bundle's own glib/cairo
    # copies (a classic crash); the app draws with Fusion and its own palette anyway
    "platformthemes/*gtk3*", "position/*", "multimedia/*", "sceneparsers/*", "renderers/*",
]
if sys.platform != "darwin":
    QT_PLUGIN_DROP.append("imageformats/*icns*")


def read_version() -> str:
    m = re.search(r'__version__\s*=\s*"([^"]+)"', (ROOT / "app" / "__init__.py").read_text())
    return m.group(1) if m else "0.0.0"


PARTIAL_SUFFIXES = (".tmp", ".partial", ".part", ".staging", ".old", ".bak")


def model_folders() -> tuple[list[Path], list[str]]:
    """models/<id>/ folders to ship, and the ones skipped with why (half-written exports, no manifest)."""
    models = ROOT / "models"
    ship, skipped = [], []
    for p in sorted(models.iterdir()) if models.is_dir() else []:
        if not p.is_dir() or p.name.startswith((".", "_")):
            continue
        if p.name.endswith(PARTIAL_SUFFIXES):
            skipped.append(f"{p.name} (still being written)")
        elif not (p / "manifest.json").is_file():
            skipped.append(f"{p.name} (no manifest.json)")
        else:
            ship.append(p)
    return ship, skipped


def model_datas(keep_fp32: bool = False) -> list[tuple[str, str]]:
    """Every file of every finished models/<id>/ folder present now (hidden files and caches skipped).

    Unless `keep_fp32`, a model whose default graph is int8 ships without its fp32 graph: the bundle runs ONNX
    Runtime's CPU provider only (no onnxruntime-gpu, which is what the fp32 graphs serve) and cannot train (the
    other use of the fp32 weights). Such a folder is staged under build/staged-models/ with its manifest
    rewritten to list what ships, so the app's checks (sha256 of every listed file) hold in the bundle."""
    out = []
    for folder in model_folders()[0]:
        src = folder if keep_fp32 else _without_fp32(folder)
        for f in sorted(src.rglob("*")):
            rel = f.relative_to(src)
            if f.is_file() and not any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
                out.append((str(f), str(Path("models") / folder.name / rel.parent)))
    return out


def _without_fp32(folder: Path) -> Path:
    """`folder`, or a staged copy without the fp32 graph when the model runs int8 by default."""
    try:
        raw = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        graphs, files = raw["graphs"], raw["files"]
        fp32, int8 = graphs["fp32"]["file"], graphs["int8"]["file"]
    except (ValueError, KeyError, TypeError, OSError):
        return folder  # not a model that has both (or not readable here): shipped as it is
    if raw.get("default_graph") != "int8" or fp32 == int8 or not isinstance(files, dict):
        return folder
    if any(isinstance(g, dict) and g.get("file") == fp32 for name, g in graphs.items() if name != "fp32"):
        return folder
    staged = ROOT / "build" / "staged-models" / folder.name
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    for f in folder.iterdir():
        if f.is_file() and f.name not in (fp32, "manifest.json") and not f.name.startswith("."):
            shutil.copy2(f, staged / f.name)
    raw["graphs"] = {k: v for k, v in graphs.items() if k != "fp32"}
    raw["files"] = {k: v for k, v in files.items() if k != fp32}
    raw["bundle_note"] = f"{fp32} (fp32) left out of the desktop bundle: it runs int8 on the CPU"
    (staged / "manifest.json").write_text(json.dumps(raw, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return staged


def resource_datas() -> list[tuple[str, str]]:
    """resources/ as it is (icons, styles, samples, UI translations), without scripts and caches."""
    out = []
    for f in sorted((ROOT / "resources").rglob("*")):
        rel = f.relative_to(ROOT)
        if f.is_file() and f.suffix not in (".py", ".pyc") and "__pycache__" not in rel.parts \
                and not any(p.startswith(".") for p in rel.parts):
            out.append((str(f), str(rel.parent)))
    return out


def qt_translation_keep() -> set[str]:
    """Languages of the app's own UI translations; Qt's translations of other languages are dropped."""
    langs = set()
    for f in (ROOT / "resources").rglob("*.qm"):
        m = re.search(r"_([a-z]{2})(?:_[A-Z]{2})?\.qm$", f.name)
        if m:
            langs.add(m.group(1))
    return langs


def strip_qt(binaries, datas):
    """Drop unused Qt plugins and Qt translations; returns (binaries, datas, dropped names)."""
    dropped = []
    keep_langs = qt_translation_keep()

    def plugin_dropped(dest: str) -> bool:
        d = dest.replace("\\", "/")
        if "/plugins/" not in d:
            return False
        tail = d.split("/plugins/", 1)[1]
        return any(fnmatch.fnmatch(tail, pat) for pat in QT_PLUGIN_DROP)

    new_bin = []
    for entry in binaries:
        if plugin_dropped(entry[0]):
            dropped.append(entry[0])
        else:
            new_bin.append(entry)
    new_datas = []
    for entry in datas:
        d = entry[0].replace("\\", "/")
        if "PySide6/Qt/translations/" in d or "PySide6/translations/" in d:
            m = re.search(r"_([a-z]{2})(?:_[A-Z]{2})?\.qm$", d)
            if not (m and m.group(1) in keep_langs):
                dropped.append(entry[0])
                continue
        new_datas.append(entry)
    return new_bin, new_datas, dropped


def prune_unreachable_qt_libs(binaries):
    """Drop Qt shared libraries no kept module or plugin links to (Linux only; elsewhere nothing is pruned).

    PyInstaller resolves the libraries of every plugin before the plugins are stripped, so the libraries
    behind dropped plugins (Qt Pdf, Qt Quick, Qt Network, ...) would otherwise stay in the bundle.
    """
    if not sys.platform.startswith("linux"):
        return binaries, []
    from PyInstaller.depend import bindepend

    def is_qt_lib(dest: str) -> bool:
        return bool(re.search(r"(^|/)libQt6\w+\.so", dest.replace("\\", "/")) and "/plugins/" not in dest)

    by_name = {}
    for entry in binaries:
        by_name.setdefault(os.path.basename(entry[0]), []).append(entry)
    qt = {os.path.basename(e[0]) for e in binaries if is_qt_lib(e[0])}
    reached: set[str] = set()
    todo = [e for e in binaries if not is_qt_lib(e[0])]
    seen_src = set()
    while todo:
        entry = todo.pop()
        src = entry[1]
        if src in seen_src or not os.path.exists(src):
            continue
        seen_src.add(src)
        try:
            imports = bindepend.get_imports(src)
        except Exception:  # unreadable: keep everything rather than guess
            return binaries, []
        for name, _path in imports:
            base = os.path.basename(name)
            if base in qt and base not in reached:
                reached.add(base)
                todo.extend(by_name.get(base, []))
    pruned = [e[0] for e in binaries if is_qt_lib(e[0]) and os.path.basename(e[0]) not in reached]
    return [e for e in binaries if not (is_qt_lib(e[0]) and os.path.basename(e[0]) not in reached)], pruned


_LICENSE_RE = re.compile(r"(^|/)(LICEN[CS]E|COPYING|NOTICE|AUTHORS|ThirdPartyNotices)[^/]*$", re.I)


def license_datas(collected_top_levels: set[str], build_dir: Path) -> list[tuple[str, str]]:
    """licenses/<distribution>/... for every distribution whose modules are in the bundle, plus Python's own.

    Wheels that carry no license file (PySide6, shiboken6, tokenizers, sentencepiece) get a note with
    their declared license and the full text from packaging/licenses/.
    """
    top_to_dists = md.packages_distributions()
    dists = sorted({d for top in collected_top_levels for d in top_to_dists.get(top, [])}, key=str.lower)
    out: list[tuple[str, str]] = []
    notes_dir = build_dir / "license-notes"
    notes_dir.mkdir(parents=True, exist_ok=True)
    texts = HERE / "licenses"
    for name in dists:
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        dest = f"licenses/{dist.metadata['Name']}-{dist.version}"
        found = [f for f in (dist.files or []) if _LICENSE_RE.search(str(f)) and not str(f).endswith((".py", ".pyc"))
                 and "/tests/" not in str(f)]
        for f in found:
            p = Path(dist.locate_file(f))
            if p.is_file():
                out.append((str(p), dest))
        declared = dist.metadata.get("License-Expression") or dist.metadata.get("License") or ""
        classifiers = [c for c in (dist.metadata.get_all("Classifier") or []) if c.startswith("License")]
        if not found or "LGPL" in declared:
            note = notes_dir / f"{dist.metadata['Name']}.txt"
            lines = [f"{dist.metadata['Name']} {dist.version}", f"Home: {dist.metadata.get('Home-page') or ''}",
                     f"Declared license: {declared or ', '.join(classifiers) or 'see project'}"]
            if "LGPL" in declared:
                lines.append("Used here under the LGPL-3.0: the Qt/PySide6 libraries are separate shared libraries in "
                             "this folder and can be replaced by the user with compatible builds. Source code: "
                             "https://code.qt.io/ (Qt) and https://code.qt.io/cgit/pyside/pyside-setup.git (PySide6).")
            note.write_text("\n".join(lines) + "\n")
            out.append((str(note), dest))
            for spdx, fname in (("LGPL", "LGPL-3.0.txt"), ("LGPL", "GPL-3.0.txt"), ("Apache", "Apache-2.0.txt")):
                if spdx in declared or any(spdx in c for c in classifiers):
                    if (texts / fname).exists():
                        out.append((str(texts / fname), dest))
    py_license = Path(sys.base_prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "LICENSE.txt"
    if not py_license.exists():
        py_license = Path(sys.base_prefix) / "LICENSE.txt"
    if py_license.exists():
        out.append((str(py_license), f"licenses/Python-{sys.version.split()[0]}"))
    out.append((str(ROOT / "packaging" / "licenses" / "README.txt"), "licenses"))
    return out


# Files of a package that are not run-time data: sources, headers, stubs, Windows launchers.
DATA_NOT_NEEDED = ["**/*.c", "**/*.cc", "**/*.cpp", "**/*.h", "**/*.pxd", "**/*.pxi", "**/*.pyi", "**/py.typed",
                   "**/*.cmake", "**/*.exe"]


def hookless_runtime_packages(collected_top_levels: set[str], with_training: bool = False) -> list[str]:
    """Collected packages of runtime distributions that PyInstaller has no hook for.

    PyInstaller collects a package's data files (py3langid's language model, for one) only through a hook;
    these get theirs collected by the spec, so a runtime dependency never arrives without its data.
    """
    import importlib.util

    import exclusions

    tops = exclusions.top_level_modules()
    runtime = {m for d in exclusions.runtime_distributions(with_training) for m in tops.get(d, ())}
    candidates = sorted(runtime & collected_top_levels)
    hook_dirs = [Path(d) for d in _hook_dirs()] if candidates else []
    out = []
    for name in candidates:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue  # a plain module has no data folder
        if not any((d / f"hook-{name}.py").exists() for d in hook_dirs):
            out.append(name)
    return out


def _hook_dirs() -> list[str]:
    """PyInstaller's own hook folder and those of installed hook packages (pyinstaller-hooks-contrib)."""
    import PyInstaller

    dirs = [str(Path(PyInstaller.__file__).parent / "hooks")]
    for ep in md.entry_points(group="pyinstaller40"):
        if ep.name == "hook-dirs":
            try:
                dirs += list(ep.load()())
            except Exception:  # a broken hook package: its hooks would not run either
                continue
    return dirs
