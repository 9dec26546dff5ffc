"""Installed models (task, languages, size, metrics, origin), the default per task, import, and the device."""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
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
    QLineEdit,
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
from app.core.registry import Manifest, size_text
from app.core.runtime import available_providers
from app.ui.context import AppContext, providers_in_use
from app.ui.ops import BackgroundOp, report_error
from app.ui.widgets import ProgressBar

COLUMNS = ("Model", "Version", "Task", "Languages", "Size", "Added", "Metrics", "Origin", "Default")
SIZE_COL, METRICS_COL, ORIGIN_COL, DEFAULT_COL = 4, 6, 7, 8
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


def default_tip(m: Manifest) -> str:
    if m.task == "encoder":
        return "Default: fine-tuning starts from this encoder unless you pick another"
    if m.task == "translation":
        return f"Default translator into {', '.join(target_langs(m))}"
    return f"Default {m.task} model"


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


# the Add Model row's choice of what a checkpoint becomes (None: read from it), as `models add --task` offers
ADD_AS = (("Task: from the checkpoint", None), ("Sentiment", "sentiment"), ("Classification", "classification"),
          ("Translation", "translation"), ("Abstractive summary", "summary"), ("Fine-tuning base", "base"))


def added_message(man: Manifest) -> str:
    """What the banner says once `models add` installed `man`: what it became and what was checked."""
    checks = (man.metrics or {}).get("import_checks", {})
    if man.task == "encoder":
        return (f"Added {man.describe()} as a fine-tuning base: its saved weights give the checkpoint's hidden "
                "states; pick it in the Fine-tune view")
    if man.task not in ("summary", "translation"):  # a classifier
        agree = checks.get("int8_label_agreement")
        return (f"Added {man.describe()}: checked against PyTorch"
                + (f"; int8 agrees with PyTorch on {100 * agree:.0f}% of samples" if agree is not None else ""))
    same = checks.get("int8_greedy_identical_paragraphs", checks.get("int8_greedy_identical_sentences"))
    what = "summaries" if man.task == "summary" else "translations"
    return (f"Added {man.describe()}: its greedy and beam-4 {what} equal transformers' generate"
            + (f"; int8 writes the same on {100 * same:.0f}% of the samples" if same is not None else ""))


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

        device_box = self._build_device_box()

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
        adding = self._add_model_row()

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
        lay.addLayout(adding)
        lay.addWidget(self.problems)
        lay.addWidget(main, 1)
        # a default chosen in a combo box: the refresh waits for the next turn of the event loop
        self._after_choice = QTimer(self, singleShot=True, interval=0, timeout=self._changed)
        self.refresh()

    def _build_device_box(self) -> QGroupBox:
        """Device: where the models run, what this machine can run them on, and Check Device."""
        self.device = QComboBox()
        for key, text in DEVICES:
            self.device.addItem(text, key)
        have = available_providers()
        if "CUDAExecutionProvider" not in have:
            item = self.device.model().item(2)
            item.setEnabled(False)
            item.setToolTip("ONNX Runtime has no CUDA provider here (install onnxruntime-gpu and a CUDA driver)")
        self.device.setCurrentIndex(max(0, self.device.findData(self.ctx.device)))
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
        return device_box

    # -- listing

    def refresh(self) -> None:
        reg = self.ctx.registry
        self.manifests = sorted(reg.manifests(), key=lambda m: (m.task, m.id))
        defaults = reg.default_ids()  # the same marks as `albert-studio models list`
        self.table.setRowCount(len(self.manifests))
        for r, m in enumerate(self.manifests):
            is_default = m.id in defaults
            cells = (m.id, m.version, m.task, languages_text(m), size_text(m.size_bytes), added_text(m),
                     m.headline or metrics_text(m.metrics) or "–", m.origin, "✓" if is_default else "")
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{m.name}\n{m.folder}\nLicence: {m.license or 'not stated'}" if c == 0
                                else f"{m.origin}: {m.folder}" if c == ORIGIN_COL
                                else f"{m.size_bytes:,} bytes (1 MB = 1,000,000 bytes)" if c == SIZE_COL
                                else default_tip(m) if c == DEFAULT_COL and is_default else text)
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
        """One combo box per task (and translation language), kept across refreshes and filled in place.

        The rows used to be removed and built again on every refresh. A refresh follows a choice in one of
        these boxes, so QFormLayout.removeRow deleted the box inside its own currentIndexChanged handler, and
        Qt went on using the deleted box when the handler returned (a use after free: the segfault in
        libQt6Core seen after choosing a default in the Models view). Boxes are now reused; a
        row that goes away (its language's last model removed) is taken out and deleted later by the event loop.
        """
        reg = self.ctx.registry
        keys = [("sentiment", None), ("summary", None)]
        keys += [("translation", lang) for lang in translation_keys(reg)]
        if reg.for_task("encoder"):  # the ✓ in the table: where fine-tuning starts unless told otherwise
            keys.append(("encoder", None))
        wanted = {f"{task}:{lang}" if lang else task for task, lang in keys}
        for key in [k for k in self.default_combos if k not in wanted]:
            combo = self.default_combos.pop(key)
            row, _role = self.defaults_form.getWidgetPosition(combo)
            if row >= 0:
                taken = self.defaults_form.takeRow(row)
                for item in (taken.labelItem, taken.fieldItem):
                    if item is not None and item.widget() is not None:
                        item.widget().hide()
                        item.widget().deleteLater()
        for row, (task, lang) in enumerate(keys):
            key = f"{task}:{lang}" if lang else task
            combo = self.default_combos.get(key)
            if combo is None:
                combo = QComboBox()
                combo.setSizeAdjustPolicy(QComboBox.AdjustToContents)
                combo.currentIndexChanged.connect(lambda _i, t=task, lg=lang, c=combo: self._default_chosen(t, lg, c))
                self.default_combos[key] = combo
                title = "Fine-tuning base:" if task == "encoder" else f"{task.capitalize()}{' → ' + lang if lang else ''}:"
                self.defaults_form.insertRow(row, title, combo)
                if task == "encoder":
                    combo.setToolTip("The encoder a fine-tune starts from unless you pick another in the Fine-tune view")
            cands = [m for m in reg.for_task(task) if lang is None or lang in target_langs(m)]
            try:
                current = reg.default(task, lang).id if cands else None
            except ModelError:
                current = None
            items = [(f"{m.id} {m.version}" + (" (abstractive)" if m.raw.get("abstractive") else ""), m.id)
                     for m in cands] or [("none installed", None)]
            blocked = combo.blockSignals(True)  # filling the box is not the user choosing a default
            try:
                if [(combo.itemText(i), combo.itemData(i)) for i in range(combo.count())] != items:
                    combo.clear()
                    for text, data in items:
                        combo.addItem(text, data)
                combo.setEnabled(bool(cands))
                combo.setCurrentIndex(max(0, combo.findData(current)))
            finally:
                combo.blockSignals(blocked)

    def selected(self) -> Manifest | None:
        rows = {i.row() for i in self.table.selectedItems()}
        return self.manifests[min(rows)] if rows else None

    def _show_card(self) -> None:
        m = self.selected()
        for b in (self.rename_button, self.remove_button):
            b.setEnabled(m is not None and m.origin == "user")
        if m is None:
            return
        head = (f"# {m.name}\n\n**{m.id}** {m.version} · {m.task} · {languages_text(m)} · {size_text(m.size_bytes)}"
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
        """The user picked a default: saved now; the list and the window follow once the box's own signal is
        over (a refresh from inside it would change the box while Qt is still in its event handler)."""
        mid = combo.currentData()
        if not mid:
            return
        try:
            self.ctx.registry.set_default(task, mid, lang)
        except ModelError as exc:
            report_error(self, exc)
            return
        self._after_choice.start()

    def _changed(self) -> None:
        self.refresh()
        self.models_changed.emit()

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
                          f"Delete {m.name} ({m.id} {m.version}, {size_text(m.size_bytes)}) from this computer?\n\n"
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

    # -- adding a Hugging Face checkpoint (app/jobs/model_add.py)

    def _add_model_row(self) -> QHBoxLayout:
        self.add_source = QLineEdit()
        self.add_source.setPlaceholderText("Hugging Face model: a folder, or a hub id such as Helsinki-NLP/opus-mt-en-de")
        self.add_source.returnPressed.connect(self._add_clicked)
        self.add_browse = QPushButton("Folder…")
        self.add_browse.setToolTip("Choose a folder saved with save_pretrained() or huggingface-cli download")
        self.add_browse.clicked.connect(self._add_browse)
        self.add_task = QComboBox()  # what the checkpoint becomes: `models add --task`
        for text, task in ADD_AS:
            self.add_task.addItem(text, task)
        self.add_task.setToolTip("What the checkpoint becomes (--task): read from it, or e.g. a classifier's encoder "
                                 "as a fine-tuning base")
        self.add_button = QPushButton("Add Model…")
        self.add_button.setToolTip("Download (for a hub id), export to ONNX, check against PyTorch and install")
        self.add_button.clicked.connect(self._add_clicked)
        self.add_progress = ProgressBar()
        self.add_progress.setRange(0, 100)
        self.add_progress.setTextVisible(True)
        self.add_progress.hide()
        self.add_cancel = QPushButton("Cancel")
        self.add_cancel.hide()
        self.add_cancel.clicked.connect(self._add_cancelled)
        self.add_op: BackgroundOp | None = None
        row = QHBoxLayout()
        for w in (self.add_source, self.add_browse, self.add_task, self.add_button):
            row.addWidget(w)
        row.addWidget(self.add_progress, 1)
        row.addWidget(self.add_cancel)
        return row

    def _add_browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Hugging Face Model Folder")
        if folder:
            self.add_source.setText(folder)

    def _add_clicked(self) -> None:
        source = self.add_source.text().strip()
        if not source:
            self._add_browse()
            source = self.add_source.text().strip()
        if source:
            self.add_model(source, task=self.add_task.currentData())

    def _add_cancelled(self) -> None:
        if self.add_op is not None:
            self.add_op.cancel()
            self.add_cancel.setEnabled(False)
            self.add_progress.setFormat("Cancelling…")

    def _adding(self, on: bool) -> None:
        for w in (self.add_source, self.add_browse, self.add_task, self.add_button):
            w.setEnabled(not on)
        self.add_progress.setVisible(on)
        self.add_cancel.setVisible(on)
        self.add_cancel.setEnabled(on)
        if on:
            self.add_progress.setValue(0)
            self.add_progress.setFormat("Starting…")

    def add_model(self, source: str, task: str | None = None) -> BackgroundOp | None:
        """Add a Hugging Face checkpoint (folder or hub id) in the background, with progress and Cancel."""
        from app.jobs.model_add import add_model

        if self.add_op is not None and not self.add_op.finished:
            return None
        reg = self.ctx.registry

        def shown(p) -> None:
            self.add_progress.setValue(int(round(100 * p.fraction)))
            self.add_progress.setFormat(f"{p.stage} (%p%)")

        def done(man: Manifest) -> None:
            self._adding(False)
            self.add_source.clear()
            self.refresh()
            self.models_changed.emit()
            win = self.window()
            if hasattr(win, "report_info"):
                win.report_info(added_message(man))

        def failed(exc: BaseException) -> None:
            from app.core.errors import Cancelled

            self._adding(False)
            if isinstance(exc, Cancelled):
                win = self.window()
                if hasattr(win, "report_info"):
                    win.report_info(f"Adding {source} was cancelled; nothing was installed")
            else:
                report_error(self, exc)

        self._adding(True)
        self.add_op = BackgroundOp(
            self, lambda ctx: add_model(source, reg, task=task, progress=ctx.progress, cancelled=ctx.cancelled),
            success=done, failure=failed, progress=shown, coalesce=True,
            progress_label=f"Adding {source}…").run()
        return self.add_op

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
