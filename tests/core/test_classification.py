"""A user's classifier ("topic") is its own task beside sentiment: registry, analysis, library, export, migration.

The classifiers here are the tiny sentiment fixture's real graphs under other labels: its "great"/"terrible"
decision reads as "tech"/"sport", so a label a test expects comes from running the model."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from sqlite_utils import Database

from app.core.analyzer import AnalysisOptions, Analyzer
from app.core.errors import ModelError
from app.core.registry import Registry, write_manifest
from app.core.store import Store
from app.core.store import schema as store_schema
from app.core.types import Document

TEXT_TECH = "This is great. I love it, excellent and wonderful."
TEXT_SPORT = "This is terrible. Awful, broken, the worst."


def _classifier(tiny_models: Path, root: Path, model_id: str, labels=("sport", "tech"), *, name: str | None = "topic",
                unit: str = "document", old_style: bool = False) -> Path:
    """A copy of the tiny sentiment model with other labels: as a classifier, or (old_style) as fine-tuning
    registered one before classification was its own task (task sentiment, source fine-tuned)."""
    dest = root / model_id
    shutil.copytree(tiny_models / "albert-sentiment-en", dest)
    raw = json.loads((dest / "manifest.json").read_text())
    raw.update(id=model_id, labels=list(labels), name=model_id, origin="user", source="fine-tuned")
    if old_style:
        raw["task"] = "sentiment"
    else:
        raw.update(task="classification", classification={"name": name, "unit": unit})
    write_manifest(dest, {**raw, "files": list(raw["files"])})
    return dest


@pytest.fixture
def models(tiny_models, tmp_path):
    root = tmp_path / "models"
    root.mkdir()
    shutil.copytree(tiny_models / "albert-sentiment-en", root / "albert-sentiment-en")
    shutil.copytree(tiny_models / "albert-summary-en", root / "albert-summary-en")
    return root


def _registry(models: Path, tmp_path: Path) -> Registry:
    return Registry(roots=[models], settings_file=tmp_path / "defaults.json")


def test_a_classifier_runs_beside_sentiment_and_never_replaces_it(models, tmp_path, tiny_models):
    _classifier(tiny_models, models, "topic")
    reg = _registry(models, tmp_path)
    reg.set_classifier_active("topic")
    with pytest.raises(ModelError, match="classifier"):
        reg.set_default("sentiment", "topic")
    analyzer = Analyzer(registry=reg)
    opts = AnalysisOptions(tasks=("sentiment",))
    a, b = analyzer.analyze_many([Document("a.txt", TEXT_TECH), Document("b.txt", TEXT_SPORT)], opts)
    assert a.sentiment.label == "positive" and b.sentiment.label == "negative"
    assert [(c.name, c.label) for c in a.classifications] == [("topic", "tech")]
    assert b.classification("topic").label == "sport"
    topic = a.classification("topic")
    assert dict(topic.scores)["tech"] == pytest.approx(topic.score) and sum(dict(topic.scores).values()) == pytest.approx(1)
    assert topic.sentences == ()  # trained on documents: no per-sentence labels
    assert {m.task for m in a.models} == {"sentiment", "classification:topic"}
    assert analyzer.task_models(opts)["classification:topic"][0] == "topic"
    # without sentiment (a translation) no classifier runs
    assert analyzer.classifiers(AnalysisOptions(tasks=("summary",))) == []


def test_several_classifiers_are_active_at_once_one_per_name(models, tmp_path, tiny_models):
    _classifier(tiny_models, models, "topic")
    _classifier(tiny_models, models, "topic-v2", labels=("business", "politics"))
    _classifier(tiny_models, models, "urgency", labels=("later", "now"), name="urgency")
    reg = _registry(models, tmp_path)
    reg.set_classifier_active("topic")
    reg.set_classifier_active("urgency")
    assert [m.id for m in reg.active_classifiers()] == ["topic", "urgency"]
    reg.set_classifier_active("topic-v2")  # same name: it takes topic's place
    assert [m.id for m in reg.active_classifiers()] == ["urgency", "topic-v2"]
    assert {"urgency", "topic-v2"} <= reg.default_ids() and "topic" not in reg.default_ids()
    a = Analyzer(registry=reg).analyze(Document("a.txt", TEXT_TECH), AnalysisOptions(tasks=("sentiment",)))
    assert {c.name: c.label for c in a.classifications} == {"urgency": "now", "topic": "politics"}
    reg.set_classifier_active("urgency", False)
    assert [m.id for m in reg.active_classifiers()] == ["topic-v2"]


def test_a_classifier_trained_on_sentences_labels_each_sentence(models, tmp_path, tiny_models):
    _classifier(tiny_models, models, "tone", labels=("calm", "upbeat"), name="tone", unit="sentence")
    reg = _registry(models, tmp_path)
    reg.set_classifier_active("tone")
    a = Analyzer(registry=reg).analyze(Document("a.txt", "The worst, awful and broken. Great, I love it, excellent!"),
                                       AnalysisOptions(tasks=("sentiment",)))
    assert [s.label for s in a.classification("tone").sentences] == ["calm", "upbeat"]


def test_library_keeps_filters_and_exports_classifications(models, tmp_path, tiny_models):
    _classifier(tiny_models, models, "topic")
    reg = _registry(models, tmp_path)
    reg.set_classifier_active("topic")
    analyzer = Analyzer(registry=reg)
    opts = AnalysisOptions(tasks=("sentiment",))
    keys = {t: k for t, (_m, _v, k) in analyzer.task_models(opts).items()}
    with Store(tmp_path / "lib.db") as store:
        docs = [Document("a.txt", TEXT_TECH), Document("b.txt", TEXT_SPORT)]
        ids = [store.save_analysis(a, None, keys) for a in analyzer.analyze_many(docs, opts)]
        loaded = store.load_analysis(ids[0])
        assert loaded.sentiment.label == "positive" and loaded.classification("topic").label == "tech"
        content_hash = store.db["documents"].get(ids[1])["content_hash"]
        assert store.find_results(content_hash, analyzer.task_models(opts))[1].classification("topic").label == "sport"
        page = store.library_page()
        assert page.classifications == {"topic": ("sport", "tech")}
        assert {r.source: r.classifications[0][1] for r in page.rows} == {"a.txt": "tech", "b.txt": "sport"}
        assert [r.source for r in store.library_page(classified=("topic", "sport")).rows] == ["b.txt"]
        assert store.count_documents(classified=("topic", "tech")) == 1
        store.export(tmp_path / "out.jsonl", "jsonl")
        store.export(tmp_path / "out.csv", "csv")
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    by_source = {r["source"]: r for r in rows}
    assert by_source["a.txt"]["classifications"]["topic"]["label"] == "tech"
    assert set(by_source["a.txt"]["classifications"]["topic"]["scores"]) == {"sport", "tech"}
    assert by_source["b.txt"]["sentiment"]["label"] == "negative"
    table = list(csv.DictReader((tmp_path / "out.csv").open(encoding="utf-8")))
    assert {r["source"]: r["topic_label"] for r in table} == {"a.txt": "tech", "b.txt": "sport"}
    assert all(float(r["topic_score"]) > 0.5 for r in table)


def test_a_model_fine_tuned_before_classification_was_a_task_migrates(models, tmp_path, tiny_models):
    _classifier(tiny_models, models, "finetuned-sport-tech-20261201-1200", old_style=True)
    reg = _registry(models, tmp_path)
    (tmp_path / "defaults.json").write_text(json.dumps({"sentiment": "finetuned-sport-tech-20261201-1200"}))
    m = reg.get("finetuned-sport-tech-20261201-1200")
    assert m.task == "classification" and m.classification_name == "finetuned_sport_tech_20261201_1200"
    # it was made the sentiment default: it stays on, as a classifier, and sentiment is the real one again
    assert reg.default("sentiment").id == "albert-sentiment-en"
    assert [x.id for x in reg.active_classifiers()] == [m.id]
    reg.set_classifier_active(m.id)
    assert "sentiment" not in json.loads((tmp_path / "defaults.json").read_text())
    # the real sentiment model's own manifest is untouched by the migration
    assert reg.get("albert-sentiment-en").task == "sentiment"


def _v3_library_with_results(path: Path) -> None:
    db = Database(path)
    db["meta"].create({"key": str, "value": str}, pk="key")
    for _version, step in store_schema.MIGRATIONS[:3]:
        step(db)
    db["meta"].insert({"key": "schema_version", "value": "3"})
    db.execute("INSERT INTO documents (id, content_hash, source, title, format, encoding, text, chars, mtime, metadata,"
               " added_at) VALUES (1, 'h', '/a.txt', '', 'txt', 'utf-8', 'Goal! Great match.', 18, 0, '[]', '2026-01-01')")
    old = {"label": "sport", "score": 0.9, "probabilities": [["business", 0.1], ["sport", 0.9]],
           "sentences": [{"text": "Goal!", "label": "sport", "score": 0.8, "start": 0, "end": 5, "p_positive": None}]}
    real = {"label": "positive", "score": 0.8, "probabilities": [["negative", 0.2], ["positive", 0.8]], "sentences": []}
    for model, payload in (("news-topics", old), ("albert-sentiment-en", real)):
        db.execute("INSERT INTO results (document_id, task, model_id, model_version, params_key, label, score, payload,"
                   " created_at) VALUES (1, 'sentiment', ?, '1.0.0', '', ?, ?, ?, '2026-01-01')",
                   [model, payload["label"], payload["score"], json.dumps(payload)])
    db.close()


def test_opening_an_older_library_moves_classifier_results_to_classifications(tmp_path):
    path = tmp_path / "old.db"
    _v3_library_with_results(path)
    with Store(path) as store:
        a = store.load_analysis(1)
        assert a.sentiment.label == "positive"  # the real sentiment model's result stays sentiment
        topic = a.classification("news_topics")
        assert (topic.label, topic.score, dict(topic.scores)) == ("sport", 0.9, {"business": 0.1, "sport": 0.9})
        assert [(s.text, s.label) for s in topic.sentences] == [("Goal!", "sport")]
        assert store.library_page(classified=("news_topics", "sport")).rows[0].source == "/a.txt"
