"""Write the window's icon (app.ui.theme.app_icon) as the bundle icons: resources/icons/app.png/.ico/.icns.

    .venv/bin/python packaging/make_icons.py      # rerun when the icon in app/ui/theme.py changes

.ico and .icns entries hold PNG data (supported since Windows Vista and macOS 10.7), so only Qt is needed.
"""
from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "resources" / "icons"
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_TYPES = {16: b"icp4", 32: b"icp5", 64: b"icp6", 128: b"ic07", 256: b"ic08"}


def png_bytes(icon, size: int) -> bytes:
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice

    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.WriteOnly)
    pm = icon.pixmap(size, size)
    if pm.width() != size:
        pm = pm.scaled(size, size)
    pm.save(buf, "PNG")
    return bytes(data.data())


def write_ico(path: Path, images: dict[int, bytes]) -> None:
    header = struct.pack("<HHH", 0, 1, len(images))
    offset = 6 + 16 * len(images)
    entries, blobs = b"", b""
    for size, png in images.items():
        entries += struct.pack("<BBBBHHII", size % 256, size % 256, 0, 0, 1, 32, len(png), offset + len(blobs))
        blobs += png
    path.write_bytes(header + entries + blobs)


def write_icns(path: Path, images: dict[int, bytes]) -> None:
    body = b"".join(ICNS_TYPES[s] + struct.pack(">I", 8 + len(png)) + png for s, png in images.items()
                    if s in ICNS_TYPES)
    path.write_bytes(b"icns" + struct.pack(">I", 8 + len(body)) + body)


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(ROOT))
    from PySide6.QtWidgets import QApplication

    from app.ui.theme import app_icon

    _app = QApplication.instance() or QApplication([])
    icon = app_icon()
    images = {s: png_bytes(icon, s) for s in ICO_SIZES}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "app.png").write_bytes(images[256])
    write_ico(OUT / "app.ico", images)
    write_icns(OUT / "app.icns", images)
    for name in ("app.png", "app.ico", "app.icns"):
        print(f"wrote {OUT / name} ({(OUT / name).stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
