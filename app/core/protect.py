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
import os
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
_KEY_MOD = r"(?:Ctrl|Control|Strg|AltGr|Alt|Shift|Umschalt|Cmd|Command|Option|Opt|Meta|Super|Win|Windows|Fn)"
_KEY = (r"(?:F(?:2[0-4]|1[0-9]|[1-9])|Tab|Enter|Return|Esc|Escape|Space|Spacebar|Delete|Del|Backspace|Home|End|"
        r"PgUp|PgDn|PageUp|PageDown|Page[ ]Up|Page[ ]Down|Insert|Ins|Up|Down|Left|Right|PrtSc|Print|Pause|"
        r"[A-Za-z0-9](?![\w])|[-+=,.;/\\`\[\]'])")
_MAC_KEY = r"(?:[⌘⌥⇧⌃]\s?\+?\s?)+(?:F\d{1,2}\b|Tab\b|Space\b|Enter\b|Return\b|Esc\b|Delete\b|[A-Za-z0-9](?![\w])|[-+=,.;/])"
_GREETING = (r"(?:Good (?:morning|afternoon|evening)|Many thanks|Thanks again|Thanks|Thank you|"
             r"(?:Best|Kind|Kindest|Warm|Warmest|With kind|With best) regards|Best wishes|All the best|Regards|"
             r"Yours (?:sincerely|truly|faithfully)|Sincerely|Cheers|Take care|Talk soon|Love|Best|"
             r"Dear|Hello|Hi|Hey|Hallo)")
_NOT_NAMES = (r"(?:Customers?|Sirs?|Madam|Colleagues?|All|Team|Friends?|Members?|Users?|Partners?|Readers?|Everyone|"
              r"Everybody|Students?|Parents?|Guests?|Valued|World|There|The|Again|Again|Mom|Dad|Folks|Guys|Support|"
              r"Sales|Management|Hiring|Neighbours?|Neighbors?|Applicants?|Subscribers?|Developers?|Staff)\b")
# A person's name after a greeting or a closing ("Hello Anna,", "Best regards, Anna", "Dear Mr Smith"):
# only the name (group "p") is copied; the greeting is translated.
_GREETING_NAME = re.compile(
    rf"(?<![\w]){_GREETING}\b[ \t]*,?[ \t]*(?:\n[ \t]*)?"
    rf"(?!{_NOT_NAMES})(?P<p>(?:(?:Mr|Mrs|Ms|Mx|Dr|Prof|Herr|Frau)\.?[ \t]+)?[A-Z][a-zà-ÿß'’-]+"
    r"(?:[ \t]+[A-Z][a-zà-ÿß'’-]+){0,2})\b(?![ \t]*[a-z(])")

# Ordered: the first pattern to claim characters wins (a URL is not also a file name and three numbers).
PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("code", re.compile(r"`[^`\n]+`")),
    ("keys", re.compile(rf"\b{_KEY_MOD}(?:[ \t]?[+-][ \t]?{_KEY_MOD})*[ \t]?[+-][ \t]?{_KEY}|{_MAC_KEY}")),
    ("person", _GREETING_NAME),
    ("version", re.compile(r"(?<![\w.-])(?:[vV]\d+(?:\.\d+)*|\d+(?:\.\d+){2,3}|\d+(?:\.\d+)+(?=-[a-z]))"
                           r"(?:-(?:alpha|beta|rc|pre|dev|post)\.?\d*)?(?:\+[0-9A-Za-z.]+)?(?!\w|\.\w)")),
    ("url", re.compile(r"\b(?:https?|ftp|file)://[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]]|\bwww\.[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]]",
                       re.I)),
    ("email", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    ("path", re.compile(r"(?<![\w/])(?:[A-Za-z]:\\|\\\\|~/|\.{1,2}/|/)(?:[\w.-]+[/\\])*[\w.-]*[\w-][/\\]?"
                        r"|\b(?:[\w.-]+/)+[\w.-]*[\w-]\.\w{1,5}\b")),
    ("file", re.compile(rf"(?<![\w.-])[\w-]+(?:\.[\w-]+)*\.(?:{_FILE_EXT})\b", re.I)),
    ("code", re.compile(r"\b[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*\([^()\s]*\)|\b[a-z]+(?:_[a-z0-9]+)+\b|(?<![\w-])--?[a-z][\w-]+\b|\b[a-z]+\.[a-z_]+\.[\w.]+\b")),
    ("name", re.compile(r"\b(?:[A-Z]?[a-z]+[A-Z][A-Za-z]*|[A-Z][A-Za-z]*\d+[A-Za-z\d]*(?:-\d+)?|[A-Z][A-Za-z]+-\d+[A-Za-z]*)\b")),
    ("number", re.compile(r"(?<![\w.-])[-+]?\d+(?:[.,:/-]\d+)*(?:\s?%)?(?![\w])")),
    ("name", re.compile(r"\b[A-Z]{2,6}s?\b")),
)


@dataclass(frozen=True)
class Protected:
    start: int
    end: int
    kind: str  # code, command, keys, person, version, url, email, path, file, number, name, glossary
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
        data = _read_glossary_bytes(path)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise GlossaryError(f"{path}: the glossary must be UTF-8 text") from None
        return cls.parse(text, str(path))

    def find(self, text: str, lang: str) -> list[Protected]:
        """Glossary matches in `text` for target `lang`, longest terms first, whole words only.

        One dictionary lookup per (place a word can start, term length that begins with that letter), not
        one regular expression per term: a glossary of 300,000 terms costs about what a short one does."""
        if not self.entries:
            return []
        index = self._patterns.get("index")
        if index is None:
            index = self._patterns["index"] = _TermIndex(self.entries)
        found = index.candidates(text)  # (start, end, entry number) for every whole-word occurrence
        found.sort(key=lambda c: (c[0] - c[1], c[2], c[0]))  # longest first; for equal lengths, file order
        out: list[Protected] = []
        taken = [False] * len(text)
        for start, end, k in found:
            if any(taken[start:end]):
                continue
            matched = text[start:end]
            output = self.entries[k].output(lang, matched)
            if output is None:
                continue
            out.append(Protected(start, end, "glossary", matched, output))
            taken[start:end] = [True] * (end - start)
        return sorted(out, key=lambda p: p.start)


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _fold(text: str) -> str:
    """Lower case, one character for one (so positions in the folded text are positions in the text)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


class _TermIndex:
    """The glossary's terms by their exact (case-sensitive entries) or folded text, and for each first
    character the term lengths that start with it, longest first."""

    def __init__(self, entries: Sequence[GlossaryEntry]):
        self.exact: dict[str, int] = {}
        self.folded: dict[str, int] = {}
        lengths: dict[tuple[bool, str], set[int]] = {}
        for k, e in enumerate(entries):
            if not e.term:
                continue
            key = e.term if e.case_sensitive else _fold(e.term)
            table = self.exact if e.case_sensitive else self.folded
            table.setdefault(key, k)  # _merged left one entry per term
            lengths.setdefault((e.case_sensitive, key[0]), set()).add(len(key))
        self.lengths = {first: sorted(ls, reverse=True) for first, ls in lengths.items()}

    def candidates(self, text: str) -> list[tuple[int, int, int]]:
        folded = _fold(text)
        n = len(text)
        out = []
        for i in range(n):
            if i and _is_word(text[i - 1]):
                continue  # (?<!\w): a term starts where no word goes on before it
            for case, source, table in ((True, text, self.exact), (False, folded, self.folded)):
                for length in self.lengths.get((case, source[i]), ()):
                    end = i + length
                    if end > n or (end < n and _is_word(text[end])):
                        continue
                    k = table.get(source[i:end])
                    if k is not None:
                        out.append((i, end, k))
        return out


MAX_GLOSSARY_BYTES = 5_000_000


def _read_glossary_bytes(path: Path) -> bytes:
    """The file's bytes, after checking it is a regular file of at most MAX_GLOSSARY_BYTES: a device
    (/dev/zero), a FIFO or a folder is refused at once, and nothing is read past the limit."""
    import stat as stat_mod

    try:
        st = os.stat(path)
    except OSError as exc:
        raise GlossaryError(f"{path}: cannot read the glossary ({exc.strerror or exc})") from None
    if not stat_mod.S_ISREG(st.st_mode):
        kind = ("a folder" if stat_mod.S_ISDIR(st.st_mode) else "a FIFO (named pipe)" if stat_mod.S_ISFIFO(st.st_mode)
                else "a device" if stat_mod.S_ISCHR(st.st_mode) or stat_mod.S_ISBLK(st.st_mode) else "not a file")
        raise GlossaryError(f"{path}: the glossary must be a regular text file, not {kind}")
    if st.st_size > MAX_GLOSSARY_BYTES:
        raise GlossaryError(f"{path}: a glossary of {st.st_size / 1e6:.0f} MB is too large (5 MB at most)")
    try:  # non-blocking: a file swapped for a FIFO after the check cannot make the open wait
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            if not stat_mod.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise GlossaryError(f"{path}: the glossary must be a regular text file")
            data = fh.read(MAX_GLOSSARY_BYTES + 1)
    except OSError as exc:
        raise GlossaryError(f"{path}: cannot read the glossary ({exc.strerror or exc})") from None
    if len(data) > MAX_GLOSSARY_BYTES:
        raise GlossaryError(f"{path}: the glossary grew past 5 MB while it was read (5 MB at most)")
    return data


def glossary_digest(path: str | Path) -> str:
    """A short hash of a glossary file's bytes (results computed with another glossary are not reused)."""
    import hashlib

    try:
        return hashlib.sha256(_read_glossary_bytes(Path(path))).hexdigest()[:12]
    except GlossaryError:
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
            s, e = m.span("p") if "p" in pat.groupindex else m.span()
            if s == e or any(taken[s:e]):
                continue
            spans.append(Protected(s, e, kind, text[s:e], text[s:e]))
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


# ---- whole lines and blocks --------------------------------------------------------------------

# a shell or command prompt line: "$ git commit", "PS C:\\> dir", "C:\\> dir", "> npm install" (a "> " line
# whose first word is a lower-case command; "> The meeting moved." is a quotation and is translated)
_COMMAND_LINE = re.compile(
    r"^[ \t]*(?:\$[ \t]+(?=[A-Za-z./~_\\-])|(?:PS[ \t]+)?[A-Za-z]:\\[^>\n]*>[ \t]*(?=\S)|PS>[ \t]*(?=\S)|"
    r">[ \t]+(?=[a-z][\w.-]*(?:[ \t]|$)))[^\n]*$", re.M)
_FENCE = re.compile(r"^[ \t]*(```|~~~)[^\n]*\n.*?(?:^[ \t]*\1[ \t]*$|\Z)", re.M | re.S)


def find_block_protected(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of whole lines and blocks of `text` to copy untranslated: command lines ("$ …",
    "> …" commands, Windows prompts) and fenced code blocks (``` or ~~~)."""
    out = [(m.start(), m.end(), "code") for m in _FENCE.finditer(text)]
    for m in _COMMAND_LINE.finditer(text):
        a = m.start() + (len(m.group()) - len(m.group().lstrip()))
        if a < m.end() and not any(s <= a < e for s, e, _ in out):
            out.append((a, m.end(), "command"))
    return sorted(out)


def merge_protected(fixed: Sequence[Protected], found: Sequence[Protected]) -> list[Protected]:
    """`fixed` spans (whole lines, monospace runs) plus those of `found` that do not overlap them, in order."""
    fixed = [p for p in fixed if p.end > p.start]
    out = list(fixed)
    for p in found:
        if not any(p.start < f.end and f.start < p.end for f in fixed):
            out.append(p)
    return sorted(out, key=lambda p: p.start)


def nothing_left(text: str, spans: Sequence[Protected]) -> bool:
    """Whether `text` has no letters outside its protected spans (nothing for a model to translate)."""
    rest = list(text)
    for p in spans:
        rest[p.start:p.end] = [" "] * (p.end - p.start)
    return not any(ch.isalpha() for ch in rest)


def copy_through(text: str, spans: Sequence[Protected]) -> str:
    """`text` with each span replaced by its output (a glossary's forced translation, else itself)."""
    out, pos = [], 0
    for p in sorted(spans, key=lambda p: p.start):
        out.append(text[pos:p.start])
        out.append(p.output)
        pos = p.end
    out.append(text[pos:])
    return "".join(out)
