"""The command line: JSON Lines output in input order, errors, exit codes, export, models."""
from __future__ import annotations

import csv
import json

import pytest

from app.cli import main


@pytest.fixture()
def env(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setenv("ALBERT_STUDIO_MODELS", str(tiny_models))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "1.txt").write_text("I adore this phone. The screen is bright.")
    (tmp_path / "in" / "2.txt").write_text("Awful. It died after two days.")
    (tmp_path / "in" / "3.bin.txt").write_bytes(b"\x00\x01\x02" * 200)
    return tmp_path


def test_analyze_json_lines(env, capsys):
    code = main(["analyze", str(env / "in"), "--db", str(env / "l.db"), "--json", "--tasks", "sentiment,summary",
                 "--sentences", "1"])
    lines = [json.loads(l) for l in capsys.readouterr().out.splitlines()]
    assert code == 3  # one file failed
    assert [l["source"].rsplit("/", 1)[-1] for l in lines] == ["1.txt", "2.txt", "3.bin.txt"]
    ok = lines[0]
    assert ok["sentiment"]["label"] in ("positive", "negative") and 0 <= ok["sentiment"]["score"] <= 1
    assert [s["text"] for s in ok["sentiment"]["sentences"]] == ["I adore this phone.", "The screen is bright."]
    assert len(ok["summary"]["sentences"]) == 1
    assert "binary" in lines[2]["error"]


def test_usage_errors_and_missing_paths(env, capsys):
    assert main(["analyze", str(env / "in"), "--tasks", "poetry", "--db", str(env / "l.db")]) == 2
    assert main(["analyze", str(env / "nope.txt"), "--db", str(env / "l.db"), "--tasks", "sentiment"]) == 1
    assert "not found" in capsys.readouterr().err


def test_export_history_and_models(env, capsys):
    main(["analyze", str(env / "in" / "1.txt"), "--db", str(env / "l.db"), "--tasks", "sentiment", "-q"])
    assert main(["export", str(env / "out.csv"), "--db", str(env / "l.db")]) == 0
    rows = list(csv.DictReader(open(env / "out.csv", encoding="utf-8")))
    assert len(rows) == 1 and rows[0]["sentiment_label"] in ("positive", "negative")
    assert main(["history", "--db", str(env / "l.db")]) == 0
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "albert-sentiment-en" in out and "albert-summary-en" in out
    assert main(["models", "verify"]) == 0


def test_translate_with_the_shipped_model_says_what_it_is_for(tmp_path, capsys):
    doc = tmp_path / "caption.txt"
    doc.write_text("A man is riding a bicycle.\n\nA dog is running in the snow.", encoding="utf-8")
    code = main(["analyze", str(doc), "--tasks", "translate", "--target-lang", "fr", "--no-store", "--json"])
    out, err = capsys.readouterr()
    assert code == 0
    text = json.loads(out.splitlines()[0])["translation"]["text"]
    assert "homme" in text and "chien" in text and text.count("\n\n") == 1
    # the default translator is the documentation model (trained on Debian's documentation + Multi30k captions)
    assert "note: albert-mt-docs-en-fr-de" in err and "documentation" in err and "translate poorly" in err


def test_finetune_passes_the_device_to_the_job(tmp_path, monkeypatch, capsys):
    from app.core.errors import AlbertStudioError
    from app.jobs import finetune as jobs

    monkeypatch.setenv("ALBERT_STUDIO_MODELS", str(tmp_path / "models"))
    asked = {}

    class Job:  # stands in for the worker process: records what it was asked, then stops the command
        def __init__(self, data, **kw):
            asked.update(kw)
            raise AlbertStudioError("stopped before training")

    monkeypatch.setattr(jobs, "FineTuneJob", Job)
    data = tmp_path / "tickets.csv"
    data.write_text("text,label\n" + "".join(f"ticket {i} text,{'ab'[i % 2]}\n" for i in range(10)), encoding="utf-8")
    assert main(["finetune", str(data), "--device", "cpu"]) == 1
    assert asked["device"] == "cpu"
    assert "stopped before training" in capsys.readouterr().err
