"""Specification of the podcast-namespace HTML reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from cast_pipeline.segments import Segment
from cast_pipeline.transcripts.errors import TranscriptParseError
from cast_pipeline.transcripts.htmlfmt import parse_html
from cast_pipeline_tests.costkit import assert_linear


def read(text: str) -> list[Segment]:
    return parse_html(text, "'t.html'")


def test_the_namespace_example_file(shared_data: Path) -> None:
    segments = read((shared_data / "transcripts/podcast-namespace/example.html").read_text())
    assert [s.speaker for s in segments] == [
        "Travis", "Sarah", "Travis", "Gilon", "Travis", "Gilon", "Travis", "Sarah", "Gilon", "Travis"
    ]  # fmt: skip
    assert [s.start for s in segments] == [0, 53, 102, 219, 263, 322, 376, 562, 617, 691]
    assert [s.end for s in segments] == [53, 102, 219, 263, 322, 376, 562, 617, 691, 691]
    assert segments[0].text.startswith("When you first get started in podcasting, it's almost guaranteed")
    assert all("&#39;" not in s.text and "<" not in s.text for s in segments)


def test_cite_time_and_paragraph_from_the_spec_snippet() -> None:
    snippet = """<cite>Kevin:</cite>
<time>0:00</time>
<p>
  We have an update planned where we would like to give the ability to upload an
  artwork file for these videos
</p>
<cite>Alban :</cite>
<time>0:09</time>
<p>You're triggering Tom right now with a hey, here's a cool feature.</p>"""
    assert read(snippet) == [
        Segment(
            0.0,
            9.0,
            "We have an update planned where we would like to give the ability to upload an artwork file "
            "for these videos",
            "Kevin",
        ),
        Segment(9.0, 9.0, "You're triggering Tom right now with a hey, here's a cool feature.", "Alban"),
    ]


def test_a_full_page_ignores_head_scripts_styles_and_comments() -> None:
    page = """<!DOCTYPE html><html><head><title>Episode 5</title><style>p { color: red }</style>
<script>const s = "<p>not text</p>";</script></head><body><!-- <p>hidden</p> -->
<h1>Transcript</h1><p>First <b>bold</b> <a href="#x">linked</a> words.<br>Same paragraph.</p>
<div>A div &amp; more</div></body></html>"""
    assert [s.text for s in read(page)] == ["Transcript", "First bold linked words. Same paragraph.", "A div & more"]


def test_untimed_paragraphs_start_where_the_previous_one_did() -> None:
    segments = read("<p>intro</p><time>1:00</time><p>timed</p><p>untimed</p><time>1:30</time><p>later</p>")
    assert [(s.start, s.end) for s in segments] == [(0.0, 60.0), (60.0, 60.0), (60.0, 90.0), (90.0, 90.0)]


def test_a_time_element_may_carry_its_time_in_the_datetime_attribute() -> None:
    segments = read("<time datetime=\"PT1H2M3.5S\">start</time><p>a</p><time datetime='75'>x</time><p>b</p>")
    assert [s.start for s in segments] == [3723.5, 75.0]


def test_an_unreadable_time_is_ignored() -> None:
    segments = read('<time>0:10</time><p>a</p><time datetime="2024-05-01">May 1st</time><p>b</p>')
    assert [s.start for s in segments] == [10.0, 10.0]


def test_without_cites_a_name_prefix_is_the_speaker() -> None:
    segments = read("<p>Sarah: Hello.</p><p>More from her.</p><p>Note: not a name.</p>")
    assert [(s.speaker, s.text) for s in segments] == [
        ("Sarah", "Hello."),
        ("Sarah", "More from her."),
        ("Sarah", "Note: not a name."),
    ]


def test_a_literal_less_than_sign_is_text() -> None:
    assert read("<p>I <3 this & 2 < 3</p>")[0].text == "I <3 this & 2 < 3"


def test_a_page_without_text_is_an_error() -> None:
    with pytest.raises(TranscriptParseError, match=r"'t\.html'.*no text found in the HTML"):
        read("<html><body><script>x()</script></body></html>")


@pytest.mark.parametrize("unit", ["<a", "< ", "<!--", "<time datetime=", "<p>&amp"])
def test_pathological_markup_takes_linear_time(unit: str) -> None:
    """The standard library's HTMLParser needs minutes for 400 KB of ``<a<a<a``; we must not: eight times
    the markup costs about eight times the CPU time."""
    assert read("<p>x</p>" + unit * 6_250)[0].text == "x"
    assert_linear(read, lambda n: "<p>x</p>" + unit * n, 6_250)
