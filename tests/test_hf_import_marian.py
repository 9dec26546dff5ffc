"""`models add` of a MarianMTModel (OPUS-MT layout): a translator whose language pair is read from the checkpoint,
whose greedy and beam-4 tokens equal transformers' generate, run by the app's Translator with its KV cache."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.core.errors import ModelError
from app.core.hf_import import inspect_checkpoint, marian_languages
from app.core.registry import Registry

MARIAN = {"architectures": ["MarianMTModel"], "model_type": "marian", "vocab_size": 100, "d_model": 32,
          "encoder_layers": 2, "decoder_layers": 2, "encoder_ffn_dim": 64, "decoder_ffn_dim": 64,
          "max_position_embeddings": 128}


def _marian_config_only(folder: Path, tokenizer_config: dict | None = None, files=("source.spm", "target.spm",
                                                                                     "vocab.json")) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(MARIAN))
    for f in files:
        (folder / f).write_bytes(b"x")
    if tokenizer_config is not None:
        (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    return folder


def test_the_language_pair_is_read_from_the_checkpoint(tmp_path):
    f = _marian_config_only(tmp_path / "any-name", {"source_lang": "en", "target_lang": "de"})
    assert marian_languages(f) == ("en", "de")
    g = _marian_config_only(tmp_path / "opus-mt-fr-es", {})
    assert marian_languages(g) == ("fr", "es")
    assert marian_languages(g, "Helsinki-NLP/opus-mt-en-it") == ("en", "it")  # the hub id comes first
    ck = inspect_checkpoint(f)
    assert (ck.task, ck.source_lang, ck.target_lang, ck.kind) == ("translation", "en", "de", "translator")


def test_marian_checkpoints_the_app_cannot_run_are_refused(tmp_path):
    with pytest.raises(ModelError, match="cannot tell which languages"):
        inspect_checkpoint(_marian_config_only(tmp_path / "mystery", {}))
    with pytest.raises(ModelError, match="multi-target"):
        inspect_checkpoint(_marian_config_only(tmp_path / "opus-mt-en-ROMANCE", {}))
    f = _marian_config_only(tmp_path / "opus-mt-en-de", {}, files=("source.spm", "target.spm", "target_vocab.json"))
    with pytest.raises(ModelError, match="missing vocab.json.*separate vocabularies"):
        inspect_checkpoint(f)
    with pytest.raises(ModelError, match="becomes a translation model, not sentiment"):
        inspect_checkpoint(_marian_config_only(tmp_path / "opus-mt-en-it", {}), task="sentiment")


@pytest.mark.slow  # exports a Marian model (three graphs, fp32 and int8) and decodes with transformers
def test_a_marian_checkpoint_becomes_a_translator_that_decodes_like_transformers(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    import torch
    from transformers import MarianMTModel

    from app.core.runtime import RuntimeOptions
    from app.core.task_model import load_task_model
    from app.jobs.model_add import add_model
    from tests.hf_checkpoints import build_marian

    src = build_marian(tmp_path / "opus-mt-tiny-en-de")
    reg = Registry(roots=[tmp_path / "models"], settings_file=tmp_path / "defaults.json")
    reg.user_dir = tmp_path / "models"
    man = add_model(str(src), reg)
    assert (man.task, man.source_lang, man.target_lang) == ("translation", "en", "de")
    checks = man.metrics["import_checks"]
    assert checks["greedy_tokens_equal_transformers"] and checks["beam4_tokens_equal_transformers"]
    assert 0 <= checks["int8_greedy_identical_sentences"] <= 1
    assert man.license == "cc-by-4.0" and "target tokens per s fp32 beam4" in (man.folder / "MODEL_CARD.md").read_text()
    assert reg.default("translation", "de").id == "opus-mt-tiny-en-de"

    tr = load_task_model(man, RuntimeOptions(device="cpu"), target_lang="de")
    assert tr.has_cache
    model = MarianMTModel.from_pretrained(str(src)).eval()
    sentence = "The children are reading books in the garden."  # not one of the import's own samples
    ids = tr.tokenizer.encode([sentence])[0]
    for beam in (1, 4):
        got = tr.generate([ids], beam=beam, max_length=16)[0]
        x = torch.tensor([ids])
        ref = model.generate(x, attention_mask=torch.ones_like(x), num_beams=beam, do_sample=False,
                             max_new_tokens=16, bad_words_ids=[[model.config.pad_token_id]], length_penalty=1.0,
                             early_stopping=False, forced_eos_token_id=None)
        assert [int(t) for t in got] == [t for t in ref[0, 1:].tolist() if t not in (0, model.config.pad_token_id)]
    out = tr.translate("A man is riding a bicycle. Two dogs play.", beam=4, max_length=8)
    assert len(out.sentences) == 2 and out.lang == "de"

    # a .docx translated from the command line with the added model, as a user would ("mark": a random model is
    # never confident, and keep-source would leave the original sentences)
    import docx

    from app.cli import main

    monkeypatch.setenv("ALBERT_STUDIO_MODELS", str(reg.user_dir))
    paragraphs = ["A man is riding a bicycle.", "Click Save to keep your changes."]
    doc = docx.Document()
    for p in paragraphs:
        doc.add_paragraph(p)
    doc.save(str(tmp_path / "in.docx"))
    assert main(["translate", str(tmp_path / "in.docx"), "--to", "de", "--model", "translation=opus-mt-tiny-en-de",
                 "--any-language", "--low-confidence", "mark", "-o", str(tmp_path / "out.docx"), "-q"]) == 0
    written = "\n".join(p.text for p in docx.Document(str(tmp_path / "out.docx")).paragraphs)
    for p in paragraphs:
        assert tr.translate(p, beam=4).text in written
