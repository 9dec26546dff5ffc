"""Run a command on this machine as if some system libraries were not installed (Linux only).

    python packaging/without_libs.py --hide 'libxcb*' --hide 'libX*' -- dist/albert-studio/albert-studio

The smoke test uses it to start the bundle on a system "without the X11 libraries". An environment
variable cannot do that (the dynamic loader always searches the system folders), and a copy of the
bundle would not change what the system has, so this hides the files themselves, for the command only:
in a private mount namespace (`unshare`; as root, or as a user where user namespaces are allowed), each
system library folder that holds a hidden library is covered by a folder of links to everything else in
it. ldd, dlopen and Qt's plugin loader then find nothing, exactly as on a machine without the packages;
the real system is untouched and everything is gone when the command ends.
"""
from __future__ import annotations

import argparse
import fnmatch
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


class HidingUnavailable(Exception):
    """This machine cannot run a command with libraries hidden (no unshare, or namespaces not allowed)."""


def library_dirs() -> list[Path]:
    """The folders the dynamic loader searches by default or through ld.so.cache, real paths, existing."""
    dirs: list[Path] = []
    try:
        out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    for line in out.splitlines():
        if "=>" in line:
            dirs.append(Path(line.split("=>", 1)[1].strip()).parent)
    dirs += [Path(p) for p in ("/lib", "/usr/lib", "/lib64", "/usr/lib64", "/usr/local/lib")]
    real = []
    for d in dirs:
        r = d.resolve()
        if r.is_dir() and r not in real:
            real.append(r)
    return real


def hidden_files(patterns: list[str], dirs: list[Path] | None = None) -> dict[Path, list[str]]:
    """Library folder -> the names in it that match a pattern (only folders with at least one)."""
    out: dict[Path, list[str]] = {}
    for d in dirs if dirs is not None else library_dirs():
        names = sorted(n for n in os.listdir(d) if any(fnmatch.fnmatch(n, p) for p in patterns))
        if names:
            out[d] = names
    return out


def _inner(patterns: list[str], scratch: Path, command: list[str]) -> int:
    """Inside the namespace: cover each folder with links to all but the hidden names, then run the command."""
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(scratch)], check=True)
    for i, (folder, names) in enumerate(hidden_files(patterns).items()):
        orig, farm = scratch / f"orig{i}", scratch / f"farm{i}"
        orig.mkdir()
        farm.mkdir()
        subprocess.run(["mount", "--bind", str(folder), str(orig)], check=True)
        hide = set(names)
        for name in os.listdir(orig):
            if name not in hide:
                os.symlink(orig / name, farm / name)
        subprocess.run(["mount", "--bind", str(farm), str(folder)], check=True)
    subprocess.run(["ldconfig", "-C", str(scratch / "ld.so.cache")], capture_output=True)  # a cache without them
    if (scratch / "ld.so.cache").exists() and Path("/etc/ld.so.cache").exists():
        subprocess.run(["mount", "--bind", str(scratch / "ld.so.cache"), "/etc/ld.so.cache"], check=True)
    sys.stdout.flush()
    os.execvp(command[0], command)
    return 127  # not reached


def command_without(patterns: list[str], command: list[str], scratch: Path) -> list[str]:
    """The command line that runs `command` with the matching system libraries hidden; `scratch` is an empty
    folder the caller removes afterwards (a private tmpfs is mounted on it, visible to the command only)."""
    unshare = shutil.which("unshare")
    if not sys.platform.startswith("linux") or unshare is None:
        raise HidingUnavailable("needs Linux and unshare (util-linux)")
    ns = [unshare, "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        ns[1:1] = ["--user", "--map-root-user"]
    probe = subprocess.run(ns + ["true"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise HidingUnavailable(f"cannot make a private mount namespace here: {probe.stderr.strip()[-200:]}")
    args = [a for p in patterns for a in ("--hide", p)]
    return ns + [sys.executable, str(Path(__file__).resolve()), "--inside", str(scratch), *args, "--", *command]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hide", action="append", default=[], help="file name pattern to hide, e.g. 'libxcb*' (repeat)")
    p.add_argument("--inside", type=Path, help=argparse.SUPPRESS)
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command or not args.hide:
        p.error("give --hide PATTERN and a command after --")
    if args.inside:
        return _inner(args.hide, args.inside, command)
    with tempfile.TemporaryDirectory(prefix="albert-nolibs-") as scratch:
        try:
            full = command_without(args.hide, command, Path(scratch))
        except HidingUnavailable as exc:
            print(f"without_libs: {exc}", file=sys.stderr)
            return 2
        return subprocess.call(full)


if __name__ == "__main__":
    raise SystemExit(main())
