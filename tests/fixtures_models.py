"""Tiny, randomly initialised ALBERT models in the exact folder layouts the training recipes write.

`build_tiny_models(folder)` creates `albert-sentiment-en/` (as app.training.sentiment.export writes it)
and `albert-summary-en/` (as app.training.summary.build writes it) under `folder`. The weights are random,
apart from a few seconds of toy training so that obvious words ("great", "terrible") decide the
sentiment label; every graph, tokenizer, manifest and hash is real: the core loads, verifies
and runs them exactly as it would the shipped models. Building both takes about half a minute on one CPU core.
"""
from __future__ import annotations

import shutil
from pathlib import Path

SENTIMENT_ID = "albert-sentiment-en"
SUMMARY_ID = "albert-summary-en"
LICENSE = "Apache-2.0 (tiny random test model)"


def _tokenizer_file() -> Path:
    """The teacher's WordPiece tokenizer.json (30522 pieces), as the real recipes copy it."""
    from app.training.common import teacher_dir

    return teacher_dir() / "tokenizer.json"


def _config(vocab_size: int, **extra):
    from transformers import AlbertConfig

    return AlbertConfig(
        vocab_size=vocab_size, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=37, max_position_embeddings=512, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, attn_implementation="eager", **extra,
    )


def _vocab_size(tokenizer: Path) -> int:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(tokenizer)).get_vocab_size()


POSITIVE_WORDS = "good great love excellent wonderful happy delighted perfect friendly fast thank recommend".split()
NEGATIVE_WORDS = "bad terrible awful broken never nothing angry disappointed slow refund worst rude".split()
_FILLER = "the service product order delivery shop staff it was is and this my our team meeting report".split()


def _teach_words(model, tokenizer: Path, seed: int, steps: int = 150) -> None:
    """~15 s of training on toy sentences so obvious words flip the label (random weights give one label for all)."""
    import random

    import torch
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer))
    rng = random.Random(seed)

    def sentence(words):
        w = [rng.choice(_FILLER) for _ in range(rng.randint(2, 8))] + [rng.choice(words) for _ in range(rng.randint(1, 2))]
        rng.shuffle(w)
        return " ".join(w)

    data = [(sentence(POSITIVE_WORDS), 1) for _ in range(200)] + [(sentence(NEGATIVE_WORDS), 0) for _ in range(200)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread is much faster than fighting for shared cores
    try:
        opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
        model.train()
        for _ in range(steps):
            batch = rng.sample(data, 32)
            enc = [tok.encode(t).ids for t, _ in batch]
            width = max(map(len, enc))
            ids = torch.zeros(len(batch), width, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for i, e in enumerate(enc):
                ids[i, : len(e)] = torch.tensor(e)
                mask[i, : len(e)] = 1
            logits = model(input_ids=ids, attention_mask=mask).logits
            loss = torch.nn.functional.cross_entropy(logits, torch.tensor([y for _, y in batch]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)


def build_sentiment(dest: Path, *, model_id: str = SENTIMENT_ID, version: str = "0.0.1-tiny", seed: int = 0,
                    quantize: bool = True) -> Path:
    """A tiny AlbertForSequenceClassification, taught a few obvious words, exported like app.training.sentiment.export."""
    import torch
    from transformers import AlbertForSequenceClassification

    from app.core.registry import write_manifest

    torch.manual_seed(seed)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    tok = _tokenizer_file()
    shutil.copy(tok, dest / "tokenizer.json")
    labels = ["negative", "positive"]
    cfg = _config(_vocab_size(tok), num_labels=2, id2label=dict(enumerate(labels)),
                  label2id={l: i for i, l in enumerate(labels)})
    model = AlbertForSequenceClassification(cfg)
    _teach_words(model, tok, seed)
    model.eval()
    ids = torch.tensor([[2, 7592, 2088, 999, 3]])
    torch.onnx.export(
        model, (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(dest / "model.onnx"), dynamo=False,
        opset_version=17, input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["logits"],
        dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                      "token_type_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch"}},
    )
    inputs = ["input_ids", "attention_mask", "token_type_ids"]
    graphs = {"fp32": {"file": "model.onnx", "inputs": inputs}}
    files = ["model.onnx", "tokenizer.json"]
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(dest / "model.onnx"), str(dest / "model.int8.onnx"), weight_type=QuantType.QInt8)
        graphs["int8"] = {"file": "model.int8.onnx", "inputs": inputs}
        files.insert(1, "model.int8.onnx")
    write_manifest(dest, {
        "id": model_id, "version": version, "task": "sentiment",
        "name": "Tiny random sentiment model (tests only)", "architecture": "albert", "languages": ["en"],
        "labels": labels, "max_length": 256,
        "tokenizer": {"type": "wordpiece", "file": "tokenizer.json", "lowercase": True},
        "graphs": graphs, "default_graph": "int8" if quantize else "fp32", "files": files,
        "calibration": {"temperature": 2.0, "fitted_on": "nothing (toy model)"},
        "metrics": {"sst2_accuracy": 0.5}, "license": LICENSE, "base_model": "none (random)",
    })
    (dest / "MODEL_CARD.md").write_text(f"# {model_id}\n\nTiny random model for tests.\n", encoding="utf-8")
    return dest


def build_summary(dest: Path, *, model_id: str = SUMMARY_ID, version: str = "0.0.1-tiny", seed: int = 0) -> Path:
    """A tiny mean-pooled AlbertModel encoder + linear scorer, laid out like app.training.summary.build."""
    import torch
    from transformers import AlbertModel

    from app.core.registry import write_manifest
    from app.core.summary import sentence_features

    torch.manual_seed(seed)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    tok = _tokenizer_file()
    shutil.copy(tok, dest / "tokenizer.json")
    enc = AlbertModel(_config(_vocab_size(tok)), add_pooling_layer=False).eval()

    class Pool(torch.nn.Module):
        def __init__(self, encoder):
            super().__init__()
            self.enc = encoder

        def forward(self, input_ids, attention_mask):
            h = self.enc(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            return (h * m).sum(1) / m.sum(1).clamp(min=1e-6)

    ids = torch.tensor([[2, 7592, 2088, 999, 3]])
    torch.onnx.export(
        Pool(enc), (ids, torch.ones_like(ids)), str(dest / "encoder.onnx"), dynamo=False, opset_version=17,
        input_names=["input_ids", "attention_mask"], output_names=["sentence_embedding"],
        dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                      "sentence_embedding": {0: "batch"}},
    )
    import numpy as np

    dim = sentence_features(np.ones((2, 32), dtype=np.float32), [3, 4]).shape[1]
    scorer = torch.nn.Linear(dim, 1).eval()
    torch.onnx.export(scorer, (torch.zeros(3, dim),), str(dest / "scorer.onnx"), dynamo=False, opset_version=17,
                      input_names=["features"], output_names=["logits"],
                      dynamic_axes={"features": {0: "sentences"}, "logits": {0: "sentences"}})
    write_manifest(dest, {
        "id": model_id, "version": version, "task": "summary",
        "name": "Tiny random summarizer (tests only)", "architecture": "albert", "languages": ["en"],
        "max_length": 128, "tokenizer": {"type": "wordpiece", "file": "tokenizer.json", "lowercase": True},
        "graphs": {"encoder": {"file": "encoder.onnx", "inputs": ["input_ids", "attention_mask"]},
                   "scorer": {"file": "scorer.onnx", "inputs": ["features"]}},
        "default_graph": "encoder", "precision": "fp32", "redundancy": 0.2,
        "files": ["encoder.onnx", "scorer.onnx", "tokenizer.json"],
        "metrics": {"rouge2": 0.0}, "license": LICENSE, "base_model": "none (random)",
    })
    return dest


def build_tiny_models(folder: Path) -> Path:
    """Both tiny models under `folder` (created); returns `folder`, ready for Registry(roots=[folder])."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / SENTIMENT_ID / "manifest.json").exists():
        build_sentiment(folder / SENTIMENT_ID)
    if not (folder / SUMMARY_ID / "manifest.json").exists():
        build_summary(folder / SUMMARY_ID)
    return folder


if __name__ == "__main__":
    import sys

    print(build_tiny_models(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/tiny_models")))
