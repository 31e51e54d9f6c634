"""Specification of ``parse``: format detection, errors, real publisher files, and linear cost.

The transcriptator tests compare us with an independent implementation (the MIT-licensed
transcriptator project's parsed output of the same files). Every file in that folder is tested, so
a file added there is tested too; where we deliberately differ, a test says so and why.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cast_pipeline.segments import Segment
from cast_pipeline.transcripts import TranscriptParseError, detect_format, parse
from cast_pipeline_tests.conftest import SHARED_DATA, require_shared
from cast_pipeline_tests.costkit import assert_linear

TRANSCRIPTATOR = SHARED_DATA / "transcripts" / "transcriptator"
NAMESPACE = SHARED_DATA / "transcripts" / "podcast-namespace"
NOT_TRANSCRIPTS = {"LICENSE.md", "SOURCE_COMMIT", "COPYING.txt"}


def listing(folder: Path) -> list[str]:
    """File names for parametrisation; one placeholder when the shared data is absent (then skipped)."""
    if not folder.is_dir():
        return ["<shared data missing>"]
    return sorted(p.name for p in folder.iterdir() if p.is_file() and p.name not in NOT_TRANSCRIPTS)


# --- format detection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("text/vtt", "vtt"),
        ("text/vtt; charset=utf-8", "vtt"),
        ("TEXT/VTT;charset=UTF-8", "vtt"),
        ("application/x-subrip", "srt"),
        ("application/srt", "srt"),
        ("text/srt", "srt"),
        ("application/json", "json"),
        ("application/transcript+json", "json"),
        ("text/html; charset=iso-8859-1", "html"),
    ],
)
def test_a_specific_content_type_decides(content_type: str, expected: str) -> None:
    assert detect_format("whatever the body says", content_type, "file.txt") == expected


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("episode.vtt", "vtt"),
        ("EPISODE.SRT", "srt"),
        ("https://cdn.example.com/t/ep1.json?token=abc.vtt#x", "json"),
        ("/data/ep1.htm", "html"),
        ("notes.txt", "text"),  # .txt is no evidence: the content decides, and plain words are text
    ],
)
def test_without_a_specific_type_the_extension_decides(filename: str, expected: str) -> None:
    assert detect_format("plain words", "application/octet-stream", filename) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("\ufeff  WEBVTT\n\n00:01.000 --> 00:02.000\nhi", "vtt"),
        ('{"segments": []}', "json"),
        ('[{"startTime": 0}]', "json"),
        ("<cite>A:</cite><p>x</p>", "html"),
        ("1\n00:00:01,000 --> 00:00:02,000\nhi", "srt"),
        ("00:00:01.000 --> 00:00:02.000\nhi", "vtt"),
        ("[00:00:05] Sarah: Welcome.", "text"),  # a bracketed time mark is not a JSON array
        ("Just words.", "text"),
    ],
)
def test_then_the_content_is_sniffed(body: str, expected: str) -> None:
    assert detect_format(body, "text/plain", None) == expected
    assert detect_format(body, None, "transcript") == expected


def test_text_plain_ranks_below_extension_because_servers_send_captions_as_text_plain() -> None:
    body = b"1\n00:00:01,000 --> 00:00:02,000\nSarah: Hi.\n"
    assert parse(body, "text/plain; charset=utf-8", "ep.srt") == [Segment(1.0, 2.0, "Hi.", "Sarah")]
    assert parse(body, "text/plain", "transcript.txt") == [Segment(1.0, 2.0, "Hi.", "Sarah")]


def test_captions_served_as_html_are_read_as_captions() -> None:
    """Some hosts send text/html for every file; the HTML reader would accept the cues as prose."""
    body = b"WEBVTT\n\n00:01.000 --> 00:02.000\n<v Ann>Hi.\n"
    assert detect_format(body.decode(), "text/html", "ep.html") == "vtt"
    assert parse(body, "text/html") == [Segment(1.0, 2.0, "Hi.", "Ann")]


def test_an_html_error_page_behind_a_caption_link_is_an_error_not_a_transcript() -> None:
    page = b"<html><body><h1>404</h1><p>This page could not be found.</p></body></html>"
    with pytest.raises(TranscriptParseError, match=r"'ep\.vtt' \(text/vtt\): no VTT cues found"):
        parse(page, "text/vtt", "ep.vtt")


# --- parse(): decoding, fallbacks and errors ------------------------------------------------------


def test_parse_decodes_with_the_content_type_charset() -> None:
    body = "WEBVTT\n\n00:01.000 --> 00:02.000\n<v Zoë>Grüße\n".encode("iso8859-15")
    assert parse(body, "text/vtt; charset=ISO-8859-15") == [Segment(1.0, 2.0, "Grüße", "Zoë")]


def test_utf16_vtt_from_a_windows_tool_parses(shared_data: Path) -> None:
    original = (shared_data / "transcripts/podcast-namespace/example.vtt").read_bytes()
    utf16 = "\ufeff".encode("utf-16-le") + original.decode().encode("utf-16-le")
    assert parse(utf16, "text/vtt") == parse(original, "text/vtt")


def test_a_mislabelled_file_is_read_in_the_format_its_content_shows() -> None:
    body = json.dumps({"segments": [{"startTime": 1, "endTime": 2, "body": "JSON served as VTT"}]}).encode()
    assert parse(body, "text/vtt", "ep.vtt") == [Segment(1.0, 2.0, "JSON served as VTT")]


def test_binary_data_served_as_vtt_is_refused_naming_the_file_and_type() -> None:
    with pytest.raises(TranscriptParseError) as info:
        parse(b"ID3\x03\x00\x00\x00\x00\x0fvTIT2\x00\x00\x00\x10" + bytes(range(256)) * 8, "text/vtt", "ep12.vtt")
    assert str(info.value).startswith("cannot read 'ep12.vtt' (text/vtt): binary data, not text")
    assert isinstance(info.value, ValueError)
    assert info.value.source == "'ep12.vtt' (text/vtt)"


def test_a_declared_vtt_without_cues_says_so() -> None:
    with pytest.raises(TranscriptParseError, match=r"'ep\.vtt' \(text/vtt\): no VTT cues found"):
        parse(b"Sorry, the transcript is not ready yet.", "text/vtt", "ep.vtt")


def test_invalid_json_says_where() -> None:
    with pytest.raises(TranscriptParseError, match=r"'t\.json': invalid JSON at line 2 column 1"):
        parse(b'{"segments": [\n', None, "t.json")


def test_whitespace_only_and_empty_files_are_errors() -> None:
    with pytest.raises(TranscriptParseError, match="only whitespace"):
        parse(b" \r\n\t ", "text/plain")
    with pytest.raises(TranscriptParseError, match=r"cannot read transcript: the file is empty"):
        parse(b"")


def test_text_instead_of_bytes_is_a_type_error_that_says_what_to_pass() -> None:
    with pytest.raises(TypeError, match="needs the transcript as bytes, got str"):
        parse("WEBVTT", "text/vtt")  # type: ignore[arg-type]


# --- real files -------------------------------------------------------------------------------------

NAMESPACE_TYPES = {
    "example.vtt": "text/vtt",
    "example.srt": "application/x-subrip",
    "example.json": "application/json",
    "example.html": "text/html",
}


@pytest.mark.parametrize("name", listing(NAMESPACE))
def test_every_namespace_example_parses_with_and_without_hints(name: str) -> None:
    path = require_shared() / "transcripts/podcast-namespace" / name
    data = path.read_bytes()
    if path.suffix == ".md":
        assert parse(data, "text/markdown", name)  # the spec pages: readable as plain text
        return
    segments = parse(data, NAMESPACE_TYPES[name], name)
    assert segments and all(s.text and s.end >= s.start for s in segments)
    assert parse(data) == segments  # sniffing alone finds the same format


def test_namespace_vtt_and_srt_of_the_same_episode_agree_with_the_html(shared_data: Path) -> None:
    """The SRT and HTML examples are one episode; speaker turns and turn start times must agree."""
    folder = shared_data / "transcripts/podcast-namespace"
    srt = parse((folder / "example.srt").read_bytes(), "application/x-subrip")
    html = parse((folder / "example.html").read_bytes(), "text/html")
    turns = [s for i, s in enumerate(srt) if i == 0 or s.speaker != srt[i - 1].speaker]
    assert [s.speaker for s in turns] == [s.speaker for s in html]
    assert [int(s.start) for s in turns] == [int(s.start) for s in html]
    vtt = parse((folder / "example.vtt").read_bytes(), "text/vtt")
    assert vtt[2] == Segment(6.09, 11.61, "include in one? Welcome to Podcasting Q&A, where you learn", "Sarah")


def _transcriptator_pairs() -> list[str]:
    return [n for n in listing(TRANSCRIPTATOR) if n.endswith("_parsed.json")] or ["<no parsed files>"]


def _load_expected(name: str) -> tuple[Path, list[dict]]:
    folder = require_shared() / "transcripts/transcriptator"
    stem, fmt = name.removesuffix("_parsed.json").rsplit("_", 1)
    return folder / f"{stem}.{fmt}", json.loads((folder / name).read_text())["segments"]


@pytest.mark.parametrize("name", listing(TRANSCRIPTATOR))
def test_every_transcriptator_file_parses(name: str) -> None:
    path = require_shared() / "transcripts/transcriptator" / name
    segments = parse(path.read_bytes(), None, name)
    assert segments and all(s.text and s.end >= s.start >= 0 for s in segments)


@pytest.mark.parametrize("name", _transcriptator_pairs())
def test_we_match_transcriptator_segment_for_segment(name: str) -> None:
    """Same count, times to 1 ms, speakers and text; differences are the two documented below."""
    source, expected = _load_expected(name)
    ours = parse(source.read_bytes(), None, source.name)
    assert len(ours) == len(expected)
    for got, want in zip(ours, expected, strict=True):
        assert got.start == pytest.approx(want["startTime"], abs=0.0005)
        assert got.end == pytest.approx(want["endTime"], abs=0.0005)
        assert got.speaker == (want["speaker"] or None)
        assert got.text == " ".join(want["body"].split())


def test_difference_multi_line_cues_are_one_line_for_us(shared_data: Path) -> None:
    """transcriptator keeps an SRT card's line break (``"...nice to\\nlike, show up"``); we join the
    lines with a space, because line breaks in captions are display wrapping, not content, and phrase
    merging, search snippets and Markdown lines all want flat text."""
    _, expected = _load_expected("buzzcast_srt_parsed.json")
    ours = parse((shared_data / "transcripts/transcriptator/buzzcast.srt").read_bytes())
    assert expected[0]["body"] == "It is so stinking nice to\nlike, show up and record this"
    assert ours[0].text == "It is so stinking nice to like, show up and record this"


def test_difference_an_unknown_speaker_is_none_not_empty(shared_data: Path) -> None:
    """transcriptator writes ``"speaker": ""`` when a file names nobody; our Segment uses ``None`` for
    "unknown" everywhere, so renderers and search never show an empty name."""
    _, expected = _load_expected("kde_express-16_kde_en_telegram_vtt_parsed.json")
    ours = parse((shared_data / "transcripts/transcriptator/kde_express-16_kde_en_telegram.vtt").read_bytes())
    assert {s["speaker"] for s in expected} == {""}
    assert {s.speaker for s in ours} == {None}


# --- cost -----------------------------------------------------------------------------------------


def _generated(fmt: str, cues: int) -> bytes:
    if fmt == "vtt":
        cue = "00:00:01.000 --> 00:00:02.000 align:start\n<v Sarah>Some <i>words</i> &amp; more\nsecond line\n\n"
        return ("WEBVTT\n\n" + cue * cues).encode()
    if fmt == "srt":
        return ("1\n00:00:01,000 --> 00:00:02,000\nSarah: Some <i>words</i>\nsecond line\n\n" * cues).encode()
    if fmt == "json":
        item = {"speaker": "Sarah", "startTime": 1.5, "endTime": 2.0, "body": "word"}
        return json.dumps({"version": "1.0.0", "segments": [item] * cues}).encode()
    if fmt == "html":
        return ("<cite>Sarah:</cite><time>1:02</time><p>Some words &amp; more</p>\n" * cues).encode()
    return ("Sarah: Some words and more.\n\n" * cues).encode()


@pytest.mark.parametrize("fmt", ["vtt", "srt", "json", "html", "txt"])
def test_parsing_cost_grows_linearly_with_size(fmt: str) -> None:
    """Eight times the input costs about eight times the CPU time, never 64 (quadratic)."""
    assert_linear(lambda data: parse(data, None, f"x.{fmt}"), lambda cues: _generated(fmt, cues), 750)
