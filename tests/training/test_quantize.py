"""int8 export of a model with ALBERT's shared layers: every layer is quantized, not only the first."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from app.training.common import float_weight_matmuls, quantize_int8  # noqa: E402


def _export(tmp_path, layers=4, groups=1):
    from transformers import AlbertConfig, AlbertForSequenceClassification

    torch.manual_seed(0)
    cfg = AlbertConfig(vocab_size=500, embedding_size=32, hidden_size=64, num_hidden_layers=layers,
                       num_hidden_groups=groups, num_attention_heads=4, intermediate_size=128,
                       max_position_embeddings=64, num_labels=2, attn_implementation="eager")
    model = AlbertForSequenceClassification(cfg).eval()
    ids = torch.tensor([[2, 17, 99, 3]])
    path = tmp_path / "model.onnx"
    torch.onnx.export(model, (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(path), dynamo=False,
                      opset_version=17, input_names=["input_ids", "attention_mask", "token_type_ids"],
                      output_names=["logits"],
                      dynamic_axes={k: {0: "b", 1: "s"} for k in ("input_ids", "attention_mask", "token_type_ids")})
    return path


def _run(path, ids):
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return s.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)})[0]


@pytest.mark.parametrize("groups", [1, 2])
def test_every_shared_layer_is_quantized(tmp_path, groups):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    src = _export(tmp_path, groups=groups)
    naive = tmp_path / "naive.int8.onnx"
    quantize_dynamic(str(src), str(naive), weight_type=QuantType.QInt8)
    dst = tmp_path / "model.int8.onnx"
    info = quantize_int8(src, dst)
    assert info["identities_folded"] > 0  # the exporter did reach layers 2..L through Identity nodes
    assert float_weight_matmuls(onnx.load(str(dst)).graph) == []  # only activation x activation products stay float
    # 6 weight matrices per shared layer (q, k, v, attention out, ffn in, ffn out), used 4 times
    assert info["int8_matmuls"] >= 6 * 4
    assert dst.stat().st_size < naive.stat().st_size
    ids = np.array([[2, 17, 99, 45, 3], [2, 8, 9, 10, 3]], dtype=np.int64)
    ref = _run(src, ids)
    assert np.abs(_run(dst, ids) - ref).max() < 0.05 * max(1.0, np.abs(ref).max())
