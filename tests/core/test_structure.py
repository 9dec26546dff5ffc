"""Structure is not sentiment: headings, meta lines, tables, labels and code get no sentiment and no summary pick."""
from __future__ import annotations

import pytest

from app.core.segment import split_sentences
from app.core.structure import content_sentences, structural_kinds
from app.core.types import Document

MEMO = """Quarterly review memo

To: Product team
From: Anna Berg
Date: 3 March 2026
Subject: Kettle returns

Summary

Returns of the K200 kettle doubled this quarter. Customers say the lid breaks within weeks.

Owner | Action
Anna | Call the supplier

$ git commit -m "fix the lid"

## Next steps
We will replace the lid. I love how fast the team reacted!

Next steps:

```
x = load(path)
print(x)
```

For the price, I expected much better build quality, and I would not buy it again."""


def kinds(text: str) -> dict[str, str | None]:
    sents = split_sentences(text)
    return {s.text: k for s, k in zip(sents, structural_kinds(text, sents))}


def test_memo_structure_is_found_and_prose_is_content():
    k = kinds(MEMO)
    assert k["Quarterly review memo"] == "heading"
    assert k["To: Product team\nFrom: Anna Berg\nDate: 3 March 2026\nSubject: Kettle returns"] == "meta"
    assert k["Summary"] == "heading"
    assert k["Owner | Action\nAnna | Call the supplier"] == "table"
    assert k['$ git commit -m "fix the lid"'] == "code"
    assert k["Next steps"] == "heading"  # the Markdown "## " line
    assert k["Next steps:"] == "label"
    assert k["```\nx = load(path)\nprint(x)\n```"] == "code"
    for prose in ("Returns of the K200 kettle doubled this quarter.", "Customers say the lid breaks within weeks.",
                  "We will replace the lid.", "I love how fast the team reacted!",
                  "For the price, I expected much better build quality, and I would not buy it again."):
        assert k[prose] is None, prose


@pytest.mark.parametrize("line", ["PS C:\\Users\\anna> dir", "C:\\> copy a.txt b.txt", "anna@box:~/src$ make"])
def test_console_lines_are_code(line):
    text = f"Run this first.\n\n{line}\n\nThen it works."
    assert kinds(text)[line] == "code"


def test_a_one_line_document_is_content_even_without_punctuation():
    text = "Terrible service"
    sents = split_sentences(text)
    assert structural_kinds(text, sents) == [None]
    assert content_sentences(text, sents) == sents


def test_a_document_of_only_structure_is_still_read():
    text = "Summary\n\nOwner | Action"
    sents = split_sentences(text)
    assert all(k is not None for k in structural_kinds(text, sents))
    assert content_sentences(text, sents) == sents


def test_german_and_french_mail_headers_are_meta():
    text = "Betreff: Rückerstattung\nVon: Anna\n\nDas Gerät ist kaputt.\n\nObjet: Remboursement\nDe: Anna\n\nLe produit est cassé."
    k = kinds(text)
    assert k["Betreff: Rückerstattung\nVon: Anna"] == "meta"
    assert k["Objet: Remboursement\nDe: Anna"] == "meta"
    assert k["Das Gerät ist kaputt."] is None


@pytest.fixture(scope="module")
def analyzer_shipped():
    from app.core.analyzer import Analyzer
    from app.core.registry import Registry, shipped_models_dir
    from app.core.runtime import RuntimeOptions

    return Analyzer(Registry([shipped_models_dir()]), RuntimeOptions(device="cpu", tune=False))


def test_analysis_leaves_structure_uncoloured_and_out_of_the_summary(analyzer_shipped):
    from app.core.analyzer import AnalysisOptions

    a = analyzer_shipped.analyze(Document("memo.md", MEMO), AnalysisOptions(tasks=("sentiment", "summary"), sentences=3))
    scored = {s.text for s in a.sentiment.sentences}
    assert "Quarterly review memo" not in scored
    assert not any(t.startswith(("To:", "Owner |", "$ git", "```")) for t in scored)
    assert "Summary" not in scored and "Next steps" not in scored
    assert "I love how fast the team reacted!" in scored
    picked = [s.text for s in a.summary.sentences]
    assert picked and not any(t in ("Quarterly review memo", "Summary", "Next steps") for t in picked)
    # the summary's sentence numbers count every sentence the reader sees, headings included
    sents = split_sentences(MEMO)
    for s in a.summary.sentences:
        assert sents[s.index].text == s.text


def test_a_title_line_above_a_memo_header_block_is_structure_too():
    """No blank line between the title and To:/From:/Date:/Subject: (the segmenter reads them as one sentence):
    the whole block is structure, neither coloured nor picked for the summary."""
    from app.core.segment import split_sentences
    from app.core.structure import content_sentences

    text = ("Quarterly Release Memo\nTo: Product team\nFrom: Anna\nDate: 4 December 2026\n"
            "Subject: Release 2.3 follow-up\n\nThe release went out on time and customers love the new search. "
            "The installer still fails on older laptops, which is frustrating.")
    kept = [s.text for s in content_sentences(text, split_sentences(text))]
    assert kept == ["The release went out on time and customers love the new search.",
                    "The installer still fails on older laptops, which is frustrating."]


def test_a_huge_one_line_document_is_read_in_linear_time():
    """170 KB on one line (3,500 sentences): every sentence is content, decided without re-reading the line for
    each sentence (it took 185 s; a heading or header line is never that long)."""
    import time

    from app.core.segment import split_sentences
    from app.core.structure import content_sentences

    text = " ".join(f"Sentence number {i} says the service was fine and the food was good." for i in range(2500))
    sents = split_sentences(text)
    t0 = time.process_time()
    kept = content_sentences(text, sents)
    assert len(kept) == len(sents)
    assert time.process_time() - t0 < 2.0
