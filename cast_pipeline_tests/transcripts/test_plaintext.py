"""Specification of the plain-text reader: paragraphs, optional time marks and speakers."""

from __future__ import annotations

import pytest

from cast_pipeline.segments import Segment
from cast_pipeline.transcripts.errors import TranscriptParseError
from cast_pipeline.transcripts.plaintext import parse_text


def read(text: str) -> list[Segment]:
    return parse_text(text, "'t.txt'")


def test_paragraphs_become_segments_with_unknown_times() -> None:
    assert read("First paragraph\nwrapped here.\n\n  \nSecond one.\n") == [
        Segment(0.0, 0.0, "First paragraph wrapped here."),
        Segment(0.0, 0.0, "Second one."),
    ]


def test_without_blank_lines_each_line_is_an_utterance() -> None:
    assert [s.text for s in read("Sarah: Hi.\nTom: Hello.\nSarah: Bye.")] == ["Hi.", "Hello.", "Bye."]


def test_crlf_paragraphs() -> None:
    assert [s.text for s in read("one\r\ntwo\r\n\r\nthree")] == ["one two", "three"]


def test_leading_time_marks_give_starts_and_ends() -> None:
    segments = read("[00:00:05] Sarah: Welcome.\n\n(1:02) Back again.\n\n00:01:30 - Tom: Later.\n\nNo mark.")
    assert segments == [
        Segment(5.0, 62.0, "Welcome.", "Sarah"),
        Segment(62.0, 90.0, "Back again.", "Sarah"),
        Segment(90.0, 90.0, "Later.", "Tom"),
        Segment(90.0, 90.0, "No mark.", "Tom"),
    ]


def test_otter_style_name_and_time_above_the_text() -> None:
    segments = read("Travis  0:00\nWhen you first get started.\n\nSarah (0:53)\nCreating good audio.\n")
    assert segments == [
        Segment(0.0, 53.0, "When you first get started.", "Travis"),
        Segment(53.0, 53.0, "Creating good audio.", "Sarah"),
    ]


def test_numbers_without_a_colon_are_not_time_marks() -> None:
    assert read("1984 was a year.\n\n2001: A Space Odyssey") == [
        Segment(0.0, 0.0, "1984 was a year."),
        Segment(0.0, 0.0, "2001: A Space Odyssey"),
    ]


def test_no_words_is_an_error() -> None:
    with pytest.raises(TranscriptParseError, match=r"'t\.txt'.*contains no words"):
        read(" \n\n \n")
