"""Preferences (QSettings): theme, default target language, summary length, CPU threads, device, library
location (with move) and the sentiment neutral band. Edit > Preferences… (Ctrl+,)."""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

THEMES = (("system", "Follow the system"), ("light", "Light"), ("dark", "Dark"))
DEVICES = (("auto", "Automatic (GPU when there is one)"), ("cpu", "CPU"), ("cuda", "GPU (CUDA)"))


@dataclass(frozen=True)
class Preferences:
    theme: str = "system"
    target_lang: str = ""
    summary_sentences: int = 3
    threads: int = 0  # 0: ONNX Runtime decides (all physical cores)
    device: str = "auto"
    library: str = ""  # "" = the default file (or $ALBERT_STUDIO_DB)
    neutral_band: float | None = None  # None = the sentiment model's own
    cluster_address: str = ""  # a Ray cluster the Batch view may run on ("" = none; see docs/cluster.md)
    cluster_workers: int = 2

    @classmethod
    def load(cls, s: QSettings) -> "Preferences":
        def num(key, default, kind):
            try:
                return kind(s.value(key, default))
            except (TypeError, ValueError):
                return default

        band = s.value("analysis/neutral_band", "")
        theme = str(s.value("appearance/theme", "system"))
        return cls(
            theme=theme if theme in {t for t, _ in THEMES} else "system",
            target_lang=str(s.value("defaults/target_lang", "") or ""),
            summary_sentences=max(1, min(50, num("defaults/summary_sentences", 3, int))),
            threads=max(0, min(256, num("runtime/threads", 0, int))),
            device=str(s.value("device", "auto") or "auto"),
            library=str(s.value("library/path", "") or ""),
            neutral_band=None if band in ("", None) else max(0.0, min(0.5, num("analysis/neutral_band", 0.25, float))),
            cluster_address=str(s.value("cluster/address", "") or "").strip(),
            cluster_workers=max(1, min(10_000, num("cluster/workers", 2, int))),
        )

    def save(self, s: QSettings) -> None:
        s.setValue("appearance/theme", self.theme)
        if self.target_lang:
            s.setValue("defaults/target_lang", self.target_lang)
        s.setValue("defaults/summary_sentences", self.summary_sentences)
        s.setValue("runtime/threads", self.threads)
        s.setValue("device", self.device)
        s.setValue("library/path", self.library)
        s.setValue("analysis/neutral_band", "" if self.neutral_band is None else f"{self.neutral_band:.2f}")
        s.setValue("cluster/address", self.cluster_address)
        s.setValue("cluster/workers", self.cluster_workers)
        s.sync()


class PreferencesDialog(QDialog):
    """The form; `preferences()` is what the user chose, `move_library` whether to move the file there."""

    def __init__(self, prefs: Preferences, languages: list[str], current_library: str, model_band: float,
                 cuda: bool = False, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self._prefs = prefs
        self.theme = QComboBox()
        for key, text in THEMES:
            self.theme.addItem(text, key)
        self.theme.setCurrentIndex(max(0, self.theme.findData(prefs.theme)))
        from app.ui.document_view import LANGUAGE_NAMES

        self.language = QComboBox()
        for lang in languages:
            self.language.addItem(LANGUAGE_NAMES.get(lang, lang), lang)
        self.language.setEnabled(bool(languages))
        if not languages:
            self.language.addItem("No translation model installed", "")
        self.language.setCurrentIndex(max(0, self.language.findData(prefs.target_lang)))
        self.sentences = QSpinBox(minimum=1, maximum=50, value=prefs.summary_sentences)
        self.sentences.setSuffix(" sentences")
        self.threads = QSpinBox(minimum=0, maximum=max(os.cpu_count() or 1, 1), value=min(prefs.threads, os.cpu_count() or 1))
        self.threads.setSpecialValueText("Automatic (all cores)")
        self.device = QComboBox()
        for key, text in DEVICES:
            if key != "cuda" or cuda:
                self.device.addItem(text, key)
        self.device.setCurrentIndex(max(0, self.device.findData(prefs.device)))
        self.library = QLineEdit(current_library)
        self.library.setToolTip("The SQLite file holding documents, results and labels")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.move = QCheckBox("Move the current library there (otherwise open or create a library there)")
        self.move.setChecked(True)
        lib_row = QHBoxLayout()
        lib_row.addWidget(self.library, 1)
        lib_row.addWidget(browse)
        self.model_band = model_band
        self.own_band = QCheckBox(f"Use the sentiment model's own ({model_band:.2f})")
        self.band = QDoubleSpinBox(minimum=0.0, maximum=0.5, singleStep=0.01, decimals=2)
        self.band.setValue(model_band if prefs.neutral_band is None else prefs.neutral_band)
        self.band.setSpecialValueText("Off (no neutral)")
        self.own_band.setChecked(prefs.neutral_band is None)
        self.band.setEnabled(prefs.neutral_band is not None)
        self.own_band.toggled.connect(lambda on: self.band.setEnabled(not on))
        band_row = QHBoxLayout()
        band_row.addWidget(self.band)
        band_row.addWidget(self.own_band, 1)
        band_note = QLabel("A sentence or document whose probability of positive is within this distance of 0.5 "
                           "is shown as neutral (grey). Exports keep the probability (p_positive).")
        band_note.setWordWrap(True)
        band_note.setEnabled(False)

        self.cluster_address = QLineEdit(prefs.cluster_address)
        self.cluster_address.setPlaceholderText("none (e.g. auto, HOST:6379, ray://HOST:10001)")
        self.cluster_address.setToolTip("A Ray cluster the Batch view can run batches on (docs/cluster.md)")
        self.cluster_workers = QSpinBox(minimum=1, maximum=10_000, value=prefs.cluster_workers)
        self.cluster_workers.setSuffix(" workers")
        cluster_row = QHBoxLayout()
        cluster_row.addWidget(self.cluster_address, 1)
        cluster_row.addWidget(self.cluster_workers)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        form.addRow("Theme:", self.theme)
        form.addRow("Translate into:", self.language)
        form.addRow("Summary length:", self.sentences)
        form.addRow("CPU threads:", self.threads)
        form.addRow("Device:", self.device)
        form.addRow("Library file:", lib_row)
        form.addRow("", self.move)
        form.addRow("Neutral band:", band_row)
        form.addRow("", band_note)
        form.addRow("Ray cluster:", cluster_row)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addStretch(1)
        lay.addWidget(buttons)
        self._current_library = current_library
        self.setMinimumWidth(min(560, self.sizeHint().width()))

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Library File", self.library.text(), "Library (*.db);;All files (*)",
                                              options=QFileDialog.DontConfirmOverwrite)
        if path:
            self.library.setText(path)

    def preferences(self) -> Preferences:
        lib = self.library.text().strip()
        return replace(
            self._prefs,
            theme=self.theme.currentData(),
            target_lang=self.language.currentData() or self._prefs.target_lang,
            summary_sentences=self.sentences.value(),
            threads=self.threads.value(),
            device=self.device.currentData(),
            library=str(Path(lib).expanduser()) if lib else "",
            neutral_band=None if self.own_band.isChecked() else round(self.band.value(), 2),
            cluster_address=self.cluster_address.text().strip(),
            cluster_workers=self.cluster_workers.value(),
        )

    def library_changed(self) -> bool:
        lib = self.library.text().strip()
        return bool(lib) and Path(lib).expanduser().absolute() != Path(self._current_library).absolute()
