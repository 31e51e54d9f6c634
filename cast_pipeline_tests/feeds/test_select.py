"""Choosing the transcript link to try first: language, then format, then feed order."""

from __future__ import annotations

import pytest

from cast_pipeline.feeds.model import TranscriptLink
from cast_pipeline.feeds.select import rank_transcript_links, transcript_format


def link(name: str, type_: str = "", language: str | None = None, rel: str | None = None) -> TranscriptLink:
    return TranscriptLink(f"https://cdn.example.org/{name}", type_, language, rel)


@pytest.mark.parametrize(
    ("type_", "name", "expected"),
    [
        ("text/vtt", "t", "vtt"),
        ("text/vtt; charset=utf-8", "t", "vtt"),
        ("TEXT/VTT", "t", "vtt"),
        ("application/x-subrip", "t", "srt"),
        ("application/srt", "t", "srt"),
        ("text/srt", "t", "srt"),
        ("application/json", "t", "json"),
        ("text/html", "t", "html"),
        ("text/plain", "t.txt", "text"),
        ("text/plain", "t", "text"),
        # missing, generic or unknown types: the URL's extension decides
        ("", "ep1.vtt", "vtt"),
        ("text/plain", "ep1.srt", "srt"),
        ("application/octet-stream", "ep1.json?token=abc", "json"),
        ("application/x-whatever", "ep1.HTM", "html"),
        ("", "ep1", None),
        ("application/pdf", "ep1.pdf", None),
    ],
)
def test_transcript_format(type_: str, name: str, expected: str | None) -> None:
    assert transcript_format(link(name, type_)) == expected


def test_format_order_is_vtt_srt_json_html_text_then_unknown() -> None:
    links = [
        link("a.pdf", "application/pdf"),
        link("a.txt", "text/plain"),
        link("a.html", "text/html"),
        link("a.json", "application/json"),
        link("a.srt", "application/x-subrip"),
        link("a.vtt", "text/vtt"),
    ]
    assert [transcript_format(x) for x in rank_transcript_links(links, "en")] == [
        "vtt", "srt", "json", "html", "text", None,
    ]  # fmt: skip


def test_the_show_language_beats_the_format() -> None:
    spanish_vtt = link("es.vtt", "text/vtt", "es", "captions")
    plain_text = link("t.txt", "text/plain")
    english_srt = link("en.srt", "application/srt", "en")
    ranked = rank_transcript_links([spanish_vtt, plain_text, english_srt], "en-US")
    assert ranked == [english_srt, plain_text, spanish_vtt]


def test_language_matches_on_the_primary_subtag_in_any_spelling() -> None:
    us = link("us.srt", "text/srt", "EN_us")
    other = link("de.vtt", "text/vtt", "de")
    assert rank_transcript_links([other, us], "en-GB") == [us, other]


def test_without_a_show_language_only_format_counts() -> None:
    es = link("es.vtt", "text/vtt", "es")
    txt = link("t.txt", "text/plain", "en")
    assert rank_transcript_links([txt, es], None) == [es, txt]
    assert rank_transcript_links([txt, es], "  ") == [es, txt]


def test_captions_are_not_penalised_and_ties_keep_feed_order() -> None:
    first = link("1.vtt", "text/vtt", rel="captions")
    second = link("2.vtt", "text/vtt")
    assert rank_transcript_links([first, second], "en") == [first, second]
    assert rank_transcript_links([second, first], "en") == [second, first]


def test_empty_input_gives_empty_output() -> None:
    assert rank_transcript_links([], "en") == []
