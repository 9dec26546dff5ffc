"""`albert-studio translate` and `analyze --glossary`: a document in, a translated document out, with the
shipped model; the language gate and its exit code; the glossary through the batch path."""
from __future__ import annotations

import json

import docx
import pytest

from app.cli import main


@pytest.fixture()
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("ALBERT_STUDIO_MODELS", str(tmp_path / "user-models"))  # only the shipped models
    (tmp_path / "a.txt").write_text("A man is riding a bike near report.pdf.\n\n"
                                    "Two dogs play in the snow with a spreadsheet.\n", encoding="utf-8")
    (tmp_path / "g.txt").write_text("spreadsheet = classeur\n[de]\nspreadsheet = Tabelle\n", encoding="utf-8")
    (tmp_path / "f.txt").write_text("Le rapport trimestriel montre que le chiffre d'affaires a augmenté de douze "
                                    "pour cent grâce à une forte demande en Europe.", encoding="utf-8")
    return tmp_path


def test_translate_writes_the_document_beside_the_source(env, capsys):
    assert main(["translate", str(env / "a.txt"), "--glossary", str(env / "g.txt")]) == 0
    out = (env / "a.fr.txt").read_text(encoding="utf-8")
    first, second = out.strip().split("\n\n")
    assert "homme" in first and "report.pdf" in first
    assert "chiens" in second and "classeur" in second
    err = capsys.readouterr().err
    assert "2 of 2 paragraphs translated into fr" in err and "English" in err and "wrote" in err


def test_translate_to_docx_and_json_summary(env, capsys):
    code = main(["translate", str(env / "a.txt"), "--to", "de", "-o", str(env / "a.de.docx"), "--json", "-q",
                 "--glossary", str(env / "g.txt")])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["untranslated"] == 0 and summary["detected_lang"] == "en" and summary["paragraphs"] == 2
    assert summary["protected"] == 2
    texts = [p.text for p in docx.Document(str(env / "a.de.docx")).paragraphs if p.text]
    assert len(texts) == 2 and "Tabelle" in texts[1] and "Mann" in texts[0]


def test_french_input_is_refused_with_a_reason_and_can_be_forced(env, capsys):
    assert main(["translate", str(env / "f.txt"), "-o", "-"]) == 1
    err = capsys.readouterr().err
    assert "looks French" in err and "English only" in err and "--any-language" in err
    assert not (env / "f.fr.txt").exists()
    assert main(["translate", str(env / "f.txt"), "-o", "-", "--any-language", "-q"]) == 0
    assert capsys.readouterr().out.strip()


def test_usage_errors(env, capsys):
    assert main(["translate", str(env / "a.txt"), "-o", str(env / "a.pdf")]) == 2
    assert main(["translate", str(env / "a.txt"), "--beam", "0"]) == 2
    assert main(["translate", str(env / "missing.txt")]) == 1
    assert main(["analyze", str(env / "a.txt"), "--tasks", "translate", "--glossary", str(env / "nope.txt"),
                 "--no-store"]) == 2


def test_analyze_applies_the_glossary_and_the_language_gate(env, capsys):
    code = main(["analyze", str(env / "a.txt"), str(env / "f.txt"), "--tasks", "translate", "--glossary",
                 str(env / "g.txt"), "--no-store", "--json", "-q"])
    assert code == 0
    a, f = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert "classeur" in a["translation"]["text"] and a["translation"]["detected_lang"] == "en"
    assert f["translation"]["text"] == "" and f["translation"]["detected_lang"] == "fr"
    assert "looks French" in f["translation"]["note"]


def test_ctrl_c_cancels_a_long_translation_and_writes_nothing(env):
    import itertools
    import os
    import signal
    import subprocess
    import sys
    import time

    subjects = ["A man", "A woman", "A child", "Two dogs", "An old man", "A young girl", "Three boys", "A cat"]
    actions = ["is riding a bike", "is reading a book", "is running", "is eating an apple", "is sleeping",
               "is playing with a ball", "is waiting", "is singing"]
    places = ["near the river", "in the park", "on the beach", "at the station", "in the snow", "on a bench",
              "in a small kitchen"]
    times = ["today", "at night", "in the morning", "after school", "in winter", "with a friend", "again", "alone"]
    moods = ["", "happily", "slowly", "quietly"]
    text = "\n\n".join(" ".join(p for p in parts if p) + "."
                         for parts in itertools.product(subjects, actions, moods, places, times))
    src = env / "long.txt"
    src.write_text(text, encoding="utf-8")  # 14,336 different sentences: minutes of work on any laptop
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "translate", str(src), "--beam", "4"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ},
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            # as from a terminal: a test run started in the background inherits SIGINT ignored
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(8)  # the model is loaded and the first batches are running
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "cancelled; nothing was written" in err
    assert not (env / "long.fr.txt").exists()
