"""`models add --task base`: a plain encoder or a sentence-transformers folder becomes a fine-tuning base, and a
fine-tune job starts from it (the new classifier runs in the app like any other)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.core.errors import ModelError
from app.core.hf_import import inspect_checkpoint, sentence_transformers_pooling
from app.core.registry import Registry

POSITIVE = ["the movie was great and the actors were wonderful", "i loved every minute of it", "what a great day",
            "nothing about this phone feels cheap", "the hotel was clean and great", "wonderful actors, i loved it"]
NEGATIVE = ["a terrible boring film with bad acting", "worst service ever, the food was cold",
            "support never answered my three emails", "the second half drags", "bad acting and a boring plot",
            "the food was cold and the service terrible"]


def _config_only(folder: Path, arch: str, model_type: str, **extra) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"architectures": [arch], "model_type": model_type,
                                                    "vocab_size": 100, "hidden_size": 32, **extra}))
    return folder


def _sentence_transformers(folder: Path, mode: str = "mean") -> Path:
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 32, "pooling_mode_mean_tokens": mode == "mean",
         "pooling_mode_cls_token": mode == "cls"}))
    return folder


def test_plain_encoders_become_bases_and_classifiers_can_be_one(tmp_path):
    ck = inspect_checkpoint(_config_only(tmp_path / "bert", "BertModel", "bert"))  # no --task: read from the config
    assert (ck.task, ck.kind) == ("encoder", "encoder")
    mlm = inspect_checkpoint(_config_only(tmp_path / "albert-base-v2", "AlbertForMaskedLM", "albert"))
    assert (mlm.task, mlm.kind) == ("encoder", "encoder")  # a pretraining checkpoint: its encoder
    st = _sentence_transformers(_config_only(tmp_path / "mpnet", "MPNetModel", "mpnet"))
    assert inspect_checkpoint(st, task="base").task == "encoder" and sentence_transformers_pooling(st) == "mean"
    assert sentence_transformers_pooling(ck.folder) == ""
    head = _config_only(tmp_path / "clf", "BertForSequenceClassification", "bert",
                        id2label={"0": "negative", "1": "positive"})
    assert inspect_checkpoint(head).task == "sentiment" and inspect_checkpoint(head, task="base").task == "encoder"
    with pytest.raises(ModelError, match="BertModel becomes a fine-tuning base, not summary"):
        inspect_checkpoint(ck.folder, task="summary")
    old = tmp_path / "old-st"  # sentence-transformers 1.x: the encoder in a subfolder
    _config_only(old / "0_Transformer", "BertModel", "bert")
    with pytest.raises(ModelError, match="keeps its encoder in 0_Transformer; add that folder"):
        inspect_checkpoint(old)
    with pytest.raises(ModelError, match="architecture GPT2Model is not supported"):
        inspect_checkpoint(_config_only(tmp_path / "gpt", "GPT2Model", "gpt2"), task="base")


@pytest.mark.slow  # adds a base with torch, then fine-tunes it in a worker process
@pytest.mark.parametrize("model_type", ["bert", "distilbert"])
def test_an_added_encoder_is_a_base_the_fine_tune_job_starts_from(tmp_path, model_type):
    pytest.importorskip("torch")
    from app.core.labeled_data import make_dataset
    from app.core.sentiment import SentimentModel
    from app.jobs.finetune import FineTuneJob, can_be_base
    from app.jobs.model_add import add_model
    from tests.hf_checkpoints import build_encoder

    src = _sentence_transformers(build_encoder(tmp_path / f"tiny-{model_type}", model_type))
    user = tmp_path / "models"
    reg = Registry(roots=[user], settings_file=user / "defaults.json")
    reg.user_dir = user
    base = add_model(str(src), reg, name=f"My {model_type} base")
    assert base.task == "encoder" and can_be_base(base)
    checks = base.metrics["import_checks"]
    assert checks["tokenizer_matches_transformers"] and checks["saved_weights_max_abs_hidden_diff"] <= 1e-5
    assert checks["sentence_transformers_pooling"] == "mean"
    assert {"config.json", "model.safetensors", "tokenizer.json"} == set(base.files)
    assert "fine-tuning base" in base.card.read_text()

    rows = [(t, "positive") for t in POSITIVE * 2] + [(t, "negative") for t in NEGATIVE * 2]
    data = make_dataset(rows, "reviews.csv")
    job = FineTuneJob(data, registry=reg, base=base.id, name="reviews", mode="standard", epochs=10, lr=1e-3,
                      batch_size=8, patience=100, threads=1, refit="never")
    report = job.run()
    m = reg.get(report.model_id)
    assert report.base == base.id and m.base_model == base.id and m.raw["architecture"] == model_type
    model = SentimentModel(m)
    pred = [label for label, _ in model.classify(list(data.texts))]
    assert sum(p == y for p, y in zip(pred, data.labels)) / len(pred) >= 0.8  # chance is 0.5


@pytest.mark.slow  # exports a BERT classifier with torch
def test_an_added_classifier_without_training_weights_names_the_route_to_fine_tune_it(tmp_path):
    """An added BERT classifier is ONNX only; fine-tuning from it is refused with the command that adds its
    encoder as a base (not only 'start from the shipped encoder')."""
    pytest.importorskip("torch")
    from app.jobs.model_add import add_model
    from app.training.finetune import load_base
    from tests.hf_checkpoints import build_classifier

    reg = Registry(roots=[tmp_path / "models"], settings_file=tmp_path / "defaults.json")
    reg.user_dir = tmp_path / "models"
    man = add_model(str(build_classifier(tmp_path / "bert-topics", "bert", labels=("sport", "tech"))), reg)
    with pytest.raises(ModelError, match=r"bert-topics cannot be fine-tuned.*added from the checkpoint folder "
                                         r"bert-topics: add its encoder as a base with `albert-studio models add "
                                         r"FOLDER --task base"):
        load_base(man.folder, ("sport", "tech"))


@pytest.mark.slow  # exports an XLM-R classifier with torch
def test_an_added_classifier_reads_the_languages_its_card_names(tmp_path):
    """A multilingual checkpoint whose card says `language: [en, fr, de]` labels a French review; it was taken
    as English-only and held French text back as "unsupported language (fr)"."""
    pytest.importorskip("torch")
    from app.core.analyzer import AnalysisOptions, Analyzer
    from app.core.runtime import RuntimeOptions
    from app.core.types import Document
    from app.jobs.model_add import add_model
    from tests.hf_checkpoints import build_classifier

    src = build_classifier(tmp_path / "xlmr-sentiment", "xlm-roberta", labels=("negative", "positive"))
    (src / "README.md").write_text("---\nlicense: mit\nlanguage:\n- en\n- fr\n- de\n---\n# multilingual\n",
                                   encoding="utf-8")
    reg = Registry(roots=[tmp_path / "models"], settings_file=tmp_path / "defaults.json")
    reg.user_dir = tmp_path / "models"
    man = add_model(str(src), reg)
    assert man.task == "sentiment" and tuple(man.languages) == ("en", "fr", "de")
    review = ("Le film était vraiment magnifique, les acteurs sont excellents et l'histoire nous a beaucoup touchés. "
              "Nous avons passé une très bonne soirée au cinéma avec toute la famille et nous le reverrons bientôt.")
    analyzer = Analyzer(registry=reg, runtime=RuntimeOptions(device="cpu"), model_ids={"sentiment": man.id})
    a = analyzer.analyze(Document("avis.txt", review), AnalysisOptions(tasks=("sentiment",)))
    assert a.language.code == "fr" and a.language.reliable
    assert a.sentiment.unsupported_lang == "" and a.sentiment.label in ("negative", "positive")


def test_the_languages_a_model_card_names_are_read_in_each_yaml_form(tmp_path):
    """t5-small's card lists `language:` as a YAML list (en, fr, ro, de); the first item was lost, so English text
    was "unsupported" for it."""
    from app.training.hf_export import _card_languages

    forms = {"list": "language:\n- en\n- fr\n- ro\n- de\n", "quoted": "language:\n  - 'en'\n  - \"fr\"\n",
             "inline": "language: [en, fr]\n", "one": "language: en\n", "none": "tags:\n- summarization\n",
             "not a code": "language:\n- multilingual\n- en\n"}
    want = {"list": ["en", "fr", "ro", "de"], "quoted": ["en", "fr"], "inline": ["en", "fr"], "one": ["en"],
            "none": [], "not a code": ["en"]}
    for name, front in forms.items():
        folder = tmp_path / name.replace(" ", "-")
        folder.mkdir()
        (folder / "README.md").write_text(f"---\nlicense: mit\n{front}pipeline_tag: summarization\n---\n# card\n",
                                          encoding="utf-8")
        assert _card_languages(folder) == want[name], name
