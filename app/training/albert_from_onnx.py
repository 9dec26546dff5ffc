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
        param = ".".join(p for p in node.name.strip("/").split("/")[:-1]) + ".weight"
        state[param] = torch.tensor(inits[weights[0]].T.copy())
    return state


def config_from_state(state: dict, labels: list[str], max_length: int = 512):
    from transformers import AlbertConfig

    vocab, emb = state["albert.embeddings.word_embeddings.weight"].shape
    hidden = state["albert.encoder.embedding_hidden_mapping_in.weight"].shape[0]
    groups = len({k.split(".")[3] for k in state if k.startswith("albert.encoder.albert_layer_groups.")})
    inter = state["albert.encoder.albert_layer_groups.0.albert_layers.0.ffn.weight"].shape[0]
    return AlbertConfig(vocab_size=vocab, embedding_size=emb, hidden_size=hidden, num_hidden_layers=groups,
                        num_hidden_groups=groups, num_attention_heads=hidden // 32, intermediate_size=inter,
                        hidden_act="gelu", max_position_embeddings=state["albert.embeddings.position_embeddings.weight"].shape[0],
                        num_labels=len(labels), id2label=dict(enumerate(labels)),
                        label2id={lab: i for i, lab in enumerate(labels)}, classifier_dropout_prob=0.1,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def load(folder: Path, graph: str = "fp32"):
    """The ONNX model folder's weights as an eval-mode AlbertForSequenceClassification (eager attention)."""
    from transformers import AlbertForSequenceClassification

    raw = json.loads((Path(folder) / "manifest.json").read_text())
    state = state_dict_from_onnx(Path(folder) / raw["graphs"][graph]["file"])
    config = config_from_state(state, raw["labels"])
    config._attn_implementation = "eager"
    model = AlbertForSequenceClassification(config)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise SystemExit(f"{folder}: weights do not map (missing {missing[:5]}, unexpected {unexpected[:5]})")
    return model.eval()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("out", type=Path)
    args = ap.parse_args(argv)
    load(args.folder).save_pretrained(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
