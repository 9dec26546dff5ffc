"""The documentation corpus recipe on a tiny synthetic package tree: id alignment, Gale-Church alignment,
Qt catalogues, filters, the split by document, statistics, and fetching from a real .deb."""
from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from app.training import mt_corpus as C

LO = "usr/share/libreoffice/help/{}/text/shared/{}.html"


def page(lang: str, paragraphs: list[tuple[str, str]]) -> str:
    body = "\n".join(f'<p id="{i}" class="paragraph">{t}</p>' for i, t in paragraphs)
    return f'<html lang="{lang}"><head><title>x</title><script>var a = "<p>no</p>";</script></head><body>{body}</body></html>'


def write(root: Path, rel: str, text: str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")


def qm(messages: list[tuple[str, str]]) -> bytes:
    """A Qt .qm catalogue (magic, then a Messages block of SourceText/Translation/End records)."""
    block = b""
    for src, tr in messages:
        t = tr.encode("utf-16-be")
        s = src.encode("utf-8")
        block += b"\x03" + struct.pack(">I", len(t)) + t + b"\x06" + struct.pack(">I", len(s)) + s
        block += b"\x07" + struct.pack(">I", 4) + b"Ctxt" + b"\x01"
    return bytes.fromhex("3cb86418caef9c95cd211cbf60a1bddd") + b"\x69" + struct.pack(">I", len(block)) + block


@pytest.fixture
def tree(tmp_path):
    """LibreOffice-like pages in three packages, a DocBook-like FAQ in three, a Qt catalogue."""
    en, fr, de = tmp_path / "lo-en", tmp_path / "lo-fr", tmp_path / "lo-de"
    write(en, LO.format("en-US", "tables"), page("en", [
        ("p1", "Inserts a new table into the document."),
        ("p2", "Select the cells. Then choose Format - Cells."),
        ("p3", "LibreOffice Calc"),
        ("p4", "Only in the English page."),
        ("p5", "Click $[officename] to open it."),
        ("h1", '<span class="switchinline"><span hidden="true" class="DRAW">Grid to Front</span>'
               '<span hidden="true" class="IMPRESS">Grid to Front</span></span>'),
    ]))
    write(fr, LO.format("fr", "tables"), page("fr", [
        ("p1", "Insère un nouveau tableau dans le document."),
        ("p2", "Sélectionnez les cellules. Choisissez ensuite Format - Cellules."),
        ("p3", "LibreOffice Calc"),  # a name: identical on both sides
        ("p5", "Cliquez sur $[officename] pour l'ouvrir."),
        ("h1", '<span class="switchinline"><span hidden="true" class="DRAW">Grille au premier plan</span>'
               '<span hidden="true" class="IMPRESS">Grille au premier plan</span></span>'),
    ]))
    write(de, LO.format("de", "tables"), page("de", [
        ("p1", "Fügt eine neue Tabelle in das Dokument ein."),
        # an untranslated paragraph of the German package, in French: the language check drops it
        ("p2", "Sélectionnez les cellules du tableau puis choisissez le format des cellules dans le menu."),
    ]))
    for name in ("charts", "styles", "fields", "macros", "index"):  # more pages, so every split gets some
        write(en, LO.format("en-US", name), page("en", [("a", f"Opens the {name} dialog of the document."),
                                                        ("b", f"Use this command to edit the {name} of the page.")]))
        write(fr, LO.format("fr", name), page("fr", [("a", f"Ouvre la boîte de dialogue {name} du document."),
                                                     ("b", f"Utilisez cette commande pour modifier les {name} de la page.")]))
    faq_en, faq_fr = tmp_path / "faq-en", tmp_path / "faq-fr"
    write(faq_en, "usr/share/doc/debian/FAQ/basic.en.html",
          "<html><body><h1>What is Debian?</h1><p>Debian is a free operating system for your computer.</p>"
          "<p>It is developed by volunteers.</p><p>They work all over the world.</p>"
          "<pre>apt-get install debian-faq</pre><p>The project was founded in 1993.</p></body></html>")
    write(faq_fr, "usr/share/doc/debian/FAQ/fr/basic.fr.html",
          "<html><body><h1>Qu'est-ce que Debian ?</h1><p>Debian est un système d'exploitation libre pour votre ordinateur.</p>"
          "<p>Il est développé par des bénévoles qui travaillent dans le monde entier.</p>"
          "<pre>apt-get install debian-faq</pre><p>Le projet a été fondé en 1993.</p></body></html>")
    qt = tmp_path / "qt"
    (qt / "usr/share/qt5/translations").mkdir(parents=True)
    (qt / "usr/share/qt5/translations/qtbase_fr.qm").write_bytes(qm([
        ("&Open File", "&Ouvrir le fichier"), ("Page %1 of %2", "Page %1 sur %2"), ("OK", "OK")]))
    return {"libreoffice": {"en": en, "fr": fr, "de": de}, "debian-faq": {"en": faq_en, "fr": faq_fr},
            "qt": {"fr": qt}}


def test_extraction_alignment_filters_split_and_statistics(tree, tmp_path):
    out = tmp_path / "corpus"
    stats = C.build(tree, out, ["libreoffice", "debian-faq", "qt"])
    rows = {split: C.read_pairs(out, split, "fr") for split in ("train", "valid", "test")}
    pairs = {(en, fr) for r in rows.values() for _d, en, fr in r}
    # exact by id, multi-sentence paragraphs split into sentences, module variants read once
    assert ("Inserts a new table into the document.", "Insère un nouveau tableau dans le document.") in pairs
    assert ("Select the cells.", "Sélectionnez les cellules.") in pairs
    assert ("Then choose Format - Cells.", "Choisissez ensuite Format - Cellules.") in pairs
    assert ("Grid to Front", "Grille au premier plan") in pairs
    # Gale-Church: two English paragraphs merged into one French one are left out, the rest pairs up
    assert ("Debian is a free operating system for your computer.",
            "Debian est un système d'exploitation libre pour votre ordinateur.") in pairs
    assert ("The project was founded in 1993.", "Le projet a été fondé en 1993.") in pairs
    assert not any("volunteers" in en for en, _ in pairs)
    assert not any("apt-get" in en for en, _ in pairs)  # code blocks are not prose
    # Qt UI strings without their mnemonics
    assert ("Open File", "Ouvrir le fichier") in pairs and ("Page %1 of %2", "Page %1 sur %2") in pairs
    # filters, each counted
    assert not any(en in ("LibreOffice Calc", "OK") for en, _ in pairs)
    assert not any("officename" in en for en, _ in pairs)
    rej = stats["rejected"]["en-fr"]
    assert rej["libreoffice: identical"] == 1 and rej["libreoffice: markup residue"] == 1 and rej["qt: identical"] == 1
    de = [p for s in ("train", "valid", "test") for p in C.read_pairs(out, s, "de")]
    assert [(en, d) for _doc, en, d in de] == [("Inserts a new table into the document.",
                                                 "Fügt eine neue Tabelle in das Dokument ein.")]
    assert stats["rejected"]["en-de"]["libreoffice: language"] == 1
    # split by document: all of a page's pairs in one split, chosen by the page name
    docs_by_split = {s: {d for d, _, _ in r} for s, r in rows.items()}
    assert not (docs_by_split["train"] & (docs_by_split["valid"] | docs_by_split["test"]))
    for split, docs in docs_by_split.items():
        assert all(C.split_of(d) == split for d in docs)
    # statistics per source and split, as JSON and Markdown
    lo = stats["sources"]["libreoffice en-fr"]
    assert lo["pairs"] == sum(1 for r in rows.values() for d, _, _ in r if d.startswith("libreoffice/"))
    assert lo["words_en"] == sum(len(en.split()) for r in rows.values() for d, en, _ in r if d.startswith("libreoffice/"))
    assert (out / "stats.json").exists() and "| libreoffice en-fr |" in (out / "STATS.md").read_text()


def test_manual_pages_are_read_paragraph_by_paragraph_and_aligned(tmp_path):
    import gzip

    en_page = (".\\\" Copyright notice\n.TH GROUP 5 2022-10-30\n.SH NAME\ngroup \\- user group file\n.SH DESCRIPTION\n"
               "The\n.I /etc/group\nfile is a text file that defines the groups on the system.\n.PP\n"
               "There is one entry per line.\n.PP\n.EX\ngroup_name:password:GID:user_list\n.EE\n"
               ".SH FILES\n.BR ls (1)\nlists the \\fBfiles\\fP.\n")
    fr_page = (".TH GROUP 5 2022-10-30\n.SH NOM\ngroup \\- Fichier des groupes\n.SH DESCRIPTION\n"
               "Le fichier\n.I /etc/group\nest un fichier texte qui définit les groupes du système.\n.PP\n"
               "Il y a une entrée par ligne.\n.PP\n.EX\ngroup_name:password:GID:user_list\n.EE\n"
               ".SH FICHIERS\n.BR ls (1)\nliste les \\fBfichiers\\fP.\n.SH TRADUCTION\n"
               "La traduction française de cette page a été créée par des bénévoles.\n")
    roots = {}
    for lang, rel, text in (("en", "usr/share/man/man5/group.5.gz", en_page),
                            ("fr", "usr/share/man/fr/man5/group.5.gz", fr_page)):
        path = tmp_path / lang / rel
        path.parent.mkdir(parents=True)
        path.write_bytes(gzip.compress(text.encode("utf-8")))
        roots[lang] = tmp_path / lang
    (tmp_path / "en/usr/share/man/man5/alias.5.gz").write_bytes(gzip.compress(b".so man5/group.5\n"))
    assert C.roff_blocks(tmp_path / "en/usr/share/man/man5/alias.5.gz") == []
    assert [b.text for b in C.roff_blocks(tmp_path / "en/usr/share/man/man5/group.5.gz")] == [
        "NAME", "group - user group file", "DESCRIPTION",
        "The /etc/group file is a text file that defines the groups on the system.",
        "There is one entry per line.", "FILES", "ls(1) lists the files."]
    stats = C.build({"manpages": roots}, tmp_path / "out", ["manpages"], language_check=False)
    pairs = {(en, fr) for s in ("train", "valid", "test") for _d, en, fr in C.read_pairs(tmp_path / "out", s, "fr")}
    assert ("There is one entry per line.", "Il y a une entrée par ligne.") in pairs
    assert ("ls(1) lists the files.", "ls(1) liste les fichiers.") in pairs
    assert not any("traduction" in fr.lower() for _, fr in pairs)  # the translators' credits pair with nothing
    assert stats["sources"]["manpages en-fr"]["documents"] == 1


def test_gale_church_finds_merges_and_drops():
    en = ["A short one.", "This sentence is quite a bit longer than the first.", "And this is the second half.",
          "Final words here."]
    fr = ["Une courte.", "Cette phrase est un peu plus longue que la première et voici la seconde moitié.",
          "Derniers mots ici."]
    assert C.gale_church(en, fr, 1.1) == [([0], [0]), ([1, 2], [1]), ([3], [2])]


def test_held_back_package_is_refused(tmp_path):
    with pytest.raises(ValueError, match="held back"):
        C.fetch(["gnome-user-docs"], tmp_path)


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_fetch_records_name_version_and_hash_and_unpacks(tmp_path):
    root = tmp_path / "pkg"
    write(root, "usr/share/doc/albert-test-help/index.html", "<p>Hello</p>")
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN/control").write_text("Package: albert-test-help\nVersion: 1.2-3\nArchitecture: all\n"
                                         "Maintainer: nobody <n@example.org>\nDescription: test\n")
    debs = tmp_path / "debs"
    debs.mkdir()
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(debs / "albert-test-help_1.2-3_all.deb")],
                   check=True, capture_output=True)
    info = C.fetch(["albert-test-help"], debs)["albert-test-help"]  # already there: nothing downloaded
    assert info["package"] == "albert-test-help" and info["version"] == "1.2-3" and len(info["sha256"]) == 64
    dest = C.unpack(debs / info["deb"], tmp_path / "unpacked")
    assert (dest / "usr/share/doc/albert-test-help/index.html").read_text() == "<p>Hello</p>"
