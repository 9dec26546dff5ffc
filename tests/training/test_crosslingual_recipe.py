"""The cross-lingual recipe end to end on a tiny model: vocabulary extension, the student's start, a few steps of
distillation (resumable), agreement and the export that the app's sentiment core then runs."""
from __future__ import annotations

import json
import shutil

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from app.training import crosslingual as xl  # noqa: E402
from app.training.common import MODELS_DIR, teacher_dir  # noqa: E402

pytestmark = pytest.mark.slow

EN = ["the film was wonderful and moving", "the service was slow and rude", "i love this little phone",
      "the hotel room was dirty", "what a great day at the beach", "this is the worst coffee i ever had"]
FR = ["le film était merveilleux et émouvant", "le service était lent et impoli", "j'adore ce petit téléphone",
      "la chambre d'hôtel était sale", "quelle belle journée à la plage", "c'est le pire café que j'aie jamais bu"]
DE = ["der film war wunderbar und bewegend", "der service war langsam und unhöflich", "ich liebe dieses kleine telefon",
      "das hotelzimmer war schmutzig", "was für ein schöner tag am strand", "das ist der schlechteste kaffee überhaupt"]


@pytest.fixture()
def setup(tmp_path, monkeypatch):
    try:
        tok_dir = teacher_dir()
    except RuntimeError:
        pytest.skip("the teacher package (tokenizer) is not installed")
    english = MODELS_DIR / "albert-sentiment-en"
    data = tmp_path / "data"
    for lang, side in (("fr", FR), ("de", DE)):
        d = data / f"tatoeba-en-{lang}"
        d.mkdir(parents=True)
        (d / "train.en").write_text("\n".join(EN * 8) + "\n")
        (d / f"train.{lang}").write_text("\n".join(side * 8) + "\n")
    monkeypatch.setattr(xl, "DATA_DIR", data)
    monkeypatch.setattr(xl, "RUN", tmp_path / "run")
    monkeypatch.setattr(xl, "english_sentences", lambda n, seed: EN[:n])
    import app.training.translation_docs as td

    monkeypatch.setattr(td, "docs", lambda split: [])
    # a tiny teacher with the shipped model's shape where the heads read it (6 groups, hidden 384, 3 labels)
    from transformers import AlbertConfig, AlbertForSequenceClassification

    torch.manual_seed(0)
    cfg = AlbertConfig(vocab_size=30522, embedding_size=16, hidden_size=384, num_attention_heads=4,
                       intermediate_size=32, num_hidden_layers=6, num_hidden_groups=6, max_position_embeddings=512,
                       num_labels=3, id2label={0: "negative", 1: "positive", 2: "neutral"},
                       label2id={"negative": 0, "positive": 1, "neutral": 2})
    AlbertForSequenceClassification(cfg).save_pretrained(tmp_path / "teacher")
    folder = tmp_path / "english"
    shutil.copytree(english, folder, ignore=shutil.ignore_patterns("*.onnx"))
    shutil.copy(tok_dir / "tokenizer.json", folder / "tokenizer.json")
    for f in json.loads((english / "manifest.json").read_text())["files"]:
        if f.endswith(".onnx") and not f.startswith("model."):
            shutil.copy(english / f, folder / f)
    return tmp_path, folder


def _args(tmp_path, folder, command, **kw):
    argv = [command, "--teacher", str(tmp_path / "teacher"), "--teacher-folder", str(folder), "--trained", "300",
            "--new", "120", "--batch", "8", "--english", "4", "--warmup", "2", "--threads", "1",
            "--models", str(tmp_path / "models")]
    for k, v in kw.items():
        argv += [f"--{k.replace('_', '-')}", str(v)]
    return argv


def test_vocabulary_init_train_resume_export(setup):
    tmp_path, folder = setup
    run = tmp_path / "run"
    xl.main(_args(tmp_path, folder, "vocab"))
    report = json.loads((run / "vocab.json").read_text())
    assert 0 < report["new_pieces"] <= 120
    assert report["fr"]["pieces_per_word_after"] < report["fr"]["pieces_per_word_before"]
    vocab = json.loads((run / "tokenizer.json").read_text())["model"]["vocab"]
    old = json.loads((folder / "tokenizer.json").read_text())["model"]["vocab"]
    assert all(vocab[k] == v for k, v in old.items())  # English ids never move
    assert len(vocab) == len(old) + report["new_pieces"]

    xl.main(_args(tmp_path, folder, "init"))
    from transformers import AlbertForSequenceClassification

    student = AlbertForSequenceClassification.from_pretrained(str(run / "init"))
    teacher = AlbertForSequenceClassification.from_pretrained(str(tmp_path / "teacher"))
    assert student.config.vocab_size == len(vocab)
    emb_s = student.albert.embeddings.word_embeddings.weight
    emb_t = teacher.albert.embeddings.word_embeddings.weight
    assert torch.equal(emb_s[:len(old)], emb_t)  # the English rows are the teacher's
    # a new piece starts as the mean of the English pieces it splits into
    from tokenizers import Tokenizer

    old_tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    piece = next(p for p, i in vocab.items() if i >= len(old) and not p.startswith("##") and len(p) > 3)
    ids = old_tok.encode(piece, add_special_tokens=False).ids
    assert torch.allclose(emb_s[vocab[piece]], emb_t[ids].mean(0), atol=1e-6)

    xl.main(_args(tmp_path, folder, "train", minutes=5, epochs=1, save_minutes=5))
    log = (run / "train.log").read_text()
    total = -(-96 // 8)  # 2 languages x 48 pairs in batches of 8
    assert f"saved at step {total}/{total}" in log
    xl.main(_args(tmp_path, folder, "train", minutes=5, epochs=1))
    assert f"resumed at step {total}/{total}" in (run / "train.log").read_text()
    trained = AlbertForSequenceClassification.from_pretrained(str(run / "last"))
    assert not torch.equal(trained.albert.embeddings.word_embeddings.weight, emb_s)  # it learned

    xl.main(_args(tmp_path, folder, "export", student=run / "last", version="0.0.1"))
    dest = tmp_path / "models" / xl.MODEL_ID
    raw = json.loads((dest / "manifest.json").read_text())
    assert raw["languages"] == ["en", "fr", "de"] and raw["labels"] == ["negative", "positive", "neutral"]
    from app.core.registry import read_manifest
    from app.core.runtime import RuntimeOptions
    from app.core.sentiment import SentimentModel

    model = SentimentModel(read_manifest(dest), RuntimeOptions(device="cpu", tune=False))
    out = model.analyze_many([FR[0], DE[1], EN[2]], per_sentence=True)
    assert [r.label in ("negative", "positive", "neutral") for r in out] == [True] * 3
