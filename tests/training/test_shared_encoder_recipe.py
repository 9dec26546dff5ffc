"""The shared-encoder recipe: hidden-state outputs added to a graph leave its logits alone, and the shipped
weights rebuild into a PyTorch ALBERT that computes the same (app.training.albert_from_onnx)."""
from __future__ import annotations

import numpy as np
import pytest

from app.core.registry import shipped_models_dir
from app.core.runtime import RuntimeOptions, Session

SENT = shipped_models_dir() / "albert-sentiment-en"
IDS = np.array([[101, 2023, 3185, 2001, 2307, 1010, 2021, 1996, 5896, 2001, 9202, 999, 102, 0, 0]])


def _feeds():
    mask = (IDS > 0).astype(np.int64)
    return {"input_ids": IDS, "attention_mask": mask, "token_type_ids": np.zeros_like(IDS)}


def test_added_outputs_do_not_change_the_logits(tmp_path):
    pytest.importorskip("onnx")
    import onnx

    from app.training.shared_encoder import add_hidden_outputs

    plain = tmp_path / "plain.onnx"
    model = onnx.load(str(SENT / "model.int8.onnx"))
    keep = [o for o in model.graph.output if o.name == "logits"]
    del model.graph.output[:]
    model.graph.output.extend(keep)
    nodes = [n for n in model.graph.node if not n.output[0].startswith("hidden_")]  # 2.0.0's graph
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.save(model, str(plain))
    out = tmp_path / "with_hidden.onnx"
    add_hidden_outputs(plain, out)
    opts = RuntimeOptions(device="cpu", tune=False)
    a = Session(plain, opts)(_feeds())
    b = Session(out, opts)(_feeds())
    assert Session(out, opts).output_names == ["logits", "hidden_last", "hidden_mid"]
    np.testing.assert_allclose(a["logits"], b["logits"], atol=1e-6)
    assert b["hidden_mid"].shape == (1, IDS.shape[1], 384)


def test_shipped_weights_rebuild_into_the_same_pytorch_albert():
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from app.training.albert_from_onnx import load

    model = load(SENT)
    assert model.config.embedding_size == 128 and model.config.num_hidden_groups == 6
    onnx_out = Session(SENT / "model.onnx", RuntimeOptions(device="cpu", tune=False))(
        _feeds(), ["logits", "hidden_mid", "hidden_last"])
    f = {k: torch.from_numpy(v) for k, v in _feeds().items()}
    with torch.inference_mode():
        r = model(**f, output_hidden_states=True)
    np.testing.assert_allclose(r.logits.numpy(), onnx_out["logits"], atol=1e-4)
    real = IDS[0] > 0
    np.testing.assert_allclose(r.hidden_states[4][0, real].numpy(), onnx_out["hidden_mid"][0, real], atol=1e-4)
    np.testing.assert_allclose(r.hidden_states[6][0, real].numpy(), onnx_out["hidden_last"][0, real], atol=1e-4)
