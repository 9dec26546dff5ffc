"""The About box: versions of the app and its runtime, and the licence of every installed model."""
from __future__ import annotations

import platform

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import qVersion
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QTextBrowser, QVBoxLayout, QWidget

from app import __version__
from app.core.registry import Registry
from app.ui.theme import app_icon


def _version(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:  # noqa: BLE001 - a missing package is simply "not installed"
        return "not installed"


def about_html(registry: Registry) -> str:
    rows = [("Albert Studio", __version__), ("Python", platform.python_version()), ("Qt", qVersion()),
            ("PySide6", pyside_version), ("ONNX Runtime", _version("onnxruntime")),
            ("tokenizers", _version("tokenizers")), ("NumPy", _version("numpy")),
            ("SQLite", __import__("sqlite3").sqlite_version), ("Platform", f"{platform.system()} {platform.machine()}")]
    html = ["<h3>Versions</h3><table cellspacing='2'>"]
    html += [f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td><td>{v}</td></tr>" for k, v in rows]
    html.append("</table><h3>Installed models and their licences</h3>")
    models = sorted(registry.manifests(), key=lambda m: (m.task, m.id))
    if not models:
        html.append("<p><i>No models installed.</i></p>")
    for m in models:
        html.append(f"<p><b>{m.id}</b> {m.version} ({m.task}, {m.origin})<br>{m.license or 'licence not stated'}"
                    + (f"<br><span style='color:gray'>based on {m.base_model}</span>" if m.base_model else "") + "</p>")
    html.append("<p style='color:gray'>Albert Studio is licensed under Apache-2.0. It runs entirely offline: "
                "documents and results stay on this computer.</p>")
    return "".join(html)


class AboutDialog(QDialog):
    def __init__(self, registry: Registry, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("About Albert Studio")
        self.setWindowIcon(app_icon())
        head = QLabel(f"<h2>Albert Studio {__version__}</h2>"
                      "<p>Offline sentiment, summaries and translation with ALBERT models on ONNX Runtime.</p>")
        head.setWordWrap(True)
        icon = QLabel()
        icon.setPixmap(app_icon().pixmap(64, 64))
        self.text = QTextBrowser()
        self.text.setHtml(about_html(registry))
        self.text.setMinimumSize(520, 360)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        top = QVBoxLayout()
        top.addWidget(icon)
        top.addWidget(head)
        lay.addLayout(top)
        lay.addWidget(self.text, 1)
        lay.addWidget(buttons)
