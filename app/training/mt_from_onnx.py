"""Rebuild the translator's torch model (app.training.mt_model.AlbertMT) from its shipped ONNX graphs, so a
training run continues from a shipped model instead of starting over when its training files are gone.

    model, config = load("models/albert-mt-docs-en-fr-de")      # int8 graphs: weights dequantized

The encoder graph holds the embedding table, its projection and the shared encoder layer; the decoder graph
the decoder layers, the final LayerNorm and the output bias. Float initializers keep the torch names torch.onnx
gave them (`m.enc_layer.ln1.weight`); a MatMul weight is anonymous (`onnx::MatMul_672`), so it is named by the
bias its product is added to (`m.enc_layer.att.q.bias` -> `enc_layer.att.q.weight`), or by the module path in
its node's name for the bias-free projection. Dynamic int8 weights come back as (q - zero_point) * scale: the
quantization error stays in them, and training continues from there.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

GRAPH_ORDER = ("encoder", "decoder")  # decoder_with_past holds the same weights as decoder


def _graph_file(folder: Path, manifest: dict, name: str) -> Path:
    """The float graph when the folder has it (no quantization error), else the int8 one."""
    graphs = manifest["graphs"]
    for key in (name, f"{name}_int8"):
        if key in graphs and (folder / graphs[key]["file"]).exists():
            return folder / graphs[key]["file"]
    raise ValueError(f"{folder}: no {name} graph")


def _consumers(graph) -> dict[str, list]:
    out: dict[str, list] = {}
    for node in graph.node:
        for i in node.input:
            out.setdefault(i, []).append(node)
    return out


def _bias_after(output: str, consumers: dict, inits: dict, depth: int = 4) -> str | None:
    """The `.bias` initializer added to `output` within a few Cast/Mul steps (None: no bias follows)."""
    frontier = [output]
    for _ in range(depth):
        nxt = []
        for name in frontier:
            for node in consumers.get(name, []):
                if node.op_type == "Add":
                    bias = [i for i in node.input if i in inits and i.endswith(".bias")]
                    if bias:
                        return bias[0]
                if node.op_type in ("Cast", "Mul"):
                    nxt += list(node.output)
        frontier = nxt
    return None


def _weight(inits: dict, name: str) -> np.ndarray:
    """A MatMul weight [in, out] in float: dequantized when it is a `_quantized` initializer."""
    w = inits[name]
    if name.endswith("_quantized"):
        stem = name[: -len("_quantized")]
        scale, zero = inits[stem + "_scale"], inits[stem + "_zero_point"]
        return (w.astype(np.float32) - zero.astype(np.float32)) * scale.astype(np.float32)
    return w.astype(np.float32)


def graph_state(path: Path) -> dict[str, np.ndarray]:
    """The torch state entries one graph holds (names without the export wrapper's `m.` prefix)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    consumers = _consumers(graph)
    state: dict[str, np.ndarray] = {}
    for name, value in inits.items():
        if name.startswith("m.") and not name.endswith(("_quantized", "_scale", "_zero_point")):
            state[name[2:]] = value.astype(np.float32)
    for node in graph.node:
        if node.op_type == "Gather" and node.input[0].startswith("m.embed.weight"):
            state["embed.weight"] = _weight(inits, node.input[0])
        if node.op_type not in ("MatMulInteger", "MatMul") or node.input[1] not in inits:
            continue
        w = node.input[1]
        if not (w.startswith("onnx::MatMul") or w.startswith("m.")):
            continue
        bias = _bias_after(node.output[0], consumers, inits)
        if bias:
            key = bias[2:-len(".bias")] + ".weight"
        elif "/proj/" in node.output[0] or node.output[0].startswith("/proj"):
            key = "proj.weight"
        else:
            continue  # the tied output layer re-reads proj and the table: already taken from the embedding path
        state.setdefault(key, _weight(inits, w).T.copy())  # MatMul [in, out] -> Linear [out, in]
    return state


WEIGHTS = "training_weights.safetensors"  # kept beside the graphs since 2026-12-08 (translation_docs export)


def load(folder: Path, prefer_weights: bool = True):
    """(AlbertMT with the shipped weights, its config dict): the fp32 training weights when the folder keeps
    them (exact), else read from the graphs; raises ValueError when a weight is missing."""
    import torch

    from app.training.mt_model import AlbertMT, MTConfig

    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    cfg = {k: v for k, v in manifest["architecture"].items() if k in MTConfig.__dataclass_fields__}
    model = AlbertMT(MTConfig(**cfg))
    if prefer_weights and (folder / WEIGHTS).exists():
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(folder / WEIGHTS)))
        return model.eval(), cfg
    state: dict[str, np.ndarray] = {}
    for name in GRAPH_ORDER:
        for k, v in graph_state(_graph_file(folder, manifest, name)).items():
            state.setdefault(k, v)
    want = model.state_dict()
    missing = sorted(set(want) - set(state))
    if missing:
        raise ValueError(f"{folder}: the graphs hold no {', '.join(missing[:5])}")
    tensors = {k: torch.from_numpy(np.ascontiguousarray(state[k])).reshape(want[k].shape) for k in want}
    model.load_state_dict(tensors)
    return model.eval(), cfg
