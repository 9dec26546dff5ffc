"""Installed models (task, languages, size, metrics, origin), the default per task, import, and the device."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.core.errors import ModelError
from app.core.registry import Manifest
from app.core.runtime import available_providers
from app.ui.context import AppContext, providers_in_use
from app.ui.ops import BackgroundOp, report_error
from app.ui.widgets import human_size

COLUMNS = ("Model", "Version", "Task", "Languages", "Size", "Added", "Metrics", "Origin", "Default")
METRICS_COL, ORIGIN_COL, DEFAULT_COL = 6, 7, 8
# Providers a local model can run on. onnxruntime also lists ones that cannot (AzureExecutionProvider calls a
# cloud endpoint; others need hardware or a build this installation lacks): those are not offered.
LOCAL_PROVIDERS = ("CUDAExecutionProvider", "DmlExecutionProvider", "CoreMLExecutionProvider", "CPUExecutionProvider")


def usable_providers() -> list[str]:
    have = available_providers()
    return [p for p in LOCAL_PROVIDERS if p in have]


def added_text(m: Manifest) -> str:
    from datetime import datetime

    try:
        return datetime.fromtimestamp((m.folder / "manifest.json").stat().st_mtime).strftime("%Y-%m-%d")
    except OSError:
        return "–"
DEVICES = (("auto", "Auto (GPU when available)"), ("cpu", "CPU"), ("cuda", "GPU (CUDA)"))


def flat_metrics(metrics: dict, path: tuple[str, ...] = (), depth: int = 3) -> list[tuple[str, float]]:
    """Numeric figures of a (nested) metrics dict as ('fr-fp32-greedy bleu', 7.6): the last two keys name it."""
    out: list[tuple[str, float]] = []
    for k, v in metrics.items():
        p = (*path, str(k))
        if isinstance(v, dict) and depth > 1:
            out += flat_metrics(v, p, depth - 1)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append((" ".join(p[-2:]), v))
    return out


def metrics_text(metrics: dict, limit: int = 4) -> str:
    """A short 'name value' list from a manifest's metrics, quality figures first."""
    flat = flat_metrics(metrics)
    quality = ("accuracy", "f1", "bleu", "chrf", "rouge", "agreement")
    flat.sort(key=lambda kv: not any(q in kv[0].lower() for q in quality))  # stable: keeps the card's order
    parts = [f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in flat[:limit]]
    return ", ".join(parts) + (" …" if len(flat) > limit else "")


def target_langs(m: Manifest) -> list[str]:
    """Languages a translation model translates into (one, or several for multilingual models)."""
    langs = getattr(m, "target_langs", None)
    if langs is None:
        langs = list((m.raw.get("targets") or {}).keys()) or [m.target_lang]
    return [lang for lang in langs if lang]


def translation_keys(reg) -> list[str]:
    return sorted({lang for m in reg.for_task("translation") for lang in target_langs(m)})


def languages_text(m: Manifest) -> str:
    if m.task == "translation":
        return f"{m.source_lang or 'en'} → {', '.join(target_langs(m))}"
    return ", ".join(m.languages)


def metrics_markdown(metrics: dict) -> str:
    """Metrics as a short bullet list (long notes cut, nested results one level deep)."""
    lines = []
    for k, v in metrics.items():
        if isinstance(v, dict):
            inner = ", ".join(f"{k2} {v2:.3g}" if isinstance(v2, float) else f"{k2} {v2}"
                              for k2, v2 in list(v.items())[:8] if not isinstance(v2, (dict, list)))
            lines.append(f"- **{k}**: {inner}")
        elif isinstance(v, float):
            lines.append(f"- **{k}**: {v:.4g}")
        else:
            text = str(v)
            lines.append(f"- **{k}**: {text[:160] + '…' if len(text) > 160 else text}")
    return "\n".join(lines[:20])


class ModelsView(QWidget):
    """Emits models_changed when defaults change or a model is imported, device_changed(device) on a new device."""

    models_changed = Signal()
    device_changed = Signal(str)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.manifests: list[Manifest] = []
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        hdr = self.table.horizontalHeader()
        hdr.setSectionResizeMode(QHeaderView.ResizeToContents)
        hdr.setSectionResizeMode(METRICS_COL, QHeaderView.Stretch)
        self.table.itemSelectionChanged.connect(self._show_card)
        self.card = QTextBrowser()
        self.card.setOpenExternalLinks(False)
        self.card.setPlaceholderText("Select a model to read its card.")

        # defaults per task
        self.defaults_box = QGroupBox("Default model per task")
        self.defaults_form = QFormLayout(self.defaults_box)
        self.default_combos: dict[str, QComboBox] = {}

        # device
        self.device = QComboBox()
        for key, text in DEVICES:
            self.device.addItem(text, key)
        have = available_providers()
        if "CUDAExecutionProvider" not in have:
            item = self.device.model().item(2)
            item.setEnabled(False)
            item.setToolTip("ONNX Runtime has no CUDA provider here (install onnxruntime-gpu and a CUDA driver)")
        self.device.setCurrentIndex(max(0, self.device.findData(ctx.device)))
        self.device.currentIndexChanged.connect(self._device_chosen)
        self.available = QLabel("Can run on: " + ", ".join(p.replace("ExecutionProvider", "") for p in usable_providers()))
        self.available.setToolTip("ONNX Runtime providers usable here: " + ", ".join(usable_providers()))
        self.available.setWordWrap(True)
        self.in_use = QLabel("In use: not loaded yet")
        self.in_use.setWordWrap(True)
        self.check = QPushButton("Check Device")
        self.check.setToolTip("Load the default models and show which provider ONNX Runtime really uses")
        self.check.clicked.connect(self.check_device)
        device_box = QGroupBox("Device")
        dl = QFormLayout(device_box)
        dl.addRow("Run models on:", self.device)
        dl.addRow(self.available)
        dl.addRow(self.in_use)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.check)
        dl.addRow(row)

        self.import_button = QPushButton("Import Model Folder…")
        self.import_button.clicked.connect(self._import_dialog)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.rename_button = QPushButton("Rename…")
        self.rename_button.setToolTip("Give your model another name (models that ship with the app keep theirs)")
        self.rename_button.clicked.connect(self._rename_dialog)
        self.remove_button = QPushButton("Remove…")
        self.remove_button.setToolTip("Delete your model from this computer (models that ship with the app stay)")
        self.remove_button.clicked.connect(self._remove_dialog)
        for b in (self.rename_button, self.remove_button):
            b.setEnabled(False)
        self.problems = QLabel()
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet("color: #c0392b")
        buttons = QHBoxLayout()
        buttons.addWidget(self.import_button)
        buttons.addWidget(self.rename_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)

        side = QWidget()
        sl = QVBoxLayout(side)
        sl.setContentsMargins(0, 0, 0, 0)
        sl.addWidget(self.defaults_box)
        sl.addWidget(device_box)
        sl.addStretch(1)
        lower = QSplitter(Qt.Horizontal)
        lower.addWidget(self.card)
        lower.addWidget(side)
        lower.setStretchFactor(0, 3)
        lower.setStretchFactor(1, 2)
        main = QSplitter(Qt.Vertical)
        main.addWidget(self.table)
        main.addWidget(lower)
        main.setStretchFactor(0, 2)
        main.setStretchFactor(1, 3)
        lay = QVBoxLayout(self)
        lay.addLayout(buttons)
        lay.addWidget(self.problems)
        lay.addWidget(main, 1)
        self.refresh()

    # -- listing

    def refresh(self) -> None:
        reg = self.ctx.registry
        self.manifests = sorted(reg.manifests(), key=lambda m: (m.task, m.id))
        defaults = {}
        for task in ("sentiment", "summary"):
            try:
                defaults[task] = reg.default(task).id
            except ModelError:
                pass
        tr_defaults = set()
        for lang in translation_keys(reg):
            try:
                tr_defaults.add(reg.default("translation", lang).id)
            except ModelError:
                pass
        self.table.setRowCount(len(self.manifests))
        for r, m in enumerate(self.manifests):
            is_default = defaults.get(m.task) == m.id or (m.task == "translation" and m.id in tr_defaults)
            cells = (m.id, m.version, m.task, languages_text(m), human_size(m.size_bytes), added_text(m),
                     m.headline or metrics_text(m.metrics) or "–", m.origin, "✓" if is_default else "")
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{m.name}\n{m.folder}\nLicence: {m.license or 'not stated'}" if c == 0
                                else f"{m.origin}: {m.folder}" if c == ORIGIN_COL else text)
                if c == DEFAULT_COL:
                    item.setTextAlignment(Qt.AlignCenter)
                self.table.setItem(r, c, item)
        problems = reg.problems()
        self.problems.setText("\n".join(f"Not usable: {p}: {why}" for p, why in problems))
        self.problems.setVisible(bool(problems))
        self._refresh_defaults()
        if self.manifests and not self.table.selectedItems():
            self.table.selectRow(0)

    def _refresh_defaults(self) -> None:
        while self.defaults_form.rowCount():
            self.defaults_form.removeRow(0)
        self.default_combos = {}
        reg = self.ctx.registry
        keys = [("sentiment", None), ("summary", None)]
        keys += [("translation", lang) for lang in translation_keys(reg)]
        for task, lang in keys:
            combo = QComboBox()
            cands = [m for m in reg.for_task(task) if lang is None or lang in target_langs(m)]
            for m in cands:
                combo.addItem(f"{m.id} {m.version}", m.id)
            if not cands:
                combo.addItem("none installed", None)
                combo.setEnabled(False)
            else:
                try:
                    combo.setCurrentIndex(max(0, combo.findData(reg.default(task, lang).id)))
                except ModelError:
                    pass
            combo.currentIndexChanged.connect(lambda _i, t=task, lg=lang, c=combo: self._default_chosen(t, lg, c))
            key = f"{task}:{lang}" if lang else task
            self.default_combos[key] = combo
            self.defaults_form.addRow(f"{task.capitalize()}{' → ' + lang if lang else ''}:", combo)

    def selected(self) -> Manifest | None:
        rows = {i.row() for i in self.table.selectedItems()}
        return self.manifests[min(rows)] if rows else None

    def _show_card(self) -> None:
        m = self.selected()
        for b in (self.rename_button, self.remove_button):
            b.setEnabled(m is not None and m.origin == "user")
        if m is None:
            return
        head = (f"# {m.name}\n\n**{m.id}** {m.version} · {m.task} · {languages_text(m)} · {human_size(m.size_bytes)}"
                f" · {m.origin}\n\n**Licence:** {m.license or 'not stated'}\n\n"
                + (f"**Based on:** {m.base_model}\n\n" if m.base_model else "")
                + f"**Folder:** `{m.folder}`\n\n")
        if m.metrics:
            head += "**Metrics:**\n\n" + metrics_markdown(m.metrics) + "\n\n"
        body = ""
        if m.card is not None:
            try:
                body = m.card.read_text(encoding="utf-8")
            except OSError as exc:
                body = f"(could not read the model card: {exc})"
        self.card.setMarkdown(head + (body or "*No model card.*"))

    # -- actions

    def set_default(self, task: str, model_id: str, lang: str | None = None) -> None:
        try:
            self.ctx.registry.set_default(task, model_id, lang)
        except ModelError as exc:
            report_error(self, exc)
            return
        self.refresh()
        self.models_changed.emit()

    def _default_chosen(self, task: str, lang: str | None, combo: QComboBox) -> None:
        mid = combo.currentData()
        if mid:
            self.set_default(task, mid, lang)

    def rename(self, model_id: str, name: str) -> bool:
        try:
            self.ctx.registry.rename(model_id, name)
        except (ModelError, OSError) as exc:
            report_error(self, exc if isinstance(exc, ModelError) else ModelError(f"Could not rename {model_id}: {exc}"))
            return False
        self.refresh()
        self.models_changed.emit()
        return True

    def remove(self, model_id: str) -> bool:
        """Delete a user model; analyses fall back to the shipped model of its task if it was the default."""
        try:
            self.ctx.registry.remove(model_id)
        except (ModelError, OSError) as exc:
            report_error(self, exc if isinstance(exc, ModelError) else ModelError(f"Could not remove {model_id}: {exc}"))
            return False
        self.ctx.analyzer.unload()
        self.refresh()
        self.models_changed.emit()
        return True

    def _rename_dialog(self) -> QInputDialog | None:
        m = self.selected()
        if m is None or m.origin != "user":
            return None
        dlg = QInputDialog(self)
        dlg.setWindowTitle("Rename Model")
        dlg.setLabelText(f"New name for {m.id} (its id stays, so stored results still refer to it):")
        dlg.setTextValue(m.name)
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        dlg.textValueSelected.connect(lambda name, mid=m.id: self.rename(mid, name))
        dlg.open()
        self.rename_dialog = dlg
        return dlg

    def _remove_dialog(self) -> QMessageBox | None:
        m = self.selected()
        if m is None or m.origin != "user":
            return None
        box = QMessageBox(QMessageBox.Warning, "Remove Model",
                          f"Delete {m.name} ({m.id} {m.version}, {human_size(m.size_bytes)}) from this computer?\n\n"
                          "Results it produced stay in the library.", QMessageBox.Cancel, self)
        yes = box.addButton("Remove", QMessageBox.DestructiveRole)
        box.setDefaultButton(QMessageBox.Cancel)
        box.finished.connect(lambda _c, mid=m.id: self.remove(mid) if box.clickedButton() is yes else None)
        box.open()
        self.remove_box = box
        return box

    def import_folder(self, folder: str) -> BackgroundOp:
        """Validate and copy a model folder in the background (hashes can take a while on big models)."""
        reg = self.ctx.registry

        def done(man: Manifest) -> None:
            self.refresh()
            self.models_changed.emit()
            win = self.window()
            if hasattr(win, "report_info"):
                win.report_info(f"Imported {man.describe()}")

        return BackgroundOp(self, lambda _ctx: reg.import_folder(folder), success=done,
                            progress_label="Validating and importing the model…").run()

    def _import_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import Model Folder")
        if folder:
            self.import_folder(folder)

    def set_device(self, device: str) -> None:
        i = self.device.findData(device)
        if i >= 0:
            self.device.setCurrentIndex(i)

    def _device_chosen(self) -> None:
        device = self.device.currentData()
        self.ctx.set_device(device)
        self.in_use.setText("In use: not loaded yet (press Check Device)")
        self.device_changed.emit(device)

    def check_device(self) -> BackgroundOp:
        analyzer = self.ctx.analyzer
        tasks = tuple(t for t in ("sentiment", "summary") if self.ctx.registry.for_task(t))

        def shown(used: dict[str, str]) -> None:
            # grouped by provider, short names: the line fits the Device box at 1024x768
            by: dict[str, list[str]] = {}
            for task, provider in used.items():
                by.setdefault(provider.removesuffix("ExecutionProvider"), []).append(task)
            self.in_use.setText("In use: " + ("; ".join(f"{p} ({', '.join(t)})" for p, t in by.items()) or "no models"))

        def failed(exc: BaseException) -> None:
            self.in_use.setText(f"In use: could not load ({exc})")
            report_error(self, exc)

        return BackgroundOp(self, lambda _ctx: providers_in_use(analyzer, tasks), success=shown, failure=failed,
                            progress_label="Loading models…").run()
