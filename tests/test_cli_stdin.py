"""`albert-studio analyze -` reads the text from standard input; --neutral-band; the stored document."""
from __future__ import annotations

import io
import json

import pytest

from app.cli import main
from app.core.store import Store


@pytest.fixture()
def env(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setenv("ALBERT_STUDIO_MODELS", str(tiny_models))
    return tmp_path


def _stdin(monkeypatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def test_text_from_standard_input_is_analysed_and_kept(env, monkeypatch, capsys):
    _stdin(monkeypatch, "The delivery was terrible. Nobody answered my emails. I want a refund.\n")
    code = main(["analyze", "-", "--db", str(env / "l.db"), "--json", "--tasks", "sentiment,summary", "--sentences", "1"])
    assert code == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["source"] == "<stdin>"
    assert obj["sentiment"]["label"] in ("negative", "positive", "neutral")
    assert 0 <= obj["sentiment"]["p_positive"] <= 1
    assert len(obj["summary"]["sentences"]) == 1
    with Store(env / "l.db") as store:
        row = store.list_documents()[0]
        assert row.source == "<stdin>" and row.title.startswith("The delivery was terrible.")


def test_standard_input_next_to_files_and_the_neutral_band(env, monkeypatch, capsys):
    (env / "a.txt").write_text("It was great, I love it.")
    _stdin(monkeypatch, "It was terrible and slow.")
    code = main(["analyze", "-", str(env / "a.txt"), "--no-store", "--json", "--tasks", "sentiment",
                 "--neutral-band", "0.5"])
    assert code == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["source"].rsplit("/", 1)[-1] for x in lines] == ["<stdin>", "a.txt"]
    assert all(x["sentiment"]["label"] == "neutral" and x["sentiment"]["neutral_band"] == 0.5 for x in lines)
    with pytest.raises(SystemExit) as exit_:
        main(["analyze", "-", "--no-store", "--neutral-band", "0.9"])  # outside 0..0.5
    assert exit_.value.code == 2


def test_empty_standard_input_is_an_error_with_a_reason(env, monkeypatch, capsys):
    _stdin(monkeypatch, "   \n")
    assert main(["analyze", "-", "--no-store"]) == 1
    assert "<stdin>: contains no text" in capsys.readouterr().err
