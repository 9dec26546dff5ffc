"""Translate one document file into a translated document file: the job the window and the CLI share.

    run_document_translation(TranslateRequest("report.docx", "fr", glossary="terms.txt"), analyzer,
                             progress=lambda p: ..., cancelled=lambda: False)

`progress` receives a TranslateProgress after every model batch; `cancelled()` is checked between
batches (Cancelled is raised and nothing is written).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from app.core.document_translation import (DocumentTranslation, check_low_confidence, output_name,
                                           remove_stale_partials, translate_document, write_translation)
from app.core.documents import read_document
from app.core.protect import Glossary


@dataclass(frozen=True)
class TranslateRequest:
    source: str
    target_lang: str = "fr"
    output: str | None = None  # file to write; None: report.fr.docx beside the source; "" to write nothing
    glossary: str | None = None  # glossary file
    beam: int = 4
    check_language: bool = True
    model_id: str | None = None
    low_confidence: str = "keep-source"  # keep-source | mark: what the written file shows for unsure sentences


@dataclass(frozen=True)
class TranslateProgress:
    done: int  # sentences translated
    total: int
    elapsed: float

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0

    @property
    def remaining(self) -> float | None:
        if self.done <= 0 or self.elapsed < 1:
            return None
        return self.elapsed * (self.total - self.done) / self.done


@dataclass(frozen=True)
class TranslateOutcome:
    result: DocumentTranslation
    written: Path | None


def load_glossary(path: str | None) -> Glossary | None:
    return Glossary.from_file(path) if path else None


def run_document_translation(req: TranslateRequest, analyzer, progress: Callable[[TranslateProgress], None] | None = None,
                             cancelled: Callable[[], bool] | None = None) -> TranslateOutcome:
    """Read, check the language, translate sentence batches across the document, write the file."""
    check_low_confidence(req.low_confidence)
    if req.model_id:
        analyzer.model_ids[f"translation:{req.target_lang}"] = req.model_id
    glossary = load_glossary(req.glossary)
    target = None if req.output == "" else Path(req.output or output_name(req.source, req.target_lang))
    if target is not None:
        remove_stale_partials(target)  # a run killed while writing left its partial file: not ours to keep
    document = read_document(req.source)
    translator = analyzer.model("translation", req.target_lang)
    t0 = time.monotonic()
    report = None if progress is None else (lambda d, n: progress(TranslateProgress(d, n, time.monotonic() - t0)))
    result = translate_document(translator, document, req.target_lang, glossary=glossary, beam=req.beam,
                                check_language=req.check_language, progress=report, cancelled=cancelled)
    written = write_translation(result, target, low_confidence=req.low_confidence) if target is not None else None
    return TranslateOutcome(result, written)
