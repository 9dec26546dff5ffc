"""Build the desktop bundle: `python packaging/build.py [--with-training] [--clean] [--archive]`.

Produces dist/albert-studio/ (dist/albert-studio-full/ with --with-training), a one-folder PyInstaller
bundle with the executable `albert-studio` (the window without arguments, the CLI with them), every
models/*/ folder present now, resources/ and licenses/. Prints the bundle's size and largest parts.
Run it with the project's environment (`pip install -e '.[package]'`); the same command works on
Windows and macOS (there the spec adds the .exe icon/version resource, or the .app bundle).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "packaging"))

from bundle_report import size_report  # noqa: E402


def bundle_dir(with_training: bool) -> Path:
    return ROOT / "dist" / ("albert-studio-full" if with_training else "albert-studio")


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def write_build_info(bundle: Path, seconds: float, with_training: bool) -> dict:
    from spec_helpers import read_version

    models = sorted(p.name for p in (bundle / "_internal" / "models").iterdir()) \
        if (bundle / "_internal" / "models").is_dir() else []
    info = {"name": "albert-studio", "version": read_version(), "commit": git_commit(),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "platform": platform.platform(),
            "python": platform.python_version(), "with_training": with_training, "models": models,
            "build_seconds": round(seconds, 1)}
    (bundle / "BUILD_INFO.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def add_linux_desktop_files(bundle: Path) -> None:
    """install.sh + .desktop entry so the folder can be installed per user (menu entry, `albert-studio` on PATH)."""
    src = ROOT / "packaging" / "linux"
    for name in ("install.sh", "albert-studio.desktop"):
        shutil.copy2(src / name, bundle / name)
    (bundle / "install.sh").chmod(0o755)


def archive(bundle: Path) -> Path:
    from spec_helpers import read_version

    system = {"linux": "linux", "win32": "windows", "darwin": "macos"}.get(sys.platform, sys.platform)
    base = bundle.parent / f"{bundle.name}-{read_version()}-{system}-{platform.machine().lower()}"
    fmt = "zip" if sys.platform == "win32" else "gztar"
    return Path(shutil.make_archive(str(base), fmt, root_dir=bundle.parent, base_dir=bundle.name))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--with-training", action="store_true",
                   help="also bundle torch/transformers/sklearn/onnx so fine-tuning works (much larger)")
    p.add_argument("--clean", action="store_true", help="discard PyInstaller's cache first (slower)")
    p.add_argument("--archive", action="store_true", help="also pack the folder as .tar.gz (.zip on Windows)")
    args = p.parse_args(argv)
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        print("PyInstaller is missing: pip install -e '.[package]'", file=sys.stderr)
        return 2
    bundle = bundle_dir(args.with_training)
    env = dict(os.environ, ALBERT_STUDIO_WITH_TRAINING="1" if args.with_training else "0")
    cmd = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
           "--distpath", str(ROOT / "dist"), "--workpath", str(ROOT / "build" / bundle.name),
           str(ROOT / "packaging" / "albert_studio.spec")]
    if args.clean:
        cmd.insert(3, "--clean")
    from spec_helpers import model_folders

    ship, skipped = model_folders()
    print(f"building {bundle.relative_to(ROOT)} (models: {', '.join(p.name for p in ship) or 'none'}"
          + (f"; skipped: {', '.join(skipped)}" if skipped else "") + ")", flush=True)
    t0 = time.monotonic()
    rc = subprocess.call(cmd, cwd=ROOT, env=env)
    seconds = time.monotonic() - t0
    if rc != 0:
        print(f"PyInstaller failed (exit {rc})", file=sys.stderr)
        return rc
    if sys.platform.startswith("linux"):
        add_linux_desktop_files(bundle)
    info = write_build_info(bundle, seconds, args.with_training)
    print(f"built {bundle.relative_to(ROOT)} in {seconds:.0f}s: version {info['version']}, models {info['models']}")
    print(size_report(bundle))
    if args.archive:
        print(f"archive: {archive(bundle)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
