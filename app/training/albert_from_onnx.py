"""Rebuild a PyTorch `AlbertForSequenceClassification` from a shipped fp32 ONNX graph (the exported weights).

The shipped sentiment model's training run is not in the repository; its fp32 graph holds every weight, under
the state-dict names except the MatMul weights, which torch.onnx.export writes transposed as `onnx::MatMul_N`
and which are found here by the MatMul node's path (/albert/encoder/.../attention/query/MatMul). Used to
run the same weights in PyTorch (bench/bench_one_pass.py --hf) and as a starting point for new training.

    python -m app.training.albert_from_onnx models/albert-sentiment-en OUT_FOLDER
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path


def state_dict_from_onnx(path: Path) -> dict:
    import onnx
    import torch
    from onnx import numpy_helper

    model = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    state = {k: torch.tensor(v.copy()) for k, v in inits.items() if not k.startswith("onnx::")}
    for node in model.graph.node:
        if node.op_type != "MatMul":
            continue
        weights = [x for x in node.input if x in inits and x.startswith("onnx::")]
        if not weights:
            continue
        # /albert/encoder/albert_layer_groups.0/albert_layers.0/attention/query/MatMul -> ...attention.query.weight
        # a shared layer's later runs are named query_1, query_2, ...: the same parameter
        param = ".".join(re.sub(r"_\d+$", "", p) for p in node.name.strip("/").split("/")[:-1]) + ".weight"
        state[param] = torch.tensor(inits[weights[0]].T.copy())
    return state


def graph_shape(path: Path) -> dict:
    """What the weights do not say but the graph does: how many times the shared layers run, and which GELU."""
    import onnx

    nodes = onnx.load(str(path), load_external_data=False).graph.node
    layers = sum(n.op_type == "MatMul" and re.search(r"/attention/query(_\d+)?/MatMul$", n.name) is not None
                 for n in nodes)
    erf = any(n.op_type == "Erf" for n in nodes)
    return {"num_hidden_layers": layers or None, "hidden_act": "gelu" if erf else "gelu_new"}


def config_from_state(state: dict, labels: list[str], max_length: int = 512):
    """The AlbertConfig of these weights (the head count, which they do not hold, assumes heads of size 32)."""
    from transformers import AlbertConfig

    vocab, emb = state["albert.embeddings.word_embeddings.weight"].shape
    hidden = state["albert.encoder.embedding_hidden_mapping_in.weight"].shape[0]
    groups = len({k.split(".")[3] for k in state if k.startswith("albert.encoder.albert_layer_groups.")})
    inter = state["albert.encoder.albert_layer_groups.0.albert_layers.0.ffn.weight"].shape[0]
    return AlbertConfig(vocab_size=vocab, embedding_size=emb, hidden_size=hidden, num_hidden_layers=groups,
                        num_hidden_groups=groups, num_attention_heads=max(1, hidden // 32), intermediate_size=inter,
                        hidden_act="gelu", max_position_embeddings=state["albert.embeddings.position_embeddings.weight"].shape[0],
                        num_labels=len(labels), id2label=dict(enumerate(labels)),
                        label2id={lab: i for i, lab in enumerate(labels)}, classifier_dropout_prob=0.1,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def onnx_base_available(folder: Path) -> bool:
    """Whether `folder` is an ALBERT classifier whose fp32 graph `load` can rebuild (no torch needed to ask)."""
    try:
        raw = json.loads((Path(folder) / "manifest.json").read_text())
        return (raw.get("architecture") == "albert" and raw.get("task") == "sentiment"
                and (Path(folder) / raw["graphs"]["fp32"]["file"]).is_file())
    except (OSError, ValueError, KeyError, TypeError):
        return False


def load(folder: Path, graph: str = "fp32"):
    """The ONNX model folder's weights as an eval-mode AlbertForSequenceClassification (eager attention)."""
    from transformers import AlbertForSequenceClassification

    from app.core.errors import ModelError

    try:
        raw = json.loads((Path(folder) / "manifest.json").read_text())
        state = state_dict_from_onnx(Path(folder) / raw["graphs"][graph]["file"])
        config = config_from_state(state, raw["labels"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{folder}: its {graph} graph cannot be read as ALBERT weights ({exc!r})") from exc
    graph_file = Path(folder) / raw["graphs"][graph]["file"]
    shape = graph_shape(graph_file)
    config.num_hidden_layers = shape["num_hidden_layers"] or config.num_hidden_layers
    config.hidden_act = shape["hidden_act"]
    hidden = config.hidden_size
    feed, want = _probe(graph_file)
    # the head count is not stored anywhere but in the graph's reshapes: take the one whose outputs match the graph
    tried, best = [], (float("inf"), None)
    for heads in dict.fromkeys([hidden // 32, hidden // 64, hidden // 16, *range(1, hidden + 1)]):
        if heads < 1 or hidden % heads or len(tried) >= 8:
            continue
        tried.append(heads)
        config.num_attention_heads = heads
        config._attn_implementation = "eager"
        model = AlbertForSequenceClassification(config)
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.endswith("position_ids")]
        if missing or unexpected:
            raise ModelError(f"{folder}: weights do not map (missing {missing[:5]}, unexpected {unexpected[:5]})")
        model.eval()
        gap = _gap_to_graph(model, feed, want)
        if gap <= 1e-6:
            return model
        best = min(best, (gap, heads), key=lambda b: b[0])
    if best[0] <= 1e-3:  # a small random model's logits barely move with the head count: the closest wins
        config.num_attention_heads = best[1]
        model = AlbertForSequenceClassification(config)
        model.load_state_dict(state, strict=False)
        return model.eval()
    raise ModelError(f"{folder}: no ALBERT with {', '.join(map(str, tried))} attention heads reproduces its {graph} graph")


def _probe(graph_file: Path):
    """A short real input and the graph's logits for it (the graph is loaded once)."""
    import numpy as np
    import onnxruntime as ort

    ids = np.array([[2, 1996, 2143, 2001, 6919, 1998, 1045, 2293, 2009, 3]], dtype=np.int64)
    sess = ort.InferenceSession(str(graph_file), providers=["CPUExecutionProvider"])
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    feed = {k: v for k, v in feed.items() if k in {i.name for i in sess.get_inputs()}}
    return feed, sess.run(["logits"], feed)[0]


def _gap_to_graph(model, feed: dict, want) -> float:
    """The largest difference between the rebuilt model's logits and the graph's on the probe input."""
    import numpy as np
    import torch

    with torch.no_grad():
        got = model(**{k: torch.tensor(v) for k, v in feed.items()}).logits.numpy()
    return float(np.abs(got - want).max())


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("out", type=Path)
    args = ap.parse_args(argv)
    load(args.folder).save_pretrained(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
