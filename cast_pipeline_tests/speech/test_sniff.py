"""The container of a download is recognised from its first bytes, whatever the URL or Content-Type say."""

from __future__ import annotations

from pathlib import Path

import pytest

from cast_pipeline.speech.sniff import SNIFF_BYTES, describe_non_audio, sniff_audio_format


def _head(path: Path) -> bytes:
    return path.read_bytes()[:SNIFF_BYTES]


def test_real_files_encoded_by_ffmpeg_are_recognised(jfk_wav: Path, jfk_variants: dict[str, Path]) -> None:
    assert sniff_audio_format(_head(jfk_wav)).name == "wav"
    found = {key: sniff_audio_format(_head(path)) for key, path in jfk_variants.items()}
    assert {k: f.name for k, f in found.items() if f} == {
        "mp3": "mp3",
        "m4a": "m4a",
        "opus": "opus",
        "flac": "flac",
        "webm": "webm",
    }


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00" * 54, "mp3"),  # MP3 with an ID3v2 tag
        (b"\xff\xfb\x90\x64" + b"\x00" * 60, "mp3"),  # bare MPEG-1 Layer III frame header
        (b"\xff\xf3\x48\xc4" + b"\x00" * 60, "mp3"),  # MPEG-2 Layer III (low bitrate podcasts)
        (b"\xff\xf1\x50\x80" + b"\x00" * 60, "aac"),  # ADTS AAC: sync word with layer bits 00
        (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00" + b"\x00" * 48, "m4a"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00" + b"\x00" * 48, "mp4"),  # video podcast
        (b"OggS\x00\x02" + b"\x00" * 22 + b"\x01vorbis" + b"\x00" * 29, "ogg"),
        (b"OggS\x00\x02" + b"\x00" * 22 + b"OpusHead" + b"\x00" * 28, "opus"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 48, "wav"),
        (b"fLaC\x00\x00\x00\x22" + b"\x00" * 56, "flac"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm" + b"\x00" * 48, "webm"),
        (b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska" + b"\x00" * 44, "mka"),
        (b"FORM\x00\x00\x10\x00AIFFCOMM" + b"\x00" * 48, "aiff"),
    ],
)
def test_magic_bytes_of_every_supported_container(head: bytes, expected: str) -> None:
    fmt = sniff_audio_format(head)
    assert fmt is not None and fmt.name == expected


@pytest.mark.parametrize(
    "head",
    [
        b"<!DOCTYPE html><html><head><title>Sign in</title>",
        b'<?xml version="1.0"?><rss version="2.0">',
        b'{"error": "not found"}',
        b"RIFF\x24\x00\x00\x00AVI LIST",  # RIFF but not WAVE
        b"\xff\xfe<\x00h\x00t\x00m\x00l\x00",  # UTF-16 BOM, not a frame sync
        b"\xff\xff\xff\xff",  # sync bits with reserved version/layer/bitrate: not MPEG audio
        b"",
    ],
)
def test_non_audio_is_not_mistaken_for_audio(head: bytes) -> None:
    assert sniff_audio_format(head) is None


def test_non_audio_descriptions_say_what_arrived_instead() -> None:
    assert "HTML page" in describe_non_audio(b"<!doctype html><html>", "text/html; charset=utf-8")
    assert "HTML page" in describe_non_audio(b"\x00\x01", "text/html")
    assert "XML" in describe_non_audio(b"<?xml version='1.0'?>", None)
    assert "JSON" in describe_non_audio(b'{"a": 1}', "application/json")
    assert "empty" in describe_non_audio(b"", None)
    assert "00 01 02" in describe_non_audio(b"\x00\x01\x02", "application/octet-stream")
