"""Specification of the JSON transcript reader (Podcasting 2.0 format, plus segment JSON of our own)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cast_pipeline.segments import Segment, Word, segments_to_json
from cast_pipeline.transcripts.errors import TranscriptParseError
from cast_pipeline.transcripts.jsonfmt import parse_json


def read(doc: Any) -> list[Segment]:
    return parse_json(json.dumps(doc), "'t.json'")


def test_the_podcasting_2_0_format() -> None:
    doc = {
        "version": "1.0.0",
        "segments": [
            {"speaker": "Darth Vader", "startTime": 2.25, "endTime": 2.5, "body": "father.\n"},
            {"speaker": "Luke", "startTime": 2.75, "endTime": 3, "body": "Nooooo"},
        ],
    }
    assert read(doc) == [Segment(2.25, 2.5, "father.", "Darth Vader"), Segment(2.75, 3.0, "Nooooo", "Luke")]


def test_times_may_be_strings_in_seconds_or_clock_form() -> None:
    doc = {"segments": [{"startTime": "1.5", "endTime": "00:00:02.250", "body": "x"}]}
    assert read(doc) == [Segment(1.5, 2.25, "x")]


def test_a_missing_end_time_is_the_next_start_and_the_last_ends_where_it_starts() -> None:
    doc = {
        "segments": [
            {"startTime": 1, "body": "one"},
            {"startTime": 4, "endTime": None, "body": "two"},
            {"startTime": 3, "body": "earlier start next"},
            {"startTime": 2, "body": "last"},
        ]
    }
    assert [(s.start, s.end) for s in read(doc)] == [(1.0, 4.0), (4.0, 4.0), (3.0, 3.0), (2.0, 2.0)]


def test_a_top_level_list_of_segments_is_accepted() -> None:
    assert read([{"startTime": 0, "endTime": 1, "body": "hi"}]) == [Segment(0.0, 1.0, "hi")]


def test_empty_speakers_are_none_and_empty_bodies_are_dropped() -> None:
    doc = {
        "segments": [
            {"startTime": 0, "endTime": 1, "body": " ", "speaker": "A"},
            {"startTime": 1, "endTime": 2, "body": "said", "speaker": ""},
            {"startTime": 2, "endTime": 3, "speaker": "B"},
            {"startTime": 3, "endTime": 4, "body": 42, "speaker": 7},
            {"startTime": 4, "endTime": 5, "body": "odd", "speaker": ["Ann"]},
        ]
    }
    assert read(doc) == [
        Segment(1.0, 2.0, "said", None),
        Segment(3.0, 4.0, "42", "7"),
        Segment(4.0, 5.0, "odd", "['Ann']"),  # odd but readable, and no crash
    ]


def test_our_own_segment_json_with_words_reads_back_unchanged() -> None:
    segments = [
        Segment(0.0, 1.2, "Hello there.", "Ann", (Word(0.0, 0.5, "Hello", 0.9), Word(0.6, 1.2, "there.", None))),
        Segment(1.5, 2.0, "Bye.", None),
    ]
    assert parse_json(segments_to_json(segments, source="speech"), "t") == segments


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"segments": [', r"invalid JSON at line 1 column 15"),
        ('{"version": "1.0.0"}', r"JSON has no 'segments' list"),
        ('"just a string"', r"JSON has no 'segments' list"),
        ('{"segments": [1]}', r"segment 0 is int, not an object"),
        ('{"segments": [{"body": "x"}]}', r"segment 0 has no startTime"),
        (
            '{"segments": [{"startTime": 0, "body": "a"}, {"startTime": "soon", "body": "b"}]}',
            r"segment 1 startTime is 'soon'",
        ),
        ('{"segments": [{"startTime": -1, "body": "x"}]}', r"segment 0 startTime is -1"),
        ('{"segments": [{"startTime": NaN, "body": "x"}]}', r"segment 0 startTime is nan"),
        ('{"segments": [{"startTime": true, "body": "x"}]}', r"segment 0 startTime is True"),
        ('{"segments": [{"startTime": 0, "endTime": [], "body": "x"}]}', r"segment 0 endTime is \[\]"),
        ('{"segments": [{"startTime": 0, "body": ""}]}', r"no segments with text \(1 segments in total\)"),
        ('{"segments": []}', r"no segments with text \(0 segments in total\)"),
    ],
)
def test_bad_json_gives_errors_that_name_the_file_and_the_segment(text: str, message: str) -> None:
    with pytest.raises(TranscriptParseError, match=message) as info:
        parse_json(text, "'t.json'")
    assert str(info.value).startswith("cannot read 't.json': ")
