"""Analyses as plain rows for people and other programs: one CSV row or one JSON object per document.

The JSON shape is the one the CLI prints with --json, so a saved export and a piped CLI run read alike:

    {"source": "...",
     "lang": {"code": "en", "confidence": 0.99},
     "sentiment": {"label": "positive", "score": 0.97, "p_positive": 0.97, "neutral_band": 0.25,
                   "sentences": [{"text": "...", "label": "positive", "score": 0.98, "p_positive": 0.98}]},
     "summary": {"text": "...", "sentences": [{"text": "...", "score": 0.41, "index": 3}],
                 "model": "albert-summary-en", "model_version": "1.0.0"},
                 (an abstractive model's summary: "abstractive": true, each sentence written by the model, index -1)
     "translation": {"lang": "fr", "text": "...", "sentences": [{"source": "...", "text": "...", "confidence": 0.81,
                                                               "low_confidence": false}]},
     "classifications": {"topic": {"label": "sport", "score": 0.93, "scores": {"sport": 0.93, "tech": 0.04, ...},
                                   "sentences": [...]}}}

"lang" is the document's language; "reliable": false when the text is too short or unclear to act on, and
"spans" (paragraphs in other languages: start, end, code, confidence) when it mixes languages. A document
in a language the model does not cover gets no label and no summary: "label": null, "sentences": [] and
"note": "unsupported language (es)" in "sentiment" and "summary"; run anyway (--any-language), the result
has "forced_language": true and a note saying so.

A key is present only when that task was run ("classifications" when a classifier ran; "sentences" for a
classifier trained on sentences). CSV has a NAME_label and NAME_score column per classification, and
"summary_model" names the model that made the summary (as "model" does in JSON). "label" is "neutral" when
p(positive) is within the neutral band of 0.5; "p_positive" always keeps the model's own probability (null for models without
a "positive" label).

Both formats are written to a temporary file beside the target and renamed over it once complete, so a
full disk or a crash leaves the previous export (or nothing), never a partial file. CSV cells that a
spreadsheet would run as a formula (starting with = + - @, tab or carriage return) get a leading
apostrophe, as OWASP advises against CSV injection; JSON Lines keeps every value as it is.
"""
from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from app.core.names import shown, valid_text
from app.core.types import Analysis, DocumentLanguage, ModelInfo, SentimentResult, Summary

CSV_COLUMNS = (
    "source",
    "title",
    "lang",
    "lang_confidence",
    "lang_note",
    "sentiment_label",
    "sentiment_score",
    "sentiment_p_positive",
    "summary",
    "summary_model",
    "translation_lang",
    "translation",
)
FORMATS = ("csv", "jsonl")
_NO_MODEL = ModelInfo("", "", "")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: str) -> str:
    """A CSV cell a spreadsheet shows as text: formula-looking cells get a leading apostrophe."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def analysis_to_json(analysis: Analysis) -> dict[str, Any]:
    """The CLI's --json object for one analysed document."""
    out: dict[str, Any] = {"source": analysis.document.source}
    if analysis.language is not None:
        out["lang"] = language_to_json(analysis.language)
    if analysis.sentiment is not None:
        s = analysis.sentiment
        out["sentiment"] = {
            "label": s.label or None,  # None: no model covers the document's language
            "score": None if s.unsupported_lang else s.score,
            "p_positive": s.p_positive,  # what the model said, also when the label is "neutral"
            "sentences": [{"text": x.text, "label": x.label, "score": x.score,
                           **({"p_positive": x.p_positive} if x.p_positive is not None else {})}
                          for x in s.sentences],
        }
        if s.neutral_band:
            out["sentiment"]["neutral_band"] = s.neutral_band
        out["sentiment"].update(_language_flags(s))
    if analysis.summary is not None:
        made_by = task_model(analysis, "summary")  # which model wrote (or picked) it: an abstractive one's own words
        out["summary"] = {
            "text": analysis.summary.text,
            "sentences": [
                {"text": x.text, "score": x.score, "index": x.index} for x in analysis.summary.sentences
            ],
            **({"abstractive": True} if analysis.summary.abstractive else {}),
            **({"model": made_by.id, "model_version": made_by.version} if made_by else {}),
            **_language_flags(analysis.summary),
        }
    if analysis.classifications:
        out["classifications"] = {c.name: {
            "label": c.label, "score": c.score, "scores": dict(c.scores),
            **({"sentences": [{"text": x.text, "label": x.label, "score": x.score} for x in c.sentences]}
               if c.sentences else {})} for c in analysis.classifications}
    if analysis.translation is not None:
        tr = analysis.translation
        out["translation"] = {"lang": tr.lang, "text": tr.text}
        if tr.detected_lang:  # what the input looked like, and why nothing came back when it did not fit
            out["translation"]["detected_lang"] = tr.detected_lang
        if tr.note:
            out["translation"]["note"] = tr.note
        if any(x.confidence is not None for x in tr.sentences):  # how far to trust each sentence, and why
            out["translation"]["sentences"] = [
                {"source": x.source, "text": x.text, "confidence": x.confidence, "low_confidence": x.low_confidence,
                 **({"reason": x.reason} if x.reason else {})} for x in tr.sentences]
    return out


def task_model(analysis: Analysis, task: str) -> ModelInfo | None:
    """The model that produced the analysis' result for `task` (None when it does not say)."""
    return next((m for m in analysis.models if m.task == task), None)


def language_to_json(language: DocumentLanguage) -> dict[str, Any]:
    """{"code": "fr", "confidence": 0.97}, with "reliable": false when it is not, and the paragraphs in
    other languages ("spans") when the document mixes them."""
    out: dict[str, Any] = {"code": language.code, "confidence": round(language.confidence, 4)}
    if not language.reliable:
        out["reliable"] = False
    if language.spans:
        out["spans"] = [{"start": s.start, "end": s.end, "code": s.code, "confidence": s.confidence}
                        for s in language.spans]
    return out


def _language_flags(result: SentimentResult | Summary) -> dict[str, Any]:
    """What a sentiment or summary says about the document's language: unsupported, or forced on it."""
    if result.unsupported_lang:
        return {"unsupported_lang": result.unsupported_lang, "note": result.note}
    if result.forced_lang:
        return {"forced_language": True, "forced_lang": result.forced_lang, "note": result.note}
    return {}


def json_line(obj: Any) -> str:
    """One JSON line, UTF-8 as written; a string holding undecodable file-name bytes is \\u-escaped instead."""
    text = json.dumps(obj, ensure_ascii=False)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return json.dumps(obj)


def classification_columns(names: Sequence[str]) -> tuple[str, ...]:
    """The CSV columns of the classifications `names` ("topic" -> topic_label, topic_score)."""
    return tuple(c for n in names for c in (f"{n}_label", f"{n}_score"))


def analysis_to_csv_row(analysis: Analysis, classifications: Sequence[str] = ()) -> dict[str, str]:
    """One spreadsheet row: empty cells for tasks that were not run (and classifications it has none of)."""
    s, summ, tr = analysis.sentiment, analysis.summary, analysis.translation
    row = {
        "source": shown(analysis.document.source),  # a name that is not UTF-8 reads as b\xe9.txt
        "title": valid_text(analysis.document.title),
        "lang": analysis.language.code if analysis.language else "",
        "lang_confidence": f"{analysis.language.confidence:.4f}" if analysis.language else "",
        "lang_note": next((r.note for r in (s, summ) if r is not None and r.note), ""),
        # "unsupported language (es)" in place of a label; a forced one keeps its label, its note goes beside
        "sentiment_label": (s.note if s.unsupported_lang else s.label) if s else "",
        "sentiment_score": f"{s.score:.4f}" if s and not s.unsupported_lang else "",
        "sentiment_p_positive": f"{s.p_positive:.4f}" if s and s.p_positive is not None else "",
        "summary": (summ.note if summ.unsupported_lang else summ.text) if summ else "",
        "summary_model": (task_model(analysis, "summary") or _NO_MODEL).id if summ else "",
        "translation_lang": tr.lang if tr else "",
        "translation": tr.text if tr else "",
    }
    for name in classifications:
        c = analysis.classification(name)
        row[f"{name}_label"] = c.label if c else ""
        row[f"{name}_score"] = f"{c.score:.4f}" if c else ""
    return {key: spreadsheet_safe(value) for key, value in row.items()}


def write_analyses(path: str | Path, analyses: Iterable[Analysis], fmt: str = "csv",
                   classifications: Sequence[str] = ()) -> int:
    """Write analyses to `path` as CSV (UTF-8, no BOM, RFC 4180 quoting) or JSON Lines; returns rows written.
    CSV gets a label and a score column for each of `classifications` (names); JSON holds all a row has."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (expected one of {', '.join(FORMATS)})")
    n = 0
    target = os.path.abspath(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".part", dir=os.path.dirname(target))
    try:
        # newline="" lets the csv module write its own \r\n and keep newlines inside quoted cells intact
        with open(fd, "w", encoding="utf-8", newline="" if fmt == "csv" else "\n") as f:
            if fmt == "csv":
                writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS + classification_columns(classifications))
                writer.writeheader()
                for a in analyses:
                    writer.writerow(analysis_to_csv_row(a, classifications))
                    n += 1
            else:
                for a in analyses:
                    f.write(json_line(analysis_to_json(a)) + "\n")
                    n += 1
            f.flush()
            os.fsync(f.fileno())
        _keep_mode(target, tmp)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return n


def _keep_mode(target: str, tmp: str) -> None:
    """The new file gets the old one's permissions, or the usual ones for a new file (mkstemp makes it 0600)."""
    try:
        mode = os.stat(target).st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.chmod(tmp, mode)
