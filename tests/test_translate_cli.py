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
    assert main(["translate", str(env / "a.txt"), "--glossary", str(env / "g.txt"), "--low-confidence", "mark"]) == 0
    out = (env / "a.fr.txt").read_text(encoding="utf-8")
    note, first, second = out.strip().replace("[?] ", "").split("\n\n")
    assert note.startswith("Machine translation by albert-mt-docs-en-fr-de") and "sentences confident" in note
    assert "homme" in first and "report.pdf" in first
    assert "chiens" in second and "classeur" in second
    err = capsys.readouterr().err
    assert "2 of 2 paragraphs translated into fr" in err and "English" in err and "wrote" in err
    # which model ran and what it measured on validation text, per kind of text
    assert "model: albert-mt-docs-en-fr-de" in err and "documentation" in err and "captions" in err


def test_translate_to_docx_and_json_summary(env, capsys):
    code = main(["translate", str(env / "a.txt"), "--to", "de", "-o", str(env / "a.de.docx"), "--json", "-q",
                 "--glossary", str(env / "g.txt")])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["untranslated"] == 0 and summary["detected_lang"] == "en" and summary["paragraphs"] == 2
    assert summary["protected"] == 2
    conf = summary["confidence"]
    assert conf["sentences"] == 2 and conf["low_confidence"] == "keep-source"
    assert conf["summary"] == f"{conf['confident']} of 2 sentences confident"
    assert summary["model_quality"].startswith("albert-mt-docs-en-fr-de") and "into de" in summary["model_quality"]
    sents = summary["sentences"]
    assert len(sents) == 2 and all(0 <= s["confidence"] <= 1 for s in sents)
    assert all(bool(s.get("reason")) == s["low_confidence"] for s in sents)
    texts = [p.text for p in docx.Document(str(env / "a.de.docx")).paragraphs if p.text]
    assert len(texts) == 3 and texts[0].startswith("Machine translation by albert-mt-docs-en-fr-de")
    for s, text in zip(sents, texts[1:]):  # low-confidence sentences are kept in English (the default)
        assert (s["source"] in text) == s["low_confidence"], (s, text)
    assert ("Tabelle" in texts[2]) != sents[1]["low_confidence"]


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


def _read_until(fd: int, pattern: str, timeout_s: float) -> tuple[bool, str]:
    """Read a pty's output until `pattern` (a regex) appears in it or `timeout_s` passes: (found, text)."""
    import os
    import re
    import select
    import time

    text, deadline = "", time.monotonic() + timeout_s
    while not re.search(pattern, text) and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed its end (it exited)
                break
            if not chunk:
                break
            text += chunk.decode("utf-8", "replace")
    return bool(re.search(pattern, text)), text


def test_ctrl_c_cancels_a_long_translation_and_writes_nothing(env):
    import itertools
    import os
    import signal
    import subprocess
    import sys

    if sys.platform == "win32":
        pytest.skip("needs a pseudo-terminal (the progress line is shown on a terminal only)")
    import pty

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
    # stderr on a pseudo-terminal, as in a shell: the progress line says when the first batches are done
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "translate", str(src), "--beam", "4"],
                            stdout=subprocess.DEVNULL, stderr=slave, env={**os.environ},
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            # as from a terminal: a test run started in the background inherits SIGINT ignored
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    os.close(slave)
    try:
        running, err = _read_until(master, r"\] [1-9]\d*/\d+ sentences", timeout_s=300)
        assert running and proc.poll() is None, f"no progress from the translation: {err}"
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
        err += _read_until(master, r"nothing was written", timeout_s=10)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert proc.returncode == 130, err
    assert "cancelled; nothing was written" in err
    assert not (env / "long.fr.txt").exists()
