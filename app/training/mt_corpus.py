"""Build an English-French / English-German documentation corpus from Debian's translated help packages.

    python -m app.training.mt_corpus                      # fetch, extract, align, filter, split, statistics
    python -m app.training.mt_corpus --sources libreoffice,debian-faq --out runs/mt_corpus

Every source is named by Debian package (fetched with `apt-get download`, unpacked with `dpkg-deb -x`,
nothing installed); the package names, versions and .deb hashes are written to `packages.json`, so the
corpus can be rebuilt from the same inputs. The corpus stays under runs/ (git-ignored), never in git.

Sources, and how their pages are aligned:
  * libreoffice-help-{en-us,fr,de} (MPL-2.0): every paragraph of a help page carries the same `id` in
    every language, so paragraphs pair exactly by id.
  * gimp-help-{en,fr,de} (GFDL-1.2+), debian-reference-{en,fr,de} (GPL-2+), debian-faq{,-fr,-de} (GPL-2+):
    the same DocBook source rendered per language; pages pair by file name, their text blocks are aligned
    in order with Gale & Church's length-based aligner (1993), which also tolerates a dropped or merged block.
  * manpages / manpages-fr / manpages-de (man-pages licences; translations GPL-3.0+): manual pages in roff,
    read paragraph by paragraph (examples left out), paired by section and name, aligned like DocBook pages.
  * qttranslations5-l10n (LGPL/GPL, Qt's own UI strings): `.qm` catalogues carry the English source
    string next to its translation; read directly (the binary format is small), no Qt tools needed.
Never `gnome-user-docs`: it is held back to evaluate the resulting model independently.

Paragraph pairs with the same number of sentences on both sides are split into sentence pairs when
the aligner maps them one to one (the app translates sentence by sentence); others stay whole when short.
Filters (each rejection counted by reason): empty or no letters, too long, identical source and target
(untranslated pages), length ratio, markup residue, and a language check with py3langid.
Split by document (a help page, a chapter, a catalogue), never by line: a page's sentences all land in
train, validation or test, chosen by a hash of the page's name; validation/test pairs whose English also
occurs in train are dropped.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import re
import struct
import subprocess
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from app.training.common import RUNS_DIR, get_logger

OUT = RUNS_DIR / "mt_corpus"
TARGETS = ("fr", "de")
FORBIDDEN = ("gnome-user-docs",)  # held back for independent evaluation
BLOCK_TAGS = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "td", "th", "dt", "dd", "caption", "title")
SKIP_TAGS = ("pre", "script", "style", "noscript", "head")  # inline code stays: it is part of the sentence
MAX_WORDS = 80
VAL_SHARE, TEST_SHARE = 0.03, 0.03


@dataclass(frozen=True)
class Source:
    """One documentation set: a package per language and where its pages lie inside the package."""

    name: str
    packages: dict[str, str]  # lang -> Debian package
    pages: dict[str, str]  # lang -> glob of pages relative to the unpacked package root
    align: str  # "id" | "order" | "qm"
    licence: str
    key: Callable[[str, str], str] = field(default=lambda rel, lang: rel, compare=False)  # page name shared by languages
    reader: str = "html"  # html | roff (manual pages)


def _strip_lang(rel: str, lang: str) -> str:
    """'fr/basic-defs.fr.html' and 'basic-defs.en.html' -> 'basic-defs.html'."""
    name = Path(rel).name
    return re.sub(rf"\.{lang}\.html$", ".html", name)


SOURCES: dict[str, Source] = {
    "libreoffice": Source(
        "libreoffice",
        {"en": "libreoffice-help-en-us", "fr": "libreoffice-help-fr", "de": "libreoffice-help-de"},
        {"en": "usr/share/libreoffice/help/en-US/text/**/*.html", "fr": "usr/share/libreoffice/help/fr/text/**/*.html",
         "de": "usr/share/libreoffice/help/de/text/**/*.html"},
        "id", "MPL-2.0",
        key=lambda rel, lang: rel.split("/text/", 1)[1],
    ),
    "gimp-help": Source(
        "gimp-help",
        {"en": "gimp-help-en", "fr": "gimp-help-fr", "de": "gimp-help-de"},
        {lang: f"usr/share/gimp/2.0/help/{lang}/*.html" for lang in ("en", "fr", "de")},
        "order", "GFDL-1.2-or-later",
        key=lambda rel, lang: Path(rel).name,
    ),
    "debian-reference": Source(
        "debian-reference",
        {"en": "debian-reference-en", "fr": "debian-reference-fr", "de": "debian-reference-de"},
        {lang: f"usr/share/debian-reference/*.{lang}.html" for lang in ("en", "fr", "de")},
        "order", "GPL-2.0-or-later", key=_strip_lang,
    ),
    "debian-faq": Source(
        "debian-faq",
        {"en": "debian-faq", "fr": "debian-faq-fr", "de": "debian-faq-de"},
        {"en": "usr/share/doc/debian/FAQ/*.en.html", "fr": "usr/share/doc/debian/FAQ/fr/*.fr.html",
         "de": "usr/share/doc/debian/FAQ/de/*.de.html"},
        "order", "GPL-2.0-or-later", key=_strip_lang,
    ),
    "manpages": Source(
        "manpages",
        {"en": "manpages", "fr": "manpages-fr", "de": "manpages-de"},
        {"en": "usr/share/man/man*/*.gz", "fr": "usr/share/man/fr/man*/*.gz", "de": "usr/share/man/de/man*/*.gz"},
        "order", "Linux man-pages licences (VERBATIM, GPL, BSD); translations GPL-3.0-or-later",
        key=lambda rel, lang: re.sub(r"^usr/share/man/(?:[a-z]{2}/)?", "", rel), reader="roff",
    ),
    "qt": Source(
        "qt",
        {"fr": "qttranslations5-l10n", "de": "qttranslations5-l10n"},
        {"fr": "usr/share/qt5/translations/*_fr.qm", "de": "usr/share/qt5/translations/*_de.qm"},
        "qm", "LGPL-3.0 / GPL-2.0 / GPL-3.0 (Qt)",
        key=lambda rel, lang: Path(rel).name.rsplit("_", 1)[0],
    ),
}
DEFAULT_SOURCES = ("libreoffice", "gimp-help", "debian-reference", "debian-faq", "manpages", "qt")


# ---- fetching ---------------------------------------------------------------------------------

def fetch(packages: Iterable[str], debs: Path, log=None) -> dict[str, dict]:
    """Download each package's .deb into `debs` (kept if already there); name -> {version, deb, sha256}."""
    debs.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in sorted(set(packages)):
        if any(name.startswith(f) for f in FORBIDDEN):
            raise ValueError(f"{name} is held back for independent evaluation and must not be used")
        found = sorted(debs.glob(f"{name}_*.deb"))
        if not found:
            if log:
                log.info(f"apt-get download {name}")
            subprocess.run(["apt-get", "download", name], cwd=debs, check=True, capture_output=True)
            found = sorted(debs.glob(f"{name}_*.deb"))
        deb = found[-1]
        fields = subprocess.run(["dpkg-deb", "-f", str(deb), "Package", "Version"], check=True,
                                capture_output=True, text=True).stdout
        info = dict(line.split(": ", 1) for line in fields.strip().splitlines())
        out[name] = {"package": info["Package"], "version": info["Version"], "deb": deb.name,
                     "sha256": hashlib.sha256(deb.read_bytes()).hexdigest()}
    return out


def unpack(deb: Path, dest: Path) -> Path:
    """`dpkg-deb -x` into dest (once)."""
    done = dest / ".unpacked"
    if not done.exists():
        dest.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], check=True)
        done.write_text(deb.name)
    return dest


# ---- reading pages ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Block:
    id: str | None
    text: str


def clean_text(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\u00a0", " ").replace("\u200b", "")
    return re.sub(r"\s+", " ", text).strip()


def html_blocks(path: Path) -> list[Block]:
    """Innermost text blocks of a help page (paragraphs, headings, list items, cells), code left out."""
    import lxml.html

    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    try:
        raw.decode("utf-8")
        parser = lxml.html.HTMLParser(encoding="utf-8")  # a page without a charset declaration is not Latin-1
    except UnicodeDecodeError:
        parser = None
    try:
        root = lxml.html.fromstring(raw, parser=parser)
    except Exception:
        return []
    for bad in list(root.iter(*SKIP_TAGS)):
        if bad.getparent() is not None:
            bad.drop_tree()
    for switch in root.xpath('//*[contains(@class, "switch")]'):
        # LibreOffice's module variants ("in Draw: ...", "in Impress: ...") sit side by side as hidden
        # spans; keep the first, or a paragraph reads twice
        cases = [c for c in switch if c.get("hidden") is not None or "case" in (c.get("class") or "")]
        for extra in cases[1:]:
            extra.drop_tree()
    out = []
    for el in root.iter(*BLOCK_TAGS):
        if any(True for _ in el.iterdescendants(*BLOCK_TAGS)):
            continue  # an outer block: its inner ones are read instead
        text = clean_text(el.text_content())
        if text:
            out.append(Block(el.get("id"), text))
    return out


_ROFF_ESCAPES = [
    (re.compile(r"\\f(?:\[[^\]]*\]|\(..|.)"), ""),  # font changes
    (re.compile(r"\\s[+-]?\d+"), ""),  # size changes
    (re.compile(r"\\\*(?:\[[^\]]*\]|\(..|.)"), ""),  # predefined strings
    (re.compile(r"\\\(em|\\\[em\]"), "—"), (re.compile(r"\\\(en|\\\[en\]"), "–"),
    (re.compile(r"\\\(aq|\\\[aq\]"), "'"), (re.compile(r"\\\(dq|\\\[dq\]"), '"'),
    (re.compile(r"\\\(bu|\\\[bu\]"), "•"), (re.compile(r"\\\(lq|\\\(rq|\\\[lq\]|\\\[rq\]"), '"'),
    (re.compile(r"\\\((..)|\\\[[^\]]*\]"), ""),  # other special characters
    (re.compile(r"\\-"), "-"), (re.compile(r"\\[~ 0]"), " "), (re.compile(r"\\[&c|^%]"), ""),
    (re.compile(r"\\e"), lambda m: "\\"),
]
_CREDITS = {"TRADUCTION", "ÜBERSETZUNG", "TRANSLATION"}
_ROFF_BREAK = {"SH", "SS", "PP", "P", "LP", "TP", "TQ", "IP", "HP", "sp", "br", "RS", "RE", "TH", "in", "ne", "PD",
               "SY", "YS", "UR", "UE", "MT", "ME"}


def roff_inline(text: str) -> str:
    for pat, rep in _ROFF_ESCAPES:
        text = pat.sub(rep, text)
    return text


def _roff_args(arg: str) -> list[str]:
    return [a[1:-1] if len(a) >= 2 and a[0] == a[-1] == '"' else a for a in re.findall(r'"[^"]*"|\S+', arg)]


def roff_blocks(path: Path) -> list[Block]:
    """Paragraphs and headings of a manual page (man macros), examples (.nf/.EX) left out."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except OSError:
            return []
    text = raw.decode("utf-8", "replace")
    blocks: list[Block] = []
    cur: list[str] = []
    nofill = False

    def flush() -> None:
        t = clean_text(" ".join(cur))
        if t:
            blocks.append(Block(None, t))
        cur.clear()

    for line in text.splitlines():
        if line.startswith(('.\\"', "'\\\"", '\\"', ".\\#")):
            continue
        if line[:1] in ".'":
            parts = line[1:].strip().split(None, 1)
            macro, arg = (parts[0], parts[1] if len(parts) > 1 else "") if parts else ("", "")
            if macro == "so":
                return []  # an alias of another page
            if macro in ("nf", "EX"):
                flush()
                nofill = True
            elif macro in ("fi", "EE"):
                flush()
                nofill = False
            elif macro in _ROFF_BREAK:
                flush()
                if macro == "SH" and _roff_args(arg)[:1] and _roff_args(arg)[0].upper() in _CREDITS:
                    break  # manpages-l10n appends its translators' credits: nothing in English pairs with them
                if macro in ("SH", "SS") and arg:
                    blocks.append(Block(None, clean_text(roff_inline(" ".join(_roff_args(arg))))))
            elif macro in ("B", "I", "SM", "SB") and not nofill:
                cur.append(roff_inline(" ".join(_roff_args(arg))))
            elif macro in ("BR", "BI", "IB", "IR", "RB", "RI") and not nofill:
                cur.append("".join(roff_inline(a) for a in _roff_args(arg)))
            continue  # other requests carry no prose
        if not nofill:
            cur.append(roff_inline(line))
    flush()
    return blocks


def qm_messages(path: Path) -> list[tuple[str, str]]:
    """(English source, translation) pairs of a Qt .qm catalogue (Qt's documented binary layout)."""
    data = path.read_bytes()
    magic = bytes.fromhex("3cb86418caef9c95cd211cbf60a1bddd")
    if not data.startswith(magic):
        return []
    pos, messages = 16, b""
    while pos + 5 <= len(data):
        tag, length = data[pos], struct.unpack(">I", data[pos + 1:pos + 5])[0]
        if tag == 0x69:  # Messages
            messages = data[pos + 5:pos + 5 + length]
        pos += 5 + length
    out, i, src, tr = [], 0, None, None
    while i < len(messages):
        tag = messages[i]
        i += 1
        if tag == 1:  # End
            if src and tr:
                out.append((src, tr))
            src, tr = None, None
        elif tag == 3:  # Translation, UTF-16BE; 0xffffffff = null
            n = struct.unpack(">I", messages[i:i + 4])[0]
            i += 4
            if n != 0xFFFFFFFF:
                tr = messages[i:i + n].decode("utf-16-be", "replace")
                i += n
        elif tag in (6, 7, 8):  # SourceText, Context, Comment (8-bit, UTF-8 in practice)
            n = struct.unpack(">I", messages[i:i + 4])[0]
            s = messages[i + 4:i + 4 + n].decode("utf-8", "replace").rstrip("\x00")
            i += 4 + n
            if tag == 6:
                src = s
        elif tag == 5:  # obsolete hash
            i += 4
        elif tag == 4:  # obsolete source text (UTF-16)
            n = struct.unpack(">I", messages[i:i + 4])[0]
            i += 4 + n
        elif tag in (2, 9):  # obsolete 2, Obsolete2
            i += 0 if tag == 2 else 4
        else:
            break  # unknown tag: stop rather than misread
    return out


_MNEMONIC = re.compile(r"&(?=\w)")
_QT_ARGS = re.compile(r"%(\d|n|L\d)")


def ui_string(text: str) -> str:
    """A Qt UI string as prose: no '&' mnemonics, no '(&F)' accelerators, HTML tags removed."""
    text = re.sub(r"\(&\w\)", "", text)
    text = _MNEMONIC.sub("", text).replace("&&", "&")
    text = re.sub(r"<[^>]+>", " ", text)
    return clean_text(text)


# ---- alignment --------------------------------------------------------------------------------

_BEADS = {(1, 1): 0.89, (1, 0): 0.0099 / 2, (0, 1): 0.0099 / 2, (2, 1): 0.089 / 2, (1, 2): 0.089 / 2,
          (2, 2): 0.011}


def _norm_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def _bead_cost(l1: int, l2: int, bead: tuple[int, int], c: float = 1.0, s2: float = 6.8) -> float:
    if l1 == 0 and l2 == 0:
        delta = 0.0
    else:
        mean = (l1 + l2 / c) / 2
        delta = (l2 - l1 * c) / math.sqrt(max(mean, 1.0) * s2)
    p = max(2 * _norm_sf(abs(delta)), 1e-300)
    return -math.log(_BEADS[bead]) - math.log(p)


def gale_church(src: Sequence[str], tgt: Sequence[str], ratio: float = 1.0) -> list[tuple[list[int], list[int]]]:
    """Gale & Church (1993) length-based alignment: the cheapest sequence of 1-1, 1-0, 0-1, 2-1, 1-2, 2-2
    beads by character lengths; returns (source indices, target indices) per bead. `ratio` is the expected
    target/source length ratio (French and German run ~1.15x English)."""
    n, m = len(src), len(tgt)
    ls, lt = [len(s) for s in src], [len(t) for t in tgt]
    inf = float("inf")
    cost = [[inf] * (m + 1) for _ in range(n + 1)]
    back: list[list[tuple[int, int] | None]] = [[None] * (m + 1) for _ in range(n + 1)]
    cost[0][0] = 0.0
    for i in range(n + 1):
        for j in range(m + 1):
            if i == 0 and j == 0:
                continue
            best, arg = inf, None
            for (di, dj) in _BEADS:
                if di > i or dj > j:
                    continue
                prev = cost[i - di][j - dj]
                if prev == inf:
                    continue
                c = prev + _bead_cost(sum(ls[i - di:i]), sum(lt[j - dj:j]), (di, dj), ratio)
                if c < best:
                    best, arg = c, (di, dj)
            cost[i][j], back[i][j] = best, arg
    beads = []
    i, j = n, m
    while i > 0 or j > 0:
        di, dj = back[i][j]
        beads.append((list(range(i - di, i)), list(range(j - dj, j))))
        i, j = i - di, j - dj
    return beads[::-1]


def sentence_pairs(en: str, other: str) -> list[tuple[str, str]]:
    """A paragraph pair as sentence pairs where the aligner maps every sentence one to one, else whole."""
    from app.core.segment import split_sentences

    a = [s.text for s in split_sentences(en)]
    b = [s.text for s in split_sentences(other)]
    if len(a) > 1 and len(a) == len(b):
        beads = gale_church(a, b, 1.15)
        if all(len(x) == 1 and len(y) == 1 for x, y in beads):
            return [(a[x[0]], b[y[0]]) for x, y in beads]
    return [(en, other)]


# ---- filters ----------------------------------------------------------------------------------

_MARKUP = re.compile(r"<[A-Za-z/!][^>]*>|&[a-z]+;|&#\d+;|\$\[\w+\]|%[A-Z]{4,}|\{\{|\}\}|\\f[BIR]")
_LETTER = re.compile(r"[^\W\d_]")
_LANG_SET = ["en", "fr", "de", "es", "it", "nl", "pt"]


class LanguageCheck:
    """The app's language detector over a few European languages; a side fails when it is confidently
    another language (an untranslated paragraph in a French page, an English page in a German package)."""

    def __init__(self):
        from app.core.language import LanguageDetector

        self.detector = LanguageDetector(_LANG_SET)

    def wrong(self, text: str, lang: str) -> bool:
        g = self.detector.detect(text)
        return g.words >= 4 and g.lang != lang and g.probability > 0.95


def reject_reason(en: str, other: str, lang: str, check: LanguageCheck | None) -> str | None:
    """Why a pair is not kept (None: kept)."""
    if not _LETTER.search(en) or not _LETTER.search(other):
        return "no letters"
    if len(en.split()) > MAX_WORDS or len(other.split()) > MAX_WORDS * 1.5:
        return "too long"
    if en.casefold() == other.casefold():
        return "identical"
    a, b = len(en), len(other)
    if max(a, b) >= 12 and not 0.4 <= b / a <= 2.5:
        return "length ratio"
    if _MARKUP.search(en) or _MARKUP.search(other):
        return "markup residue"
    if check is not None and (check.wrong(other, lang) or check.wrong(en, "en")):
        return "language"
    return None


# ---- building ---------------------------------------------------------------------------------

def split_of(doc: str) -> str:
    """train / valid / test by a hash of the document's name (stable across runs and machines)."""
    h = int(hashlib.sha1(doc.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if h < TEST_SHARE else "valid" if h < TEST_SHARE + VAL_SHARE else "train"


def _pages(root: Path, pattern: str) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in sorted(root.glob(pattern)) if p.is_file()}


def document_pairs(source: Source, roots: dict[str, Path], lang: str) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """(document name, [(English, target) candidate pairs]) for every page both languages have."""
    if source.align == "qm":
        for rel, path in _pages(roots[lang], source.pages[lang]).items():
            doc = f"{source.name}/{source.key(rel, lang)}"
            pairs = [(ui_string(s), ui_string(t)) for s, t in qm_messages(path)]
            yield doc, [(s, t) for s, t in pairs if s and t]
        return
    en_pages = {source.key(r, "en"): p for r, p in _pages(roots["en"], source.pages["en"]).items()}
    other_pages = {source.key(r, lang): p for r, p in _pages(roots[lang], source.pages[lang]).items()}
    read = roff_blocks if source.reader == "roff" else html_blocks
    for key in sorted(set(en_pages) & set(other_pages)):
        a, b = read(en_pages[key]), read(other_pages[key])
        pairs: list[tuple[str, str]] = []
        if source.align == "id":
            ids = {}
            for blk in b:
                if blk.id and blk.id not in ids:
                    ids[blk.id] = blk.text
            seen = set()
            for blk in a:
                if blk.id and blk.id in ids and blk.id not in seen:
                    seen.add(blk.id)
                    pairs += sentence_pairs(blk.text, ids[blk.id])
        else:
            ta, tb = [x.text for x in a], [x.text for x in b]
            if len(ta) * len(tb) > 4_000_000:
                continue  # a pathological page; the DP would take minutes
            for xs, ys in gale_church(ta, tb, 1.15):
                if len(xs) == 1 and len(ys) == 1:
                    pairs += sentence_pairs(ta[xs[0]], tb[ys[0]])
        yield f"{source.name}/{key}", pairs


def build(roots: dict[str, dict[str, Path]], out: Path, sources: Sequence[str] = DEFAULT_SOURCES,
          language_check: bool = True, log=None) -> dict:
    """Align, filter, split and write the corpus; `roots[source][lang]` is the unpacked package root.
    Returns the statistics (also written to out/stats.json and out/STATS.md)."""
    out.mkdir(parents=True, exist_ok=True)
    check = LanguageCheck() if language_check else None
    stats: dict = {"sources": {}, "splits": {}, "rejected": {}}
    for lang in TARGETS:
        rows: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        rejected: Counter = Counter()
        seen_pairs: set[tuple[str, str]] = set()
        for name in sources:
            src = SOURCES[name]
            if lang not in src.packages or name not in roots:
                continue
            r = roots[name]
            if any(lg not in r for lg in ({lang} if src.align == "qm" else {"en", lang})):
                continue
            n_pairs = n_docs = w_en = w_tgt = 0
            for doc, pairs in document_pairs(src, r, lang):
                split = split_of(doc)
                kept = 0
                for en, other in pairs:
                    why = reject_reason(en, other, lang, check)
                    if why is None and (en, other) in seen_pairs:
                        why = "duplicate"
                    if why:
                        rejected[f"{name}: {why}"] += 1
                        continue
                    seen_pairs.add((en, other))
                    rows[split].append((doc, en, other))
                    kept += 1
                    w_en += len(en.split())
                    w_tgt += len(other.split())
                n_pairs += kept
                n_docs += 1 if kept else 0
            stats["sources"][f"{name} en-{lang}"] = {"documents": n_docs, "pairs": n_pairs, "words_en": w_en,
                                                     f"words_{lang}": w_tgt, "licence": src.licence}
            if log:
                log.info(f"{name} en-{lang}: {n_pairs:,} pairs from {n_docs:,} documents, {w_en:,} English words")
        train_en = {en for _, en, _ in rows["train"]}
        for split in ("valid", "test"):
            before = len(rows[split])
            rows[split] = [r for r in rows[split] if r[1] not in train_en]
            rejected[f"{split}: English also in train"] += before - len(rows[split])
        for split in ("train", "valid", "test"):
            path = out / f"{split}.en-{lang}.tsv"
            with open(path, "w", encoding="utf-8") as f:
                for doc, en, other in rows[split]:
                    f.write(f"{doc}\t{en}\t{other}\n")
            stats["splits"][f"{split} en-{lang}"] = {
                "pairs": len(rows[split]), "documents": len({d for d, _, _ in rows[split]}),
                "words_en": sum(len(e.split()) for _, e, _ in rows[split]),
                f"words_{lang}": sum(len(o.split()) for _, _, o in rows[split])}
        stats["rejected"][f"en-{lang}"] = dict(sorted(rejected.items()))
    (out / "stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False), encoding="utf-8")
    (out / "STATS.md").write_text(stats_markdown(stats), encoding="utf-8")
    return stats


def read_pairs(folder: Path, split: str, lang: str) -> list[tuple[str, str, str]]:
    """(document, English, target) rows of one split of a built corpus."""
    path = Path(folder) / f"{split}.en-{lang}.tsv"
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            rows.append((parts[0], parts[1], parts[2]))
    return rows


def stats_markdown(stats: dict) -> str:
    lines = ["| source | pairs | documents | English words | target words | licence |", "|---|---|---|---|---|---|"]
    for k, v in stats["sources"].items():
        tw = next(val for key, val in v.items() if key.startswith("words_") and key != "words_en")
        lines.append(f"| {k} | {v['pairs']:,} | {v['documents']:,} | {v['words_en']:,} | {tw:,} | {v['licence']} |")
    lines += ["", "| split | pairs | documents | English words | target words |", "|---|---|---|---|---|"]
    for k, v in stats["splits"].items():
        tw = next(val for key, val in v.items() if key.startswith("words_") and key != "words_en")
        lines.append(f"| {k} | {v['pairs']:,} | {v['documents']:,} | {v['words_en']:,} | {tw:,} |")
    lines += ["", "Rejected pairs by reason:", ""]
    for pair, reasons in stats.get("rejected", {}).items():
        lines.append(f"- {pair}: " + ", ".join(f"{k} {v:,}" for k, v in reasons.items()))
    if stats.get("packages"):
        lines += ["", "| package | version | sha256 (first 12) |", "|---|---|---|"]
        for p in stats["packages"].values():
            lines.append(f"| {p['package']} | {p['version']} | {p['sha256'][:12]} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sources", default=",".join(DEFAULT_SOURCES), help=f"comma-separated: {', '.join(SOURCES)}")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--no-language-check", action="store_true")
    args = p.parse_args(argv)
    names = [s.strip() for s in args.sources.split(",") if s.strip()]
    for n in names:
        if n not in SOURCES:
            p.error(f"unknown source {n}; choose from {', '.join(SOURCES)}")
    log = get_logger("mt_corpus", args.out / "build.log")
    packages = fetch({pkg for n in names for pkg in SOURCES[n].packages.values()}, args.out / "debs", log)
    roots: dict[str, dict[str, Path]] = {}
    for n in names:
        roots[n] = {lang: unpack(args.out / "debs" / packages[pkg]["deb"], args.out / "unpacked" / pkg)
                    for lang, pkg in SOURCES[n].packages.items()}
    (args.out / "packages.json").write_text(json.dumps(packages, indent=2), encoding="utf-8")
    stats = build(roots, args.out, names, not args.no_language_check, log)
    stats["packages"] = packages
    (args.out / "stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False), encoding="utf-8")
    (args.out / "STATS.md").write_text(stats_markdown(stats), encoding="utf-8")
    print(stats_markdown(stats))


if __name__ == "__main__":
    main()
