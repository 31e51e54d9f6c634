"""Specification of transcript decoding: byte-order marks, UTF-16 without BOM, charset, fallbacks, binary."""

from __future__ import annotations

import codecs

import pytest

from cast_pipeline.transcripts.decoding import decode_transcript
from cast_pipeline.transcripts.errors import TranscriptParseError

TEXT = "WEBVTT\n\n00:00.000 --> 00:01.000\n<v José>Café, “quoted” — ok\n"


@pytest.mark.parametrize(
    ("bom", "encoding"),
    [
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
    ],
)
def test_a_byte_order_mark_decides_the_encoding_and_is_removed(bom: bytes, encoding: str) -> None:
    assert decode_transcript(bom + TEXT.encode(encoding), None, "t") == TEXT


def test_a_bom_wins_over_a_contradicting_charset() -> None:
    assert decode_transcript(codecs.BOM_UTF8 + TEXT.encode(), "iso-8859-1", "t") == TEXT


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_is_recognised_from_its_nul_pattern(encoding: str) -> None:
    assert decode_transcript(TEXT.encode(encoding), None, "t") == TEXT


def test_a_utf16_charset_applies_even_when_the_text_is_not_ascii_heavy() -> None:
    text = "第一行字幕。\n" * 50  # too few NUL bytes to sniff from, but the header says UTF-16
    assert decode_transcript(text.encode("utf-16-le"), "UTF-16LE", "t") == text


def test_a_utf16_charset_without_byte_order_takes_it_from_the_nul_pattern() -> None:
    assert decode_transcript(TEXT.encode("utf-16-be"), "utf-16", "t") == TEXT


def test_a_utf16_charset_on_text_without_any_nul_byte_is_a_wrong_label() -> None:
    assert decode_transcript("plain UTF-8, café".encode(), "utf-16", "t") == "plain UTF-8, café"


def test_the_content_type_charset_is_used_for_8_bit_text() -> None:
    data = "Grüße aus Köln".encode("iso8859-15")
    assert decode_transcript(data, "ISO-8859-15", "t") == "Grüße aus Köln"


@pytest.mark.parametrize("label", ["iso-8859-1", "latin1", "us-ascii", "windows-1252"])
def test_valid_utf8_wins_over_a_default_charset_label(label: str) -> None:
    """Servers label UTF-8 as ISO-8859-1 (the old HTTP default); decoding it as latin-1 gives mojibake."""
    assert decode_transcript("Café “quoted”".encode(), label, "t") == "Café “quoted”"


def test_utf8_is_the_default_and_cp1252_the_fallback() -> None:
    assert decode_transcript("naïve".encode(), None, "t") == "naïve"
    assert decode_transcript(b"caf\xe9 \x93quoted\x94 \x85", None, "t") == "café “quoted” …"


def test_bytes_undefined_in_cp1252_fall_back_to_latin1_instead_of_failing() -> None:
    assert decode_transcript(b"abc \x81 def \xe9", None, "t") == "abc \x81 def é"


def test_an_unknown_charset_label_is_ignored() -> None:
    assert decode_transcript("ok ü".encode(), "x-made-up", "t") == "ok ü"


def test_empty_input_is_refused_with_the_source_named() -> None:
    with pytest.raises(TranscriptParseError, match=r"cannot read 'ep\.vtt' \(text/vtt\): the file is empty"):
        decode_transcript(b"", None, "'ep.vtt' (text/vtt)")


def test_nul_bytes_mean_binary_data_and_the_error_says_where_and_what_to_check() -> None:
    mp3_like = b"ID3\x04\x00\x00\x00\x00\x00#TSSE\x00\x00\x00\x0f\x00\x00\x03Lavf58"
    with pytest.raises(TranscriptParseError) as info:
        decode_transcript(mp3_like, None, "'ep.vtt' (text/vtt)")
    message = str(info.value)
    assert "'ep.vtt' (text/vtt)" in message
    assert "binary data" in message and "offset 4" in message and "not at the audio" in message


def test_many_control_bytes_mean_binary_even_without_nul() -> None:
    data = bytes(range(1, 32)) * 20 + b"some text" * 10
    with pytest.raises(TranscriptParseError, match="binary data, not text"):
        decode_transcript(data, None, "t")


def test_a_few_stray_control_characters_are_tolerated() -> None:
    text = "line one\x0b\nline two\x1a\n" + "ordinary words " * 20
    assert decode_transcript(text.encode(), None, "t") == text


def test_utf16_decoded_binary_is_still_refused() -> None:
    with pytest.raises(TranscriptParseError, match="binary data"):
        decode_transcript(codecs.BOM_UTF16_LE + "ab\x00cd".encode("utf-16-le"), None, "t")


def test_a_bom_that_lies_gives_a_clear_error() -> None:
    with pytest.raises(TranscriptParseError, match=r"byte-order mark says utf-8, but byte \d+ is not valid utf-8"):
        decode_transcript(codecs.BOM_UTF8 + b"caf\xe9", None, "t")
