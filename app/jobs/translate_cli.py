"""`albert-studio translate FILE [--to fr] [-o OUT.docx|.md|.txt] [--glossary FILE] [--beam N] [--any-language]
[--low-confidence keep-source|mark] [--json]`."""
from __future__ import annotations

import json
import sys
import time

from app.core.errors import (EXIT_CANCELLED, EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE,
                             AlbertStudioError, Cancelled, LanguageMismatchError)
from app.core.document_translation import render_text
from app.jobs.translate_document import TranslateProgress, TranslateRequest, run_document_translation


def sentence_json(s) -> dict:
    """One translated sentence for --json: the texts, its confidence and, when low, why."""
    out = {"source": s.source, "text": s.text, "confidence": s.confidence, "low_confidence": s.low_confidence}
    if s.reason:
        out["reason"] = s.reason
    return out


def _quality(analyzer, result) -> str:
    """The model's validation scores per kind of text, from its manifest ('' when it has none)."""
    from app.core.errors import ModelError
    from app.core.translation_quality import quality_note

    try:
        raw = analyzer.registry.get(result.model.id).raw
    except (ModelError, AttributeError, KeyError):
        return ""
    return f"{result.model.id} {result.model.version}. " + q if (q := quality_note(raw, result.target_lang)) else ""


class _Bar:
    """One line on stderr: sentences done of all, the share, time left (only on a terminal)."""

    def __init__(self, enabled: bool, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self._shown = 0.0
        self._open = False

    def __call__(self, p: TranslateProgress) -> None:
        if not self.enabled or (time.monotonic() - self._shown < 0.1 and p.done < p.total):
            return
        self._shown = time.monotonic()
        w = 28
        fill = int(w * p.fraction)
        eta = f" ~{p.remaining:.0f}s left" if p.remaining is not None else ""
        self.stream.write(f"\r[{'#' * fill}{'.' * (w - fill)}] {p.done}/{p.total} sentences{eta}   ")
        self.stream.flush()
        self._open = True

    def close(self) -> None:
        if self._open:
            self.stream.write("\n")
            self._open = False


def run_translate_cli(args, analyzer) -> int:
    from app.core.names import shown

    def err(msg: str) -> None:
        print(f"albert-studio: {shown(msg)}", file=sys.stderr)

    if args.beam < 1:
        err("--beam must be at least 1")
        return EXIT_USAGE
    if args.output and not args.output.lower().endswith((".txt", ".md", ".docx")) and args.output != "-":
        err("--output must end in .txt, .md or .docx (or be - for the text on stdout)")
        return EXIT_USAGE
    mode = getattr(args, "low_confidence", "keep-source")
    req = TranslateRequest(args.file, args.target_lang, "" if args.output == "-" else args.output, args.glossary,
                           args.beam, not args.any_language, low_confidence=mode)
    bar = _Bar(sys.stderr.isatty() and not args.quiet)
    try:
        if not args.quiet:
            note = analyzer.translation_note(args.target_lang)
            if note:
                print(f"note: {note}", file=sys.stderr)
        outcome = run_document_translation(req, analyzer, progress=bar)
    except KeyboardInterrupt:
        bar.close()
        err("cancelled; nothing was written")
        return EXIT_CANCELLED
    except Cancelled:
        bar.close()
        err("cancelled; nothing was written")
        return EXIT_CANCELLED
    except LanguageMismatchError as exc:
        bar.close()
        err(f"{exc} (use --any-language to translate it all the same)")
        return EXIT_ERROR
    except AlbertStudioError as exc:
        bar.close()
        err(str(exc))
        return EXIT_ERROR
    bar.close()
    result = outcome.result
    confident, judged = result.confidence
    quality = _quality(analyzer, result)
    if args.json:
        tr = result.as_translation()
        print(json.dumps({"source": result.document.source, "output": str(outcome.written or ""),
                          "target_lang": result.target_lang, "detected_lang": tr.detected_lang,
                          "detected_probability": round(tr.detected_probability, 3),
                          "paragraphs": len(result.blocks), "untranslated": result.untranslated,
                          "protected": result.protected, "reinserted": result.reinserted,
                          "model": f"{result.model.id} {result.model.version}", "model_quality": quality,
                          "seconds": round(result.seconds, 2),
                          "confidence": {"confident": confident, "sentences": judged, "summary": result.quality_line(),
                                         "low_confidence": mode},
                          "sentences": [sentence_json(s) for s in tr.sentences],
                          "text": render_text(result, mode) if args.output == "-" else None}, ensure_ascii=False))
    elif args.output == "-":
        print(render_text(result, mode))
    if not args.quiet:
        g = result.detected
        print(f"input: {g.describe() if g else 'language not checked'}; {result.describe()}; "
              f"{result.seconds:.1f}s, {result.model.id} {result.model.version}", file=sys.stderr)
        if judged > confident:
            kept = ("kept in the original language and highlighted" if mode == "keep-source"
                    else "highlighted in the output (marked [?] in plain text)")
            print(f"{judged - confident} low-confidence sentence{'s' if judged - confident != 1 else ''} {kept}; "
                  f"--json lists each with its reason", file=sys.stderr)
        if quality:
            print(f"model: {quality}", file=sys.stderr)
        if outcome.written:
            print(f"wrote {shown(str(outcome.written))}", file=sys.stderr)
    return EXIT_PARTIAL if result.untranslated else EXIT_OK
