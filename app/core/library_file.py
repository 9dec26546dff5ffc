"""Moving the library file to another place (Preferences > Library location), safely.

The copy is made with SQLite's online backup (consistent even with the WAL in use), opened and counted
before the old file is removed, so a full disk or a bad folder leaves the old library as it was.
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from app.core.errors import StoreError


def move_library(src: str | Path, dest: str | Path, remove_source: bool = True) -> int:
    """Copy the library at `src` to `dest`, check the copy, then delete `src` (unless the caller will, once
    it has closed its own connection: remove_library); returns the copy's document count."""
    from app.core.store import Store

    src, dest = Path(src), Path(dest)
    if dest.resolve() == src.resolve():
        raise StoreError(f"The library is already at {dest}.")
    if dest.exists():
        raise StoreError(f"{dest} already exists. Choose a new file name, or open that library instead of moving.")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(src) as a, sqlite3.connect(dest) as b:
            a.backup(b)
        a.close()
        b.close()
    except (OSError, sqlite3.Error) as exc:
        dest.unlink(missing_ok=True)
        raise StoreError(f"Could not move the library to {dest}: {exc}") from exc
    with Store(dest) as copy, Store(src) as original:
        n, expected = copy.count_documents(), original.count_documents()
    if n != expected:
        dest.unlink(missing_ok=True)
        raise StoreError(f"The copy at {dest} holds {n} documents instead of {expected}; the library was not moved.")
    if remove_source:
        remove_library(src)
    return n


def remove_library(path: str | Path) -> None:
    """Delete a library file with its WAL and shared-memory files."""
    for suffix in ("", "-wal", "-shm"):
        try:
            os.remove(f"{path}{suffix}")
        except FileNotFoundError:
            pass
