"""The sentiment model's document head: its features, its ONNX graph, and how SentimentModel uses it."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from app.core.document_head import BIGRAM_PRIME, HeadSpec, feature_ids, window_features
from app.core.errors import ModelError

onnx = pytest.importorskip("onnx")
pytest.importorskip("sklearn")

from app.training.document_head import fit_bag, head_graph, sparse_features  # noqa: E402


def test_features_are_distinct_unigrams_then_hashed_bigrams():
    ids = [5, 7, 5, 7]
    f = feature_ids(ids, vocab_size=10, buckets=100)
    bigrams = {10 + (5 * BIGRAM_PRIME + 7) % 100, 10 + (7 * BIGRAM_PRIME + 5) % 100}
    assert set(f) == {5, 7} | bigrams and len(f) == len(set(f))
    assert list(feature_ids([3], 10, 100)) == [3]
    wf = window_features([1.0, -3.0, 2.0], [100, 50, 50])
    assert np.allclose(wf, [(100 - 150 + 100) / 200, -3.0, 2.0, 1.0, 2.0])


def test_malformed_head_entry_is_a_model_error():
    assert HeadSpec.from_manifest({}) is None
    for bad in ({"file": "h.onnx"}, {"file": "h.onnx", "vocab_size": "many", "bigram_buckets": 4},
                {"file": "h.onnx", "vocab_size": 0, "bigram_buckets": 4, "min_tokens": 1}):
        with pytest.raises(ModelError, match="document_head"):
            HeadSpec.from_manifest({"document_head": bad})


def test_graph_computes_the_stacked_logistic_regression(tmp_path):
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    weights = rng.normal(size=40).astype(np.float32)
    coef, intercept, bias = rng.normal(size=6), 0.3, -0.2
    onnx.save(head_graph(weights, bias, coef, intercept), str(tmp_path / "h.onnx"))
    sess = ort.InferenceSession(str(tmp_path / "h.onnx"), providers=["CPUExecutionProvider"])
    feats = rng.normal(size=(1, 5)).astype(np.float32)
    ids = np.array([1, 4, 9, 33], np.int64)
    got = float(sess.run(None, {"window_features": feats, "feature_ids": ids})[0][0, 0])
    bag = weights.astype(np.float16).astype(np.float32)[ids].sum() + bias
    want = 1 / (1 + np.exp(-(np.append(feats[0], bag) @ coef + intercept)))
    assert abs(got - want) < 1e-5


def test_bag_of_pieces_learns_which_pieces_are_positive():
    docs = [[1, 2, 3], [1, 2, 4], [5, 6, 3], [5, 6, 4]] * 10
    y = [1, 1, 0, 0] * 10
    X = sparse_features(docs, vocab_size=8, buckets=16)
    w, b = fit_bag(X, y, C=1.0)
    assert w[1] > 0 and w[2] > 0 and w[5] < 0 and w[6] < 0
    assert abs(w[3]) < 1e-6 + abs(w[1]) / 10  # a piece on both sides says little


def _with_head(tiny_models, tmp_path, coef, intercept, min_tokens):
    """A copy of the tiny sentiment model with a head whose decision is set by hand."""
    from app.core.registry import write_manifest

    src = tiny_models / "albert-sentiment-en"
    dest = tmp_path / "albert-sentiment-en"
    shutil.copytree(src, dest)
    onnx.save(head_graph(np.zeros(30522 + 64, np.float32), 0.0, np.asarray(coef, float), intercept), str(dest / "document_head.onnx"))
    raw = json.loads((dest / "manifest.json").read_text())
    raw["files"] = [*raw["files"], "document_head.onnx"]
    raw["document_head"] = {"file": "document_head.onnx", "vocab_size": 30522, "bigram_buckets": 64, "min_tokens": min_tokens}
    write_manifest(dest, raw)
    return dest


def test_sentiment_model_uses_the_head_on_long_documents_only(tiny_models, tmp_path):
    from app.core.registry import read_manifest
    from app.core.runtime import RuntimeOptions
    from app.core.sentiment import SentimentModel

    # a head that says "negative" whatever the windows say (intercept -5, no weight on the features)
    folder = _with_head(tiny_models, tmp_path, [0, 0, 0, 0, 0, 0], -5.0, min_tokens=20)
    m = SentimentModel(read_manifest(folder), RuntimeOptions(device="cpu"))
    plain = SentimentModel(read_manifest(tiny_models / "albert-sentiment-en"), RuntimeOptions(device="cpu"))
    long_text = "Great service, I love it. " * 8
    short_text = "Great service, I love it."
    assert plain.analyze(long_text).label == "positive"
    r = m.analyze(long_text)
    assert r.label == "negative" and abs(r.score - 1 / (1 + np.exp(-5))) < 1e-4
    # per-sentence scores do not go through the head
    assert [s.label for s in r.sentences] == [s.label for s in plain.analyze(long_text).sentences]
    assert m.analyze(short_text).label == plain.analyze(short_text).label == "positive"  # below min_tokens
    assert m.analyze_many([long_text], document_head=False)[0].label == "positive"
    # the head reads the windows' log-odds: a head that follows the mean log-odds agrees with the windows
    follow = _with_head(tiny_models, tmp_path / "b", [1, 0, 0, 0, 0, 0], 0.0, min_tokens=20)
    f = SentimentModel(read_manifest(follow), RuntimeOptions(device="cpu"))
    z, n, _ = f.window_scores([long_text])[0]
    assert f.analyze(long_text).label == "positive" and float(np.average(z, weights=n)) > 0
