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
    monkeypatch.setattr(sentiment, "imdb_stack_split", lambda: (list(imdb), []))
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


def _tiny(folder: Path, kind: str, layers: int = 2) -> Path:
    """A random, very small model with the teacher's vocabulary: an ALBERT encoder or a BERT classifier."""
    from transformers import AlbertConfig, AlbertModel, BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    common = dict(vocab_size=30522, hidden_size=16, num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)
    if kind == "albert":
        model = AlbertModel(AlbertConfig(embedding_size=8, num_hidden_layers=layers, **common))
    else:
        model = BertForSequenceClassification(BertConfig(num_hidden_layers=layers, num_labels=2, **common))
    model.save_pretrained(folder)
    return folder


def _run_args(tmp_path: Path, **overrides) -> argparse.Namespace:
    """Arguments of a short run: a tiny ALBERT student distilled from a tiny BERT teacher."""
    base, teacher = _tiny(tmp_path / "base", "albert"), _tiny(tmp_path / "teacher", "bert")
    args = dict(
        out=tmp_path / "run", encoder=base, arch="albert", distill_from=teacher, kd_alpha=0.5, kd_temp=2.0,
        epoch_offset=0, minutes=5, epochs=2, max_len=16, max_tokens=64, imdb_windows=10, lr=1e-3,
        threads=1, seed=13, transfer_sentences=0, transfer_windows=0, augment=0, hidden_weight=0.0, groups=0,
        domains=False, sst_sample=0, captions=0, freeze_below=0,
    )
    return argparse.Namespace(**{**args, **overrides})


def test_a_short_distillation_run_finishes_and_resumes(data, tmp_path):
    ap = _run_args(tmp_path)
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


@pytest.fixture()
def unlabelled(monkeypatch, tmp_path):
    """2,010 synthetic unlabelled reviews; the last 2,000 are the encoder's held-out agreement slice."""
    import json

    from app.training import common

    folder = tmp_path / "data" / "unlabeled-en"
    folder.mkdir(parents=True)
    with open(folder / "imdb-unsup.jsonl", "w", encoding="utf-8") as f:
        for k in range(2010):
            text = (f"Review {k} opens here and goes on.<br /><br />The second sentence of review {k} is longer. "
                    f"Short one. A third sentence, from review {k}, closes it.")
            f.write(json.dumps({"id": str(k), "text": text}) + "\n")
    monkeypatch.setattr(common, "DATA_DIR", tmp_path / "data")


def test_transfer_rows_are_unlabelled_new_each_epoch_and_never_held_out(unlabelled, tokenizer):
    e0 = sentiment.build_transfer(tokenizer, 16, n_sentences=6, n_windows=2, seed=13, epoch=0)
    e1 = sentiment.build_transfer(tokenizer, 16, n_sentences=6, n_windows=2, seed=13, epoch=1)
    assert len(e0) == len(e1) == 8
    assert all(y == sentiment.UNLABELLED for _, y in e0 + e1)
    assert all(0 < len(ids) <= 14 for ids, _ in e0 + e1)
    assert e0 == sentiment.build_transfer(tokenizer, 16, n_sentences=6, n_windows=2, seed=13, epoch=0)
    number = lambda ex: {int(w) for ids, _ in ex for w in tokenizer.decode(ids).split() if w.isdigit()}
    assert number(e0) and number(e1) and not number(e0) & number(e1)  # other reviews each epoch
    assert max(number(e0) | number(e1)) < 10  # never the 2,000 held-out reviews
    # "Short one." (2 words) is too short to be a transfer sentence
    assert all(tokenizer.decode(ids) != "short one." for ids, _ in e0 + e1)
    windows_only = sentiment.build_transfer(tokenizer, 16, n_sentences=0, n_windows=2, seed=13, epoch=0)
    assert len(windows_only) == 2 and all(len(ids) == 14 for ids, _ in windows_only)


def test_distillation_on_unlabelled_rows_with_hidden_states(data, unlabelled, tmp_path):
    ap = _run_args(tmp_path, epochs=1, transfer_sentences=12, transfer_windows=2, hidden_weight=0.5)
    sentiment.train(ap)
    log = (tmp_path / "run" / "train.log").read_text()
    # 12//6 + 1 = 3 reviews give their 9 sentences (fewer than asked), plus 2 windows
    assert "11 unlabelled transfer rows" in log and "saved at step" in log
    assert (tmp_path / "run" / "final" / "config.json").exists()
    # a transfer set needs a teacher; hidden-state matching needs the student's depth
    with pytest.raises(SystemExit, match="need --distill-from"):
        sentiment.train(argparse.Namespace(**{**vars(ap), "distill_from": None, "out": tmp_path / "r2"}))
    shallow = _tiny(tmp_path / "shallow", "bert", layers=1)
    with pytest.raises(SystemExit, match="depth and width"):
        sentiment.train(argparse.Namespace(**{**vars(ap), "distill_from": shallow, "out": tmp_path / "r3"}))


def test_transfer_rows_learn_from_the_teacher_only():
    student = torch.tensor([[2.0, -1.0], [0.5, 0.5]])
    teacher = torch.tensor([[2.0, -1.0], [-3.0, 3.0]])
    U = sentiment.UNLABELLED
    # a row that agrees with its teacher costs nothing without a label, whatever its "label" would be
    assert sentiment.distill_loss(student[:1], teacher[:1], torch.tensor([U]), 0.5, 2.0).item() == pytest.approx(0, abs=1e-6)
    labelled = sentiment.distill_loss(student[:1], teacher[:1], torch.tensor([1]), 0.5, 2.0).item()
    assert labelled == pytest.approx(0.5 * torch.nn.functional.cross_entropy(student[:1], torch.tensor([1])).item())
    # a disagreeing transfer row: T^2 KL, and it is the same whichever label the other row has
    both = sentiment.distill_loss(student, teacher, torch.tensor([U, U]), 0.5, 2.0).item()
    p_t = torch.softmax(teacher[1] / 2, -1)
    kl = (p_t * (p_t.log() - torch.log_softmax(student[1] / 2, -1))).sum().item() * 4
    assert both == pytest.approx(kl / 2, rel=1e-5)


def test_widening_the_shared_layer_into_groups_keeps_the_function(tmp_path):
    from transformers import AlbertConfig, AlbertForSequenceClassification

    from app.training.distill import widen_groups

    torch.manual_seed(0)
    cfg = AlbertConfig(vocab_size=100, embedding_size=8, hidden_size=16, num_hidden_layers=4, num_attention_heads=2,
                       intermediate_size=32, max_position_embeddings=32, num_labels=2)
    shared = AlbertForSequenceClassification(cfg).eval()
    wide_cfg = AlbertConfig(**{**cfg.to_dict(), "num_hidden_groups": 2})
    wide = AlbertForSequenceClassification(wide_cfg).eval()
    wide.load_state_dict(widen_groups(shared.state_dict(), 2))  # strict: every key of both groups is there
    ids = torch.tensor([[1, 5, 7, 9, 2]])
    assert torch.allclose(shared(input_ids=ids).logits, wide(input_ids=ids).logits, atol=1e-6)
    n = lambda m: sum(p.numel() for p in m.parameters())
    layer = sum(p.numel() for p in shared.albert.encoder.albert_layer_groups[0].parameters())
    assert n(wide) == n(shared) + layer
    # the groups are copies, not the same tensors: training one leaves the other alone
    g = wide.albert.encoder.albert_layer_groups
    assert g[0].albert_layers[0].ffn.weight.data_ptr() != g[1].albert_layers[0].ffn.weight.data_ptr()
    # a state dict that already has groups is left as it is
    sd = wide.state_dict()
    assert widen_groups(sd, 4) is sd


def test_a_distillation_run_can_widen_the_student_into_groups(data, tmp_path):
    from transformers import AlbertForSequenceClassification

    ap = _run_args(tmp_path, epochs=1, groups=2)
    base = _tiny(tmp_path / "base4", "albert", layers=4)
    teacher = _tiny(tmp_path / "teacher4", "bert", layers=4)
    ap = argparse.Namespace(**{**vars(ap), "encoder": base, "distill_from": teacher, "hidden_weight": 0.5})
    sentiment.train(ap)
    out = AlbertForSequenceClassification.from_pretrained(str(tmp_path / "run" / "final"))
    assert out.config.num_hidden_groups == 2
    assert "widened the shared layer into 2 groups" in (tmp_path / "run" / "train.log").read_text()
    sentiment.train(ap)  # resumes the widened model from its checkpoint
    assert "resumed at step" in (tmp_path / "run" / "train.log").read_text()
    with pytest.raises(SystemExit, match="--groups 3"):
        sentiment.train(argparse.Namespace(**{**vars(ap), "groups": 3, "out": tmp_path / "r2"}))


def test_student_config_groups():
    from app.training.distill import student_config

    assert student_config().num_hidden_groups == 1
    assert student_config(groups=3).num_hidden_groups == 3
    for bad in (4, 6, 0):  # 4 does not divide 6 layers; 6 would share nothing
        with pytest.raises(SystemExit):
            student_config(groups=bad)


def test_augmented_variants_follow_tang_et_al_rules():
    src = ["a wonderful , moving film about two brothers", "the plot is dull and the acting is worse"]
    neighbours = {"wonderful": ["lovely"], "dull": ["boring"], "film": ["movie"]}
    out = sentiment.augment_sentences(src, 30, seed=5, neighbours=neighbours)
    assert out == sentiment.augment_sentences(src, 30, seed=5, neighbours=neighbours)  # deterministic
    assert out != sentiment.augment_sentences(src, 30, seed=6, neighbours=neighbours)
    assert src[0] not in out and src[1] not in out  # a copy of the source teaches nothing new
    assert len(out) > 30  # most of the 60 draws differ from their source
    vocab = {w for t in src for w in t.split()} | {"[MASK]", "lovely", "boring", "movie"}
    assert all(set(v.split()) <= vocab for v in out)  # only masks and neighbours are new
    assert any("[MASK]" in v for v in out)
    assert any("lovely" in v or "boring" in v or "movie" in v for v in out)
    assert any(len(v.split()) <= 5 for v in out)  # n-gram samples
    assert max(len(v.split()) for v in out) == max(len(t.split()) for t in src)  # words are never added


def test_embedding_neighbours_are_related_words(tokenizer):
    nb = sentiment.embedding_neighbours({"film", "funny", "zzzzqx"}, k=8)
    assert "zzzzqx" not in nb  # not a single piece of the vocabulary
    assert "movie" in nb["film"] and "film" not in nb["film"]
    assert len(nb["funny"]) == 8 and "hilarious" in nb["funny"]


def test_augmented_transfer_rows_come_from_long_training_sentences_only(monkeypatch, tokenizer):
    train = [("a wonderful , moving film about brothers", 1), ("dull film", 0), ("the plot is dull and thin", 0)]
    monkeypatch.setattr(sentiment, "sst2_splits", lambda: (list(train), [], []))
    rows = sentiment.build_augmented(tokenizer, 16, n_per=20, seed=13, epoch=0, neighbours={})
    assert rows and all(y == sentiment.UNLABELLED and 0 < len(ids) <= 14 for ids, y in rows)
    words = {w.strip(",") for ids, _ in rows for w in tokenizer.decode(ids).split()}
    assert "wonderful" in words and "plot" in words
    assert rows != sentiment.build_augmented(tokenizer, 16, n_per=20, seed=13, epoch=1, neighbours={})  # new each epoch
    assert sentiment.build_augmented(tokenizer, 16, n_per=0, seed=13) == []


def test_freezing_the_lower_groups_keeps_what_the_heads_read(data, tmp_path):
    """--freeze-below 2 on a 4-group ALBERT: embeddings and groups 0-1 come out unchanged, groups 2-3 and the
    classifier train (the shipped heads read layer 4 of 6, so the top can be retrained under them)."""
    from transformers import AlbertConfig, AlbertForSequenceClassification, AlbertModel

    torch.manual_seed(0)
    cfg = AlbertConfig(vocab_size=30522, embedding_size=8, hidden_size=16, num_attention_heads=2, intermediate_size=32,
                       max_position_embeddings=64, num_hidden_layers=4, num_hidden_groups=4)
    AlbertModel(cfg).save_pretrained(tmp_path / "base4g")
    ap = _run_args(tmp_path, epochs=1, distill_from=None, freeze_below=2)
    ap.encoder = tmp_path / "base4g"
    sentiment.train(ap)
    before = AlbertModel.from_pretrained(str(tmp_path / "base4g")).state_dict()
    after = AlbertForSequenceClassification.from_pretrained(str(tmp_path / "run" / "final")).albert.state_dict()
    same = lambda k: torch.equal(before[k], after[k])
    groups = lambda g: [k for k in before if k.startswith(f"encoder.albert_layer_groups.{g}.")]
    assert all(same(k) for k in before if k.startswith(("embeddings.", "encoder.embedding_hidden_mapping_in")))
    assert all(same(k) for g in (0, 1) for k in groups(g))
    assert not all(same(k) for g in (2, 3) for k in groups(g))
    assert "frozen below layer group 2" in (tmp_path / "run" / "train.log").read_text()
