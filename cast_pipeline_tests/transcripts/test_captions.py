"""Specification of the WebVTT / SRT reader: what real caption files contain, and what we make of it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cast_pipeline.segments import Segment
from cast_pipeline.transcripts.captions import parse_captions
from cast_pipeline.transcripts.errors import TranscriptParseError
from cast_pipeline_tests.costkit import assert_linear


def vtt(body: str) -> list[Segment]:
    return parse_captions(body, "'t.vtt'", "vtt")


def srt(body: str) -> list[Segment]:
    return parse_captions(body, "'t.srt'", "srt")


def test_vtt_header_note_style_and_region_blocks_are_skipped() -> None:
    segments = vtt(
        "WEBVTT - Episode 12\nKind: captions\nLanguage: en\n\n"
        "NOTE\nThis file was made by hand.\nIt has two comment lines.\n\n"
        "STYLE\n::cue { color: yellow }\n\n"
        "REGION\nid:fred\nwidth:40%\n\n"
        "NOTE single-line comment\n\n"
        "00:00:01.000 --> 00:00:02.000\nHello.\n"
    )
    assert segments == [Segment(1.0, 2.0, "Hello.")]


def test_cue_identifiers_and_cue_settings_are_ignored() -> None:
    segments = vtt(
        "WEBVTT\n\nintro-1\n00:00:01.000 --> 00:00:02.500 align:start position:10% line:0\nFirst.\n\n"
        "2\n00:00:02.500 --> 00:00:03.000 vertical:rl\nSecond.\n"
    )
    assert segments == [Segment(1.0, 2.5, "First."), Segment(2.5, 3.0, "Second.")]


def test_voice_tags_inline_timestamps_tags_and_entities() -> None:
    segments = vtt(
        "WEBVTT\n\n00:00:18.000 --> 00:00:21.000\n"
        "<v.loud Neil deGrasse Tyson><i>Never</i> <00:00:18.400>drink <c.red>liquid</c> nitrogen &amp; co.</v>\n"
    )
    assert segments == [Segment(18.0, 21.0, "Never drink liquid nitrogen & co.", "Neil deGrasse Tyson")]


def test_multi_line_cues_are_joined_with_spaces() -> None:
    assert vtt("WEBVTT\n\n00:01.000 --> 00:04.000\nIt is so stinking nice to\nlike, show up\n") == [
        Segment(1.0, 4.0, "It is so stinking nice to like, show up")
    ]


def test_timestamps_without_hours_and_as_bare_seconds() -> None:
    segments = vtt("WEBVTT\n\n01:02.500 --> 01:04.000\nshort\n\n0.860 --> 7.380\nbare\n")
    assert [(s.start, s.end) for s in segments] == [(62.5, 64.0), (0.86, 7.38)]


def test_speakers_carry_forward_until_the_next_one_is_named() -> None:
    """The namespace spec writes ``<v Name>`` only when the speaker changes (its own snippet does)."""
    segments = vtt(
        "WEBVTT\n\n00:00.000 --> 00:05.000\n<v Tom>Yeah, absolutely.\n\n"
        "00:05.000 --> 00:10.000\nIt's amazing.\n\n"
        "00:10.000 --> 00:15.000\n<v John>Exactly, Tom.\n"
    )
    assert [s.speaker for s in segments] == ["Tom", "Tom", "John"]


def test_a_name_prefix_in_vtt_text_is_a_speaker_but_not_inside_a_voice() -> None:
    segments = vtt(
        "WEBVTT\n\n00:00.000 --> 00:01.000\nSarah: Hi there.\n\n"
        "00:01.000 --> 00:02.000\n<v Tom>Kevin: is what he said.\n\n"
        "00:02.000 --> 00:03.000\nNote: this is not a speaker.\n"
    )
    assert [(s.speaker, s.text) for s in segments] == [
        ("Sarah", "Hi there."),
        ("Tom", "Kevin: is what he said."),
        ("Tom", "Note: this is not a speaker."),
    ]


def test_a_cue_with_two_voices_becomes_two_segments_with_the_cue_times() -> None:
    segments = vtt("WEBVTT\n\n00:01.000 --> 00:03.000\n<v A1>Hi.</v> <v Bo>Hello.</v>\n")
    assert segments == [Segment(1.0, 3.0, "Hi.", "A1"), Segment(1.0, 3.0, "Hello.", "Bo")]


def test_srt_with_tags_and_both_millisecond_separators() -> None:
    segments = srt(
        '1\n00:00:00,000 --> 00:00:02,760\n<i>Sarah:</i> <font color="red">In today\'s</font> episode,\n\n'
        "2\n00:00:02.760 --> 00:00:06.090\nshould have a <b>trailer</b>.\n"
    )
    # the speaker rule looks at the text after tag removal, so an italic "Sarah:" is still a speaker
    assert segments == [
        Segment(0.0, 2.76, "In today's episode,", "Sarah"),
        Segment(2.76, 6.09, "should have a trailer.", "Sarah"),
    ]


def test_srt_speaker_prefixes_carry_forward() -> None:
    segments = srt(
        "1\n00:00:00,000 --> 00:00:02,760\nSarah: In today's episode,\nyou'll learn\n\n"
        "2\n00:00:02,760 --> 00:00:06,090\nshould have a podcast trailer.\n\n"
        "3\n00:00:19,080 --> 00:00:21,450\nGillian: Hi Buzzsprout\n"
    )
    assert [(s.speaker, s.text) for s in segments] == [
        ("Sarah", "In today's episode, you'll learn"),
        ("Sarah", "should have a podcast trailer."),
        ("Gillian", "Hi Buzzsprout"),
    ]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_any_line_ending_works(newline: str) -> None:
    body = "1\n00:00:01,000 --> 00:00:02,000\nOne\ntwo\n\n2\n00:00:02,000 --> 00:00:03,000\nThree\n"
    assert srt(body.replace("\n", newline)) == [Segment(1.0, 2.0, "One two"), Segment(2.0, 3.0, "Three")]


def test_missing_blank_lines_between_cues_are_tolerated() -> None:
    """A timing line always starts a cue; a bare number just before it is the next cue's number."""
    segments = srt(
        "1\n00:00:01,000 --> 00:00:02,000\nHello\n2\n00:00:02,000 --> 00:00:03,000\nWorld\n"
        "00:00:03,000 --> 00:00:04,000\nNo numbers at all\n"
    )
    assert [s.text for s in segments] == ["Hello", "World", "No numbers at all"]


def test_text_with_an_arrow_inside_a_cue_is_text() -> None:
    assert srt("1\n00:00:01,000 --> 00:00:02,000\nInput --> output\n")[0].text == "Input --> output"


def test_a_broken_timing_line_skips_only_its_cue() -> None:
    segments = srt(
        "1\n00:00:01,000 --> 00:00:02,000\nKept\n\n2\n00:00:0x,000 --> soon\nDropped\n\n"
        "3\n00:00:03,000 --> 00:00:04,000\nAlso kept\n"
    )
    assert [s.text for s in segments] == ["Kept", "Also kept"]


def test_an_end_before_the_start_is_raised_to_the_start() -> None:
    assert srt("1\n00:00:05,000 --> 00:00:04,000\nBackwards\n") == [Segment(5.0, 5.0, "Backwards")]


def test_cues_without_text_are_dropped() -> None:
    assert vtt(
        "WEBVTT\n\n00:01.000 --> 00:02.000\n\n00:02.000 --> 00:03.000\n<i> </i>\n\n00:03.000 --> 00:04.000\nWords\n"
    ) == [Segment(3.0, 4.0, "Words")]


def test_no_cues_at_all_is_an_error_that_says_what_was_expected() -> None:
    with pytest.raises(TranscriptParseError, match=r"'t\.vtt'.*no VTT cues found \(expected timing lines"):
        vtt("WEBVTT\n\nJust some words without timing.\n")


def test_only_broken_timing_lines_is_an_error_that_quotes_one() -> None:
    with pytest.raises(TranscriptParseError, match=r"no SRT cue could be read; bad timing line '1:00 --> later'"):
        srt("1\n1:00 --> later\nText\n")


PATHOLOGICAL: dict[str, Callable[[int], str]] = {
    "digits": lambda n: "1" * 8 * n + " --> x",  # one huge number where a timestamp could start
    "digits-in-cue": lambda n: "00:01.000 --> 00:02.000\n" + "1" * 8 * n + "\n",  # ... or inside a cue
    "spaces": lambda n: "00:01.000 --> 00:02.000\nx" + " " * 8 * n + "\n",  # trailing blanks in a text line
    "colons": lambda n: "1:" * 4 * n + " --> 1",
    "number-lines": lambda n: "00:01.000 --> 00:02.000\n" + "12345 -\n" * n,  # lines that start like timing lines
    "open-voices": lambda n: "<v " * 4 * n,  # voice tags that never close
}


@pytest.mark.parametrize("name", PATHOLOGICAL)
def test_pathological_captions_take_linear_time(name: str) -> None:
    """Every regex here is bounded by line ends or the next tag: 200 KB of any of these costs about
    eight times what 25 KB costs (a backtracking regex would be quadratic and take minutes)."""

    def captions(n: int) -> str:
        return "00:00.000 --> 00:00.500\nfirst\n\n" + PATHOLOGICAL[name](n)

    assert vtt(captions(3_125))[0] == Segment(0.0, 0.5, "first")
    assert_linear(vtt, captions, 3_125)
