"""Sentence and paragraph splitting on the kinds of text people paste in: reviews, news, notes, CJK."""
from __future__ import annotations

import pytest

from app.core.segment import sentences_of, split_paragraphs, split_sentences
from app.core.types import Document


def texts(text: str) -> list[str]:
    sentences = split_sentences(text)
    for s in sentences:  # every span points at its own text, trimmed
        assert text[s.start:s.end] == s.text
        assert s.text == s.text.strip() and s.text
    return [s.text for s in sentences]


def test_paragraph_spans_split_on_blank_lines():
    text = "  First para\nstill first.\n\n\n Second.\n \t\nThird\n"
    spans = split_paragraphs(text)
    assert [text[a:b] for a, b in spans] == ["First para\nstill first.", "Second.", "Third"]


def test_paragraphs_of_empty_text():
    assert split_paragraphs("") == []
    assert split_paragraphs(" \n\n \n") == []
    assert split_sentences("  \n ") == []


def test_simple_sentences_and_spans():
    text = "The battery lasts. The screen is sharp!  Is it worth it? Yes."
    sentences = split_sentences(text)
    assert [s.text for s in sentences] == ["The battery lasts.", "The screen is sharp!", "Is it worth it?", "Yes."]
    assert [(s.start, s.end) for s in sentences] == [(0, 18), (19, 39), (41, 56), (57, 61)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mr. Smith met Mrs. Jones and Dr. Lee. Prof. Kim was late.",
         ["Mr. Smith met Mrs. Jones and Dr. Lee.", "Prof. Kim was late."]),
        ("They live on St. Mark's Road. It is quiet.", ["They live on St. Mark's Road.", "It is quiet."]),
        ("Bring fruit, e.g. apples or pears, i.e. something sweet. Thanks.",
         ["Bring fruit, e.g. apples or pears, i.e. something sweet.", "Thanks."]),
        ("We sold pens, paper, etc. Then we closed.", ["We sold pens, paper, etc.", "Then we closed."]),
        ("It was Ali vs. Frazier. A classic.", ["It was Ali vs. Frazier.", "A classic."]),
        ("The U.S. Army and the U.K. Navy met. They agreed.",
         ["The U.S. Army and the U.K. Navy met.", "They agreed."]),
        ("She moved to the U.S. They followed.", ["She moved to the U.S.", "They followed."]),
        ("Acme Inc. and Widgets Ltd. merged. Shares rose.",
         ["Acme Inc. and Widgets Ltd. merged.", "Shares rose."]),
        ("The launch is on Jan. 15 and Feb. 2. Save the dates.",
         ["The launch is on Jan. 15 and Feb. 2.", "Save the dates."]),
        ("See No. 5 in the list. It is the best.", ["See No. 5 in the list.", "It is the best."]),
        ("We met at 9 a.m. and left at 5 p.m. Then we ate.",
         ["We met at 9 a.m. and left at 5 p.m.", "Then we ate."]),
        ("J. K. Rowling wrote it. George R. R. Martin did not.",
         ["J. K. Rowling wrote it.", "George R. R. Martin did not."]),
        ("She sat. Then she stood.", ["She sat.", "Then she stood."]),
    ],
)
def test_abbreviations_and_initials(text, expected):
    assert texts(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The share price closed at $1.2871 today. Analysts were surprised.",
         ["The share price closed at $1.2871 today.", "Analysts were surprised."]),
        ("Inflation hit 3.5% in May. It fell later.", ["Inflation hit 3.5% in May.", "It fell later."]),
        ("Update to v2.0 now. It fixes the crash.", ["Update to v2.0 now.", "It fixes the crash."]),
        ("It costs 1,299.99 euros. Too much.", ["It costs 1,299.99 euros.", "Too much."]),
    ],
)
def test_numbers_are_not_sentence_ends(text, expected):
    assert texts(text) == expected


def test_ellipses():
    assert texts("I waited... and waited. Then… Nothing. Well... I give up.") == [
        "I waited... and waited.", "Then…", "Nothing.", "Well...", "I give up."]


def test_quotes_and_brackets_stay_with_their_sentence():
    assert texts('He said "Stop." Then left.') == ['He said "Stop."', "Then left."]
    assert texts("She wrote ‘Never again.’ I agree.") == ["She wrote ‘Never again.’", "I agree."]
    assert texts('He yelled "Run!" and ran. Fine.') == ['He yelled "Run!" and ran.', "Fine."]
    assert texts("It broke (again.) Next time I will pay more.") == [
        "It broke (again.)", "Next time I will pay more."]
    assert texts('"Great." "Awful." "Fine."') == ['"Great."', '"Awful."', '"Fine."']


def test_question_and_exclamation_combinations():
    assert texts("Really?! Wow!!! Is it?? great product! would buy again") == [
        "Really?!", "Wow!!!", "Is it??", "great product!", "would buy again"]


def test_lowercase_reviews_still_split_after_ordinary_words():
    assert texts("works great. would buy again. love it. five stars") == [
        "works great.", "would buy again.", "love it.", "five stars"]
    assert texts("It is approx. ten metres long.") == ["It is approx. ten metres long."]


def test_cjk_punctuation_without_spaces():
    assert texts("这个产品很好。质量也不错！你觉得呢？") == ["这个产品很好。", "质量也不错！", "你觉得呢？"]
    assert texts("彼は「おいしい。」と言った。また来ます。") == ["彼は「おいしい。」と言った。", "また来ます。"]


def test_mixed_cjk_and_english():
    assert texts("I love this phone. 这个手机很好。Battery is great!真的吗?") == [
        "I love this phone.", "这个手机很好。", "Battery is great!", "真的吗?"]


def test_line_breaks_inside_a_paragraph_are_not_breaks_but_blank_lines_are():
    text = "The council met on Tuesday and\nvoted to build the bridge. Work starts\nin spring\n\nNo title here"
    sentences = split_sentences(text)
    assert [s.text for s in sentences] == [
        "The council met on Tuesday and\nvoted to build the bridge.",
        "Work starts\nin spring",
        "No title here",
    ]
    assert [s.paragraph for s in sentences] == [0, 0, 1]


def test_headings_and_list_items_are_sentences():
    text = ("# Release notes\nEverything is faster now.\n\nBest headphones I have owned\n\n"
            "Pros:\n- long battery\n- great sound\n1. charge\n2. pair\n\n---\n\nThe end")
    sentences = split_sentences(text)
    assert [s.text for s in sentences] == [
        "Release notes", "Everything is faster now.", "Best headphones I have owned", "Pros:",
        "long battery", "great sound", "charge", "pair", "The end"]
    assert [s.paragraph for s in sentences] == [0, 0, 1, 2, 2, 2, 2, 2, 4]
    for s in sentences:
        assert text[s.start:s.end] == s.text


def test_urls_and_emails_are_not_split():
    assert texts("Read https://example.com/docs/v1.2/index.html?q=a.b first. Or write to ana.lee@mail.example.org. "
                 "Thanks.") == [
        "Read https://example.com/docs/v1.2/index.html?q=a.b first.",
        "Or write to ana.lee@mail.example.org.", "Thanks."]


def test_last_sentence_without_punctuation():
    assert texts("Just a fragment without a stop") == ["Just a fragment without a stop"]
    assert texts("First one. Second without stop") == ["First one.", "Second without stop"]


def test_sentences_of_document_uses_its_text():
    document = Document(source="x.txt", text="Good value. Fast delivery.")
    assert [(s.text, s.start, s.end) for s in sentences_of(document)] == [
        ("Good value.", 0, 11), ("Fast delivery.", 12, 26)]


def test_megabyte_of_text_splits_correctly():
    # Timing belongs in bench/; this checks that a large text keeps every span right.
    unit = ('Mr. Lee paid $1.2871 for v2.0, e.g. the pro plan. He said "Great!" Then left... '
            "It was 3 p.m. in the U.S.\nThe next line continues.\n\n")
    text = unit * (1_000_000 // len(unit))
    sentences = split_sentences(text)
    assert len(sentences) == 5 * (1_000_000 // len(unit))
    assert all(text[s.start:s.end] == s.text for s in sentences[:: 97])
    assert [s.text for s in sentences[-2:]] == ["It was 3 p.m. in the U.S.", "The next line continues."]
