"""The command line and languages: `analyze` shows and prints each document's language, says "unsupported
language (es)" instead of a label, --any-language forces the model and says so, and the library's
search and export take --lang (issue 30 items 1 and 3)."""
from __future__ import annotations

import csv
import json

import pytest

from app.cli import main
from tests.core.test_language import EN, EN2, ES, FR


@pytest.fixture()
def env(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setenv("ALBERT_STUDIO_MODELS", str(tiny_models))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "en.txt").write_text(EN, encoding="utf-8")
    (tmp_path / "in" / "es.txt").write_text(ES, encoding="utf-8")
    (tmp_path / "in" / "mixed.txt").write_text("\n\n".join([EN, FR, EN2]), encoding="utf-8")
    return tmp_path


def _json(capsys) -> dict[str, dict]:
    return {o["source"].rsplit("/", 1)[-1]: o for o in map(json.loads, capsys.readouterr().out.splitlines())}


def test_analyze_json_has_the_language_and_no_label_for_spanish(env, capsys):
    assert main(["analyze", str(env / "in"), "--db", str(env / "l.db"), "--json"]) == 0
    out = _json(capsys)
    assert out["en.txt"]["lang"]["code"] == "en" and out["en.txt"]["sentiment"]["label"] in ("positive", "negative", "neutral")
    assert out["mixed.txt"]["lang"]["code"] == "en" and [s["code"] for s in out["mixed.txt"]["lang"]["spans"]] == ["fr"]
    es = out["es.txt"]
    assert es["lang"]["code"] == "es" and es["sentiment"]["label"] is None and es["sentiment"]["sentences"] == []
    assert es["sentiment"]["note"] == es["summary"]["note"] == "unsupported language (es)"
    assert es["summary"]["sentences"] == []


def test_analyze_table_shows_the_language_and_unsupported(env, capsys):
    assert main(["analyze", str(env / "in"), "--no-store", "-q"]) == 0
    lines = {line.split()[0].rsplit("/", 1)[-1]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert lines["es.txt"].split()[1] == "es" and "unsupported (es)" in lines["es.txt"]
    assert "unsupported language (es)" in lines["es.txt"]
    assert lines["en.txt"].split()[1] == "en" and "unsupported" not in lines["en.txt"]


def test_any_language_forces_the_english_model_and_says_so(env, capsys):
    assert main(["analyze", str(env / "in" / "es.txt"), "--no-store", "--json", "--any-language"]) == 0
    es = _json(capsys)["es.txt"]
    assert es["sentiment"]["label"] in ("positive", "negative", "neutral")
    assert es["sentiment"]["forced_language"] is True and es["summary"]["forced_language"] is True
    assert es["sentiment"]["note"] == "forced on unsupported language (es)"
    assert main(["analyze", str(env / "in" / "es.txt"), "--no-store", "-q", "--any-language"]) == 0
    assert "es forced" in capsys.readouterr().out


def test_search_and_export_filter_by_language(env, capsys):
    db = str(env / "l.db")
    main(["analyze", str(env / "in"), "--db", db, "-q"])
    capsys.readouterr()
    assert main(["search", "--lang", "es", "--db", db, "--json"]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [h["source"].rsplit("/", 1)[-1] for h in hits] == ["es.txt"]
    assert hits[0]["lang"] == "es" and hits[0]["sentiment"] is None and hits[0]["note"] == "unsupported language (es)"
    assert main(["search", "grinder", "--lang", "en", "--db", db, "--json"]) == 0
    assert sorted(json.loads(x)["source"].rsplit("/", 1)[-1] for x in capsys.readouterr().out.splitlines()) == [
        "en.txt", "mixed.txt"]
    assert main(["search", "grinder", "--lang", "es", "--db", db]) == 1  # nothing in Spanish mentions it
    assert main(["export", str(env / "es.csv"), "--lang", "es", "--db", db]) == 0
    rows = list(csv.DictReader(open(env / "es.csv", encoding="utf-8", newline="")))
    assert [(r["lang"], r["sentiment_label"], r["summary"]) for r in rows] == [
        ("es", "unsupported language (es)", "unsupported language (es)")]
    assert main(["export", str(env / "en.jsonl"), "--lang", "en", "--db", db]) == 0
    lines = [json.loads(x) for x in open(env / "en.jsonl", encoding="utf-8")]
    assert sorted(o["lang"]["code"] for o in lines) == ["en", "en"]
