"""The sentiment recipe: a new IMDB slice each epoch, and a short run through the distillation path."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from app.training import sentiment  # noqa: E402
from app.training.common import teacher_dir  # noqa: E402

WORDS = "good bad film plot actor boring moving wonderful awful scene music story".split()


def _synthetic(n_sst: int = 24, n_imdb: int = 40):
    sst = [(f"{WORDS[i % len(WORDS)]} {WORDS[(i * 7) % len(WORDS)]} film", i % 2) for i in range(n_sst)]
    imdb = [(f"{WORDS[i % len(WORDS)]} review {1000 + i}", i % 2) for i in range(n_imdb)]  # short: one window each
    return sst, imdb


@pytest.fixture()
def data(monkeypatch):
    try:
        teacher_dir()
    except RuntimeError:
        pytest.skip("the teacher package (tokenizer) is not installed")
    sst, imdb = _synthetic()
    monkeypatch.setattr(sentiment, "sst2_splits", lambda: (list(sst), [], []))
    monkeypatch.setattr(sentiment, "imdb_splits", lambda: (list(imdb), [], []))
    return sst, imdb


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(teacher_dir()))
    except RuntimeError:
        pytest.skip("the teacher package (tokenizer) is not installed")


def test_each_epoch_reads_other_imdb_reviews(data, tokenizer):
    sst, imdb = data
    e0 = sentiment.build_examples(tokenizer, 16, 10, seed=13, epoch=0)
    e1 = sentiment.build_examples(tokenizer, 16, 10, seed=13, epoch=1)
    assert len(e0) == len(e1) == len(sst) + 10
    assert all(len(ids) <= 14 for ids, _ in e0 + e1)  # room for [CLS] and [SEP]
    encoded = {tuple(tokenizer(t, add_special_tokens=False)["input_ids"]): k for k, (t, _) in enumerate(imdb)}
    picked = lambda ex: {encoded[tuple(ids)] for ids, _ in ex if tuple(ids) in encoded}
    assert len(picked(e0)) == len(picked(e1)) == 10
    assert not picked(e0) & picked(e1)  # epoch 1 reads the next ten reviews
    assert e0 == sentiment.build_examples(tokenizer, 16, 10, seed=13, epoch=0)  # deterministic


def _tiny(folder: Path, kind: str) -> Path:
    """A random, very small model with the teacher's vocabulary: an ALBERT encoder or a BERT classifier."""
    from transformers import AlbertConfig, AlbertModel, BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    common = dict(vocab_size=30522, hidden_size=16, num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)
    if kind == "albert":
        model = AlbertModel(AlbertConfig(embedding_size=8, num_hidden_layers=2, **common))
    else:
        model = BertForSequenceClassification(BertConfig(num_hidden_layers=1, num_labels=2, **common))
    model.save_pretrained(folder)
    return folder


def test_a_short_distillation_run_finishes_and_resumes(data, tmp_path):
    base, teacher = _tiny(tmp_path / "base", "albert"), _tiny(tmp_path / "teacher", "bert")
    ap = argparse.Namespace(
        out=tmp_path / "run", encoder=base, arch="albert", distill_from=teacher, kd_alpha=0.5, kd_temp=2.0,
        epoch_offset=0, minutes=5, epochs=2, max_len=16, max_tokens=64, imdb_windows=10, lr=1e-3,
        threads=1, seed=13,
    )
    sentiment.train(ap)
    st = torch.load(tmp_path / "run" / "checkpoint.pt", map_location="cpu")
    assert st["step"] > 0
    assert (tmp_path / "run" / "final" / "config.json").exists()
    log = (tmp_path / "run" / "train.log").read_text()
    assert "distilling from" in log and f"saved at step {st['step']}/{st['step']}" in log
    # run again: it resumes at the end and does no more steps
    sentiment.train(ap)
    assert torch.load(tmp_path / "run" / "checkpoint.pt", map_location="cpu")["step"] == st["step"]
    assert f"resumed at step {st['step']}" in (tmp_path / "run" / "train.log").read_text()
