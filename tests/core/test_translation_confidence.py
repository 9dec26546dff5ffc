"""Issue 31: every translated sentence carries a confidence from the model itself, loops are cut, and
commands, keys and names are copied through. Real shipped models and real sentences; the decoder-level
loop test scripts the network's scores so the loop is certain."""
from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from app.core.errors import ModelError
from app.core.manifest_schema import validate
from app.core.registry import read_manifest, shipped_models_dir
from app.core.runtime import RuntimeOptions
from app.core.translate import Translator
from app.core.translation_confidence import (FEATURES, ConfidenceModel, Signals, cut_repeats, quality_line,
                                             sentence_signals)
from app.core.translation_quality import measured_quality, quality_note

OPTS = RuntimeOptions(device="cpu", intra_op_threads=1)
DOCS = shipped_models_dir() / "albert-mt-docs-en-fr-de"
CAPTIONS = shipped_models_dir() / "albert-mt-en-fr-de"


@pytest.fixture(scope="module")
def docs() -> Translator:
    return Translator.from_manifest(read_manifest(DOCS), OPTS)


@pytest.fixture(scope="module")
def captions() -> Translator:
    return Translator.from_manifest(read_manifest(CAPTIONS), OPTS)


def max_back_to_back(words: list[str], longest: int = 4) -> int:
    """How many times the most repeated phrase (1..longest words) comes back to back."""
    best = 1
    for n in range(1, longest + 1):
        for i in range(len(words) - n):
            k = 1
            while words[i + k * n:i + (k + 1) * n] == words[i:i + n]:
                k += 1
            best = max(best, k)
    return best


# ---- the examples of the issue --------------------------------------------------------------------

@pytest.mark.parametrize("model", ["docs", "captions"])
@pytest.mark.parametrize("lang", ["fr", "de"])
def test_commands_keys_and_names_survive(model, lang, request):
    tr = request.getfixturevalue(model)
    out = tr.translate_texts(["$ git commit", "Press Ctrl+Z to undo the last change.", "Best regards, Anna",
                              "Open the menu with Shift+F10, switch windows with Alt+Tab and save with ⌘S."],
                             target_lang=lang)
    commit, undo, regards, keys = (t.text for t in out)
    assert commit == "$ git commit"  # the whole command line, never "$ Apple commit"
    assert out[0].sentences[0].confidence is None  # nothing went through the model
    assert "Ctrl+Z" in undo and "Umschalt" not in undo
    assert regards.endswith("Anna") and "Baaa" not in regards
    for k in ("Shift+F10", "Alt+Tab", "⌘S"):
        assert k in keys, (k, keys)


def test_command_lines_and_code_blocks_inside_a_paragraph_are_copied(docs):
    text = ("Run these commands:\n$ git add notes.txt\n$ git commit -m \"Fix the typo\"\n"
            "> npm install\nThen push the branch.")
    out = docs.translate_texts([text], target_lang="fr")[0].text
    for line in ("$ git add notes.txt", "$ git commit -m \"Fix the typo\"", "> npm install"):
        assert line in out, out
    fenced = "```\nmake clean\nmake install\n```"
    assert docs.translate_texts([fenced], target_lang="de")[0].text.split() == fenced.split()


def test_a_looping_output_is_cut_and_marked(docs):
    # the issue's German loop: the documentation model repeats "beim" on everyday sentences
    text = ("Could you send me the updated contract before Friday? This tutorial explains how to import a new "
            "project into Git. The quarterly report shows that revenue grew by twelve percent.")
    out = docs.translate_texts([text], target_lang="de")[0]
    for s in out.sentences:
        words = re.findall(r"\w+", s.text.lower())
        assert max_back_to_back(words) < 3, s.text
        assert not any(words.count(w) >= 4 for w in set(words) if len(w) >= 4), s.text
        assert s.confidence is not None and 0.0 <= s.confidence <= 1.0
        if s.low_confidence:
            assert s.reason
    assert any(s.low_confidence for s in out.sentences)  # none of these reads as German: never silently trusted


def test_the_decoder_cuts_a_phrase_repeated_back_to_back(captions):
    """Scripted scores make the network say 'a b a b a b …' forever: greedy and beam both stop after the
    third repeat and keep one occurrence, and say it was a loop."""
    tr = captions
    pieces = [tr.tokenizer.source.piece_to_id(p) for p in ("▁dog", "▁runs")]
    assert all(tr.tokenizer.letter_pieces(tr._vocab_size_hint())[pieces])
    vocab = tr._vocab_size_hint()

    def step(state, tokens, cached, normalize=True):
        logits = np.full((tokens.shape[0], vocab), -5.0, dtype=np.float32)
        nxt = np.where(tokens[:, -1] == pieces[0], pieces[1], pieces[0])
        logits[np.arange(tokens.shape[0]), nxt] = 5.0
        if normalize:
            logits -= np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return logits

    tr._step = step
    try:
        src = tr.tokenizer.encode(["A dog runs."])
        for beam in (1, 4):
            (h,) = tr.generate_hypotheses(src, beam=beam, max_length=60)
            assert h.end == "loop" and h.ids == pieces, (beam, h)
            assert len(h.logprobs) == len(h.ids) and all(x <= 0 for x in h.logprobs)
        tr.cut_loops = False  # decoding exactly as the model says runs to the length limit
        (h,) = tr.generate_hypotheses(src, beam=1, max_length=30)
        assert h.end == "limit" and len(h.ids) == min(30, 2 * len(src[0]) + 10)
    finally:
        del tr._step
        tr.cut_loops = True


def test_cut_repeats_keeps_two_occurrences_of_a_word_the_source_does_not_repeat():
    text, cut = cut_repeats("Es wird beim Haus beim Auto beim Baum beim Weg beim Dach.", "It is at the house.")
    assert cut and text == "Es wird beim Haus beim Auto"
    same, cut = cut_repeats("Der Hund läuft im Schnee.", "The dog runs in the snow.")
    assert not cut and same == "Der Hund läuft im Schnee."
    # a word the source repeats as often is not a loop
    _, cut = cut_repeats("Mississippi, Mississippi, Mississippi, Mississippi", "Mississippi Mississippi Mississippi Mississippi")
    assert not cut


# ---- signals, calibration, reasons ------------------------------------------------------------

def test_signals_see_copies_repetition_and_length():
    copied = sentence_signals("Open the file menu now.", "Open the file menu now.", [-0.1] * 6, False)
    assert copied.copied == 1.0 and copied.repetition == 0.0
    looped = sentence_signals("The plan.", "Le plan le plan le plan le plan.", [-0.2] * 10, True)
    assert looped.repetition > 0.3 and looped.loop
    short = sentence_signals("A long sentence about the quarterly report and its margins.", "Un.", [-3.0, -4.0], False)
    assert short.log_length_ratio < -2 and short.mean_logprob == -3.5 and short.min_logprob == -4.0


def _calibrated(threshold: float = 0.5) -> ConfidenceModel:
    raw = {"confidence": {"features": list(FEATURES), "languages": {"fr": {
        "weights": [2.0, 0.5, -1.0, -1.0, -1.0, -1.0, -0.2], "mean": [-1.0, -4.0, 0.0, 0.0, 0.2, 0.2, 2.5],
        "scale": [0.5, 2.0, 0.1, 0.1, 0.2, 0.2, 0.5], "bias": 0.0, "threshold": threshold, "length_ratio": 0.1}}}}
    return ConfidenceModel.from_manifest(raw)


def test_the_calibrated_judge_orders_sentences_and_says_why():
    model = _calibrated()
    good = Signals(-0.4, -2.0, 0.0, False, 0.1, 0.1, 8)
    unsure = Signals(-2.5, -9.0, 0.0, False, 0.1, 0.1, 8)
    short = Signals(-0.9, -3.0, 0.0, False, -1.5, 0.1, 8)
    loop = Signals(-0.3, -1.0, 0.4, True, 0.1, 0.1, 8)
    copy = Signals(-0.3, -1.0, 0.0, False, 0.0, 1.0, 8)
    v = {name: model.judge(s, "fr") for name, s in
         {"good": good, "unsure": unsure, "short": short, "loop": loop, "copy": copy}.items()}
    assert not v["good"].low and v["good"].reason == "" and v["good"].confidence > v["unsure"].confidence
    assert v["unsure"].low and "unsure" in v["unsure"].reason
    assert v["short"].low and "shorter than the source" in v["short"].reason
    assert v["loop"].low and "repeated itself" in v["loop"].reason  # a cut loop is never confident
    assert v["copy"].low and "copied" in v["copy"].reason
    # a language without a calibration falls back to the model's own probability, and says so
    fallback = model.judge(unsure, "de")
    assert fallback.low and "no confidence calibration" in fallback.reason
    assert abs(fallback.confidence - np.exp(-2.5)) < 1e-9


def test_a_calibration_of_the_wrong_shape_is_refused(tmp_path):
    with pytest.raises(ModelError, match="confidence.features"):
        ConfidenceModel.from_manifest({"confidence": {"features": ["mean_logprob"], "languages": {}}})
    with pytest.raises(ModelError, match="7 numbers"):
        ConfidenceModel.from_manifest({"confidence": {"features": list(FEATURES), "languages": {
            "fr": {"weights": [1.0], "mean": [0.0], "scale": [1.0]}}}})
    raw = json.loads((DOCS / "manifest.json").read_text(encoding="utf-8"))
    raw["confidence"] = {"features": list(FEATURES), "languages": {"fr": {"weights": "high"}}}
    schema, problems = validate(raw)
    assert schema is None and any(p.startswith("confidence.languages.fr") for p in problems)


def test_shipped_translators_carry_a_calibration_the_loader_accepts():
    for folder in (DOCS, CAPTIONS):
        man = read_manifest(folder)
        model = ConfidenceModel.from_manifest(man.raw)
        assert model.calibrated, folder.name
        assert set(model.languages) == {"fr", "de"}
        for lang, cal in model.languages.items():
            assert 0.0 < cal.threshold < 1.0
            measured = man.raw["confidence"]["measured"][lang]["held_out"]
            assert measured["sentences"] > 100 and 0.0 <= measured["precision"] <= 1.0


def test_every_sentence_carries_a_confidence_and_the_count_reads_plainly(captions):
    out = captions.translate("A man is riding a bicycle. A dog is running in the snow.\n\nWRITE TO anna@example.com",
                             target_lang="fr")
    judged = [s for s in out.sentences if s.confidence is not None]
    assert len(judged) >= 2 and all(0 <= s.confidence <= 1 for s in judged)
    line = quality_line(out.sentences)
    ok = sum(1 for s in judged if not s.low_confidence)
    assert line == f"{ok} of {len(judged)} sentences confident"
    assert quality_line([]) == ""


def test_a_model_without_calibration_still_judges_every_sentence(tmp_path):
    folder = tmp_path / "plain"
    shutil.copytree(CAPTIONS, folder)
    raw = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    raw.pop("confidence", None)
    (folder / "manifest.json").write_text(json.dumps(raw), encoding="utf-8")
    tr = Translator.from_folder(folder, OPTS)
    s = tr.translate("The quarterly report shows that revenue grew.", target_lang="de").sentences[0]
    assert s.confidence is not None and not tr.confidence.calibrated
    if s.low_confidence:
        assert "no confidence calibration" in s.reason


# ---- the model's measured quality, per kind of text --------------------------------------------

def test_the_quality_line_reads_the_cards_numbers_and_says_what_was_not_measured():
    raw = json.loads((DOCS / "manifest.json").read_text(encoding="utf-8"))
    rows = {q.domain: q for q in measured_quality(raw, "fr")}
    docs_key = next(k for k in raw["metrics"]["quality"] if k.startswith("docs fr"))
    assert rows["documentation"].bleu == pytest.approx(raw["metrics"]["quality"][docs_key]["bleu"])
    note = quality_note(raw, "fr")
    assert note.startswith("Measured on validation text into fr")
    assert f"documentation {raw['metrics']['quality'][docs_key]['bleu']:.1f}" in note
    bare = {k: v for k, v in raw.items() if k not in ("metrics", "confidence")}
    assert quality_note(bare, "fr") == ""
    only_captions = {**bare, "metrics": {"split": "multi30k val", "quality": {
        "fr-int8-beam 4": {"bleu": 51.8, "chrf": 69.1, "sentences": 1014}}}, "default_variant": "int8"}
    assert "captions 51.8 / 69.1 (1,014 sentences); documentation and everyday sentences not measured" in \
        quality_note(only_captions, "fr")
