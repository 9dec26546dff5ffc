"""The language of a document: detected (whole and per paragraph), stored, exported, filtered; documents in a
language no model covers get no label (issue 30 items 1 and 3)."""
from __future__ import annotations

import csv
import json
import shutil

import pytest

from app.core.analyzer import AnalysisOptions, Analyzer
from app.core.documents import content_hash
from app.core.export import analysis_to_csv_row, analysis_to_json
from app.core.language import covered_languages, detect_document_language, uncovered_language
from app.core.registry import Registry
from app.core.store import Store
from app.core.types import Document, DocumentLanguage

EN = ("The new grinder arrived on time and the build quality is excellent, so I use it every single morning "
      "before work and it has never let me down.")
EN2 = "Also the lid cracked after a month and the price was far too high for what you get in the box."
FR = ("Le service client ne répond jamais aux courriels et la livraison a pris trois semaines de plus que "
      "prévu, ce qui est vraiment inacceptable pour un achat de ce prix.")
DE = ("Der Zug hatte wieder einmal vierzig Minuten Verspätung und niemand hat uns am Bahnsteig erklärt, "
      "warum wir so lange in der Kälte warten mussten.")
ES = ("El producto llegó roto y nadie de la empresa contestó a mis mensajes durante más de dos semanas "
      "enteras, así que no pienso volver a comprar nada allí.")
IT = ("Il ristorante era pieno di gente ma il cameriere è stato gentilissimo e la pasta fatta in casa era "
      "davvero la migliore che abbia mai mangiato in città.")


def doc(source: str, text: str) -> Document:
    return Document(source, text, content_hash=content_hash(text))


# ---------------------------------------------------------------- detection


@pytest.mark.parametrize("text,code", [(EN, "en"), (FR, "fr"), (DE, "de"), (ES, "es"), (IT, "it")])
def test_a_paragraph_gets_its_language_reliably(text, code):
    lang = detect_document_language(text)
    assert lang.code == code and lang.reliable and lang.confidence > 0.9
    assert lang.spans == () and not lang.mixed


def test_a_mixed_document_names_its_main_language_and_the_other_paragraphs():
    text = "\n\n".join([EN, FR, EN2])
    lang = detect_document_language(text)
    assert lang.code == "en" and lang.reliable and lang.mixed
    assert [(s.code, text[s.start:s.end]) for s in lang.spans] == [("fr", FR)]
    assert lang.at(text.index("livraison")) == "fr" and lang.at(text.index("grinder")) == "en"


def test_the_language_with_most_of_the_text_is_the_main_one():
    text = "\n\n".join([ES, EN, ES.replace("dos", "tres")])
    lang = detect_document_language(text)
    assert lang.code == "es" and [s.code for s in lang.spans] == ["en"]


def test_short_paragraphs_never_make_a_document_mixed():
    text = "\n\n".join([EN, "Merci beaucoup !", EN2, "Vielen Dank und bis bald."])
    assert detect_document_language(text).spans == ()


def test_too_little_text_is_not_acted_on():
    assert not detect_document_language("Hi").reliable
    assert detect_document_language("12 345 ---").code == ""
    assert uncovered_language(detect_document_language("Hola"), ("en",)) == ""


def test_a_model_covers_english_unless_its_manifest_says_more():
    assert covered_languages(()) == ("en",)
    assert covered_languages(["en", "fr", "de"]) == ("en", "fr", "de")
    fr = detect_document_language(FR)
    assert uncovered_language(fr, ("en",)) == "fr"
    assert uncovered_language(fr, ("en", "fr", "de")) == ""
    assert uncovered_language(None, ("en",)) == ""


# ---------------------------------------------------------------- analysis: the unsupported path


@pytest.fixture(scope="module")
def registry(tiny_models, tmp_path_factory):
    return Registry(roots=[tiny_models], settings_file=tmp_path_factory.mktemp("s") / "defaults.json")


def test_every_analysis_carries_the_language(registry):
    a = Analyzer(registry=registry).analyze(doc("a.txt", EN))
    assert a.language is not None and a.language.code == "en" and a.language.reliable
    assert analysis_to_json(a)["lang"] == {"code": "en", "confidence": pytest.approx(a.language.confidence, abs=1e-4)}


@pytest.mark.parametrize("text,code", [(ES, "es"), (IT, "it"), (FR, "fr"), (DE, "de")])
def test_a_language_no_model_covers_gets_no_label(registry, text, code):
    a = Analyzer(registry=registry).analyze(doc(f"{code}.txt", text))
    s, summ = a.sentiment, a.summary
    assert s.label == "" and s.sentences == () and s.probabilities == () and s.unsupported_lang == code
    assert summ.sentences == () and summ.unsupported_lang == code
    out = analysis_to_json(a)
    assert out["sentiment"]["label"] is None and out["sentiment"]["note"] == f"unsupported language ({code})"
    assert out["summary"]["sentences"] == [] and out["summary"]["note"] == f"unsupported language ({code})"
    row = analysis_to_csv_row(a)
    assert row["sentiment_label"] == f"unsupported language ({code})" and row["sentiment_score"] == ""
    assert row["summary"] == f"unsupported language ({code})" and row["lang"] == code
    assert {m.task for m in a.models} >= {"sentiment", "summary"}, "the model that declined is named"


def test_any_language_forces_the_model_and_says_so(registry):
    a = Analyzer(registry=registry).analyze(doc("es.txt", ES), AnalysisOptions(any_language=True))
    assert a.sentiment.label in ("negative", "positive", "neutral") and a.sentiment.forced_lang == "es"
    assert a.summary.sentences and a.summary.forced_lang == "es"
    out = analysis_to_json(a)
    assert out["sentiment"]["forced_language"] is True and out["summary"]["forced_language"] is True
    assert "forced" in analysis_to_csv_row(a)["lang_note"]
    english = Analyzer(registry=registry).analyze(doc("en.txt", EN), AnalysisOptions(any_language=True))
    assert english.sentiment.forced_lang == "" and "forced_language" not in analysis_to_json(english)["sentiment"]


def test_forced_results_are_kept_apart_from_unforced_ones(registry):
    a = Analyzer(registry=registry)
    plain, forced = a.task_models(AnalysisOptions()), a.task_models(AnalysisOptions(any_language=True))
    assert plain["sentiment"] != forced["sentiment"] and plain["summary"] != forced["summary"]


def test_in_a_mixed_document_uncovered_paragraphs_get_no_colour(registry):
    text = "\n\n".join([EN, FR, EN2])
    a = Analyzer(registry=registry).analyze(doc("mixed.txt", text))
    assert a.sentiment.label and a.sentiment.unsupported_lang == ""
    coloured = " ".join(s.text for s in a.sentiment.sentences)
    assert "grinder" in coloured and "lid cracked" in coloured and "livraison" not in coloured
    assert all("livraison" not in s.text for s in a.summary.sentences)


def test_a_covered_batch_and_an_uncovered_document_in_one_call(registry):
    out = Analyzer(registry=registry).analyze_many([doc("es.txt", ES), doc("en.txt", EN), doc("e.txt", "")])
    assert out[0].sentiment.unsupported_lang == "es" and out[1].sentiment.label
    assert out[2].error and out[2].language is None


@pytest.fixture(scope="module")
def trilingual(tiny_models, tmp_path_factory):
    """The tiny models, their manifests declaring English, French and German (as a cross-lingual model's will)."""
    root = tmp_path_factory.mktemp("tri")
    for folder in tiny_models.iterdir():
        if not (folder / "manifest.json").exists():
            continue
        shutil.copytree(folder, root / folder.name)
        path = root / folder.name / "manifest.json"
        m = json.loads(path.read_text())
        if m["task"] in ("sentiment", "summary"):
            m["languages"] = ["en", "fr", "de"]
        path.write_text(json.dumps(m))
    return Registry(roots=[root], settings_file=tmp_path_factory.mktemp("s") / "defaults.json")


def test_a_model_declaring_french_and_german_reads_them(trilingual):
    a = Analyzer(registry=trilingual)
    for text, code in ((FR, "fr"), (DE, "de")):
        r = a.analyze(doc(f"{code}.txt", text))
        assert r.language.code == code and r.sentiment.label and r.sentiment.unsupported_lang == ""
        assert r.summary.sentences and r.sentiment.forced_lang == ""
    es = a.analyze(doc("es.txt", ES))
    assert es.sentiment.unsupported_lang == "es"
    mixed = "\n\n".join([EN, FR, EN2])
    coloured = " ".join(s.text for s in a.analyze(doc("m.txt", mixed)).sentiment.sentences)
    assert "livraison" in coloured, "French is covered now: its sentences keep their colour"


# ---------------------------------------------------------------- the library


@pytest.fixture
def library(registry, tmp_path):
    store = Store(tmp_path / "lib.db")
    a = Analyzer(registry=registry)
    keys = {t: k for t, (_m, _v, k) in a.task_models(AnalysisOptions()).items()}
    for analysis in a.analyze_many([doc("/d/en.txt", EN), doc("/d/es.txt", ES), doc("/d/mixed.txt", "\n\n".join([EN, FR, EN2]))]):
        store.save_analysis(analysis, None, keys)
    yield store
    store.close()


def test_the_language_round_trips_through_the_library(library):
    by_source = {library.load_analysis(r.id).document.source: library.load_analysis(r.id) for r in library.list_documents()}
    assert by_source["/d/en.txt"].language.code == "en" and by_source["/d/en.txt"].language.reliable
    mixed = by_source["/d/mixed.txt"].language
    assert mixed.code == "en" and [s.code for s in mixed.spans] == ["fr"]
    es = by_source["/d/es.txt"]
    assert es.sentiment.unsupported_lang == "es" and es.sentiment.label == "" and es.summary.unsupported_lang == "es"
    row = library.db.execute("SELECT label, score FROM results r JOIN documents d ON d.id = r.document_id "
                             "WHERE d.source = '/d/es.txt' AND r.task = 'sentiment'").fetchone()
    assert row == (None, None), "stored as unsupported, never as a label"


def test_the_library_filters_and_lists_by_language(library):
    assert {r.source for r in library.list_documents(lang="es")} == {"/d/es.txt"}
    assert {r.source for r in library.list_documents(lang="en")} == {"/d/en.txt", "/d/mixed.txt"}
    assert library.count_documents(lang="fr") == 0 and library.count_documents(lang="en") == 2
    page = library.library_page(lang="es")
    assert [r.lang for r in page.rows] == ["es"] and page.rows[0].sentiment_text == "unsupported language (es)"
    assert set(library.library_page().languages) == {"en", "es"} and library.library_page().languages[0] == "en"


def test_exports_carry_the_language(library, tmp_path):
    path = tmp_path / "out.csv"
    library.export(path, "csv")
    with open(path, encoding="utf-8", newline="") as f:
        rows = {r["source"]: r for r in csv.DictReader(f)}
    assert rows["/d/es.txt"]["lang"] == "es" and rows["/d/es.txt"]["sentiment_label"] == "unsupported language (es)"
    assert rows["/d/en.txt"]["lang"] == "en" and float(rows["/d/en.txt"]["lang_confidence"]) > 0.9
    path = tmp_path / "out.jsonl"
    library.export(path, "jsonl")
    lines = {o["source"]: o for o in map(json.loads, path.read_text(encoding="utf-8").splitlines())}
    assert lines["/d/mixed.txt"]["lang"]["code"] == "en" and lines["/d/mixed.txt"]["lang"]["spans"][0]["code"] == "fr"
    assert lines["/d/es.txt"]["sentiment"]["note"] == "unsupported language (es)"


def _library_from_before_languages(path):
    """A library as version 4 wrote it (no language columns), holding one English document with a sentiment."""
    import sqlite3

    from app.core.types import Analysis, ModelInfo, SentimentResult

    with Store(path) as s:
        s.save_analysis(Analysis(doc("/d/old.txt", EN), SentimentResult("positive", 0.9),
                                 models=(ModelInfo("m", "1", "sentiment"),)), None, {"sentiment": ""})
    con = sqlite3.connect(path)
    con.execute("DROP INDEX IF EXISTS idx_documents_lang")
    for col in ("lang", "lang_confidence", "lang_reliable", "lang_spans"):
        con.execute(f"ALTER TABLE documents DROP COLUMN {col}")
    con.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    con.commit()
    con.close()


def test_a_library_from_before_languages_opens_and_reads_none(tmp_path):
    from app.core.store import schema as store_schema

    _library_from_before_languages(tmp_path / "old.db")
    with Store(tmp_path / "old.db") as s:
        assert s.schema_version == store_schema.SCHEMA_VERSION
        (row,) = s.list_documents()
        assert row.lang is None and s.load_analysis(row.id).language is None
        assert s.count_documents(lang="") == 1


def test_a_document_stored_before_languages_gets_one_when_reused(tmp_path):
    from app.jobs.recorder import Recorder

    _library_from_before_languages(tmp_path / "old.db")
    with Store(tmp_path / "old.db") as s:
        recorder = Recorder(s, {"sentiment": ("m", "1", "")})
        _doc_id, found = recorder.reusable(doc("/d/old.txt", EN))
        assert found.language.code == "en" and found.sentiment.label == "positive"
        recorder.save(found, reused=True)
        assert [r.lang for r in s.list_documents()] == ["en"]


def test_document_language_json_is_compact():
    lang = DocumentLanguage("fr", 0.97123456, True)
    from app.core.export import language_to_json

    assert language_to_json(lang) == {"code": "fr", "confidence": 0.9712}
    assert language_to_json(DocumentLanguage("sr", 0.01, False))["reliable"] is False
