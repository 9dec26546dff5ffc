"""One encoder pass per document: the shipped sentiment model as a shared encoder, its sentence head, and the
summary model that reads it (app.core.shared_encoder)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from app.core.analyzer import AnalysisOptions, Analyzer
from app.core.encoder_text import EncoderTokenizer
from app.core.errors import ModelError
from app.core.registry import Registry, read_manifest, shipped_models_dir
from app.core.segment import split_sentences
from app.core.sentiment import SentimentModel
from app.core.shared_encoder import encode_documents
from app.core.summary import Summarizer
from app.core.task_model import load_task_model
from app.core.types import Document

REVIEW = ("I went in expecting very little. The first half hour is slow and the dialogue is clumsy. "
          "Then the film finds its feet. The two leads are wonderful together, and the final scene is moving. "
          "The score is forgettable. Still, I would happily watch it again and recommend it to friends.")
NEWS = ("The central bank raised interest rates by half a point on Thursday, its third rise this year. "
        "The governor said inflation was still far above the two percent target. "
        "Markets had expected a smaller move, and the currency rose sharply after the announcement. "
        "Economists warned that higher borrowing costs could slow the housing market. "
        "The next decision is due in six weeks.")


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    return Registry(roots=[shipped_models_dir()], settings_file=tmp_path_factory.mktemp("s") / "defaults.json")


@pytest.fixture(scope="module")
def sentiment(registry):
    return SentimentModel(registry.get("albert-sentiment-en"))


def test_packed_windows_match_windows_and_spans_point_at_each_sentence():
    tok = EncoderTokenizer(shipped_models_dir() / "albert-sentiment-en" / "tokenizer.json", 10)
    ids = [[5, 6], [7, 8, 9], list(range(20, 33)), [], [40]]
    windows, spans = tok.packed(ids)
    assert windows == tok.windows(ids)
    for sent, sent_spans in zip(ids, spans):
        got = [t for sp in sent_spans for t in windows[sp.window][0][sp.start:sp.end]]
        assert got == sent, "a sentence's spans must cover exactly its own word pieces, in order"
    assert len(spans[2]) == 2, "a sentence longer than a window is spread over two"
    assert spans[3] == []


def test_pooled_span_is_the_mean_of_the_sentence_tokens_hidden_states(sentiment):
    sents = ["The food was cold.", "The staff were lovely and the view is great."]
    enc = sentiment.encode([sents], ["hidden_mid"])[0]
    ids = sentiment.tokenizer.pieces(sents)
    seq = sentiment.tokenizer.wrap([t for i in ids for t in i])
    x = np.array([seq])
    hidden = sentiment.session({"input_ids": x, "attention_mask": np.ones_like(x), "token_type_ids": np.zeros_like(x)},
                               ["hidden_mid"])["hidden_mid"][0]
    n0 = len(ids[0])
    np.testing.assert_allclose(enc.pooled["hidden_mid"][0], hidden[1:1 + n0].mean(0), atol=1e-5)
    np.testing.assert_allclose(enc.pooled["hidden_mid"][1], hidden[1 + n0:1 + n0 + len(ids[1])].mean(0), atol=1e-5)
    assert not enc.alone.any() and enc.window_tokens == [len(seq) - 2]


def test_one_pass_gives_the_separate_paths_document_label_and_sentence_labels(sentiment, registry):
    separate = SentimentModel(registry.get("albert-sentiment-en"))
    separate.sentence_head = None  # the older path: every sentence encoded again on its own
    texts = [REVIEW, "What a waste of two hours. Dull, loud and far too long.", "An absolute delight from start to finish.",
             NEWS]
    one = sentiment.analyze_many(texts)
    two = separate.analyze_many(texts)
    for a, b in zip(one, two):
        assert a.label == b.label
        assert abs(dict(a.probabilities)["positive"] - dict(b.probabilities)["positive"]) < 0.05
        assert len(a.sentences) == len(b.sentences)
    clear = [(s.text, s.label) for s in two[0].sentences if s.label != "neutral"]
    mine = {s.text: s.label for s in one[0].sentences}
    agree = sum(mine[t] == lab for t, lab in clear)
    assert agree >= len(clear) - 1, f"span head vs standalone on clear review sentences: {agree}/{len(clear)}"
    # (alone, so both paths batch it the same way: dynamic int8 scales activations per batch)
    lone = texts[2]
    assert sentiment.analyze(lone).sentences[0].p_positive == pytest.approx(
        separate.analyze(lone).sentences[0].p_positive, abs=1e-6), \
        "a sentence alone in its window keeps exactly its standalone score"


def test_analyzer_encodes_each_document_once_for_sentiment_and_summary(registry, monkeypatch):
    an = Analyzer(registry=registry)
    sm, su = an.model("sentiment"), an.model("summary")
    assert su.shares_encoder_with(sm) and sm.one_pass
    calls = []
    real = type(sm.session).__call__

    def counting(self, feeds, outputs=None):
        if self is sm.session:
            calls.append(int(feeds["input_ids"].shape[0]))
        return real(self, feeds, outputs)

    monkeypatch.setattr(type(sm.session), "__call__", counting)
    docs = [Document(source="r.txt", text=REVIEW), Document(source="n.txt", text=NEWS)]
    both = an.analyze_many(docs, AnalysisOptions(tasks=("sentiment", "summary")))
    windows = sum(len(sm.tokenizer.windows(sm.tokenizer.pieces([s.text for s in split_sentences(d.text)]))) for d in docs)
    assert sum(calls) == windows, "one pass: the encoder sees each window once and no sentence alone"
    alone = an.analyze_many(docs, AnalysisOptions(tasks=("summary",)))
    for a, b in zip(both, alone):
        assert [s.text for s in a.summary.sentences] == [s.text for s in b.summary.sentences]
    assert both[1].summary.sentences[0].text.startswith("The central bank raised")
    assert [m.id for m in both[0].models] == ["albert-sentiment-xx", "albert-summary-xx"]  # the defaults, one encoder


def test_summary_model_refuses_another_encoder(registry, tmp_path):
    fast = SentimentModel(registry.get("albert-sentiment-en-fast"))
    man = registry.get("albert-summary-en")
    with pytest.raises(ModelError, match="reads the encoder of albert-sentiment-en"):
        Summarizer(man, encoder=fast)
    # a summary model whose encoder version is not installed says which it needs
    folder = tmp_path / "albert-summary-en"
    shutil.copytree(man.folder, folder)
    raw = json.loads((folder / "manifest.json").read_text())
    raw["shared_encoder"]["version"] = "9.9.9"
    (folder / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="albert-sentiment-en 9.9.9"):
        load_task_model(read_manifest(folder), registry=registry)


def test_head_file_must_be_listed_with_its_digest(tmp_path):
    folder = tmp_path / "m"
    src = shipped_models_dir() / "albert-sentiment-en"
    folder.mkdir()
    for f in ("manifest.json", "sentence_head.onnx"):
        shutil.copy(src / f, folder / f)
    raw = json.loads((folder / "manifest.json").read_text())
    del raw["files"]["sentence_head.onnx"]
    (folder / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="head 'sentence' file sentence_head.onnx is not listed"):
        read_manifest(folder)


def test_encode_documents_handles_a_document_without_word_pieces(sentiment):
    enc = encode_documents(sentiment.session, sentiment.tokenizer, [[], ["Fine."]], ["hidden_mid"])
    assert enc[0].n_sentences == 0 and enc[1].n_sentences == 1 and enc[1].alone.all()
