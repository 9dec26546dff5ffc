"""Fixtures for the fine-tuning tests: a tiny random ALBERT encoder in the shipped layout, real SST-2 rows."""
from __future__ import annotations

import csv
import random
import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "sst2" / "train.tsv"


def make_tiny_encoder(folder: Path) -> Path:
    """config.json + fp16 model.safetensors (AlbertModel) + tokenizer.json + manifest (task encoder)."""
    import torch
    from transformers import AlbertConfig, AlbertModel

    from app.core.registry import write_manifest
    from app.training.common import teacher_dir

    torch.manual_seed(0)
    cfg = AlbertConfig(vocab_size=30522, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                       num_hidden_groups=1, num_attention_heads=2, intermediate_size=64,
                       max_position_embeddings=128, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                       pad_token_id=0)
    folder.mkdir(parents=True, exist_ok=True)
    AlbertModel(cfg, add_pooling_layer=False).to(torch.float16).save_pretrained(str(folder))
    shutil.copy(teacher_dir() / "tokenizer.json", folder / "tokenizer.json")
    write_manifest(folder, {"id": "albert-encoder-tiny", "version": "0.0.1", "task": "encoder", "name": "tiny test encoder",
                            "languages": ["en"], "graphs": {}, "max_length": 128,
                            "tokenizer": {"type": "wordpiece", "file": "tokenizer.json", "lowercase": True},
                            "files": ["config.json", "model.safetensors", "tokenizer.json"]})
    return folder


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> Path:
    return make_tiny_encoder(tmp_path_factory.mktemp("enc") / "albert-encoder-tiny")


_SUBJECTS = ["the film", "this phone", "the hotel", "our waiter", "the battery", "the plot", "the soundtrack",
             "the delivery", "the new update", "the support team", "the keyboard", "the second season"]
_POSITIVE = ["was wonderful and I loved every minute of it", "is excellent, clever and genuinely delightful",
             "made me smile, a real joy from start to finish", "works perfectly and I would happily recommend it",
             "is brilliant, warm and beautifully done", "exceeded every hope I had, simply superb"]
_NEGATIVE = ["was awful and I hated every minute of it", "is terrible, dull and painfully boring",
             "made me angry, a complete waste of money", "broke at once and I would never recommend it",
             "is a mess, lazy and badly done", "let me down badly, simply dreadful"]


def _written_rows() -> list[tuple[str, str]]:
    """Hand-written labelled sentences, used when the data pack is not next to the checkout."""
    rows = [(f"{s.capitalize()} {p}.", "positive") for s in _SUBJECTS for p in _POSITIVE]
    return rows + [(f"{s.capitalize()} {p}.", "negative") for s in _SUBJECTS for p in _NEGATIVE]


def _sst2_rows(n_per_class: int, seed: int = 0, min_words: int = 6) -> list[tuple[str, str]]:
    if not DATA.exists():
        return _balanced(_written_rows(), n_per_class, seed)
    rows = []
    with open(DATA, encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader)
        for r in reader:
            if len(r) >= 2 and len(r[1].split()) >= min_words:
                rows.append((r[1].strip(), "positive" if r[0] == "1" else "negative"))
    return _balanced(rows, n_per_class, seed)


def _balanced(rows: list[tuple[str, str]], n_per_class: int, seed: int) -> list[tuple[str, str]]:
    """n_per_class rows of each label, in a seeded shuffled order."""
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    out, seen = [], {"positive": 0, "negative": 0}
    for t, y in rows:
        if seen[y] < n_per_class:
            out.append((t, y))
            seen[y] += 1
    return out


@pytest.fixture(scope="session")
def sst2_rows():
    """sst2_rows(n_per_class) -> balanced real SST-2 sentences as (text, "negative"/"positive")."""
    return _sst2_rows


@pytest.fixture()
def sst2_csv(tmp_path) -> Path:
    p = tmp_path / "reviews.csv"
    with open(p, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "review", "sentiment"])
        for i, (t, y) in enumerate(_sst2_rows(24)):
            w.writerow([i, t, y])
    return p


@pytest.fixture()
def user_models(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "user-models"
    d.mkdir()
    monkeypatch.setenv("ALBERT_STUDIO_MODELS", str(d))
    return d
