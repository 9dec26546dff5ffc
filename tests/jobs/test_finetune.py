"""Fine-tuning end to end on real SST-2 sentences with a tiny ALBERT: data checks, job API, CLI, cancel, kill."""
from __future__ import annotations

import json
import os
import signal
import zipfile
from pathlib import Path

import pytest

from app.core.errors import Cancelled, LabelDataError
from app.core.labeled_data import (
    dataset_from_store,
    evaluate,
    guess_columns,
    load_labeled,
    make_dataset,
    read_labeled_table,
    stratified_split,
)
from app.core.registry import Registry
from app.core.sentiment import SentimentModel
from app.jobs.finetune import FineTuneFailed, FineTuneJob, make_default

pytestmark = pytest.mark.slow  # fine-tuning runs: tens of seconds each

# small, fast and still able to fit 40 real sentences: a tiny random model needs a high learning rate
FAST = dict(epochs=10, lr=1e-3, batch_size=8, patience=100, threads=1)


def _registry(tmp_path: Path, user_dir: Path | None = None) -> Registry:
    """A registry with no shipped models and its own user folder."""
    user_dir = user_dir or Registry().user_dir
    reg = Registry(roots=[tmp_path / "shipped", user_dir], settings_file=user_dir / "defaults.json")
    reg.user_dir = user_dir
    return reg


def _train_accuracy(folder: str, data) -> float:
    model = SentimentModel.from_folder(folder)
    pred = [label for label, _ in model.classify(list(data.texts))]
    return sum(p == y for p, y in zip(pred, data.labels)) / len(pred)


# -- labelled data


def test_columns_are_guessed_and_rows_validated(sst2_csv):
    table = read_labeled_table(sst2_csv)
    assert guess_columns(table) == ("review", "sentiment")
    data = load_labeled(sst2_csv)
    assert data.classes == ("negative", "positive")
    assert data.counts() == {"negative": 24, "positive": 24}


@pytest.mark.parametrize("rows, message", [
    ([("good film", "pos"), ("", "neg"), ("bad", "neg")], "no text (rows 2)"),
    ([("good film", "pos"), ("fine", "pos"), ("nice", "pos"), ("great", "pos")], "same label ('pos')"),
    ([("a", "x"), ("b", "x"), ("c", "x"), ("d", "x"), ("e", "y")], "too few examples for 'y' (1)"),
    ([("a", "x"), ("A ", "y")], "different labels (rows 1 and 2)"),
])
def test_bad_labels_are_refused_with_a_reason(rows, message):
    with pytest.raises(LabelDataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_dataset(rows)


def test_exact_duplicates_are_kept_once_with_a_note():
    rows = [(f"text {i}", "ab"[i % 2]) for i in range(10)] + [("text 1", "b")]
    data = make_dataset(rows)
    assert len(data) == 10 and "duplicate" in data.warnings[0]


def test_mixed_encodings_are_an_error_but_a_legacy_file_reads(tmp_path):
    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes("text,label\ncafé ok,a\n".encode() + "naïve,b\n".encode("cp1252"))
    with pytest.raises(LabelDataError, match="mixed text encodings.*line 3"):
        read_labeled_table(mixed)
    legacy = tmp_path / "legacy.csv"
    legacy.write_bytes("text,label\nnaïve café,a\n".encode("cp1252"))
    assert read_labeled_table(legacy).rows[0][0] == "naïve café"


def test_tsv_jsonl_and_xlsx_read_the_same_rows(tmp_path):
    rows = [("great service", "praise"), ("where is my order?", "question"), ("it broke", "complaint")]
    (tmp_path / "a.tsv").write_text("text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in rows))
    cells = "".join(
        f'<row r="{r + 1}"><c r="A{r + 1}" t="inlineStr"><is><t>{t}</t></is></c>'
        f'<c r="B{r + 1}" t="inlineStr"><is><t>{y}</t></is></c></row>'
        for r, (t, y) in enumerate([("text", "label"), *rows]))
    with zipfile.ZipFile(tmp_path / "a.xlsx", "w") as z:
        z.writestr("xl/worksheets/sheet1.xml", '<worksheet xmlns="http://schemas.openxmlformats.org/'
                   f'spreadsheetml/2006/main"><sheetData>{cells}</sheetData></worksheet>')
    for name in ("a.tsv", "a.jsonl", "a.xlsx"):
        t = read_labeled_table(tmp_path / name)
        assert t.columns == ("text", "label") and list(t.rows) == [tuple(r) for r in rows], name


def test_split_is_stratified_and_deterministic():
    y = [0] * 30 + [1] * 10 + [2] * 5
    tr, va = stratified_split(y, 0.2, seed=3)
    assert sorted(tr + va) == list(range(45))
    assert [sum(y[i] == c for i in va) for c in range(3)] == [6, 2, 1]
    assert stratified_split(y, 0.2, seed=3) == (tr, va)


def test_evaluation_numbers():
    ev = evaluate([0, 0, 1, 1], [0, 1, 1, 1], ("a", "b"))
    assert ev.accuracy == 0.75 and ev.confusion == ((1, 1), (0, 2))
    assert ev.per_class[0].precision == 1.0 and ev.per_class[0].recall == 0.5


def test_library_labels_become_a_dataset(tmp_path):
    from app.core.store import Store

    with Store(tmp_path / "lib.db") as store:
        with pytest.raises(LabelDataError, match="no labels yet"):
            dataset_from_store(store.labels())
        for i in range(8):
            store.add_label(f"sentence number {i}", "praise" if i % 2 else "complaint")
        data = dataset_from_store(store.labels())
    assert data.classes == ("complaint", "praise") and len(data) == 8


# -- the job


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_encoder, sst2_rows):
    """One real fine-tune through the job API (worker process), shared by the checks below."""
    root = tmp_path_factory.mktemp("ft")
    data = make_dataset(sst2_rows(24), "reviews.csv")
    reg = _registry(root, root / "user")
    events = []
    job = FineTuneJob(data, registry=reg, base=str(tiny_encoder), name="Movie reviews", mode="standard", **FAST)
    report = job.run(progress=events.append)
    return data, reg, report, events


def test_fine_tuned_model_is_registered_and_predicts_its_labels(trained):
    data, reg, report, events = trained
    assert report.model_id == "movie-reviews"
    m = reg.get("movie-reviews")
    assert m.task == "sentiment" and m.labels == ("negative", "positive") and m.origin == "user"
    assert {"model.onnx", "model.int8.onnx", "model.safetensors", "config.json"} <= set(m.files)
    assert m.raw["training"]["n_train"] + m.raw["training"]["n_val"] == 48
    assert m.raw["metrics"]["validation"]["n"] == report.n_val == 10
    assert "Movie reviews" in m.card.read_text()
    assert _train_accuracy(report.folder, data) >= 0.8  # chance is 0.5
    assert report.raw["qt_in_worker"] is False
    assert not (reg.user_dir / ".staging").exists() or not any((reg.user_dir / ".staging").iterdir())


def test_progress_streams_steps_and_validation(trained):
    _, _, report, events = trained
    steps = [e for e in events if e.kind == "step"]
    evals = [e for e in events if e.kind == "eval"]
    assert steps[-1].step == steps[-1].total == 50 and all(e.loss is not None for e in steps)
    assert [e.epoch for e in evals] == [float(k) for k in range(11)]
    assert len(report.history) == len(evals)


def test_report_compares_on_the_same_split(trained):
    _, _, report, _ = trained
    assert report.baseline.n == report.evaluation.n == report.n_val
    assert report.previous is None  # nothing installed with these labels before
    text = report.as_text()
    assert "TF-IDF" in text and "confusion" in text and "negative" in text


def test_make_default_and_continue_from_the_fine_tuned_model(trained, tmp_path):
    data, reg, report, _ = trained
    make_default(reg, report)
    assert reg.default("sentiment").id == "movie-reviews"
    job = FineTuneJob(data, registry=reg, base="movie-reviews", name="reviews v2", mode="few-shot",
                      pair_iterations=2, threads=1)
    assert job.settings.previous == str(reg.get("movie-reviews").folder)
    r2 = job.run()
    assert r2.mode == "few-shot" and r2.base == "movie-reviews"
    assert r2.previous is not None and r2.previous.n == r2.n_val  # side by side with the model it would replace
    assert {m.id for m in reg.manifests()} == {"movie-reviews", "reviews-v2"}


def test_cancel_stops_within_seconds_and_adds_nothing(tiny_encoder, sst2_csv, user_models, tmp_path):
    import time

    reg = _registry(tmp_path)
    job = FineTuneJob(load_labeled(sst2_csv), registry=reg, base=str(tiny_encoder), mode="standard",
                      **{**FAST, "epochs": 1000})
    asked = []

    def progress(p):
        if p.kind == "step" and not asked:
            asked.append(time.monotonic())
            job.cancel()

    with pytest.raises(Cancelled):
        job.run(progress=progress)
    assert time.monotonic() - asked[0] < 6
    assert reg.manifests() == [] and not job._proc.is_alive()


def test_a_killed_worker_is_an_error_not_a_crash(tiny_encoder, sst2_csv, user_models, tmp_path):
    reg = _registry(tmp_path)
    job = FineTuneJob(load_labeled(sst2_csv), registry=reg, base=str(tiny_encoder), mode="standard",
                      **{**FAST, "epochs": 1000})

    def progress(p):
        if p.kind == "step" and p.step == 3:
            os.kill(job.worker_pid, signal.SIGKILL)

    with pytest.raises(FineTuneFailed, match="stopped unexpectedly"):
        job.run(progress=progress)
    assert reg.manifests() == []
    assert not any((user_models / ".staging").glob("*")) if (user_models / ".staging").exists() else True


def test_killed_during_export_leaves_no_half_model(tiny_encoder, sst2_csv, user_models, tmp_path):
    reg = _registry(tmp_path)
    job = FineTuneJob(load_labeled(sst2_csv), registry=reg, base=str(tiny_encoder), mode="standard",
                      **{**FAST, "epochs": 1})

    def progress(p):
        if p.kind == "phase" and p.message.startswith("Exporting"):
            os.kill(job.worker_pid, signal.SIGKILL)

    with pytest.raises(FineTuneFailed):
        job.run(progress=progress)
    assert reg.manifests() == [] and [p.name for p in user_models.iterdir() if p.name != ".staging"] == []


def test_cli_finetune_prints_the_report(tiny_encoder, sst2_csv, user_models, capsys):
    from app.cli import main

    code = main(["finetune", str(sst2_csv), "--text-col", "review", "--label-col", "sentiment",
                 "--base", str(tiny_encoder), "--epochs", "2", "--name", "cli model", "--make-default"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "macro-F1" in out.out and "cli-model is now the default" in out.out
    assert Registry().default("sentiment").id == "cli-model"


def test_cli_refuses_a_file_with_one_class(tmp_path, user_models, capsys):
    from app.cli import main

    p = tmp_path / "one.csv"
    p.write_text("text,label\n" + "".join(f"t{i},same\n" for i in range(6)))
    assert main(["finetune", str(p)]) == 1
    assert "same label ('same')" in capsys.readouterr().err


def test_active_learning_ranks_the_least_certain_first(trained, tmp_path):
    from app.core.active_learning import rank_library, rank_texts, uncertainty
    from app.core.store import Store
    from app.core.types import Analysis, Document

    data, _, report, _ = trained
    model = SentimentModel.from_folder(report.folder)
    texts = list(data.texts[:12])
    order = rank_texts(model, texts)
    margin, _ = uncertainty(model.probabilities(texts))
    assert sorted(order) == list(range(12)) and list(margin[order]) == sorted(margin)
    with Store(tmp_path / "lib.db") as store:
        ids = [store.save_analysis(Analysis(Document(source=f"doc{i}.txt", text=t, title=f"doc {i}")), None, {})
               for i, t in enumerate(texts)]
        store.add_label(texts[order[0]], "positive", document_id=ids[order[0]])
        ranked = rank_library(model, store, limit=5)
    assert len(ranked) == 5 and ids[order[0]] not in [r.document_id for r in ranked]
    assert [r.document_id for r in ranked] == [ids[i] for i in order[1:6]]


# -- positive/negative labels start from the sentiment model


@pytest.fixture(scope="module")
def polarity_registry(tmp_path_factory, tiny_encoder):
    """A registry whose shipped models are the tiny encoder and a tiny ONNX-only sentiment model (no safetensors)."""
    import shutil

    from tests.fixtures_models import SENTIMENT_ID, build_sentiment

    root = tmp_path_factory.mktemp("polarity")
    build_sentiment(root / "shipped" / SENTIMENT_ID)
    shutil.copytree(tiny_encoder, root / "shipped" / tiny_encoder.name)
    return _registry(root, root / "user")


def test_an_onnx_only_sentiment_model_is_a_base_rebuilt_exactly(polarity_registry):
    import numpy as np
    import torch

    from app.core.sentiment import SentimentModel
    from app.jobs.finetune import can_be_base
    from app.training.albert_from_onnx import load

    m = polarity_registry.default("sentiment")
    assert not (m.folder / "model.safetensors").exists() and can_be_base(m)
    rebuilt = load(m.folder)
    assert rebuilt.config.num_attention_heads == 2  # found by matching the graph, not assumed
    ids = torch.tensor([[2, 2204, 2326, 1010, 2307, 3]])
    with torch.no_grad():
        p = torch.softmax(rebuilt(input_ids=ids, attention_mask=torch.ones_like(ids)).logits, -1)[0, 1].item()
    session = SentimentModel.from_folder(m.folder, graph="fp32").session  # same weights through ONNX Runtime
    out = session({"input_ids": ids.numpy(), "attention_mask": np.ones_like(ids.numpy()),
                     "token_type_ids": np.zeros_like(ids.numpy())})
    logits = out["logits"]
    want = float(np.exp(logits[0, 1]) / np.exp(logits[0]).sum())
    assert abs(p - want) < 1e-4


def test_positive_negative_labels_start_from_the_sentiment_model_and_say_so(polarity_registry, sst2_rows):
    from tests.jobs.conftest import _written_rows

    reg = polarity_registry
    data = make_dataset(_written_rows(), "reviews.csv")  # the words the tiny sentiment model was taught
    job = FineTuneJob(data, registry=reg, name="from sentiment", mode="standard", **{**FAST, "epochs": 3})
    sentiment = reg.default("sentiment")
    assert job.settings.base == str(sentiment.folder) and "positive/negative" in job.base_note
    report = job.run()
    assert report.base == sentiment.id and sentiment.id in report.base_note
    assert report.base_note in report.as_text()
    assert "positive/negative" in (Path(report.folder) / "MODEL_CARD.md").read_text()
    assert _train_accuracy(report.folder, data) >= 0.8

    # other labels, or a base the user picked, start from the encoder with no note
    topics = make_dataset([(t, "praise" if y == "positive" else "complaint") for t, y in sst2_rows(8)], "t.csv")
    other = FineTuneJob(topics, registry=reg, name="topics", threads=1)
    assert other.base_note == "" and other.settings.base_id == "albert-encoder-tiny"
    chosen = FineTuneJob(data, registry=reg, base="albert-encoder-tiny", name="chosen", threads=1)
    assert chosen.base_note == "" and chosen.settings.base_id == "albert-encoder-tiny"
