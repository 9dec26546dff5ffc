"""Size of a built bundle: total, by part (Qt, ONNX Runtime, models, ...) and the largest files."""
from __future__ import annotations

import sys
from pathlib import Path

# (part, path prefixes under _internal/) in match order; the first match wins
PARTS = [
    ("models", ("models/",)),
    ("Qt libraries (PySide6/Qt/lib)", ("PySide6/Qt/lib/", "PySide6/Qt6", "PySide6/Qt/")),
    ("PySide6 + shiboken6 bindings", ("PySide6/", "shiboken6/")),
    ("onnxruntime", ("onnxruntime/",)),
    ("numpy (+ its OpenBLAS)", ("numpy/", "numpy.libs/")),
    ("torch", ("torch/", "torch.libs/", "functorch/")),
    ("transformers/sklearn/scipy/onnx", ("transformers/", "sklearn/", "scipy/", "scipy.libs/", "onnx/",
                                         "scikit_learn.libs/", "sympy/", "safetensors/")),
    ("tokenizers + sentencepiece", ("tokenizers/", "sentencepiece/")),
    ("lxml", ("lxml/",)),
    ("licenses", ("licenses/",)),
    ("resources", ("resources/",)),
    ("Python runtime + stdlib (libpython, base_library.zip, lib-dynload)", ("libpython", "base_library.zip",
                                                                           "python3", "lib-dynload/")),
]


def _size(p: Path) -> int:
    return p.stat().st_size if p.is_file() and not p.is_symlink() else 0


def measure(bundle: Path) -> dict:
    files = [p for p in bundle.rglob("*") if p.is_file() and not p.is_symlink()]
    total = sum(_size(p) for p in files)
    internal = bundle / "_internal"
    parts: dict[str, int] = {}
    for p in files:
        try:
            rel = p.relative_to(internal).as_posix()
        except ValueError:
            parts["executable (with the compiled Python modules)"] = parts.get("executable (with the compiled Python modules)", 0) + _size(p)
            continue
        name = next((n for n, prefixes in PARTS if rel.startswith(prefixes)), "other libraries")
        parts[name] = parts.get(name, 0) + _size(p)
    largest = sorted(((_size(p), p.relative_to(bundle).as_posix()) for p in files), reverse=True)[:15]
    models = {}
    if (internal / "models").is_dir():
        for m in sorted((internal / "models").iterdir()):
            models[m.name] = sum(_size(f) for f in m.rglob("*"))
    return {"total_bytes": total, "files": len(files), "parts": dict(sorted(parts.items(), key=lambda kv: -kv[1])),
            "largest": [{"bytes": b, "path": r} for b, r in largest], "models": models}


def size_report(bundle: Path, data: dict | None = None) -> str:
    d = data or measure(bundle)
    mb = lambda b: f"{b / 1e6:8.1f} MB"  # noqa: E731
    lines = [f"bundle {bundle}: {mb(d['total_bytes']).strip()} in {d['files']} files", "by part:"]
    lines += [f"  {mb(b)}  {name}" for name, b in d["parts"].items()]
    if d["models"]:
        lines.append("models:")
        lines += [f"  {mb(b)}  {name}" for name, b in d["models"].items()]
    lines.append("largest files:")
    lines += [f"  {mb(x['bytes'])}  {x['path']}" for x in d["largest"][:10]]
    return "\n".join(lines)


if __name__ == "__main__":
    print(size_report(Path(sys.argv[1] if len(sys.argv) > 1 else "dist/albert-studio")))
