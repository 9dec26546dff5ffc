"""The translation model's inference step graph computes what the training code computes."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from app.training.mt_model import (  # noqa: E402
    AlbertMT, DecoderExport, DecoderStepExport, DecoderWithPastExport, EncoderExport, MTConfig,
)


@pytest.fixture(scope="module")
def model() -> AlbertMT:
    torch.manual_seed(0)
    m = AlbertMT(MTConfig(vocab_size=300, embedding_size=16, d_model=32, heads=4, ffn=64, enc_repeats=2,
                          dec_layers=2, dropout=0.0))
    with torch.no_grad():  # random init leaves biases at zero; give every weight something to do
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return m.eval()


def test_step_matches_the_prefix_rerun(model):
    """Decoding token by token through the step module gives the logits of the teacher-forced decoder."""
    src = torch.randint(5, 300, (3, 7))
    mask = torch.ones_like(src)
    mask[1, 4:] = 0
    tgt = torch.randint(5, 300, (3, 5))
    with torch.no_grad():
        memory = model.encode(src, mask)
        full = model.decode(tgt, memory, mask)
        first = DecoderExport(model)(tgt[:, :1], mask, memory)
        cache, step = list(first[1:]), DecoderStepExport(model)
        logits = [first[0][:, 0]]
        for t in range(1, tgt.shape[1]):
            out = step(tgt[:, t:t + 1], mask, *cache)
            assert out[0].shape == (3, 1, 300)
            logits.append(out[0][:, 0])
            for i in range(model.config.dec_layers):  # grown self-attention cache, cross-attention reused
                cache[4 * i: 4 * i + 2] = out[1 + 2 * i: 3 + 2 * i]
    assert torch.allclose(torch.stack(logits, 1), full, atol=1e-4)


def test_step_graph_matches_the_traced_training_code(model, tmp_path):
    import onnxruntime as ort

    from app.training.translation_export import export_graphs

    c = model.config
    ref_dir, new_dir = tmp_path / "ref", tmp_path / "new"
    sessions = {}
    for d, step in ((ref_dir, DecoderWithPastExport(model)), (new_dir, DecoderStepExport(model))):
        d.mkdir()
        export_graphs(model, c.dec_layers, c.heads, c.d_model // c.heads, c.d_model, d, EncoderExport(model),
                      DecoderExport(model), step, c.vocab_size)
        sess = ort.InferenceSession(str(d / "decoder_with_past_model.onnx"), providers=["CPUExecutionProvider"])
        sessions[d.name] = sess
    rng = np.random.default_rng(0)
    feeds = {"input_ids": np.array([[7], [42]], dtype=np.int64),
             "encoder_attention_mask": np.array([[1] * 6, [1] * 4 + [0] * 2], dtype=np.int64)}
    for i in range(c.dec_layers):
        for kind, length in (("decoder", 3), ("encoder", 6)):
            for kv in ("key", "value"):
                feeds[f"past_key_values.{i}.{kind}.{kv}"] = rng.normal(size=(2, c.heads, length, 8)).astype(np.float32)
    ref, new = sessions["ref"], sessions["new"]
    assert [o.name for o in ref.get_outputs()] == [o.name for o in new.get_outputs()]
    for a, b in zip(ref.run(None, feeds), new.run(None, feeds)):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=1e-4)
    # the point of the step graph: far fewer operators to run per generated token
    import onnx

    n_ref = len(onnx.load(str(ref_dir / "decoder_with_past_model.onnx")).graph.node)
    n_new = len(onnx.load(str(new_dir / "decoder_with_past_model.onnx")).graph.node)
    assert n_new < 0.6 * n_ref
