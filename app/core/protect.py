"""What a translation must copy, not translate: numbers, URLs, e-mail addresses, file names and paths,
code, product names, and a user's glossary (terms kept as they are, or forced to a given translation).

Two ways to carry a protected span through a model, chosen by what the model was trained for:
  * mask: the span becomes a placeholder piece (``｟1｠``) that a model trained with placeholders copies
    to the right place in its output; the placeholder is then replaced by the span (or by the glossary's
    forced translation). A placeholder the model dropped is put back at the end of the sentence and counted.
  * split: for a model that never saw placeholders (the shipped caption model copies none of them), the
    sentence is cut at the protected spans, the text between them is translated and the spans are put
    back verbatim in their places. Word order around a span cannot change, but nothing is lost or garbled.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from app.core.errors import AlbertStudioError

PLACEHOLDER = "｟{}｠"  # U+2985/U+2986: never in ordinary text, one SentencePiece symbol in trained models
PLACEHOLDER_RE = re.compile(r"｟\s*(\d+)\s*｠")
MAX_PLACEHOLDERS = 20

_FILE_EXT = ("pdf|docx?|xlsx?|pptx?|odt|ods|odp|txt|md|csv|tsv|json|jsonl|xml|html?|ya?ml|toml|ini|cfg|conf|log|"
             "py|js|ts|java|c|h|cpp|hpp|rs|go|rb|php|sh|bat|ps1|exe|msi|dmg|deb|rpm|apk|zip|gz|tgz|bz2|xz|7z|tar|"
             "png|jpe?g|gif|svg|bmp|tiff?|webp|mp3|mp4|wav|avi|mov|mkv|iso|img|dll|so|db|sqlite|onnx|bin|dat")
# Ordered: the first pattern to claim characters wins (a URL is not also a file name and three numbers).
PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("code", re.compile(r"`[^`\n]+`")),
    ("url", re.compile(r"\b(?:https?|ftp|file)://[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]]|\bwww\.[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]]",
                       re.I)),
    ("email", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    ("path", re.compile(r"(?<![\w/])(?:[A-Za-z]:\\|\\\\|~/|\.{1,2}/|/)(?:[\w.-]+[/\\])*[\w.-]*[\w-][/\\]?"
                        r"|\b(?:[\w.-]+/)+[\w.-]*[\w-]\.\w{1,5}\b")),
    ("file", re.compile(rf"(?<![\w.-])[\w-]+(?:\.[\w-]+)*\.(?:{_FILE_EXT})\b", re.I)),
    ("code", re.compile(r"\b[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*\([^()\s]*\)|\b[a-z]+(?:_[a-z0-9]+)+\b|--?[a-z][\w-]+\b|\b[a-z]+\.[a-z_]+\.[\w.]+\b")),
    ("name", re.compile(r"\b(?:[A-Z]?[a-z]+[A-Z][A-Za-z]*|[A-Z][A-Za-z]*\d+[A-Za-z\d]*(?:-\d+)?|[A-Z][A-Za-z]+-\d+[A-Za-z]*)\b")),
    ("number", re.compile(r"(?<![\w.-])[-+]?\d+(?:[.,:/-]\d+)*(?:\s?%)?(?![\w])")),
    ("name", re.compile(r"\b[A-Z]{2,6}s?\b")),
)


@dataclass(frozen=True)
class Protected:
    start: int
    end: int
    kind: str  # code, url, email, path, file, number, name, glossary
    source: str  # the text in the sentence
    output: str  # what the translation must contain in its place


@dataclass(frozen=True)
class GlossaryEntry:
    term: str
    translations: tuple[tuple[str, str], ...] = ()  # (target lang or "*", forced translation); empty: keep as is
    case_sensitive: bool = False

    def output(self, lang: str, matched: str) -> str | None:
        """The forced translation into `lang`, the matched text for a keep entry, None when the entry is
        for other languages only."""
        if not self.translations:
            return matched
        d = dict(self.translations)
        return d.get(lang, d.get("*"))


def _merged(entries: list[GlossaryEntry]) -> tuple[GlossaryEntry, ...]:
    """One entry per term: "spreadsheet = classeur" and, under [de], "spreadsheet = Tabelle" become one
    entry whose German is Tabelle; a later line for the same term and language wins."""
    by_key: dict[tuple[str, bool], GlossaryEntry] = {}
    for e in entries:
        key = (e.term if e.case_sensitive else e.term.casefold(), e.case_sensitive)
        old = by_key.get(key)
        if old is None:
            by_key[key] = e
        else:
            tr = dict(old.translations)
            tr.update(e.translations)
            by_key[key] = GlossaryEntry(old.term, tuple(tr.items()), e.case_sensitive)
    return tuple(by_key.values())


class GlossaryError(AlbertStudioError):
    """A glossary file cannot be read."""


@dataclass(frozen=True)
class Glossary:
    """Terms that are kept (do not translate) or forced to a translation, matched as whole words,
    longest first."""

    entries: tuple[GlossaryEntry, ...] = ()
    _patterns: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    def __bool__(self) -> bool:
        return bool(self.entries)

    @classmethod
    def parse(cls, text: str, source: str = "glossary") -> "Glossary":
        """Read a glossary. One entry per line; '#' starts a comment:
            LibreOffice                  keep as is (do not translate)
            spreadsheet = classeur       force this translation (every target language)
            spreadsheet<TAB>classeur     the same, tab-separated
            [de]                         entries below apply to German only ([*] for all again)
            =Apple                       '=' in front: match case-sensitively
        or a CSV file with a header naming the columns: `term,fr,de` (an empty cell keeps the term)."""
        lines = text.lstrip("\ufeff").splitlines()
        head = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), "")
        cols = [c.strip().lower() for c in head.split(",")]
        if len(cols) >= 2 and cols[0] in ("term", "source", "en") and all(re.fullmatch(r"[a-z]{2}", c) for c in cols[1:]):
            return cls._parse_csv(text, cols, source)
        entries, lang = [], "*"
        for n, raw in enumerate(lines, 1):
            line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
            if not line:
                continue
            m = re.fullmatch(r"\[(\*|[a-z]{2})\]", line)
            if m:
                lang = m.group(1)
                continue
            case = line.startswith("=")
            line = line[1:].strip() if case else line
            if "\t" in line:
                term, _, target = line.partition("\t")
            elif " = " in line:
                term, _, target = line.partition(" = ")
            else:
                term, target = line, ""
            term, target = term.strip(), target.strip()
            if not term:
                raise GlossaryError(f"{source}, line {n}: an entry needs a term before the translation")
            entries.append(GlossaryEntry(term, ((lang, target),) if target else (), case))
        return cls(_merged(entries))

    @classmethod
    def _parse_csv(cls, text: str, cols: list[str], source: str) -> "Glossary":
        entries = []
        for row in list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))[1:]:
            if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
                continue
            tr = tuple((lang, cell.strip()) for lang, cell in zip(cols[1:], row[1:]) if cell.strip())
            entries.append(GlossaryEntry(row[0].strip(), tr))
        return cls(_merged(entries))

    @classmethod
    def from_file(cls, path: str | Path) -> "Glossary":
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise GlossaryError(f"{path}: cannot read the glossary ({exc.strerror or exc})") from None
        if len(data) > 5_000_000:
            raise GlossaryError(f"{path}: a glossary of {len(data) / 1e6:.0f} MB is too large (5 MB at most)")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise GlossaryError(f"{path}: the glossary must be UTF-8 text") from None
        return cls.parse(text, str(path))

    def find(self, text: str, lang: str) -> list[Protected]:
        """Glossary matches in `text` for target `lang`, longest terms first, whole words only."""
        out: list[Protected] = []
        taken = [False] * len(text)
        for e in sorted(self.entries, key=lambda e: -len(e.term)):
            key = (e.term, e.case_sensitive)
            pat = self._patterns.get(key)
            if pat is None:
                pat = re.compile(rf"(?<!\w){re.escape(e.term)}(?!\w)", 0 if e.case_sensitive else re.I)
                self._patterns[key] = pat
            for m in pat.finditer(text):
                if any(taken[m.start():m.end()]):
                    continue
                output = e.output(lang, m.group())
                if output is None:
                    continue
                out.append(Protected(m.start(), m.end(), "glossary", m.group(), output))
                taken[m.start():m.end()] = [True] * (m.end() - m.start())
        return sorted(out, key=lambda p: p.start)


def glossary_digest(path: str | Path) -> str:
    """A short hash of a glossary file's bytes (results computed with another glossary are not reused)."""
    import hashlib

    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]
    except OSError:
        return "unreadable"


def find_protected(text: str, glossary: Glossary | None = None, lang: str = "",
                   kinds: Sequence[str] | None = None) -> list[Protected]:
    """Non-overlapping spans of `text` to copy through a translation: the glossary first, then PATTERNS
    in order. `kinds` limits the patterns (None: all)."""
    spans = glossary.find(text, lang) if glossary else []
    taken = [False] * len(text)
    for p in spans:
        taken[p.start:p.end] = [True] * (p.end - p.start)
    shouting = sum(c.isupper() for c in text) > 0.6 * max(1, sum(c.isalpha() for c in text))
    for kind, pat in PATTERNS:
        if kinds is not None and kind not in kinds:
            continue
        if shouting and kind == "name":
            continue  # an all-caps heading is words, not acronyms
        for m in pat.finditer(text):
            s, e = m.span()
            if s == e or any(taken[s:e]):
                continue
            spans.append(Protected(s, e, kind, m.group(), m.group()))
            taken[s:e] = [True] * (e - s)
    return sorted(spans, key=lambda p: p.start)


@dataclass(frozen=True)
class Segment:
    """A piece of a sentence: translated, or copied as `text`."""

    text: str
    translate: bool
    space_before: bool


def split_at(sentence: str, spans: Sequence[Protected]) -> list[Segment]:
    """The sentence as alternating text to translate and protected output to copy; text without letters
    (brackets, punctuation between two spans) is copied too."""
    out: list[Segment] = []
    pos = 0

    def add_text(a: int, b: int) -> None:
        chunk = sentence[a:b]
        stripped = chunk.strip()
        if not stripped:
            return
        space = a > 0 and chunk[:1].isspace()
        # brackets and quotes that hug a span are copied, not shown to the model: ") for" -> ")" + "for"
        lead = re.match(r"[^\w\s]+(?=\s|$)|[)\]}»”’\"',;:]+", stripped) if out else None
        if lead and lead.end() < len(stripped):
            out.append(Segment(lead.group(), False, space))
            rest = stripped[lead.end():]
            space, stripped = rest[:1].isspace(), rest.strip()
        trail = re.search(r"\s*[(\[{«“‘\"']+$", stripped) if b < len(sentence) else None
        if trail and trail.start() > 0:
            out.append(Segment(stripped[:trail.start()], any(ch.isalpha() for ch in stripped[:trail.start()]), space))
            out.append(Segment(trail.group().strip(), False, trail.group()[:1].isspace()))
            return
        out.append(Segment(stripped, any(ch.isalpha() for ch in stripped), space))

    for p in spans:
        if p.start > pos:
            add_text(pos, p.start)
        out.append(Segment(p.output, False, p.start > 0 and sentence[p.start - 1].isspace()))
        pos = p.end
    if pos < len(sentence):
        add_text(pos, len(sentence))
    return out


def fragment_text(translation: str, source: str) -> str:
    """A translated fragment of a sentence without the full stop the model adds to everything it ends."""
    if source.rstrip()[-1:] not in ".!?…" and translation.rstrip()[-1:] in ".!?":
        return translation.rstrip().rstrip(".!?").rstrip()
    return translation


def join_segments(parts: Sequence[tuple[str, bool]]) -> str:
    """Translated and copied segment texts joined with the source's spacing: (text, space_before) each."""
    out = ""
    for text, space in parts:
        if not text:
            continue
        out += (" " if out and space else "") + text
    return out


def mask(sentence: str, spans: Sequence[Protected]) -> tuple[str, list[str]]:
    """The sentence with each span replaced by a numbered placeholder, and the outputs in order
    (at most MAX_PLACEHOLDERS; later spans stay as text)."""
    parts, outputs, pos = [], [], 0
    for p in spans[:MAX_PLACEHOLDERS]:
        parts.append(sentence[pos:p.start])
        outputs.append(p.output)
        parts.append(PLACEHOLDER.format(len(outputs)))
        pos = p.end
    parts.append(sentence[pos:])
    return "".join(parts), outputs


def unmask(translation: str, outputs: Sequence[str]) -> tuple[str, int]:
    """Placeholders replaced by their outputs (each used once; a repeated or unknown placeholder is
    removed); outputs the model dropped are put back before the final punctuation. Returns the text and
    how many were put back."""
    used: set[int] = set()

    def sub(m: re.Match) -> str:
        k = int(m.group(1))
        if 1 <= k <= len(outputs) and k not in used:
            used.add(k)
            return outputs[k - 1]
        return ""

    text = PLACEHOLDER_RE.sub(sub, translation)
    text = re.sub(r"[｟｠]", "", text)
    missing = [outputs[k - 1] for k in range(1, len(outputs) + 1) if k not in used]
    if missing:
        m = re.search(r"\s*[.!?…:;]*\s*$", text)
        cut = m.start() if m else len(text)
        text = (text[:cut] + " " + " ".join(missing)).strip() + text[cut:]
    return re.sub(r"\s{2,}", " ", text).strip(), len(missing)
