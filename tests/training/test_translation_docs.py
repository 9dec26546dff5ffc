"""The documentation translator's recipe: placeholder substitution in training pairs, the joint vocabulary
with placeholders as single pieces, and a tiny train -> average -> ONNX -> Translator run."""
from __future__ import annotations

import json
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


def test_a_run_goes_on_from_a_shipped_model_and_its_card_adds_the_minutes(tmp_path, monkeypatch):
    """--init-from: a new run starts from an exported folder's weights (read back from its int8 graphs, or from
    the fp32 training weights kept beside them) and vocabulary, and the card counts both runs' time."""
    import torch

    from app.training import mt_from_onnx

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    synthetic_corpus(corpus)
    monkeypatch.setattr(D, "DATA_DIR", tmp_path / "no-multi30k")
    common = ["--size", "tiny", "--corpus", str(corpus), "--vocab", "100", "--threads", "1", "--save-minutes", "0.04",
              "--warmup", "20", "--lr", "3e-3", "--max-tokens", "800", "--log-every", "1000", "--valid-pairs", "50",
              "--keep", "2"]
    monkeypatch.setattr(D, "BASE", tmp_path / "first")
    D.main(common + ["--minutes", "0.1", "--export"])
    first = tmp_path / "first" / "tiny" / "model"
    assert (first / D.TRAINING_WEIGHTS).exists() and D.TRAINING_WEIGHTS in json.loads(
        (first / "manifest.json").read_text())["files"]

    # the graphs alone give back the exported weights: exactly from the fp32 ONNX, within int8's error otherwise
    exported = mt_from_onnx.load(first, prefer_weights=False)[0].state_dict()
    from safetensors.torch import load_file

    kept = load_file(str(first / D.TRAINING_WEIGHTS))
    for k, v in kept.items():
        assert torch.allclose(exported[k], v, atol=1e-6), k
    raw = json.loads((first / "manifest.json").read_text())
    int8_only = tmp_path / "int8-only"
    int8_only.mkdir()
    for key, g in raw["graphs"].items():
        if key.endswith("_int8"):
            (int8_only / g["file"]).write_bytes((first / g["file"]).read_bytes())
    (int8_only / "manifest.json").write_text(json.dumps({**raw, "graphs": {k: v for k, v in raw["graphs"].items()
                                                                          if k.endswith("_int8")}}))
    from_int8 = mt_from_onnx.load(int8_only)[0].state_dict()  # no weights file there: the graphs
    for k, v in kept.items():
        assert float((from_int8[k] - v).abs().max()) <= 0.05 * float(v.abs().max()) + 1e-6, k

    assert D._same_shape(first, D.SIZES["tiny"]) and not D._same_shape(first, D.SIZES["base"])  # base: vocabulary only
    monkeypatch.setattr(D, "BASE", tmp_path / "second")
    D.main(common + ["--minutes", "0.05", "--init-from", str(first), "--export"])
    second = tmp_path / "second" / "tiny"
    assert (second / "spm.model").read_bytes() == (first / "spm.model").read_bytes()  # the same vocabulary
    tr = json.loads((second / "model" / "manifest.json").read_text())["training"]
    before = raw["training"]
    assert tr["continued_from"]["steps"] == before["steps"]
    assert tr["cumulative_minutes"] == pytest.approx(tr["train_minutes"] + before["train_minutes"], abs=0.11)
    assert "Cumulative training time" in (second / "model" / "MODEL_CARD.md").read_text()


def test_the_gpu_recipe_trains_from_a_pack_on_any_device(tmp_path, monkeypatch):
    """--write-pack puts the training data and the vocabulary in one small zip; --pack trains from it without the
    corpus (what a GPU machine gets), on --device auto (the CPU here, bf16 autocast on CUDA), and exports."""
    from app.core.translate import Translator

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    synthetic_corpus(corpus)
    monkeypatch.setattr(D, "DATA_DIR", tmp_path / "no-multi30k")
    monkeypatch.setattr(D, "BASE", tmp_path / "packing")
    pack = tmp_path / "carry" / "mt-pack.zip"
    D.main(["--size", "tiny", "--corpus", str(corpus), "--vocab", "100", "--valid-pairs", "50", "--write-pack", str(pack)])
    train, valid, meta = D.read_pack(pack)
    assert len(train) == meta["train"] > 0 and len(valid) == meta["valid"] > 0
    assert pack.stat().st_size < 64 * 2**20 and not (tmp_path / "packing" / "tiny" / "last.pt").exists()

    monkeypatch.setattr(D, "BASE", tmp_path / "gpu-box")
    monkeypatch.setattr(D, "CORPUS", tmp_path / "nothing-here")
    D.main(["--size", "tiny", "--pack", str(pack), "--device", "auto", "--threads", "1", "--minutes", "0.08",
            "--save-minutes", "0.04", "--warmup", "20", "--lr", "3e-3", "--max-tokens", "800", "--log-every", "1000",
            "--keep", "2", "--corpus", str(tmp_path / "nothing-here"), "--export"])
    run = tmp_path / "gpu-box" / "tiny"
    assert (run / "spm.model").read_bytes() == (tmp_path / "packing" / "tiny" / "spm.model").read_bytes()
    assert "device=cpu" in (run / "train.log").read_text()
    tr = Translator.from_folder(run / "model")
    assert tr.translate("The window opens.", target_lang="fr", beam=1).text


def test_everyday_sentences_are_split_by_their_english_before_training():
    if not (D.DATA_DIR / "tatoeba-en-fr" / "train.en").exists():
        pytest.skip("no tatoeba data here")
    train, valid = D.tatoeba("train"), D.tatoeba("valid")
    assert valid and len(valid) < 0.05 * len(train)
    seen = {e for _, e, _ in train}
    assert not any(e in seen for _, e, _ in valid)
    assert len({(lg, e) for lg, e, _ in valid}) == len(valid)  # one reference per English sentence


def test_sample_paragraphs_are_distinct_and_of_several_kinds():
    from app.training.translation_samples import SAMPLES

    assert len(SAMPLES) == 10 and len({k for k, _ in SAMPLES}) == 10 and len({t for _, t in SAMPLES}) == 10
    assert SAMPLES[0][1].startswith("The quarterly report shows that revenue grew by twelve percent")
