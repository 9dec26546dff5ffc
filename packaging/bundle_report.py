"""Size of a built bundle: total, by part (Qt, ONNX Runtime, models, ...) and the largest files."""
from __future__ import annotations

import sys
from pathlib import Path

# The size budget, in MB (10^6 bytes) for the whole bundle folder, models included: the one place it is kept.
# The smoke test fails when a bundle is more than BUDGET_TOLERANCE over its budget. Raise a budget on
# purpose, in the commit that makes the bundle grow, and say why there.
#   albert-studio: 518.7 MB measured 2026-12-07 (six models, 221.5 MB of them; program 297 MB). The issue
#   that asked for this budget quoted about 370 MB: that was before albert-sentiment-en-fast, the docs
#   translator and the fp32 sentiment graph landed (models 105 -> 221.5 MB).
#   albert-studio-full (--with-training): no budget yet (last measured 1,280.8 MB on 2026-12-01, with
#   105 MB of models); its size is reported, not checked.
SIZE_BUDGET_MB = {"albert-studio": 520.0}
BUDGET_TOLERANCE = 0.10


def budget_verdict(bundle_name: str, total_bytes: int) -> tuple[bool | None, str]:
    """(True/False: within the budget plus tolerance or not; None: no budget for this bundle) and a line to print."""
    mb = total_bytes / 1e6
    budget = SIZE_BUDGET_MB.get(bundle_name)
    if budget is None:
        return None, f"{mb:.1f} MB (no size budget for {bundle_name} in packaging/bundle_report.py)"
    limit = budget * (1 + BUDGET_TOLERANCE)
    return mb <= limit, (f"{mb:.1f} MB, budget {budget:.0f} MB ({(mb / budget - 1) * 100:+.1f}%), fails above "
                         f"{limit:.0f} MB (+{BUDGET_TOLERANCE:.0%})")


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
    mb = lambda b: f"{b / 1e6:8.1f} MB"
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
