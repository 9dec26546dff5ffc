"""`models add`: Hugging Face sequence classifiers become installed sentiment or classification models, checked
against PyTorch; checkpoints the app cannot run faithfully are refused and leave nothing behind.

The checkpoints are tiny random models of the real architectures, with tokenizers trained in the test
(tests/hf_checkpoints.py); the refusals that need no weights run without torch.
"""
from __future__ import annotations

import hashlib
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.core.errors import Cancelled, ModelError
from app.core.hf_import import default_model_id, inspect_checkpoint, looks_like_hub_id, sentiment_labels
from app.core.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
TEXT = "The film was wonderful. I hated the ending, honestly.\n\nSupport never answered my three emails."


@pytest.fixture()
def reg(tmp_path):
    user = tmp_path / "home" / "models"
    r = Registry(roots=[user], settings_file=tmp_path / "defaults.json")
    r.user_dir = user
    return r


def _config_only(folder: Path, **config) -> Path:
    """A checkpoint folder with only config.json: enough for every refusal that comes before the weights."""
    folder.mkdir(parents=True)
    base = {"architectures": ["BertForSequenceClassification"], "model_type": "bert", "vocab_size": 100,
            "hidden_size": 32, "num_hidden_layers": 2, "intermediate_size": 64, "max_position_embeddings": 64,
            "id2label": {"0": "NEGATIVE", "1": "POSITIVE"}}
    (folder / "config.json").write_text(json.dumps({**base, **config}))
    return folder


def _nothing_installed(reg: Registry) -> None:
    assert not reg.user_dir.exists() or sorted(p.name for p in reg.user_dir.iterdir()) == []


# ---- refusals read from config.json (no torch) ---------------------------------------------------

def test_code_shipped_with_a_checkpoint_is_refused(tmp_path):
    f = _config_only(tmp_path / "remote", auto_map={"AutoModel": "modeling_x.XModel"})
    with pytest.raises(ModelError, match="trust_remote_code"):
        inspect_checkpoint(f)
    g = _config_only(tmp_path / "remote2")
    (g / "modeling_evil.py").write_text("import os\n")
    with pytest.raises(ModelError, match="own Python code"):
        inspect_checkpoint(g)


def test_an_unsupported_architecture_is_named(tmp_path):
    f = _config_only(tmp_path / "gpt", architectures=["GPT2LMHeadModel"], model_type="gpt2")
    with pytest.raises(ModelError, match=r"architecture GPT2LMHeadModel is not supported.*AlbertForSequence"):
        inspect_checkpoint(f)
    g = _config_only(tmp_path / "custom", model_type="my-bert")  # a known class name over a custom model type
    with pytest.raises(ModelError, match="custom architecture"):
        inspect_checkpoint(g)
    with pytest.raises(ModelError, match="no config.json"):
        inspect_checkpoint(tmp_path)


def test_a_config_too_large_for_memory_is_refused_before_any_weights_are_read(tmp_path, reg):
    f = _config_only(tmp_path / "huge", hidden_size=65536, intermediate_size=262144, num_hidden_layers=400,
                     vocab_size=2_000_000)
    with pytest.raises(ModelError, match=r"about [\d,]+M parameters; exporting it needs about [\d,.]+ GB"):
        inspect_checkpoint(f)
    assert inspect_checkpoint(_config_only(tmp_path / "fits"), memory=10**9).parameters > 0
    with pytest.raises(ModelError, match="GB of memory"):
        inspect_checkpoint(_config_only(tmp_path / "small-box"), memory=1000)
    from app.jobs.model_add import add_model

    with pytest.raises(ModelError, match="parameters"):
        add_model(str(f), reg)
    _nothing_installed(reg)


def test_labels_decide_sentiment_or_classification(tmp_path):
    assert sentiment_labels(("NEGATIVE", "POSITIVE")) == ("negative", "positive")
    assert sentiment_labels(("Negative", "Neutral", "Positive")) == ("negative", "neutral", "positive")
    assert sentiment_labels(("LABEL_0", "LABEL_1")) is None
    ck = inspect_checkpoint(_config_only(tmp_path / "polar"))
    assert (ck.task, ck.labels) == ("sentiment", ("negative", "positive"))
    topics = _config_only(tmp_path / "topics", id2label={"0": "sport", "1": "politics", "2": "tech"})
    ck = inspect_checkpoint(topics)
    assert (ck.task, ck.labels) == ("classification", ("sport", "politics", "tech"))
    with pytest.raises(ModelError, match="needs the labels negative and positive.*sport, politics, tech"):
        inspect_checkpoint(topics, task="sentiment")
    assert inspect_checkpoint(_config_only(tmp_path / "p2"), task="classification").task == "classification"
    with pytest.raises(ModelError, match="becomes a sentiment model or .*, not summary; --task summary takes a BART"):
        inspect_checkpoint(_config_only(tmp_path / "p3"), task="summary")
    with pytest.raises(ModelError, match="0..n-1"):
        inspect_checkpoint(_config_only(tmp_path / "gap", id2label={"0": "a", "2": "b"}))


def test_sources_and_ids():
    assert looks_like_hub_id("textattack/albert-base-v2-SST-2")
    assert looks_like_hub_id("distilbert-base-uncased")
    assert not looks_like_hub_id(str(ROOT))  # an existing folder is a folder
    assert not looks_like_hub_id("../escape/x") and not looks_like_hub_id("a/b/c")
    assert default_model_id("textattack/albert-base-v2-SST-2") == "albert-base-v2-sst-2"
    assert default_model_id("/data/My Model!/") == "my-model"


def test_offline_a_hub_id_names_the_folder_route_and_leaves_nothing(reg, monkeypatch):
    from app.jobs.model_add import add_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError) as err:
        add_model("Helsinki-NLP/opus-mt-en-de", reg)
    msg = str(err.value)
    assert "not reachable" in msg
    assert "huggingface-cli download Helsinki-NLP/opus-mt-en-de --local-dir DIR" in msg
    assert "models add DIR" in msg
    _nothing_installed(reg)


def test_cli_reports_a_refusal_and_exits_non_zero(tmp_path, monkeypatch, capsys):
    from app.cli import main

    monkeypatch.setenv("ALBERT_STUDIO_MODELS", str(tmp_path / "models"))
    f = _config_only(tmp_path / "gpt", architectures=["GPT2LMHeadModel"], model_type="gpt2")
    assert main(["models", "add", str(f)]) == 1
    assert "GPT2LMHeadModel is not supported" in capsys.readouterr().err
    assert main(["models", "add"]) == 2
    assert not (tmp_path / "models").exists() or list((tmp_path / "models").iterdir()) == []


# ---- end to end with real (tiny) checkpoints ---------------------------------------------------------

@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tests.hf_checkpoints import build_classifier

    base = tmp_path_factory.mktemp("hf")
    return lambda name, model_type="albert", **kw: build_classifier(base / name, model_type, **kw)


def _pytorch_probabilities(folder: Path, texts: list[str]) -> np.ndarray:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForSequenceClassification.from_pretrained(str(folder)).eval()
    with torch.no_grad():
        return np.stack([torch.softmax(model(**tok(t, return_tensors="pt")).logits[0], -1).numpy() for t in texts])


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow  # exports an ALBERT checkpoint with torch (~30 s on a busy machine)
def test_an_albert_classifier_is_added_from_the_cli_and_analyses_like_pytorch(checkpoints, tmp_path, monkeypatch,
                                                                              capsys):
    from app.cli import main
    from app.core.runtime import RuntimeOptions
    from app.core.task_model import load_task_model

    src = checkpoints("albert-sst2-tiny")
    models = tmp_path / "models"
    monkeypatch.setenv("ALBERT_STUDIO_MODELS", str(models))
    assert main(["models", "add", str(src), "--name", "my-albert"]) == 0
    out = capsys.readouterr().out
    assert "added my-albert 1.0.0 (sentiment" in out and "fp32 max abs logit diff" in out
    folder = models / "my-albert"
    raw = json.loads((folder / "manifest.json").read_text())
    assert raw["task"] == "sentiment" and raw["labels"] == ["negative", "positive"]
    assert set(raw["files"]) == {"model.onnx", "model.int8.onnx", "tokenizer.json"}
    assert all(_sha(folder / f) == digest for f, digest in raw["files"].items())
    checks = raw["metrics"]["import_checks"]
    assert checks["fp32_max_abs_logit_diff"] <= 1e-3 and 0 <= checks["int8_label_agreement"] <= 1
    assert raw["base_model"] == "albert-sst2-tiny" and raw["license"] == "apache-2.0"
    card = (folder / "MODEL_CARD.md").read_text()
    assert "albert-sst2-tiny" in card and "apache-2.0" in card and "model.int8.onnx" in card
    assert "sentences per s fp32" in card
    assert not [p for p in models.iterdir() if p.name.startswith(".")]  # no work folders left

    reg = Registry(roots=[models])
    model = load_task_model(reg.get("my-albert"), RuntimeOptions(device="cpu"))
    result = model.analyze(TEXT)
    sentences = [s.text for s in result.sentences]
    assert len(sentences) == 3
    want = _pytorch_probabilities(src, sentences)
    got = np.array([[s.p_positive is not None and 1 - s.p_positive, s.p_positive] for s in result.sentences])
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert [s.label for s in result.sentences] == [["negative", "positive"][i] for i in want.argmax(1)]
    assert result.label in ("negative", "positive") and result.neutral_band == 0.0
    doc = _pytorch_probabilities(src, [" ".join(sentences)])[0]  # the document fits one window
    np.testing.assert_allclose(dict(result.probabilities)["positive"], doc[1], atol=1e-4)

    assert main(["models", "add", str(src), "--name", "my-albert"]) == 1  # the id is taken
    assert "already installed" in capsys.readouterr().err


@pytest.mark.slow  # one export per architecture (~30 s each on a busy machine)
@pytest.mark.parametrize("model_type", ["bert", "distilbert", "roberta", "xlm-roberta", "electra", "mpnet",
                                        "deberta-v2"])
def test_each_supported_architecture_exports_and_classifies_like_pytorch(checkpoints, reg, model_type):
    from app.core.runtime import RuntimeOptions
    from app.core.task_model import load_task_model
    from app.jobs.model_add import add_model

    src = checkpoints(f"{model_type}-tiny", model_type)
    man = add_model(str(src), reg)
    assert man.id == f"{model_type}-tiny" and man.raw["architecture"].lower().startswith(model_type.replace("-", "")[:4])
    assert man.raw["metrics"]["import_checks"]["fp32_max_abs_logit_diff"] <= 1e-3
    model = load_task_model(man, RuntimeOptions(device="cpu"))
    texts = ["The hotel was clean but noisy.", "Click Save to keep your changes, then close the window."]
    np.testing.assert_allclose(model.probabilities(texts), _pytorch_probabilities(src, texts), atol=1e-4)


@pytest.mark.slow  # exports a BERT checkpoint
def test_a_topic_classifier_becomes_a_classification_with_sentence_labels(checkpoints, reg):
    from app.core.classification import Classifier
    from app.core.runtime import RuntimeOptions
    from app.jobs.model_add import add_model

    src = checkpoints("topics-tiny", "bert", labels=("sport", "politics", "tech"))
    man = add_model(str(src), reg, model_id="topics")
    assert man.task == "classification" and man.labels == ("sport", "politics", "tech")
    assert man.classification_name == "topics" and man.classification_unit == "sentence"
    result = Classifier(man, RuntimeOptions(device="cpu")).classify_many([TEXT])[0]
    assert result.name == "topics" and result.label in man.labels and len(result.sentences) == 3
    want = _pytorch_probabilities(src, [s.text for s in result.sentences])
    assert [s.label for s in result.sentences] == [man.labels[i] for i in want.argmax(1)]
    np.testing.assert_allclose([s.score for s in result.sentences], want.max(1), atol=1e-4)


class Payload:  # a pickled object torch.load(weights_only=True) must refuse to build
    def __reduce__(self):
        return (print, ("this would run code",))


@pytest.mark.slow  # builds a checkpoint with torch
def test_pickled_weights_that_weights_only_cannot_read_are_refused(checkpoints, reg, tmp_path):
    import shutil

    import torch
    from safetensors.torch import load_file

    from app.jobs.model_add import add_model
    from app.training.hf_export import check_weights

    src = checkpoints("pickled", "bert")
    state = load_file(str(src / "model.safetensors"))
    plain = tmp_path / "plain"
    shutil.copytree(src, plain)
    (plain / "model.safetensors").unlink()
    torch.save(state, plain / "pytorch_model.bin")
    assert check_weights(plain).name == "pytorch_model.bin"  # plain tensors load with weights_only
    (src / "model.safetensors").unlink()
    with open(src / "pytorch_model.bin", "wb") as f:
        pickle.dump({"bert.embeddings.word_embeddings.weight": Payload()}, f)
    with pytest.raises(ModelError, match=r"pytorch_model.bin: pickled weights that torch.load\(weights_only=True\)"):
        add_model(str(src), reg)
    _nothing_installed(reg)


@pytest.mark.slow  # starts an export, then cancels it
def test_a_cancelled_add_leaves_nothing(checkpoints, reg):
    from app.jobs.model_add import add_model

    src = checkpoints("cancel-me")
    seen = []
    with pytest.raises(Cancelled):
        add_model(str(src), reg, progress=lambda p: seen.append(p.stage),
                  cancelled=lambda: "quantizing to int8" in seen)
    assert "exporting to ONNX" in seen and "installing" not in seen
    _nothing_installed(reg)


@pytest.mark.slow  # a fresh interpreter loads and runs the added model
def test_an_added_model_runs_without_torch(checkpoints, reg):
    from app.jobs.model_add import add_model

    man = add_model(str(checkpoints("no-torch", "roberta")), reg)
    code = ("import sys; from pathlib import Path; from app.core.registry import read_manifest;"
            "from app.core.task_model import load_task_model; from app.core.runtime import RuntimeOptions;"
            f"m = load_task_model(read_manifest(Path({str(man.folder)!r})), RuntimeOptions(device='cpu'));"
            f"r = m.analyze({TEXT!r}); print(len(r.sentences), 'torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.split() == ["3", "False", "False"]
