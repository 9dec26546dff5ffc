"""Analyses as plain rows for people and other programs: one CSV row or one JSON object per document.

The JSON shape is the one the CLI prints with --json, so a saved export and a piped CLI run read alike:

    {"source": "...",
     "sentiment": {"label": "positive", "score": 0.97, "p_positive": 0.97, "neutral_band": 0.25,
                   "sentences": [{"text": "...", "label": "positive", "score": 0.98, "p_positive": 0.98}]},
     "summary": {"sentences": [{"text": "...", "score": 0.41, "index": 3}]},
     "translation": {"lang": "fr", "text": "..."}}

A key is present only when that task was run. "label" is "neutral" when p(positive) is within the
neutral band of 0.5; "p_positive" always keeps the model's own probability (null for models without
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
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from app.core.names import shown, valid_text
from app.core.types import Analysis

CSV_COLUMNS = (
    "source",
    "title",
    "sentiment_label",
    "sentiment_score",
    "sentiment_p_positive",
    "summary",
    "translation_lang",
    "translation",
)
FORMATS = ("csv", "jsonl")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: str) -> str:
    """A CSV cell a spreadsheet shows as text: formula-looking cells get a leading apostrophe."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def analysis_to_json(analysis: Analysis) -> dict[str, Any]:
    """The CLI's --json object for one analysed document."""
    out: dict[str, Any] = {"source": analysis.document.source}
    if analysis.sentiment is not None:
        s = analysis.sentiment
        out["sentiment"] = {
            "label": s.label,
            "score": s.score,
            "p_positive": s.p_positive,  # what the model said, also when the label is "neutral"
            "sentences": [{"text": x.text, "label": x.label, "score": x.score,
                           **({"p_positive": x.p_positive} if x.p_positive is not None else {})}
                          for x in s.sentences],
        }
        if s.neutral_band:
            out["sentiment"]["neutral_band"] = s.neutral_band
    if analysis.summary is not None:
        out["summary"] = {
            "sentences": [
                {"text": x.text, "score": x.score, "index": x.index} for x in analysis.summary.sentences
            ]
        }
    if analysis.translation is not None:
        tr = analysis.translation
        out["translation"] = {"lang": tr.lang, "text": tr.text}
        if tr.detected_lang:  # what the input looked like, and why nothing came back when it did not fit
            out["translation"]["detected_lang"] = tr.detected_lang
        if tr.note:
            out["translation"]["note"] = tr.note
    return out


def json_line(obj: Any) -> str:
    """One JSON line, UTF-8 as written; a string holding undecodable file-name bytes is \\u-escaped instead."""
    text = json.dumps(obj, ensure_ascii=False)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return json.dumps(obj)


def analysis_to_csv_row(analysis: Analysis) -> dict[str, str]:
    """One spreadsheet row: empty cells for tasks that were not run."""
    s, summ, tr = analysis.sentiment, analysis.summary, analysis.translation
    row = {
        "source": shown(analysis.document.source),  # a name that is not UTF-8 reads as b\xe9.txt
        "title": valid_text(analysis.document.title),
        "sentiment_label": s.label if s else "",
        "sentiment_score": f"{s.score:.4f}" if s else "",
        "sentiment_p_positive": f"{s.p_positive:.4f}" if s and s.p_positive is not None else "",
        "summary": summ.text if summ else "",
        "translation_lang": tr.lang if tr else "",
        "translation": tr.text if tr else "",
    }
    return {key: spreadsheet_safe(value) for key, value in row.items()}


def write_analyses(path: str | Path, analyses: Iterable[Analysis], fmt: str = "csv") -> int:
    """Write analyses to `path` as CSV (UTF-8, no BOM, RFC 4180 quoting) or JSON Lines; returns rows written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (expected one of {', '.join(FORMATS)})")
    n = 0
    target = os.path.abspath(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".part", dir=os.path.dirname(target))
    try:
        # newline="" lets the csv module write its own \r\n and keep newlines inside quoted cells intact
        with open(fd, "w", encoding="utf-8", newline="" if fmt == "csv" else "\n") as f:
            if fmt == "csv":
                writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
                writer.writeheader()
                for a in analyses:
                    writer.writerow(analysis_to_csv_row(a))
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
