"""Before the window opens on Linux: are the system libraries of Qt's X11 (xcb) plugin installed?

Without them Qt aborts with "Could not load the Qt platform plugin 'xcb'" and names at most one library.
This check names every missing one and prints the command that installs them all, and the program
exits with a message instead of a core dump. It imports no Qt module (that is what would abort).
"""
from __future__ import annotations

import ctypes
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

# soname -> (Debian/Ubuntu package, Fedora package)
PACKAGES: dict[str, tuple[str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-xinput.so.0": ("libxcb-xinput0", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libSM.so.6": ("libsm6", "libSM"),
    "libICE.so.6": ("libice6", "libICE"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
}
# Loaded at run time (dlopen) by the plugin, so ldd cannot see them: Qt >= 6.5 refuses to start without it.
DLOPENED = ("libxcb-cursor.so.0",)
# What a fresh desktop most often lacks, for the README's one-line commands.
DEBIAN_LINE = ("sudo apt-get install -y libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 "
               "libxcb-render-util0 libxcb-xkb1 libxkbcommon-x11-0 libxcb-shape0 libxcb-randr0 libegl1")


def uses_xcb(environ: dict[str, str] | None = None, platform: str | None = None) -> bool:
    """Will Qt pick its X11 plugin? (Linux, no explicit other platform, no Wayland session.)"""
    env = os.environ if environ is None else environ
    if not (platform or sys.platform).startswith("linux"):
        return False
    qpa = env.get("QT_QPA_PLATFORM", "")
    if qpa:
        return qpa.split(";")[0].split(":")[0] == "xcb"
    return not env.get("WAYLAND_DISPLAY")


def _qt_dir() -> Path | None:
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "Qt"


def _not_found(binary: Path) -> list[str]:
    """Sonames ldd reports as "not found" for a shared library (empty when ldd is not there)."""
    try:
        out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.split("=>")[0].strip() for line in out.splitlines() if "not found" in line]


def _loadable(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_libraries(qt_dir: Path | None = None) -> list[str]:
    """Sonames the xcb plugin needs that the system lacks, in a stable order ([] when all are there)."""
    qt = qt_dir or _qt_dir()
    missing: list[str] = []
    if qt is not None:
        for binary in (qt / "plugins" / "platforms" / "libqxcb.so", qt / "lib" / "libQt6XcbQpa.so.6"):
            if binary.exists():
                for soname in _not_found(binary):
                    if soname not in missing:
                        missing.append(soname)
    for soname in DLOPENED:
        if soname not in missing and not _loadable(soname):
            missing.append(soname)
    return missing


def install_advice(missing: list[str]) -> str:
    """What to tell the user: which libraries are missing and the command that installs them."""
    deb = sorted({PACKAGES.get(s, (s, s))[0] for s in missing})
    rpm = sorted({PACKAGES.get(s, (s, s))[1] for s in missing})
    return (
        "Albert Studio cannot open its window: the X11 libraries Qt needs are not installed\n"
        f"  missing: {', '.join(missing)}\n"
        "Install them, then start Albert Studio again:\n"
        f"  Debian/Ubuntu: sudo apt-get install -y {' '.join(deb)}\n"
        f"  Fedora:        sudo dnf install -y {' '.join(rpm)}\n"
        "The command line works without them: albert-studio analyze FILE, albert-studio demo."
    )


def check_display_libraries() -> str | None:
    """None when the window can start, else the message to print (only checked where Qt would use xcb)."""
    if not uses_xcb():
        return None
    missing = missing_libraries()
    return install_advice(missing) if missing else None
