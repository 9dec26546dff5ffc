"""The files of a model folder, read as untrusted input: confined to the folder, regular, bounded, hashed once.

A manifest names its files by relative path. Before anything opens one, `inside(folder, name)` checks
that every component of the path is a plain name (no "..", no absolute or drive path), that no component
is a symbolic link, and that the file is a regular file (not a FIFO, device or directory) no larger than
MAX_FILE_BYTES. Files are opened with O_NOFOLLOW and checked again with fstat, so a file swapped for a
link or a FIFO between the check and the open is refused too. Digests are cached by (path, size, mtime),
so a model is hashed once per process, not once per document.
"""
from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import BinaryIO

from app.core.errors import ModelError

MAX_FILE_BYTES = 4_000_000_000  # the largest model file accepted (the shipped ones are under 40 MB)
MAX_MANIFEST_BYTES = 2_000_000
_BLOCK = 1 << 20
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # opening a FIFO must not wait for a writer
_BINARY = getattr(os, "O_BINARY", 0)
_digests: dict[tuple[str, int, int], str] = {}


def check_name(name: object) -> str:
    """`name` if it is a relative path of plain components (a/b.onnx); ValueError saying why otherwise."""
    if not isinstance(name, str) or not name:
        raise ValueError("a file path must be a non-empty string")
    if len(name) > 255 or "\x00" in name:
        raise ValueError("a file path must be under 256 characters, without NUL")
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ValueError(f"'{name}' is not a relative path inside the model folder (use a/b, not /, \\ or C:)")
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise ValueError(f"'{name}' must stay inside the model folder (no '..', '.' or empty parts)")
    return name


def inside(folder: Path, name: str, model: str = "") -> Path:
    """The path of `name` in `folder`, after checking it is a regular file there and reached without links."""
    who = f"{model}: " if model else ""
    try:
        check_name(name)
    except ValueError as exc:
        raise ModelError(f"{who}{exc}") from None
    path = Path(folder)
    parts = name.split("/")
    for i, part in enumerate(parts):
        path = path / part
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            raise ModelError(f"{who}file {name} is missing from {folder}") from None
        except OSError as exc:
            raise ModelError(f"{who}cannot read {name} in {folder} ({exc.strerror or exc})") from None
        if stat.S_ISLNK(st.st_mode):
            raise ModelError(f"{who}{name} is a symbolic link; a model's files must be real files inside its folder")
        last = i == len(parts) - 1
        if not last and not stat.S_ISDIR(st.st_mode):
            raise ModelError(f"{who}{name}: {part} is not a folder")
        if last:
            _check_regular(st, name, who)
    return path


def _check_regular(st: os.stat_result, name: str, who: str) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise ModelError(f"{who}{name} is not a regular file (a folder, FIFO or device cannot be a model file)")
    if st.st_size > MAX_FILE_BYTES:
        raise ModelError(f"{who}{name} is too large ({st.st_size:,} bytes; limit {MAX_FILE_BYTES:,})")


def open_regular(path: Path, name: str = "", model: str = "") -> BinaryIO:
    """Open a file for reading without following a link or blocking on a FIFO; fstat must say regular."""
    who = f"{model}: " if model else ""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _BINARY)
    except OSError as exc:
        raise ModelError(f"{who}cannot open {name or path} ({exc.strerror or exc}; links are not followed)") from None
    try:
        _check_regular(os.fstat(fd), name or str(path), who)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def sha256_of(path: Path, name: str = "", model: str = "") -> str:
    """sha256 of a regular file, remembered by (path, size, mtime) so an unchanged file is hashed once."""
    with open_regular(path, name, model) as f:
        st = os.fstat(f.fileno())
        key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
        if key in _digests:
            return _digests[key]
        h = hashlib.sha256()
        read = 0
        for block in iter(lambda: f.read(_BLOCK), b""):
            read += len(block)
            if read > MAX_FILE_BYTES:
                raise ModelError(f"{model + ': ' if model else ''}{name or path} grew past {MAX_FILE_BYTES:,} bytes")
            h.update(block)
    _digests[key] = h.hexdigest()
    return _digests[key]


def copy_checked(src: Path, dest: Path, digest: str, name: str, model: str) -> None:
    """Copy a regular file (never a link's target) and check its sha256 on the bytes actually copied."""
    h = hashlib.sha256()
    read = 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open_regular(src, name, model) as f, open(dest, "xb") as out:
        for block in iter(lambda: f.read(_BLOCK), b""):
            read += len(block)
            if read > MAX_FILE_BYTES:
                raise ModelError(f"{model}: {name} grew past {MAX_FILE_BYTES:,} bytes while it was copied")
            h.update(block)
            out.write(block)
    if h.hexdigest() != digest:
        raise ModelError(f"{model}: {name} is damaged or was changed (sha256 does not match the manifest)")


def read_small(path: Path, limit: int, name: str, model: str = "") -> bytes:
    """The bytes of a small regular file (a manifest, a card), refusing links, FIFOs and anything over `limit`."""
    with open_regular(path, name, model) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ModelError(f"{model + ': ' if model else ''}{name} is larger than {limit:,} bytes")
    return data
