"""Help > Albert Studio Help (F1): how to use the window, its shortcuts (read from the window's own actions, so
they never go stale), where the library, models, settings and crash reports live, and the documentation."""
from __future__ import annotations

import html
import sys
from pathlib import Path

from PySide6.QtCore import QSettings, QUrl
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from app.core.registry import Registry, shipped_models_dir
from app.ui.crash_report import crash_folder
from app.ui.theme import app_icon

USAGE = """
<h3>Analysing documents</h3>
<ul>
<li><b>File &gt; Open</b>, <b>Open Folder</b>, or drop files and folders on the window. Text, Markdown, HTML,
Word, PDF and table files (CSV, TSV, JSONL: one document per row) are read.</li>
<li><b>Ctrl+V</b> where no text field has the focus (File &gt; New from Clipboard) analyses pasted text; it is kept
in the library only if you tick the box.</li>
<li>The <b>Document</b> view shows the sentiment of every sentence (green positive, red negative, grey neutral),
the summary and the translation. Right-click a sentence to label it: labels become examples for fine-tuning.</li>
<li>The <b>Batch</b> view analyses many files at once; <b>Esc</b> cancels within a second, and past runs and their
results come back after a restart (Past runs &gt; Show Results).</li>
<li>The <b>Library</b> pane (Ctrl+L) lists every analysed document; Ctrl+F searches it.</li>
<li><b>Models</b> lists the installed models and picks the default one per task; <b>Fine-tune</b> trains a model
of your own from labelled examples (it needs the training extra: <code>pip install -e '.[train]'</code>).</li>
<li><b>Edit &gt; Preferences</b> (Ctrl+,): theme, translation language, summary length, threads, device, the library's
location and the neutral band.</li>
</ul>
<h3>The same from the command line</h3>
<pre>albert-studio analyze report.pdf notes/ --tasks sentiment,summary,translate
albert-studio history            albert-studio search "refund"
albert-studio export results.csv albert-studio models list
albert-studio translate manual.docx --to de</pre>
"""


def docs_folder() -> Path:
    """The documentation: docs/ in the bundle (or next to app/ when run from the source)."""
    return Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[2])) / "docs"


def shortcut_rows(actions: list[QAction]) -> list[tuple[str, str]]:
    """(shortcut, what it does) for every action that has one, in menu wording."""
    rows = []
    for a in actions:
        keys = a.shortcut().toString(QKeySequence.NativeText)
        if keys:
            rows.append((keys, a.text().replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…")))
    return sorted(set(rows), key=lambda r: (len(r[0]), r[0]))


def _link(path: Path) -> str:
    url = QUrl.fromLocalFile(str(path)).toString()
    return f"<a href='{html.escape(url)}'>{html.escape(str(path))}</a>"


def help_html(registry: Registry, db_path: str, actions: list[QAction]) -> str:
    out = [USAGE, "<h3>Keyboard shortcuts</h3><table cellspacing='2'>"]
    out += [f"<tr><td><b>{html.escape(k)}</b>&nbsp;&nbsp;</td><td>{html.escape(t)}</td></tr>"
            for k, t in shortcut_rows(actions)]
    out.append("</table><h3>Where things are</h3><table cellspacing='2'>")
    places = [("Library (documents and results)", Path(db_path)),
              ("Your models (imported and fine-tuned)", registry.user_dir),
              ("Models that ship with the app", shipped_models_dir()),
              ("Default model per task", registry.settings_file),
              ("Settings", Path(QSettings().fileName())),
              ("Crash reports", crash_folder())]
    out += [f"<tr><td>{html.escape(what)}&nbsp;&nbsp;</td><td>{_link(where)}</td></tr>" for what, where in places]
    out.append("</table><h3>Documentation</h3>")
    docs = docs_folder()
    if docs.is_dir():
        out.append(f"<p>In {_link(docs)}:</p><ul>")
        out += [f"<li>{_link(f)}</li>" for f in sorted(docs.glob("*.md"))]
        out.append("</ul>")
    else:
        out.append(f"<p>docs/ is not part of this installation ({html.escape(str(docs))}); it is in the source "
                   "repository next to README.md.</p>")
    return "".join(out)


class HelpDialog(QDialog):
    def __init__(self, registry: Registry, db_path: str, actions: list[QAction], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Help")
        self.setWindowIcon(app_icon())
        self.text = QTextBrowser()
        self.text.setOpenExternalLinks(True)  # folders and docs open in the desktop's viewer
        self.text.setHtml(help_html(registry, db_path, actions))
        self.text.setMinimumSize(560, 400)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.text, 1)
        lay.addWidget(buttons)
        self.resize(720, 640)
