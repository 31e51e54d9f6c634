"""Specification of rendering: exact layouts, escaping, dispatch, and round trips through ``parse``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from cast_pipeline.segments import Segment, Word, segments_from_json
from cast_pipeline.transcripts import (
    RENDER_FORMATS,
    merge_phrases,
    parse,
    render,
    to_markdown,
    to_srt,
    to_text,
    to_vtt,
)

SEGMENTS = [
    Segment(0.0, 2.76, "In today's episode, you'll learn", "Sarah"),
    Segment(2.76, 6.09, "should you have a trailer?", "Sarah"),
    Segment(3725.5, 3727.004, "Hi Buzzsprout & co.", "Gillian"),
]
HEADER = {
    "title": "Do I need a trailer?",
    "feed_title": "Podcasting Q&A",
    "published": datetime(2024, 1, 25, 14, 30, tzinfo=UTC),
    "source": "publisher (text/vtt)",
    "link": "https://example.com/ep 12",
}


def test_markdown_layout() -> None:
    assert to_markdown(SEGMENTS, **HEADER) == (
        "# Do I need a trailer?\n"
        "\n"
        "- Feed: Podcasting Q&A\n"
        "- Published: 2024-01-25\n"
        "- Source: publisher (text/vtt)\n"
        "- Link: <https://example.com/ep%2012>\n"
        "\n"
        "**[00:00:00]** Sarah: In today's episode, you'll learn\n"
        "\n"
        "**[00:00:02]** Sarah: should you have a trailer?\n"
        "\n"
        "**[01:02:05]** Gillian: Hi Buzzsprout & co.\n"
    )


def test_markdown_leaves_out_unknown_facts_and_missing_speakers() -> None:
    md = to_markdown([Segment(1, 2, "Words.")], title="T", feed_title="", published=None, source="speech")
    assert md == "# T\n\n- Source: speech\n\n**[00:00:01]** Words.\n"


def test_markdown_escapes_what_could_break_the_layout() -> None:
    md = to_markdown(
        [Segment(0, 1, "*sigh* [music] <b>not html</b> snake_case `code` back\\slash\nnew # line", "A_B")],
        title="Ep *1* [live]",
        feed_title="Show",
        published=None,
        source="publisher",
    )
    assert md.splitlines()[0] == "# Ep \\*1\\* \\[live\\]"
    assert md.splitlines()[-1] == (
        "**[00:00:00]** A\\_B: \\*sigh\\* \\[music\\] \\<b\\>not html\\</b\\> snake\\_case \\`code\\` "
        "back\\\\slash new # line"
    )


def test_srt_layout() -> None:
    assert to_srt(SEGMENTS[1:]) == (
        "1\n00:00:02,760 --> 00:00:06,090\nSarah: should you have a trailer?\n\n"
        "2\n01:02:05,500 --> 01:02:07,004\nGillian: Hi Buzzsprout & co.\n"
    )


def test_vtt_layout_uses_voice_tags_and_escapes_text() -> None:
    assert to_vtt([SEGMENTS[2], Segment(4000, 4001, "no speaker <3")]) == (
        "WEBVTT\n\n"
        "01:02:05.500 --> 01:02:07.004\n<v Gillian>Hi Buzzsprout &amp; co.\n\n"
        "01:06:40.000 --> 01:06:41.000\nno speaker &lt;3\n"
    )


def test_text_names_the_speaker_when_it_changes() -> None:
    assert to_text(SEGMENTS) == (
        "Sarah: In today's episode, you'll learn\n\nshould you have a trailer?\n\nGillian: Hi Buzzsprout & co.\n"
    )
    assert to_text([]) == ""


def test_render_dispatches_every_format() -> None:
    assert render("md", SEGMENTS, **HEADER) == to_markdown(SEGMENTS, **HEADER)
    assert render("srt", SEGMENTS, **HEADER) == to_srt(SEGMENTS)
    assert render("VTT", SEGMENTS) == to_vtt(SEGMENTS)
    assert render("txt", SEGMENTS) == render("text", SEGMENTS) == to_text(SEGMENTS)
    segments, meta = segments_from_json(render("json", SEGMENTS, **HEADER))
    assert segments == SEGMENTS
    assert meta["published"] == "2024-01-25T14:30:00+00:00" and meta["title"] == HEADER["title"]
    assert set(RENDER_FORMATS) == {"md", "srt", "vtt", "json", "txt"}


def test_render_rejects_unknown_formats_naming_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown transcript format 'docx'; valid formats: md, srt, vtt, json, txt"):
        render("docx", SEGMENTS)


def test_markdown_through_render_needs_the_header() -> None:
    with pytest.raises(ValueError, match="Markdown needs the header values feed_title, published, source"):
        render("md", SEGMENTS, title="T")


# --- round trips: what we write, we read back --------------------------------------------------------

TRICKY = [
    Segment(0.0, 1.001, "Q&A <i> stays literal > here", "Ann Lee"),
    Segment(1.5, 1.5, "zero length", "Ann Lee"),
    Segment(59.999, 61.25, "Note: a label, not a speaker", "Bob"),
    Segment(3599.5, 3600.0, "crossing the hour", "Dr. O'Neil"),
    Segment(36000.123, 36001.0, "ten hours in", "Bob"),
]

TRICKY_SRT = [Segment(0.0, 1.001, "Q&A stays literal > here", "Ann Lee"), *TRICKY[1:]]  # SRT cannot keep "<i>"


def assert_same(got: list[Segment], want: list[Segment]) -> None:
    assert [(round(s.start, 3), round(s.end, 3), s.text, s.speaker) for s in got] == [
        (round(s.start, 3), round(s.end, 3), s.text, s.speaker) for s in want
    ]


def test_vtt_round_trip_keeps_times_to_the_millisecond_text_and_speakers() -> None:
    assert_same(parse(to_vtt(TRICKY).encode(), "text/vtt"), TRICKY)


def test_srt_round_trip_keeps_times_text_and_speakers() -> None:
    assert_same(parse(to_srt(TRICKY_SRT).encode(), "application/x-subrip"), TRICKY_SRT)


def test_round_trips_without_any_speakers() -> None:
    plain = [Segment(s.start, s.end, s.text.replace("Note: ", ""), None) for s in TRICKY_SRT]
    assert_same(parse(to_vtt(plain).encode(), "text/vtt"), plain)
    assert_same(parse(to_srt(plain).encode(), "application/srt"), plain)


def test_srt_loses_tag_like_text_which_is_why_vtt_escapes() -> None:
    """SRT has no escaping and players treat ``<i>`` as italics, so the reader drops it."""
    assert parse(to_srt([Segment(0, 1, "a <i>b</i> c")]).encode(), "text/srt")[0].text == "a b c"


def test_a_speakerless_cue_after_a_named_one_reads_back_with_that_name() -> None:
    """Documented limit of both caption formats: the name carries forward to unnamed cues."""
    mixed = [Segment(0, 1, "named", "Ann"), Segment(1, 2, "unnamed", None)]
    assert [s.speaker for s in parse(to_vtt(mixed).encode(), "text/vtt")] == ["Ann", "Ann"]


@pytest.mark.parametrize(
    "name",
    ["podcast-namespace/example.vtt", "podcast-namespace/example.srt", "transcriptator/buzzcast.srt",
     "transcriptator/kde_express-16_kde_en_telegram.vtt", "transcriptator/buzzcast.json"],
)  # fmt: skip
def test_real_transcripts_round_trip_through_vtt_and_srt(shared_data: Path, name: str) -> None:
    original = parse((shared_data / "transcripts" / name).read_bytes(), None, name)
    assert_same(parse(to_vtt(original).encode(), "text/vtt"), original)
    assert_same(parse(to_srt(original).encode(), "application/x-subrip"), original)


def test_merged_phrases_with_words_round_trip_through_json(shared_data: Path) -> None:
    raw = parse((shared_data / "transcripts/transcriptator/one_word_segments.json").read_bytes())
    phrases = merge_phrases([Segment(s.start, s.end, s.text, s.speaker, (Word(s.start, s.end, s.text),)) for s in raw])
    assert parse(render("json", phrases, source="publisher").encode()) == phrases
    text_back = parse(to_text(phrases).encode(), "text/plain")
    assert [(s.text, s.speaker) for s in text_back] == [(s.text, s.speaker) for s in phrases]
