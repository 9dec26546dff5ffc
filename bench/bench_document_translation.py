"""Whole-document translation speed: a 10-page .docx (about 5,000 words: headings, paragraphs, a table,
a header and footer) translated and written back, sentences batched across the document, against the
same document translated one paragraph at a time (the baseline), in the same run.

    python bench/bench_document_translation.py [--pages 10] [--threads 2] [--beam 4] [--model FOLDER]
"""
from __future__ import annotations

import argparse
import itertools
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SUBJECTS = ["The quarterly report", "Our team", "The new version", "The customer", "The manager", "This section",
            "The printer", "Revenue", "The committee", "Each user"]
VERBS = ["shows that", "explains how", "confirms that", "describes why", "notes that"]
CLAUSES = ["sales grew by 12% in Europe", "the update fixes two errors in the settings dialog",
           "costs could reduce margins next year", "the meeting moves to Thursday at 10:30",
           "the file report.pdf must be signed", "most orders arrive within three days",
           "demand stayed strong in every region", "the server restarts every night",
           "prices rise when energy costs go up", "the form is available at https://example.org/form"]


def build_docx(path: Path, pages: int, seed: int = 0) -> int:
    import docx

    rng = random.Random(seed)
    sentences = [f"{s} {v} {c}." for s, v, c in itertools.product(SUBJECTS, VERBS, CLAUSES)]
    rng.shuffle(sentences)
    it = itertools.cycle(sentences)
    d = docx.Document()
    d.sections[0].header.paragraphs[0].text = "Quarterly report, internal."
    d.sections[0].footer.paragraphs[0].text = "Page footer: do not distribute."
    words = 0
    for page in range(pages):
        d.add_heading(f"Section {page + 1}: results and next steps", level=1)
        for _ in range(12):
            p = d.add_paragraph()
            for k in range(rng.randint(2, 4)):
                s = next(it)
                run = p.add_run(("" if k == 0 else " ") + s)
                run.bold = k == 0 and rng.random() < 0.2
                words += len(s.split())
        t = d.add_table(rows=2, cols=2)
        for i in range(4):
            s = next(it)
            t.cell(i // 2, i % 2).text = s
            words += len(s.split())
        d.add_page_break()
    d.save(str(path))
    return words


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pages", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--beam", type=int, default=4)
    p.add_argument("--model", default=str(Path(__file__).resolve().parents[1] / "models" / "albert-mt-en-fr-de"))
    args = p.parse_args(argv)

    from app.core.document_translation import translate_document, write_translation
    from app.core.documents import read_document
    from app.core.runtime import RuntimeOptions
    from app.core.translate import Translator

    flags = ""
    try:
        info = Path("/proc/cpuinfo").read_text()
        flags = " ".join(f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni") if f" {f}" in info)
    except OSError:
        pass
    print(f"CPU flags: {flags or 'unknown'}; load average {os.getloadavg()[0]:.1f}; threads {args.threads}")
    tr = Translator.from_folder(args.model, RuntimeOptions(device="cpu", intra_op_threads=args.threads))
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "report.docx"
        words = build_docx(src, args.pages)
        doc = read_document(src)
        tr.translate("The report shows that sales grew.", beam=args.beam)  # warm-up: first-run allocations
        from app.core.document_translation import docx_blocks

        blocks = [b.text for b in docx_blocks(src)]
        c0, t0 = time.process_time(), time.perf_counter()
        for text in blocks:  # baseline: one paragraph at a time, nothing shared between paragraphs
            tr.translate(text, beam=args.beam, target_lang="fr")
        single, single_cpu = time.perf_counter() - t0, time.process_time() - c0
        c0, t0 = time.process_time(), time.perf_counter()
        result = translate_document(tr, doc, "fr", beam=args.beam)
        write_translation(result, Path(tmp) / "report.fr.docx")
        batched, batched_cpu = time.perf_counter() - t0, time.process_time() - c0
    n_sent = len(result.sentences)
    out_words = sum(len(b.text.split()) for b in result.blocks)
    print(f"{args.pages} pages, {len(result.blocks)} paragraphs, {n_sent} sentences, {words:,} source words, "
          f"model {tr.manifest.id} {tr.manifest.version} ({tr.variant}), beam {args.beam}")
    print("| way | wall s | CPU s | source words/s (wall) | target words/s (wall) |")
    print("|---|---|---|---|---|")
    print(f"| whole document, sentences batched across it, .docx written | {batched:.1f} | {batched_cpu:.1f} | "
          f"{words / batched:,.0f} | {out_words / batched:,.0f} |")
    print(f"| paragraph by paragraph (baseline) | {single:.1f} | {single_cpu:.1f} | {words / single:,.0f} | "
          f"{out_words / single:,.0f} |")
    print(f"ratio (baseline / batched): wall {single / batched:.2f}x, CPU {single_cpu / batched_cpu:.2f}x; "
          f"untranslated paragraphs {result.untranslated}")


if __name__ == "__main__":
    main()
