"""Files and folders: which files a batch reads (`collect_files`: folders walked, hidden entries and
unsupported types skipped, include/exclude globs), and their documents in that order (`iter_documents`).
"""
from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from app.core.documents.readers import read_document
from app.core.documents.tables import read_table
from app.core.documents.text import DEFAULT_MAX_CHARS, SUPPORTED_SUFFIXES, TABLE_SUFFIXES
from app.core.errors import DocumentError
from app.core.types import Document



def _as_paths(paths) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        return [Path(paths)]
    return [Path(p) for p in paths]


def _matches(patterns: Iterable[str], relative: str, name: str) -> bool:
    relative, name = relative.lower(), name.lower()
    for pattern in patterns:
        pattern = pattern.strip().replace("\\", "/").lower().rstrip("/")
        if not pattern:
            continue
        bare = pattern[3:] if pattern.startswith("**/") else pattern
        if (fnmatch.fnmatchcase(relative, pattern) or fnmatch.fnmatchcase(relative, bare)
                or fnmatch.fnmatchcase(name, bare)):
            return True
    return False


def _is_hidden_entry(entry: os.DirEntry) -> bool:
    if entry.name.startswith((".", "~$")):  # dotfiles, and Office's lock files
        return True
    attributes = getattr(entry.stat(follow_symlinks=False), "st_file_attributes", 0)
    return bool(attributes & getattr(stat, "FILE_ATTRIBUTE_HIDDEN", 0))


def _walk_folder(folder: Path, include, exclude, recursive: bool) -> Iterator[Path | DocumentError]:
    visited: set[tuple[int, int]] = set()
    stack: list[tuple[Path, str]] = [(folder, "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            info = directory.stat()
            key = (info.st_dev, info.st_ino)
            if key in visited:  # a symlink loop
                continue
            visited.add(key)
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: (e.name.lower(), e.name))
        except PermissionError:
            yield DocumentError(directory, "permission denied (cannot list this folder)")
            continue
        except OSError as exc:
            yield DocumentError(directory, f"cannot list this folder ({exc.strerror or exc})")
            continue
        subfolders: list[tuple[Path, str]] = []
        for entry in entries:
            try:
                if _is_hidden_entry(entry):
                    continue
                relative = f"{prefix}{entry.name}"
                is_dir = entry.is_dir()
            except OSError:
                continue
            if is_dir:
                if recursive and not (exclude and _matches(exclude, relative, entry.name)):
                    subfolders.append((Path(entry.path), relative + "/"))
                continue
            if Path(entry.name).suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            if include and not _matches(include, relative, entry.name):
                continue
            if exclude and _matches(exclude, relative, entry.name):
                continue
            yield Path(entry.path)
        # Files of a folder come before its subfolders, subfolders in name order.
        stack.extend(reversed(subfolders))


def _expand(paths, include, exclude, recursive) -> Iterator[Path | DocumentError]:
    seen: set[str] = set()
    for path in _as_paths(paths):
        found = _walk_folder(path, include, exclude, recursive) if path.is_dir() else iter([path])
        for item in found:
            if isinstance(item, Path):
                key = os.path.normcase(os.path.realpath(item))  # one real file is read once
                if key in seen:
                    continue
                seen.add(key)
            yield item


def collect_files(paths, include: list[str] | None = None, exclude: list[str] | None = None, *,
                  recursive: bool = True) -> list[Path]:
    """The files `iter_documents` would read, in the order it reads them.

    Folders are expanded (hidden entries and unsupported types skipped, include/exclude globs applied);
    files named explicitly are kept as given, even when missing or unsupported, so they get reported.
    """
    return [item for item in _expand(paths, include, exclude, recursive) if isinstance(item, Path)]


def iter_documents(paths, *, text_field: str | None = None, include: list[str] | None = None,
                   exclude: list[str] | None = None, recursive: bool = True,
                   progress: Callable[[Path, float], None] | None = None,
                   max_chars: int = DEFAULT_MAX_CHARS) -> Iterator[Document | DocumentError]:
    """Documents from files and folders; problems are yielded as DocumentError so a batch can go on.
    `progress(path, share)` hears how far through a table file (.csv/.tsv/.jsonl) reading has got.
    A document (file or table cell) longer than `max_chars` characters is a DocumentError."""
    for item in _expand(paths, include, exclude, recursive):
        if isinstance(item, DocumentError):
            yield item
            continue
        try:
            if item.suffix.lower() in TABLE_SUFFIXES:
                yield from read_table(item, text_field, max_chars=max_chars,
                                      progress=(lambda share, f=item: progress(f, share)) if progress else None)
            else:
                yield read_document(item, max_chars=max_chars)
        except DocumentError as exc:
            yield exc
