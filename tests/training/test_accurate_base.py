"""The accurate base (app.training.accurate_base): an MPNet's word table factorized ALBERT's way, saved as a
fine-tuning base, and fine-tuned with only its top layers trained (app.training.frozen_layers). Tiny random
MPNets and BERTs built in the tests stand in for all-mpnet-base-v2 (not reachable here)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from app.core.registry import Registry  # noqa: E402
from tests.hf_checkpoints import build_encoder  # noqa: E402

TEXTS = ["the movie was great and the actors were wonderful", "worst service ever, the food was cold",
         "i loved every minute of it", "support never answered my three emails", "a terrible boring film",
         "the hotel was clean and great"]


def _tiny(tmp_path: Path, model_type: str = "mpnet") -> Path:
    return build_encoder(tmp_path / f"tiny-{model_type}", model_type)


def _hidden(model, tok, texts=TEXTS):
    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state, enc


def _counts(vocab: int, frequent: int = 40) -> np.ndarray:
    counts = np.zeros(vocab)
    counts[:frequent] = 1000.0  # running text is made of a few frequent pieces
    return counts


def test_a_full_rank_factorization_is_exact_and_frequency_weighting_keeps_the_frequent_pieces(tmp_path):
    from app.training.accurate_base import factorize, load_source

    tok, model = load_source(_tiny(tmp_path), threads=1)
    ref, _ = _hidden(model, tok)
    hidden = model.config.hidden_size
    info = factorize(model, hidden)  # E = H: the factors multiply back to the table
    assert info["relative_error"] < 1e-4
    again, _ = _hidden(model, tok)
    assert float((again - ref).abs().max()) < 1e-4
    assert model.config.factorized_embedding_size == hidden
    assert sum(p.numel() for p in model.embeddings.word_embeddings.parameters()) == \
        model.config.vocab_size * hidden + hidden * hidden

    src = _tiny(tmp_path / "again")
    _, plain = load_source(src, threads=1)
    _, weighted = load_source(src, threads=1)
    counts = _counts(plain.embeddings.word_embeddings.weight.shape[0])
    a = factorize(plain, 8, counts, weighted=False)
    b = factorize(weighted, 8, counts)
    assert a["weighting"] == "plain" and b["weighting"] == "token frequency"
    # the weighted projection reconstructs the frequent pieces better, the whole table worse
    assert b["relative_error_running_text"] < a["relative_error_running_text"]
    assert b["relative_error"] >= a["relative_error"] - 1e-6


def test_the_measurement_picks_the_smallest_size_that_keeps_the_sentence_embeddings(tmp_path):
    from app.training.accurate_base import choose_size, measure

    from transformers import AutoConfig

    src = _tiny(tmp_path)

    vocab = AutoConfig.from_pretrained(str(src)).vocab_size
    assert vocab > 40
    m = measure(src, sizes=(8, 32), plain_sizes=(8,), share_pairs=((0, 1),), threads=1, texts=TEXTS,
                counts=_counts(vocab), log=lambda _s: None)
    rows = {(r["embedding_size"], r["weighting"]): r for r in m["factorized"]}
    assert set(rows) == {(8, "plain"), (8, "token frequency"), (32, "token frequency")}
    assert rows[(32, "token frequency")]["mean_cosine"] > 0.999  # full rank (hidden 32)
    assert m["shared"][0]["layers"] == [0, 1] and m["shared"][0]["mean_cosine"] < 1.0
    floor = rows[(8, "token frequency")]["mean_cosine"]
    assert choose_size(m, floor=min(1.0, floor + 1e-4)) == 32  # the plain row never counts
    assert choose_size(m, floor=floor - 1e-4) == 8


def test_the_built_base_reads_back_exactly_and_installs(tmp_path):
    from app.jobs.finetune import can_be_base
    from app.training.accurate_base import build, load_factorized, load_source, measure
    from app.training.finetune import _load_encoder

    src = _tiny(tmp_path)
    measured = measure(src, sizes=(16,), plain_sizes=(), share_pairs=(), threads=1, texts=TEXTS,
                       log=lambda _s: None, counts=np.ones(1))  # counts that fit no vocabulary: plain SVD
    out = build(src, tmp_path / "built", size=16, measured=measured, train_top_layers=1, model_id="accurate-test")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["task"] == "encoder" and manifest["id"] == "accurate-test"
    assert manifest["fine_tune"]["train_top_layers"] == 1
    assert manifest["metrics"]["saved_agreement"]["saved_weights_max_abs_embedding_diff"] <= 1e-5
    assert "Factorized embeddings" in (out / "MODEL_CARD.md").read_text()

    tok, ref_model = load_source(src, threads=1)
    from app.training.accurate_base import factorize

    factorize(ref_model, 16)
    want, _ = _hidden(ref_model, tok)
    got, _ = _hidden(load_factorized(out), tok)
    assert float((got - want).abs().max()) < 1e-5
    assert float((_hidden(_load_encoder(out).eval(), tok)[0] - want).abs().max()) < 1e-5  # the fine-tune's loader

    user = tmp_path / "models"
    reg = Registry(roots=[user], settings_file=user / "defaults.json")
    reg.user_dir = user
    m = reg.import_folder(out)
    assert m.task == "encoder" and can_be_base(m)


@pytest.mark.parametrize("model_type", ["mpnet", "bert"])
def test_training_only_the_top_layers_computes_what_the_whole_encoder_computes(tmp_path, model_type):
    from app.training.finetune import _classifier_class, _load_encoder
    from app.training.frozen_layers import splittable, unwrap, wrap
    from transformers import AutoTokenizer

    src = _tiny(tmp_path, model_type)
    tok = AutoTokenizer.from_pretrained(str(src))
    model = _classifier_class()(_load_encoder(src).eval(), 2)
    assert splittable(model.albert) == 2
    ids_mask = tok(TEXTS, padding=True, return_tensors="pt")
    ids, mask = ids_mask["input_ids"], ids_mask["attention_mask"]
    with torch.no_grad():
        want = model.embed(ids, mask, torch.zeros_like(ids))
    encoder = model.albert
    cache = wrap(model, 1)
    model.eval()
    with torch.no_grad():
        got = model.embed(ids, mask, torch.zeros_like(ids))
    assert float((got - want).abs().max()) < 5e-3  # the cached states are kept in fp16
    assert len(cache) == len(TEXTS)
    model.embed(ids[:2], mask[:2]).sum().backward()  # a second call reads the cache
    assert len(cache) == len(TEXTS)
    low, high = encoder.encoder.layer[0], encoder.encoder.layer[1]
    assert all(p.grad is None and not p.requires_grad for p in low.parameters())
    assert all(p.grad is None for p in encoder.embeddings.parameters())
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in high.parameters())
    unwrap(model)
    assert model.albert is encoder


def test_an_albert_encoder_is_never_split(tmp_path):
    from app.training.finetune import _load_encoder
    from app.training.frozen_layers import splittable, wrapper_class

    enc = _load_encoder(_tiny(tmp_path, "albert"))
    assert splittable(enc) == 0
    with pytest.raises(ValueError, match="cannot train the top 1 of 0 layers"):
        wrapper_class()(enc, 1)


@pytest.mark.slow  # builds the base, then fine-tunes it in a worker process and exports the result
def test_models_add_accurate_base_builds_it_and_a_fine_tune_trains_only_its_top_layers(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    from app.core.errors import ModelError
    from app.core.labeled_data import make_dataset
    from app.core.sentiment import SentimentModel
    from app.jobs.finetune import FineTuneJob
    from app.jobs.model_add import ACCURATE_BASE, add_model
    from app.training import accurate_base, teacher_mpnet

    src = _tiny(tmp_path)
    user = tmp_path / "models"
    reg = Registry(roots=[user], settings_file=user / "defaults.json")
    reg.user_dir = user

    def refused(dest, cancelled=None, progress=None):
        raise teacher_mpnet.FetchError("model.safetensors sha256 abc is not the published 78c0...: refused")

    monkeypatch.setattr(teacher_mpnet, "fetch", refused)
    with pytest.raises(ModelError, match="could not be fetched: model.safetensors sha256 abc"):
        add_model(ACCURATE_BASE, reg)
    assert not any(user.iterdir())  # nothing left behind

    measured = accurate_base.measure(src, sizes=(16,), plain_sizes=(), share_pairs=(), threads=1, texts=TEXTS,
                                     log=lambda _s: None, counts=np.ones(1))
    monkeypatch.setattr(teacher_mpnet, "fetch", lambda dest, cancelled=None, progress=None: src)
    monkeypatch.setattr(accurate_base, "recorded_measurement", lambda: measured)
    monkeypatch.setattr(accurate_base, "TRAIN_TOP_LAYERS", 1)
    build = accurate_base.build
    monkeypatch.setattr(accurate_base, "build", lambda *a, **k: build(*a, **{**k, "train_top_layers": 1}))
    stages = []
    base = add_model(ACCURATE_BASE, reg, progress=lambda p: stages.append(p.stage))
    assert base.id == "albert-encoder-accurate" and base.task == "encoder"
    assert any(s.startswith("downloading all-mpnet-base-v2") for s in stages) and stages[-1] == "done"

    pos = ["the movie was great and the actors were wonderful", "i loved every minute of it", "what a great day",
           "the hotel was clean and great"]
    neg = ["a terrible boring film with bad acting", "worst service ever, the food was cold",
           "support never answered my three emails", "bad acting and a boring plot"]
    data = make_dataset([(t, "positive") for t in pos * 2] + [(t, "negative") for t in neg * 2], "r.csv")
    job = FineTuneJob(data, registry=reg, base=base.id, name="reviews", mode="few-shot", threads=1, seed=3)
    report = job.run()
    m = reg.get(report.model_id)
    assert report.raw["train_top_layers"] == 1
    saved = load_file(str(m.folder / "model.safetensors"))
    start = load_file(str(base.folder / "model.safetensors"))
    low = [k for k in start if ".layer.0." in k]
    high = [k for k in start if ".layer.1." in k]
    assert low and high
    assert all(torch.equal(saved[k].float(), start[k].half().float()) for k in low)  # frozen, saved as fp16
    assert any(not torch.equal(saved[k].float(), start[k].half().float()) for k in high)
    assert len(SentimentModel(m).classify(TEXTS)) == len(TEXTS)  # the exported graph runs


def test_base_accurate_names_the_install_when_it_is_missing_and_finds_it_under_any_id(tmp_path):
    import shutil

    from app.core.errors import ModelError
    from app.jobs.finetune import resolve_base
    from app.training.accurate_base import build

    user = tmp_path / "models"
    reg = Registry(roots=[user], settings_file=user / "defaults.json")
    reg.user_dir = user
    with pytest.raises(ModelError, match="albert-studio models add accurate-base"):
        resolve_base(reg, "accurate")
    src = _tiny(tmp_path)
    from app.training.accurate_base import measure

    measured = measure(src, sizes=(16,), plain_sizes=(), share_pairs=(), threads=1, texts=TEXTS,
                       log=lambda _s: None, counts=np.ones(1))
    out = build(src, tmp_path / "built", size=16, measured=measured, train_top_layers=1, model_id="my-accurate")
    user.mkdir(parents=True, exist_ok=True)
    shutil.copytree(out, user / "my-accurate")
    assert resolve_base(reg, "accurate").id == "my-accurate"
    assert resolve_base(reg, "accurate-base").id == "my-accurate"
