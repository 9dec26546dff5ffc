"""Analyses as plain rows for people and other programs: one CSV row or one JSON object per document.

The JSON shape is the one the CLI prints with --json, so a saved export and a piped CLI run read alike:

    {"source": "...",
     "sentiment": {"label": "positive", "score": 0.97,
                   "sentences": [{"text": "...", "label": "positive", "score": 0.98}]},
     "summary": {"sentences": [{"text": "...", "score": 0.41, "index": 3}]},
     "translation": {"lang": "fr", "text": "..."}}

A key is present only when that task was run.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from app.core.types import Analysis

CSV_COLUMNS = (
    "source",
    "title",
    "sentiment_label",
    "sentiment_score",
    "summary",
    "translation_lang",
    "translation",
)
FORMATS = ("csv", "jsonl")


def analysis_to_json(analysis: Analysis) -> dict[str, Any]:
    """The CLI's --json object for one analysed document."""
    out: dict[str, Any] = {"source": analysis.document.source}
    if analysis.sentiment is not None:
        s = analysis.sentiment
        out["sentiment"] = {
            "label": s.label,
            "score": s.score,
            "sentences": [{"text": x.text, "label": x.label, "score": x.score} for x in s.sentences],
        }
    if analysis.summary is not None:
        out["summary"] = {
            "sentences": [
                {"text": x.text, "score": x.score, "index": x.index} for x in analysis.summary.sentences
            ]
        }
    if analysis.translation is not None:
        out["translation"] = {"lang": analysis.translation.lang, "text": analysis.translation.text}
    return out


def analysis_to_csv_row(analysis: Analysis) -> dict[str, str]:
    """One spreadsheet row: empty cells for tasks that were not run."""
    s, summ, tr = analysis.sentiment, analysis.summary, analysis.translation
    return {
        "source": analysis.document.source,
        "title": analysis.document.title,
        "sentiment_label": s.label if s else "",
        "sentiment_score": f"{s.score:.4f}" if s else "",
        "summary": summ.text if summ else "",
        "translation_lang": tr.lang if tr else "",
        "translation": tr.text if tr else "",
    }


def write_analyses(path: str | Path, analyses: Iterable[Analysis], fmt: str = "csv") -> int:
    """Write analyses to `path` as CSV (UTF-8, no BOM, RFC 4180 quoting) or JSON Lines; returns rows written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (expected one of {', '.join(FORMATS)})")
    n = 0
    # newline="" lets the csv module write its own \r\n and keep newlines inside quoted cells intact
    with open(path, "w", encoding="utf-8", newline="" if fmt == "csv" else "\n") as f:
        if fmt == "csv":
            writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            for a in analyses:
                writer.writerow(analysis_to_csv_row(a))
                n += 1
        else:
            for a in analyses:
                f.write(json.dumps(analysis_to_json(a), ensure_ascii=False) + "\n")
                n += 1
    return n
