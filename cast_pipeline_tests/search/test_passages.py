"""Passages: long phrases are split into 1-3 sentences with interpolated times; short ones stay as they are."""

from __future__ import annotations

import itertools

import pytest

from cast_pipeline.search.passages import Passage, passage_spans, sentence_spans, split_passages, split_phrase
from cast_pipeline.segments import Segment, Word

SENTENCES = [
    "Batch production of your podcast episodes saves a lot of time every single month.",
    "There are so many moving pieces that need to happen in a specific order to create an episode.",
    "You start with generating ideas, then outlines, then interviews, then recording and editing.",
    "Dr. Smith schedules all the interviews for the entire month in one week, on Tuesday and Thursday.",
    "You've just done a month of content in one week, which is what batching is about.",
    "The next best thing to do beyond templates is to batch your episodes!",
]
LONG = " ".join(SENTENCES)  # about 520 characters


def test_a_short_phrase_is_one_passage_with_its_own_text_and_times() -> None:
    segment = Segment(3.0, 7.5, "A short phrase. With two sentences. ", "Ana")
    assert split_phrase(4, segment) == [Passage(4, 0, 3.0, 7.5, "A short phrase. With two sentences. ", "Ana")]


def test_blank_phrases_have_no_passage_and_keep_their_place_in_the_numbering() -> None:
    passages = split_passages([Segment(0, 1, "One."), Segment(1, 2, "  "), Segment(2, 3, "Three.")])
    assert [(p.segment_index, p.passage_index) for p in passages] == [(0, 0), (2, 0)]


def test_sentences_end_at_punctuation_but_not_after_abbreviations_or_before_lower_case() -> None:
    text = "It costs 3.5 dollars. Ask Dr. Smith about it! then go home. Done"
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "It costs 3.5 dollars. ",
        "Ask Dr. Smith about it! then go home. ",
        "Done",
    ]


def test_a_long_phrase_becomes_passages_of_whole_sentences_that_cover_it() -> None:
    spans = passage_spans(LONG)
    assert len(spans) >= 2
    assert spans[0][0] == 0 and spans[-1][1] == len(LONG)
    assert all(a == b for (_, a), (b, _) in itertools.pairwise(spans))  # no gap, no overlap
    for a, b in spans:
        piece = LONG[a:b].strip()
        assert piece.endswith((".", "!")) and len(piece) <= 300
        assert 1 <= sum(piece.count(s) for s in SENTENCES) <= 3
    assert not any(LONG[a:b].startswith("Smith") for a, b in spans)  # "Dr." ends no sentence


def test_passage_times_are_interpolated_by_character_position_inside_the_phrase() -> None:
    passages = split_phrase(7, Segment(100.0, 152.0, LONG, "Travis"))
    assert [p.passage_index for p in passages] == list(range(len(passages)))
    assert passages[0].start == 100.0 and passages[-1].end == pytest.approx(152.0)
    assert all(p.segment_index == 7 and p.speaker == "Travis" for p in passages)
    for p in passages:
        offset = LONG.index(p.text)
        assert p.start == pytest.approx(100.0 + 52.0 * offset / len(LONG), abs=0.01)
    assert " ".join(p.text for p in passages) == LONG


def test_word_timings_give_passage_times_when_there_is_one_per_word() -> None:
    words = tuple(Word(float(i), i + 0.5, w) for i, w in enumerate(LONG.split()))
    passages = split_phrase(0, Segment(0.0, words[-1].end, LONG, words=words))
    second = passages[1]
    first_word = len(passages[0].text.split())
    assert (second.start, second.end) == (words[first_word].start, words[first_word + len(second.text.split()) - 1].end)


def test_a_sentence_without_punctuation_is_cut_at_word_boundaries() -> None:
    text = " ".join(f"word{i}" for i in range(150))  # ~1,000 characters, no sentence end
    spans = passage_spans(text)
    assert len(spans) > 3
    for a, b in spans:
        assert len(text[a:b].strip()) <= 300
        assert a == 0 or text[a - 1] == " "  # never inside a word


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="target_chars"):
        passage_spans(LONG, max_chars=100, target_chars=200)
