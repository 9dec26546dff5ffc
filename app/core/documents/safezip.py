"""Zip-based files (.docx, .xlsx) read without trusting what the archive declares.

A zip entry states its unpacked size and CRC in its headers, and Python's zipfile inflates the whole
deflate stream in one call before cutting it to the declared size: an entry that declares 1 KB and
carries 1 GiB of deflated zeros (1 MB on disk) costs a gigabyte of memory while every declared size
looks harmless. Here each entry is inflated by us in 1 MB steps and the bytes actually produced are
counted against one budget for the whole archive (ZIP_MAX_INFLATED): past it the file is refused
("refused: expands past 200 MB when unpacked"), whatever the headers say. An entry whose real contents
do not match its declared size or CRC is refused as damaged. Libraries (python-docx) then get a rebuilt,
uncompressed archive holding only the verified bytes, so they never inflate anything themselves.
"""
from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

from app.core.documents.text import size_words
from app.core.errors import DocumentError

ZIP_MAX_INFLATED = 200_000_000  # bytes actually inflated, all entries of one file together
ZIP_MAX_RATIO = 100  # inflated / compressed, checked once an entry is past ZIP_RATIO_FLOOR
ZIP_RATIO_FLOOR = 1_000_000  # small, very repetitive XML parts can compress past the ratio legitimately
ZIP_MAX_ENTRIES = 10_000
_STEP = 1 << 20  # inflate at most this much per call
_LOCAL_HEADER = struct.Struct("<4s22xHH")


def _refused(path: str | Path, limit: int) -> DocumentError:
    return DocumentError(path, f"refused: expands past {size_words(limit)} when unpacked (the limit for one "
                               "zip-based file); it may be a zip bomb")


class ZipReader:
    """The entries of one zip archive held in memory, each inflated through the shared byte budget."""

    def __init__(self, path: str | Path, data: bytes, *, kind: str = "zip archive",
                 limit: int = ZIP_MAX_INFLATED):
        self.path, self.kind, self.limit = path, kind, limit
        self._data = memoryview(data)
        self.inflated = 0
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                self.infos = archive.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, struct.error) as exc:
            raise DocumentError(path, f"not a valid {kind} (a damaged zip archive: {exc})") from None
        if len(self.infos) > ZIP_MAX_ENTRIES:
            raise DocumentError(path, f"refused: the archive holds {len(self.infos):,} entries "
                                      f"(limit {ZIP_MAX_ENTRIES:,})")
        self._by_name = {info.filename: info for info in self.infos}

    def names(self) -> list[str]:
        return list(self._by_name)

    def read(self, name: str) -> bytes:
        """The entry's bytes, inflated by at most what is left of the budget (KeyError when absent)."""
        info = self._by_name[name]
        if info.flag_bits & 0x1:
            raise DocumentError(self.path, f"refused: {name} inside the {self.kind} is encrypted")
        start = self._data_offset(info)
        packed = self._data[start:start + info.compress_size]
        if info.compress_type == zipfile.ZIP_STORED:
            self._spend(len(packed), info, len(packed))
            out = bytes(packed)
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            out = self._inflate(info, packed)
        else:
            raise DocumentError(self.path, f"not a valid {self.kind}: {name} uses an unsupported compression "
                                           f"method ({info.compress_type})")
        if len(out) != info.file_size or zlib.crc32(out) != info.CRC:
            raise DocumentError(self.path, f"damaged {self.kind}: {name} holds {size_words(len(out))} but its "
                                           f"header declares {size_words(info.file_size)} (or its checksum "
                                           "differs); the archive's headers do not match its contents")
        return out

    def _data_offset(self, info: zipfile.ZipInfo) -> int:
        off = info.header_offset
        try:
            magic, name_len, extra_len = _LOCAL_HEADER.unpack_from(self._data, off)
        except struct.error:
            magic = b""
        if magic != b"PK\x03\x04":
            raise DocumentError(self.path, f"not a valid {self.kind}: the zip entry {info.filename} is damaged")
        return off + _LOCAL_HEADER.size + name_len + extra_len

    def _spend(self, n: int, info: zipfile.ZipInfo, entry_total: int) -> None:
        self.inflated += n
        if self.inflated > self.limit:
            raise _refused(self.path, self.limit)
        if entry_total > ZIP_RATIO_FLOOR and entry_total > ZIP_MAX_RATIO * max(info.compress_size, 1):
            raise DocumentError(self.path, f"refused: compression ratio over {ZIP_MAX_RATIO}:1 "
                                           f"({info.filename}: {size_words(entry_total)} from "
                                           f"{size_words(info.compress_size)}); "
                                           "it may be a zip bomb")

    def _inflate(self, info: zipfile.ZipInfo, packed: memoryview) -> bytes:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        parts: list[bytes] = []
        total = pos = 0
        try:
            while not inflater.eof:
                pending = inflater.unconsumed_tail
                if not pending:
                    if pos >= len(packed):
                        break  # the stream stops early: the size/CRC check below names it
                    pending, pos = packed[pos:pos + _STEP], pos + _STEP
                chunk = inflater.decompress(pending, _STEP)
                total += len(chunk)
                self._spend(len(chunk), info, total)
                parts.append(chunk)
        except zlib.error as exc:
            raise DocumentError(self.path, f"not a valid {self.kind}: {info.filename} is damaged ({exc})") from None
        return b"".join(parts)

    def rebuilt(self) -> io.BytesIO:
        """The whole archive again, every entry read through the budget and stored uncompressed."""
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
            for name in self._by_name:
                archive.writestr(name, self.read(name))
        out.seek(0)
        return out
