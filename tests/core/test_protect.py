"""What translation must copy instead of translating: numbers, links, file names, code, product names and
glossary terms, found in real sentences and carried through the shipped model."""
from __future__ import annotations

import pytest

from app.core.errors import Cancelled
from app.core.protect import Glossary, GlossaryError, find_protected, mask, split_at, unmask
from app.core.registry import read_manifest, shipped_models_dir
from app.core.runtime import RuntimeOptions
from app.core.translate import Translator


@pytest.fixture(scope="module")
def translator() -> Translator:
    return Translator.from_manifest(read_manifest(shipped_models_dir() / "albert-mt-en-fr-de"),
                                    RuntimeOptions(device="cpu", intra_op_threads=1))


def kinds(text: str, glossary: Glossary | None = None, lang: str = "fr") -> list[tuple[str, str]]:
    return [(p.kind, p.source) for p in find_protected(text, glossary, lang)]


def test_numbers_links_files_code_and_names_are_found():
    assert kinds("Download https://example.org/setup.exe and run version 2.4.1 before 10:30.") == [
        ("url", "https://example.org/setup.exe"), ("version", "2.4.1"), ("number", "10:30")]
    assert kinds("Save it to ~/Documents/q3.xlsx, not report.pdf.") == [
        ("path", "~/Documents/q3.xlsx"), ("file", "report.pdf")]
    assert kinds("Run `pip install foo` or call os.path.join() with --verbose.") == [
        ("code", "`pip install foo`"), ("code", "os.path.join()"), ("code", "--verbose")]
    assert kinds("Revenue grew by 12% as iPhone and PowerPoint sales beat GPT-4 on the NASDAQ.") == [
        ("number", "12%"), ("name", "iPhone"), ("name", "PowerPoint"), ("name", "GPT-4"), ("name", "NASDAQ")]
    assert kinds("Write to anna@example.com or see /etc/apt/sources.list.") == [
        ("email", "anna@example.com"), ("path", "/etc/apt/sources.list")]


def test_keys_versions_names_and_hyphenated_words():
    assert kinds("Undo with Ctrl+Z, open the menu with Shift+F10, switch with Alt+Tab or save with ⌘S.") == [
        ("keys", "Ctrl+Z"), ("keys", "Shift+F10"), ("keys", "Alt+Tab"), ("keys", "⌘S")]
    assert kinds("Install v3.0 or 2.4.1-beta; it costs 3.5 euros.") == [
        ("version", "v3.0"), ("version", "2.4.1-beta"), ("number", "3.5")]
    assert kinds("Best regards, Anna") == [("person", "Anna")]
    assert kinds("Hello Anna, thank you for your quick reply.") == [("person", "Anna")]
    assert kinds("Kind regards,\nAnna Schmidt") == [("person", "Anna Schmidt")]
    assert kinds("Dear Customer, thank you.") == [] and kinds("Hi all, welcome.") == []
    # a hyphen inside a word is not a command-line option: "red-hair" and "t-shirt" go to the model whole
    assert kinds("A woman with red-hair in a long-sleeved t-shirt.") == []
    assert kinds("Run ls -la or git --version.") == [("code", "-la"), ("code", "--version")]


def test_ordinary_prose_and_shouted_headings_are_left_to_the_model():
    assert kinds("The quarterly report shows that revenue grew, e.g. in Europe. Then it fell.") == []
    assert kinds("WARNING: DO NOT OPEN THE COVER") == []


def test_glossary_formats_keep_force_and_per_language():
    g = Glossary.parse("# terms of the house\nLibreOffice\nspreadsheet = classeur\n[de]\nspreadsheet\tTabelle\n"
                       "=Apple = Pomme\n")
    fr = {p.source: p.output for p in g.find("Open the Spreadsheet in LibreOffice, not apple or Apple.", "fr")}
    assert fr == {"Spreadsheet": "classeur", "LibreOffice": "LibreOffice"}  # Apple is German-only
    de = {p.source: p.output for p in g.find("Open the spreadsheet. Apple, apple.", "de")}
    assert de == {"spreadsheet": "Tabelle", "Apple": "Pomme"}  # case-sensitive: "apple" is not the term
    csv = Glossary.parse("term,fr,de\nrevenue,chiffre d'affaires,Umsatz\nAlbert Studio,,\n")
    assert {p.output for p in csv.find("Albert Studio revenue", "de")} == {"Albert Studio", "Umsatz"}
    # longest term first, whole words only
    g2 = Glossary.parse("report\nquarterly report = rapport trimestriel\n")
    assert [(p.source, p.output) for p in g2.find("The quarterly report and reports.", "fr")] == [
        ("quarterly report", "rapport trimestriel")]
    with pytest.raises(GlossaryError, match="line 2"):
        Glossary.parse("LibreOffice\n=\n")


def test_glossary_file_errors_say_what_is_wrong(tmp_path):
    bad = tmp_path / "g.txt"
    bad.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(GlossaryError, match="UTF-8"):
        Glossary.from_file(bad)
    with pytest.raises(GlossaryError, match="cannot read"):
        Glossary.from_file(tmp_path / "missing.txt")


def test_placeholders_are_restored_and_dropped_ones_put_back():
    masked, outputs = mask("Open report.pdf at 10:30 in LibreOffice.",
                           find_protected("Open report.pdf at 10:30 in LibreOffice.", Glossary.parse("LibreOffice"), "fr"))
    assert masked == "Open ｟1｠ at ｟2｠ in ｟3｠." and outputs == ["report.pdf", "10:30", "LibreOffice"]
    assert unmask("Ouvrez ｟1｠ à ｟2｠ dans ｟3｠.", outputs) == ("Ouvrez report.pdf à 10:30 dans LibreOffice.", 0)
    # a model that drops one and repeats another: the repeat goes, the dropped one comes back at the end
    assert unmask("Ouvrez ｟1｠ ｟1｠ dans ｟3｠ !", outputs) == ("Ouvrez report.pdf dans LibreOffice 10:30 !", 1)


def test_split_keeps_spans_in_place():
    s = "See (report.pdf) for 3 cars."
    segs = split_at(s, find_protected(s))
    assert [(x.text, x.translate) for x in segs] == [("See", True), ("(", False), ("report.pdf", False), (")", False),
                                                     ("for", True), ("3", False), ("cars.", True)]


def test_shipped_model_copies_protected_spans_verbatim_and_in_order(translator):
    src = "A man downloads https://example.org/setup.exe and reads report.pdf with 12 dogs at 10:30."
    for lang in ("fr", "de"):
        out = translator.translate(src, target_lang=lang)
        items = ["https://example.org/setup.exe", "report.pdf", "12", "10:30"]
        positions = [out.text.find(x) for x in items]
        assert all(p >= 0 for p in positions), out.text
        assert positions == sorted(positions)
        assert out.protected == 4
    # without protection the caption model garbles them: the protection is what keeps them
    raw = translator.translate(src, target_lang="fr", protect=False).text
    assert "https://example.org/setup.exe" not in raw


def test_glossary_forces_and_keeps_terms_through_the_model(translator):
    g = Glossary.parse("spreadsheet = classeur\n[de]\nspreadsheet = Tabelle\n[*]\nLibreOffice\n")
    src = "Two dogs play in the snow with a spreadsheet from LibreOffice."
    fr = translator.translate(src, target_lang="fr", glossary=g).text
    de = translator.translate(src, target_lang="de", glossary=g).text
    assert "classeur" in fr and "Tabelle" not in fr and "LibreOffice" in fr and "spreadsheet" not in fr
    assert "Tabelle" in de and "classeur" not in de and "LibreOffice" in de
    assert "chiens" in fr.lower() and "hunde" in de.lower()  # the rest is still translated


def test_progress_counts_sentences_and_cancel_stops(translator):
    text = " ".join(["A man is riding a bike.", "Two girls are playing.", "A dog runs on the beach."] * 30)
    seen = []
    out = translator.translate(text, beam=1, progress=lambda done, total: seen.append((done, total)))
    assert seen[0][0] == 0 and seen[-1][0] == seen[-1][1] == 3  # repeated sentences are translated once
    assert len(out.sentences) == 90
    many = " ".join(f"A man number {i} is riding a bike in the park near the old red house." for i in range(300))
    calls = []

    def cancelled() -> bool:
        calls.append(1)
        return len(calls) > 1  # let the first batch run, then stop

    with pytest.raises(Cancelled):
        translator.translate(many, beam=1, cancelled=cancelled)
