"""The translator's export takes what it needs from the recipe as arguments (no import of the recipe back)."""
from __future__ import annotations

import argparse
import json

import pytest

torch = pytest.importorskip("torch")
spm = pytest.importorskip("sentencepiece")
pytest.importorskip("onnx")

from app.training import mt_model  # noqa: E402

SENTENCES = ["a dog runs on the grass", "un chien court sur l'herbe", "ein hund läuft auf dem gras",
             "two men play music", "deux hommes jouent de la musique", "zwei männer spielen musik"] * 20


@pytest.fixture()
def run(tmp_path, monkeypatch):
    """A finished training run in a temporary folder: SentencePiece model, two snapshots, last.pt."""
    run, models = tmp_path / "run", tmp_path / "models" / mt_model.MODEL_ID
    run.mkdir()
    (run / "text.txt").write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(run / "text.txt"), model_prefix=str(run / "spm"), vocab_size=40, model_type="unigram", hard_vocab_limit=False,
        character_coverage=1.0, pad_id=mt_model.PAD, unk_id=mt_model.UNK, bos_id=mt_model.BOS, eos_id=mt_model.EOS,
        user_defined_symbols=mt_model.SPECIALS, num_threads=1)
    cfg = dict(vocab_size=40, embedding_size=8, d_model=16, heads=2, ffn=32, enc_repeats=1, dec_layers=1, dropout=0.0)
    torch.manual_seed(0)
    for step in (100, 20):  # written out of order: snapshots sort by step, not by name
        model = mt_model.build_model(cfg)
        torch.save({"model": model.state_dict(), "config": cfg, "step": step}, run / f"snap_{step}.pt")
    torch.save({"step": 100, "epoch": 1, "pos": 0, "seconds": 60.0, "schedule": "test"}, run / "last.pt")
    monkeypatch.setattr(mt_model, "RUN", run)
    monkeypatch.setattr(mt_model, "MODEL_DIR", models)
    return run


def test_snapshots_are_listed_by_step(run):
    assert [p.name for p in mt_model.checkpoint_files(run)] == ["snap_20.pt", "snap_100.pt"]


def test_export_averages_the_snapshots_the_given_loss_prefers(run):
    from app.training.translation_export import export

    losses = iter([2.0, 1.5])  # the last snapshot alone, then the average of the last two
    asked = []

    def validation_nll(model, limit):
        asked.append(limit)
        return next(losses)

    args = argparse.Namespace(threads=1, average=0, train_threads="1", warmup=10, lr=1e-3, schedule="", version="0.0.1")
    folder = export(args, validation_nll)

    manifest = json.loads((folder / "manifest.json").read_text())
    assert folder == mt_model.MODEL_DIR and manifest["id"] == mt_model.MODEL_ID
    assert asked == [400, 400]
    assert manifest["training"]["averaged_steps"] == [20, 100]
    assert set(manifest["targets"]) == set(mt_model.TARGETS)
