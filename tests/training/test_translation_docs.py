"""The documentation translator's recipe: placeholder substitution in training pairs, the joint vocabulary
with placeholders as single pieces, and a tiny train -> average -> ONNX -> Translator run."""
from __future__ import annotations

import random

import pytest

from app.training import translation_docs as D

pytest.importorskip("torch")


def test_placeholders_are_taught_only_where_both_sides_have_the_span():
    en = "Download setup.exe version 2.4.1 from https://example.org now."
    fr = "Téléchargez setup.exe version 2.4.1 depuis le site maintenant."
    a, b = D.with_placeholders(en, fr, random.Random(0), p=1.0)
    assert a == "Download ｟1｠ version ｟2｠ from https://example.org now."  # the URL is not in the French
    assert b == "Téléchargez ｟1｠ version ｟2｠ depuis le site maintenant."
    assert D.with_placeholders(en, fr, random.Random(0), p=0.0) == (en, fr)
    assert D.with_placeholders("A dog runs.", "Un chien court.", random.Random(0), p=1.0) == ("A dog runs.",
                                                                                                 "Un chien court.")


def synthetic_corpus(folder):
    subjects = ["The dialog", "This command", "The window", "The toolbar", "The menu", "The document"]
    verbs = [("opens", "ouvre", "öffnet"), ("closes", "ferme", "schließt"), ("shows", "affiche", "zeigt")]
    objects = [("the file", "le fichier", "die Datei"), ("the table", "le tableau", "die Tabelle"),
               ("page 3", "la page 3", "Seite 3"), ("report.pdf", "report.pdf", "report.pdf")]
    fr_s = {"The dialog": "La boîte", "This command": "Cette commande", "The window": "La fenêtre",
            "The toolbar": "La barre", "The menu": "Le menu", "The document": "Le document"}
    de_s = {"The dialog": "Der Dialog", "This command": "Dieser Befehl", "The window": "Das Fenster",
            "The toolbar": "Die Leiste", "The menu": "Das Menü", "The document": "Das Dokument"}
    rows = {"fr": [], "de": []}
    for i, s in enumerate(subjects):
        for v, vf, vd in verbs:
            for o, of, od in objects:
                doc = f"synthetic/page{i}.html"
                rows["fr"].append(f"{doc}\t{s} {v} {o}.\t{fr_s[s]} {vf} {of}.")
                rows["de"].append(f"{doc}\t{s} {v} {o}.\t{de_s[s]} {vd} {od}.")
    for lang, lines in rows.items():
        for split in ("train", "valid"):
            (folder / f"{split}.en-{lang}.tsv").write_text("\n".join(lines * (8 if split == "train" else 1)) + "\n",
                                                          encoding="utf-8")


def test_tiny_run_trains_averages_exports_and_translates(tmp_path, monkeypatch):
    from app.core.translate import Translator

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    synthetic_corpus(corpus)
    monkeypatch.setattr(D, "BASE", tmp_path / "runs")
    monkeypatch.setattr(D, "DATA_DIR", tmp_path / "no-multi30k")
    args = ["--size", "tiny", "--corpus", str(corpus), "--vocab", "100", "--threads", "1", "--minutes", "0.15",
            "--save-minutes", "0.04", "--warmup", "20", "--lr", "3e-3", "--max-tokens", "800", "--log-every", "1000",
            "--valid-pairs", "50", "--keep", "3", "--export"]
    D.main(args)
    run = tmp_path / "runs" / "tiny"
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(run / "spm.model"))
    assert "｟1｠" in sp.encode("Open ｟1｠ now.", out_type=str)  # one piece
    assert len(D.checkpoint_files(run)) >= 2  # snapshots kept for averaging
    tr = Translator.from_folder(run / "model")
    assert tr.copies_placeholders and tr.manifest.raw["training"]["averaged_steps"]
    out = tr.translate("The window opens report.pdf.", target_lang="de", beam=2)
    assert "report.pdf" in out.text and out.protected == 1  # copied, or put back if the tiny model dropped it
    assert set(tr.targets) == {"fr", "de"}
    from app.training.translation_samples import SAMPLES, translate_samples

    rows = translate_samples(tr, "de", beam=1)  # through translate_texts, as the app's document path
    assert [r["kind"] for r in rows] == [k for k, _ in SAMPLES] and all(r["lang"] == "de" for r in rows)
    table = D.samples_md([{**rows[0], "text": "a | b"}])
    assert table.count("\n") == 2 and "a \\| b" in table  # a pipe in a translation does not break the table


def test_sample_paragraphs_are_distinct_and_of_several_kinds():
    from app.training.translation_samples import SAMPLES

    assert len(SAMPLES) == 10 and len({k for k, _ in SAMPLES}) == 10 and len({t for _, t in SAMPLES}) == 10
    assert SAMPLES[0][1].startswith("The quarterly report shows that revenue grew by twelve percent")
