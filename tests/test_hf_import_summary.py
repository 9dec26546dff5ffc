"""`models add` of BART, PEGASUS and T5 summarizers: an abstractive summary model whose greedy and beam-4 tokens
equal transformers' generate, run by the app's decoder (ONNX Runtime + tokenizers), from the API and the CLI."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.core.errors import ModelError
from app.core.hf_import import estimate_parameters, inspect_checkpoint
from app.core.registry import Registry

# in the tiny tokenizer's words (unknown words fall apart into letters), short enough to be read in one piece
DOCUMENT = "The city council met to discuss the budget. Members agreed to spend more on schools."


def _config_only(folder: Path, arch: str, model_type: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"architectures": [arch], "model_type": model_type,
                                                    "vocab_size": 100, "d_model": 32, "encoder_layers": 1,
                                                    "decoder_layers": 1}))
    return folder


def test_summarizers_are_recognised_and_other_seq2seq_models_refused(tmp_path):
    for arch, mt in (("BartForConditionalGeneration", "bart"), ("PegasusForConditionalGeneration", "pegasus"),
                     ("T5ForConditionalGeneration", "t5")):
        ck = inspect_checkpoint(_config_only(tmp_path / mt, arch, mt))  # no --task: read from the config
        assert (ck.task, ck.kind) == ("summary", "summarizer")
        assert inspect_checkpoint(ck.folder, task="summary").task == "summary"
        with pytest.raises(ModelError, match=f"{arch} becomes an abstractive summary model, not translation"):
            inspect_checkpoint(ck.folder, task="translation")
    # the memory check reads a T5 config's own names (d_ff, num_layers, num_decoder_layers): t5-small has 60.5M
    t5_small = {"model_type": "t5", "vocab_size": 32128, "d_model": 512, "d_ff": 2048, "num_layers": 6,
                "num_decoder_layers": 6}
    assert 50e6 < estimate_parameters(t5_small) < 70e6
    with pytest.raises(ModelError, match="architecture LEDForConditionalGeneration is not supported"):
        inspect_checkpoint(_config_only(tmp_path / "led", "LEDForConditionalGeneration", "led"), task="summary")
    with pytest.raises(ModelError, match="M2M100ForConditionalGeneration is not supported"):
        inspect_checkpoint(_config_only(tmp_path / "m2m", "M2M100ForConditionalGeneration", "m2m_100"))


def _registry(tmp_path) -> Registry:
    reg = Registry(roots=[tmp_path / "models"], settings_file=tmp_path / "defaults.json")
    reg.user_dir = tmp_path / "models"
    return reg


def _reference(model, ids: list[int], beam: int, max_new: int, m: dict) -> list[int]:
    """transformers' generate with the settings the import recorded (the checkpoint's own, less early stopping)."""
    import torch

    cfg = model.config
    x = torch.tensor([ids])
    out = model.generate(x, attention_mask=torch.ones_like(x), num_beams=beam, do_sample=False,
                         max_new_tokens=max_new, bad_words_ids=[[cfg.pad_token_id]],
                         length_penalty=m["abstractive"]["length_penalty"], early_stopping=False,
                         forced_eos_token_id=None, forced_bos_token_id=m.get("forced_bos_token_id"),
                         min_length=m["min_length"], no_repeat_ngram_size=m["no_repeat_ngram_size"])
    return [t for t in out[0, 1:].tolist() if t not in (cfg.eos_token_id, cfg.pad_token_id)]


@pytest.mark.slow  # exports a summarizer (three graphs, fp32 and int8) with torch and decodes with transformers
@pytest.mark.parametrize("model_type, extra", [("bart", {}), ("pegasus", {}), ("t5", {}),
                                               ("t5", {"feed_forward_proj": "gated-gelu"})],
                         ids=["bart", "pegasus", "t5", "flan-t5"])
def test_a_summarizer_checkpoint_writes_summaries_like_transformers(tmp_path, model_type, extra):
    pytest.importorskip("torch")
    import transformers

    from app.core.abstractive import AbstractiveSummarizer
    from app.core.runtime import RuntimeOptions
    from app.core.task_model import load_task_model
    from app.jobs.model_add import add_model
    from tests.hf_checkpoints import SEQ2SEQ, build_summarizer

    src = build_summarizer(tmp_path / f"tiny-{model_type}", model_type, **extra)
    reg = _registry(tmp_path)
    man = add_model(str(src), reg)  # the task is read from the config
    assert man.task == "summary" and man.raw["abstractive"]["num_beams"] == 4
    # the checkpoint's own summarization settings (bart-large-cnn's, t5-small's task parameters) are applied
    want = {"bart": (2.0, 12, 3, ""), "t5": (2.0, 30, 3, "summarize: "), "pegasus": (1.0, 0, 0, "")}[model_type]
    a = man.raw["abstractive"]
    assert (a["length_penalty"], man.raw["min_length"], man.raw["no_repeat_ngram_size"], a["prefix"]) == want
    checks = man.metrics["import_checks"]
    assert checks["greedy_tokens_equal_transformers"] and checks["beam4_tokens_equal_transformers"]
    assert "summary tokens per s fp32 beam4" in (man.folder / "MODEL_CARD.md").read_text()
    assert man.license == "mit" and man.raw.get("forced_bos_token_id") == (0 if model_type == "bart" else None)
    assert reg.default("summary").id == f"tiny-{model_type}"

    sm = load_task_model(man, RuntimeOptions(device="cpu"))
    assert isinstance(sm, AbstractiveSummarizer) and sm.decoder.has_cache
    model = getattr(transformers, SEQ2SEQ[model_type][0]).from_pretrained(str(src)).eval()
    ids = sm.tokenizer.encode([sm.prefix + DOCUMENT])[0]  # a paragraph the import did not check (T5: "summarize: ")
    # a random model's words barely depend on its input, so its logits show that the graphs read it: another
    # text changes them, and PyTorch computes the same numbers
    import numpy as np
    import torch

    from app.training.hf_export import decoder_logits

    assert checks["fp32_max_abs_logit_diff"] <= 1e-3
    other = sm.tokenizer.encode(["Sales fell in March, the office said."])[0]
    mine, theirs = decoder_logits(sm, ids, [5, 6]), decoder_logits(sm, other, [5, 6])
    assert np.abs(mine - theirs).max() > 1e-2
    with torch.no_grad():
        start = man.raw["decoder_start_token_id"]
        ref = model(input_ids=torch.tensor([ids]), decoder_input_ids=torch.tensor([[start, 5, 6]])).logits[0].numpy()
    assert np.abs(mine - ref).max() <= 1e-3
    for beam in (1, 4):
        got = sm.generate([DOCUMENT], beam=beam, max_new_tokens=20)[0]
        assert got == _reference(model, ids, beam, 20, man.raw)
    from app.core.segment import split_sentences

    assert len(sm.chunks(split_sentences(DOCUMENT))) == 1
    summary = sm.summarize(DOCUMENT)
    assert summary.abstractive and summary.sentences
    assert summary.text.replace(" ", "") == sm.tokenizer.decode(sm.generate([DOCUMENT], beam=4)[0]).replace(" ", "")
    assert all(s.index == -1 and (s.start, s.end) == (0, len(DOCUMENT)) for s in summary.sentences)


@pytest.mark.slow  # exports a summarizer with torch
def test_each_decoding_step_scores_tokens_as_transformers_does(tmp_path):
    """The decoder's scores for the next token are transformers' processed scores: log-softmax, then -inf for the
    suppressed <pad>, a repeated 3-gram and </s> before min_length, with no renormalisation after them (beam search
    ranks hypotheses on these sums: removing <pad> before the log-softmax instead changed a flan-t5's beam-4
    output). Here <pad> takes a real share of the probability, as it can in a real checkpoint."""
    pytest.importorskip("torch")
    import numpy as np
    import torch
    from transformers import (BartForConditionalGeneration, LogitsProcessorList, MinLengthLogitsProcessor,
                              NoBadWordsLogitsProcessor, NoRepeatNGramLogitsProcessor)

    from app.core.abstractive import AbstractiveSummarizer
    from app.core.runtime import RuntimeOptions
    from app.jobs.model_add import add_model
    from tests.hf_checkpoints import build_summarizer

    src = build_summarizer(tmp_path / "tiny-bart", "bart", pad_logit=6.0)
    man = add_model(str(src), _registry(tmp_path))
    sm = AbstractiveSummarizer(man, RuntimeOptions(device="cpu"))
    dec = sm.decoder
    ids = np.array(sm.tokenizer.encode([sm.prefix + DOCUMENT]), dtype=np.int64)
    mask = np.ones_like(ids)
    hidden = dec.graphs.encoder({"input_ids": ids, "attention_mask": mask})["last_hidden_state"]
    start, pad, eos = man.raw["decoder_start_token_id"], man.raw["pad_token_id"], man.raw["eos_token_id"]
    tokens = np.array([[start, 5, 6, 7, 5, 6]], dtype=np.int64)  # 5 6 7 was written: 7 may not follow 5 6 again
    ours = dec._step({"hidden": hidden, "mask": mask}, tokens, cached=False)

    model = BartForConditionalGeneration.from_pretrained(str(src)).eval()
    with torch.no_grad():
        logits = model(input_ids=torch.from_numpy(ids), decoder_input_ids=torch.from_numpy(tokens)).logits[:, -1]
    rules = LogitsProcessorList([MinLengthLogitsProcessor(man.raw["min_length"], eos),
                                 NoRepeatNGramLogitsProcessor(man.raw["no_repeat_ngram_size"]),
                                 NoBadWordsLogitsProcessor([[pad]], eos)])
    ref = rules(torch.from_numpy(tokens), torch.log_softmax(logits.float(), dim=-1)).numpy()
    banned = np.isinf(ref)
    assert torch.softmax(logits, dim=-1)[0, pad] > 0.1  # what the model would write if it could
    assert banned[0, [pad, eos, 7]].all() and (np.isinf(ours) == banned).all()
    assert np.abs(ours[~banned] - ref[~banned]).max() < 1e-4


@pytest.mark.slow  # exports a summarizer (three graphs, fp32 and int8) with torch and decodes with transformers
def test_a_long_document_is_summarised_in_chunks_that_fit_the_model(tmp_path):
    pytest.importorskip("torch")
    from app.core.segment import split_sentences
    from app.jobs.model_add import add_model
    from tests.hf_checkpoints import SUMMARY_TEXTS, build_summarizer

    man = add_model(str(build_summarizer(tmp_path / "tiny-t5", "t5")), _registry(tmp_path), task="summary")
    from app.core.abstractive import AbstractiveSummarizer
    from app.core.runtime import RuntimeOptions

    sm = AbstractiveSummarizer(man, RuntimeOptions(device="cpu"))
    text = "\n\n".join(SUMMARY_TEXTS)  # 36 sentences, about 450 tokens; the model reads 128
    sents = split_sentences(text)
    chunks = sm.chunks(sents)
    assert len(chunks) >= 3 and [i for c in chunks for i in c] == list(range(len(sents)))
    for c in chunks:
        assert len(sm.tokenizer.encode([" ".join(sents[i].text for i in c)])[0]) <= sm.max_source_tokens
    summary = sm.summarize(text, beam=1)
    spans = list(dict.fromkeys((s.start, s.end) for s in summary.sentences))
    assert spans == [(sents[c[0]].start, sents[c[-1]].end) for c in chunks]  # one part per chunk, in order
    # the same text without full stops is one "sentence": it is cut into parts too, and every part is read
    flat = " ".join(text.replace(".", "").split())
    summary = sm.summarize(flat, beam=1)
    spans = list(dict.fromkeys((s.start, s.end) for s in summary.sentences))
    assert len(spans) >= 3 and spans[0][0] == 0 and spans[-1][1] == len(flat)
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:]))


@pytest.mark.slow  # exports a summarizer (three graphs, fp32 and int8) with torch and decodes with transformers
def test_the_cli_picks_the_added_summarizer(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")
    from app.cli import main
    from app.core.abstractive import AbstractiveSummarizer
    from app.core.runtime import RuntimeOptions
    from tests.hf_checkpoints import build_summarizer

    monkeypatch.setenv("ALBERT_STUDIO_MODELS", str(tmp_path / "models"))
    src = build_summarizer(tmp_path / "news-t5", "t5")
    assert main(["models", "add", str(src), "--task", "summary", "--name", "news-t5"]) == 0
    said = capsys.readouterr().out
    assert "beam4 tokens equal transformers: True" in said and "--model summary=news-t5" in said
    doc = tmp_path / "note.txt"
    doc.write_text(DOCUMENT, encoding="utf-8")
    capsys.readouterr()
    assert main(["analyze", str(doc), "--tasks", "summary", "--model", "summary=news-t5", "--json",
                 "--no-store", "-q"]) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    sm = AbstractiveSummarizer.from_folder(tmp_path / "models" / "news-t5", RuntimeOptions(device="cpu"))
    assert row["summary"]["abstractive"] is True
    assert [s["text"] for s in row["summary"]["sentences"]] == [s.text for s in sm.summarize(DOCUMENT).sentences]

    # its length is the model's own: a batch asking another --sentences reuses the stored summary, not redo it
    from app.core.analyzer import AnalysisOptions, Analyzer
    from app.core.store import Store
    from app.jobs.batch import run_batch

    analyzer = Analyzer(registry=Registry(), runtime=RuntimeOptions(device="cpu"), model_ids={"summary": "news-t5"})
    with Store(tmp_path / "library.db") as store:
        first = run_batch([doc], analyzer, store, AnalysisOptions(tasks=("summary",), sentences=2))
        again = run_batch([doc], analyzer, store, AnalysisOptions(tasks=("summary",), sentences=5))
    assert (first.analyses, first.reused) == (1, 0) and again.reused == 1


def test_an_abstractive_summary_survives_the_library_and_the_export(tmp_path):
    """The library keeps the model's text and which model wrote it; JSON Lines and CSV exports say both."""
    import csv
    from dataclasses import asdict

    from app.core.export import analysis_to_json
    from app.core.store import Store
    from app.core.store.payloads import result_from_payload
    from app.core.types import Analysis, Document, ModelInfo, Summary, SummarySentence

    s = Summary((SummarySentence("The council will spend more on schools.", 0.41, -1, 0, 85),), abstractive=True)
    back = result_from_payload("summary", asdict(s))
    assert back == s and back.abstractive
    assert not result_from_payload("summary", {"sentences": []}).abstractive  # results stored before: extractive
    doc = Document("/docs/note.txt", DOCUMENT, content_hash="note-1")
    made_by = ModelInfo("distilbart-cnn", "1.0.0", "summary")
    with Store(tmp_path / "library.db") as store:
        store.save_analysis(Analysis(doc, summary=s, models=(made_by,)), None, {"summary": "sentences=3"})
        store.export(tmp_path / "out.jsonl", "jsonl")
        store.export(tmp_path / "out.csv", "csv")
    row = json.loads((tmp_path / "out.jsonl").read_text(encoding="utf-8"))
    assert row["summary"]["abstractive"] is True and row["summary"]["sentences"][0]["index"] == -1
    assert row["summary"]["text"] == "The council will spend more on schools."
    assert (row["summary"]["model"], row["summary"]["model_version"]) == ("distilbart-cnn", "1.0.0")
    with open(tmp_path / "out.csv", encoding="utf-8", newline="") as f:
        (cells,) = list(csv.DictReader(f))
    assert (cells["summary"], cells["summary_model"]) == ("The council will spend more on schools.", "distilbart-cnn")
    assert "model" not in analysis_to_json(Analysis(doc, summary=s))["summary"]  # no model named: none made up


def test_a_sentence_longer_than_the_model_reads_is_cut_at_spaces_into_pieces_that_fit(tmp_path):
    """Text without full stops (a transcript, a pasted list) is one "sentence"; read whole, the tokenizer would
    cut it at the model's limit and the rest would be left out of the summary without a word."""
    from app.core.abstractive import TextTokenizer, fit_sentences
    from app.core.segment import split_sentences
    from tests.hf_checkpoints import SEQ2SEQ, SUMMARY_TEXTS, train_seq2seq_tokenizer

    _arch, family, specials, template = SEQ2SEQ["bart"]
    train_seq2seq_tokenizer(family, specials, template).save(str(tmp_path / "tokenizer.json"))
    tok = TextTokenizer(tmp_path / "tokenizer.json", 128)
    flat = " ".join(" ".join(SUMMARY_TEXTS).replace(".", "").split())
    text = "A short first sentence. " + flat + ". A short last one."
    sents = split_sentences(text)
    assert len(sents) == 3 and tok.count(sents[1].text) == 128  # cut by the tokenizer: more was there
    pieces = fit_sentences(sents, tok, 60)
    assert pieces[0] == sents[0] and pieces[-1] == sents[2] and len(pieces) > 5
    for p in pieces:
        assert text[p.start:p.end] == p.text and tok.count(p.text) <= 60
    middle = pieces[1:-1]
    assert " ".join(p.text for p in middle) == sents[1].text  # every word, in order, nothing lost
    assert middle[0].start == sents[1].start and middle[-1].end == sents[1].end


@pytest.mark.slow  # exports a summarizer with torch
def test_cancel_during_the_summarizers_timing_stops_it_there_and_installs_nothing(tmp_path):
    """Cancel pressed while the add times the model (minutes of beam search on a real BART) stops the runs then,
    inside the export, not after all of them at the install step; nothing is left in the models folder."""
    pytest.importorskip("torch")
    import traceback

    from app.core.errors import Cancelled
    from app.jobs.model_add import add_model
    from tests.hf_checkpoints import build_summarizer

    src = build_summarizer(tmp_path / "tiny-bart", "bart")
    reg = _registry(tmp_path)
    pressed = []

    def progress(p) -> None:
        if p.stage == "timing":
            pressed.append(p.fraction)

    with pytest.raises(Cancelled) as caught:
        add_model(str(src), reg, progress=progress, cancelled=lambda: bool(pressed))
    where = [f.name for f in traceback.extract_tb(caught.value.__traceback__)]
    assert pressed and "_summary_speed" in where  # stopped in the timing, not at "installing"
    assert list((tmp_path / "models").iterdir()) == [] and reg.for_task("summary") == []


@pytest.mark.slow  # exports a summarizer with torch and decodes with transformers
def test_a_short_text_gets_a_summary_as_long_as_transformers_writes(tmp_path):
    """A summary's length is the model's own: a two-word text still gets the checkpoint's min_length tokens, as
    transformers' generate writes them (a translator's cap of twice the source cut it short, mid-sentence)."""
    pytest.importorskip("torch")
    from transformers import BartForConditionalGeneration

    from app.core.abstractive import AbstractiveSummarizer
    from app.core.runtime import RuntimeOptions
    from app.jobs.model_add import add_model
    from tests.hf_checkpoints import build_summarizer

    src = build_summarizer(tmp_path / "tiny-bart", "bart", generation={"min_length": 45})
    man = add_model(str(src), _registry(tmp_path))
    assert man.raw["min_length"] == 45
    sm = AbstractiveSummarizer(man, RuntimeOptions(device="cpu"))
    model = BartForConditionalGeneration.from_pretrained(str(src)).eval()
    ids = sm.tokenizer.encode(["Sales fell."])[0]
    assert 2 * len(ids) + 10 < 45  # the letters of two words the tiny tokenizer does not know
    for beam in (1, 4):
        got = sm.generate(["Sales fell."], beam=beam, max_new_tokens=48)[0]
        assert len(got) >= 44 and got == _reference(model, ids, beam, 48, man.raw)
