"""Split text into paragraphs and sentences with character spans into the original text.

Rule-based and pure Python: a sentence ends at . ! ? … (or 。！？ in CJK text) followed by space and a
plausible sentence start, unless the period belongs to an abbreviation, an initial, a number, a URL or an
email. Blank lines always end a sentence; a single line break does not, except before a list item or
around a Markdown heading.
"""
from __future__ import annotations

import re

from app.core.types import Document, Sentence

_BLANK_LINES = re.compile(r"\n(?:[^\S\n]*\n)+")
_CJK_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f"
_CLOSERS = "\"'”’»›)\\]}」』）】〉》〕〗〙*_"
# Terminal punctuation, closing quotes/brackets after it, and then space, the end, or CJK text;
# CJK full stops need nothing after them. Periods inside numbers, URLs and "e.g" never match.
_TERMINATOR = re.compile(
    r"(?P<punct>[.!?…‽‼⁇⁈⁉؟।॥。！？｡．]+)"
    rf"(?:(?<=[。！？｡．])[{_CLOSERS}]*|[{_CLOSERS}]*(?=\s|$|[{_CJK_CHARS}]))"
)
_QUESTION_OR_BANG = frozenset("!?‽‼⁇⁈⁉؟")
_CJK_TERMINATORS = frozenset("。！？｡．")
_OPENERS = "\"'“‘«‹([{¿¡「『（【〈《*_"
_WORD = re.compile(r"[\w][\w'’\-]*")
_INITIAL_AHEAD = re.compile(r"[A-Z]\.(?:\s|$)")
_DOTTED_ACRONYM = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")
_LIST_LINE = re.compile(r"^[ \t]*(?:[-*+•·‣◦▪●]|\d{1,3}[.)]|\(\d{1,3}\))[ \t]+\S", re.M)
_HEADING_LINE = re.compile(r"^[ \t]*#{1,6}[ \t]+\S.*$", re.M)
_LINE_MARKER = re.compile(r"(?:#{1,6}|[-*+•·‣◦▪●]|\d{1,3}[.)]|\(\d{1,3}\))[ \t]+(?=\S)")
_MARKUP_ONLY = re.compile(r"[\s\-*_=#~`|+.:•·–—]*")

# Abbreviations that come before something (a name, a date, a number): never the end of a sentence.
# Matched case-sensitively so "She sat. Then..." is not mistaken for "Sat." (Saturday).
_TITLES = frozenset(
    "Mr Mrs Ms Mx Dr Prof St Mt Ft Gen Gov Sen Rep Rev Hon Pres Capt Cmdr Col Lt Maj Sgt Cpl Adm Fr "
    "Messrs Mme Mlle Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec Mon Tue Tues Wed Thu Thur Thurs "
    "Fri Sat Sun Ave Blvd Rd Hwy Dept Univ Assn".split()
)
_LOWER_ABBREVIATIONS = frozenset(
    "e.g i.e cf viz vs approx appx ca incl excl esp resp govt intl misc tel ref dept univ".split()
)
# Abbreviations only when a number follows: "No. 5", "p. 12", "Fig. 3".
_NUMBERED = frozenset("no nos nr p pp fig figs vol vols art sec ch chap op eq eqs tab para ex".split())
# Abbreviations that often do end a sentence: a break when a capitalised word follows.
_MAYBE_FINAL = frozenset("etc inc ltd co corp llc plc jr sr esq bros al".split())
# Words that start sentences; after "U.S." or an initial only these make a break ("the U.S. Army").
_STARTERS = frozenset(
    "the a an he she it they we i you this that these those there here his her its their our my your "
    "but and or so yet however then when while if as in on at after before since although though also "
    "still both each every some many most one no not what why how where who which all today now".split()
)
# Short lowercase words that are never abbreviations: "i love it. would buy again" is two sentences.
_SHORT_WORDS = frozenset(
    "it me us him her them too now out off up day all bad fun yes ok one way buy use got job car".split()
)


def split_paragraphs(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of the paragraphs of `text`: blocks separated by blank lines, whitespace trimmed."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for gap in _BLANK_LINES.finditer(text):
        _add_trimmed(text, pos, gap.start(), spans)
        pos = gap.end()
    _add_trimmed(text, pos, len(text), spans)
    return spans


def _add_trimmed(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        spans.append((start, end))


def split_sentences(text: str) -> list[Sentence]:
    """Sentences of `text` with spans into it (text[s.start:s.end] == s.text) and their paragraph index."""
    sentences: list[Sentence] = []
    for index, (start, end) in enumerate(split_paragraphs(text)):
        cuts = _line_cuts(text, start, end) | _punctuation_cuts(text, start, end)
        previous = start
        for cut in sorted(cuts):
            _emit(text, previous, cut, index, sentences)
            previous = cut
        _emit(text, previous, end, index, sentences)
    return sentences


def sentences_of(document: Document) -> list[Sentence]:
    """The sentences of a document's text."""
    return split_sentences(document.text)


def _emit(text: str, start: int, end: int, paragraph: int, out: list[Sentence]) -> None:
    piece = text[start:end]
    stripped = piece.strip()
    if not stripped:
        return
    start += len(piece) - len(piece.lstrip())
    end = start + len(stripped)
    before = text[start - 1] if start else "\n"
    if before == "\n" or (before in " \t" and not text[text.rfind("\n", 0, start) + 1:start].strip()):
        marker = _LINE_MARKER.match(text, start, end)
        if marker:
            start = marker.end()
            stripped = text[start:end]
    if _MARKUP_ONLY.fullmatch(stripped):
        return  # "---", "* * *" and the like
    out.append(Sentence(stripped, start, end, paragraph))


def _line_cuts(text: str, start: int, end: int) -> set[int]:
    """Breaks that come from layout: before list items, around Markdown headings."""
    if text.find("\n", start, end) < 0:
        return set()
    cuts = {m.start() for m in _LIST_LINE.finditer(text, start, end) if m.start() > start}
    for heading in _HEADING_LINE.finditer(text, start, end):
        if heading.start() > start and text[heading.start() - 1] == "\n":
            cuts.add(heading.start())
        if heading.end() < end:
            cuts.add(heading.end())
    return cuts


def _punctuation_cuts(text: str, start: int, end: int) -> set[int]:
    cuts: set[int] = set()
    for match in _TERMINATOR.finditer(text, start, end):
        cut = match.end()
        if cut >= end:
            break
        if _ends_sentence(text, match, start, end):
            cuts.add(cut)
    return cuts


def _ends_sentence(text: str, match: re.Match, start: int, end: int) -> bool:
    run_end = match.end("punct")
    punct = text[match.start():run_end]
    closed = match.end() > run_end
    after = match.end()
    following = text[after]
    if punct[-1] in _CJK_TERMINATORS:
        if closed and following in "とっ":
            return False  # a quotation inside the sentence: 「いいね。」と言った。
        # ...except a full-width point between digits, which is a decimal point: "３．５"
        return not (punct == "．" and following.isdigit() and text[match.start() - 1:match.start()].isdigit())
    if not following.isspace():
        # Western punctuation glued to CJK text: only "!" and "?" end a sentence there.
        return not _QUESTION_OR_BANG.isdisjoint(punct)
    j = after
    while j < end and text[j].isspace():
        j += 1
    if j >= end:
        return True
    k = j
    while k < end and text[k] in _OPENERS:
        k += 1
    word_match = _WORD.match(text, k, end)
    word = word_match.group() if word_match else ""
    first = text[k] if k < end else text[j]
    lower_next = first.islower()

    if not _QUESTION_OR_BANG.isdisjoint(punct):
        # "Wow! great" breaks; 'He yelled "Stop!" and left' does not.
        return not (closed and lower_next)
    if "…" in punct or ".." in punct:
        return not lower_next
    if closed:
        return not lower_next

    # A single period: look at the word it ends.
    period = match.start()
    low = max(start, period - 64)
    token_start = max(text.rfind(" ", low, period), text.rfind("\n", low, period),
                      text.rfind("\t", low, period), low - 1) + 1
    token = text[token_start:period].lstrip(_OPENERS)
    if not token:
        return not lower_next
    lowered = token.lower()

    if token.isdigit():
        line_start = max(text.rfind("\n", start, token_start) + 1, start)
        if len(token) <= 3 and not text[line_start:token_start].strip():
            return False  # "1. First item" at the start of a line
        return not lower_next
    if token in _TITLES or (token.isupper() and token.title() in _TITLES):
        return False
    if lowered in _LOWER_ABBREVIATIONS:
        return False
    if lowered in _NUMBERED and first.isdigit():
        return False
    if len(token) == 1 and token.isalpha() and token.isupper():
        # An initial ("J. K. Rowling"), unless a typical sentence opener follows: "Plan B. Then...".
        if _INITIAL_AHEAD.match(text, k, end):
            return False
        return word[:1].isupper() and word.lower() in _STARTERS
    if lowered in _MAYBE_FINAL:
        return first.isupper()
    if _DOTTED_ACRONYM.fullmatch(token) or lowered == "ph.d":
        # "the U.S. Army" vs "in the U.S. They said", "at 5 p.m. Then"
        if _INITIAL_AHEAD.match(text, k, end):
            return False
        return word[:1].isupper() and word.lower() in _STARTERS
    if lower_next:
        # Lowercase after a period: a new sentence only after an ordinary lowercase word
        # ("works great. would buy again"), never after something that may be an abbreviation.
        return token.isalpha() and token.islower() and (len(token) >= 4 or token in _SHORT_WORDS)
    return True

