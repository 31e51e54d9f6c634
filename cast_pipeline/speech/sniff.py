"""Recognise audio containers from their first bytes.

Why sniff instead of trusting the URL or Content-Type: podcast hosts serve MP3 as
``application/octet-stream``, M4A behind ``.mp3`` URLs, and tracking redirects sometimes end on an
HTML consent or login page with status 200. The magic bytes are the only reliable signal, so the
stored file's extension comes from here and an HTML page is rejected before it reaches the decoder.
"""

from __future__ import annotations

from dataclasses import dataclass

# Enough bytes to see an Ogg codec header (byte 28+) and a Matroska DocType.
SNIFF_BYTES = 64


@dataclass(frozen=True)
class AudioFormat:
    name: str  # short name, also the file extension
    mime: str


MP3 = AudioFormat("mp3", "audio/mpeg")
AAC = AudioFormat("aac", "audio/aac")
M4A = AudioFormat("m4a", "audio/mp4")
MP4 = AudioFormat("mp4", "video/mp4")
OGG = AudioFormat("ogg", "audio/ogg")
OPUS = AudioFormat("opus", "audio/ogg; codecs=opus")
WAV = AudioFormat("wav", "audio/wav")
FLAC = AudioFormat("flac", "audio/flac")
WEBM = AudioFormat("webm", "audio/webm")
MKA = AudioFormat("mka", "audio/x-matroska")
AIFF = AudioFormat("aiff", "audio/aiff")

_M4A_BRANDS = {b"M4A ", b"M4B ", b"M4P "}


def _is_mpeg_audio_frame(head: bytes) -> bool:
    """An MPEG-1/2/2.5 Layer I-III frame header (not ADTS, which has layer bits 00)."""
    if len(head) < 3 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version = (head[1] >> 3) & 0x3
    layer = (head[1] >> 1) & 0x3
    bitrate = head[2] >> 4
    rate = (head[2] >> 2) & 0x3
    return version != 0x1 and layer != 0x0 and bitrate != 0xF and rate != 0x3


def _is_adts(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0


def sniff_audio_format(head: bytes) -> AudioFormat | None:
    """The container of a file starting with ``head`` (pass at least :data:`SNIFF_BYTES`), or None."""
    if head.startswith(b"ID3") or _is_mpeg_audio_frame(head):
        return MP3
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return M4A if head[8:12] in _M4A_BRANDS else MP4
    if head.startswith(b"OggS"):
        return OPUS if b"OpusHead" in head[:SNIFF_BYTES] else OGG
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return WAV
    if head.startswith(b"fLaC"):
        return FLAC
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return WEBM if b"webm" in head[:SNIFF_BYTES] else MKA
    if head.startswith(b"FORM") and head[8:12] in (b"AIFF", b"AIFC"):
        return AIFF
    if _is_adts(head):
        return AAC
    return None


def describe_non_audio(head: bytes, content_type: str | None) -> str:
    """A short human description of what a non-audio response looks like, for error messages."""
    text = head.lstrip()[:32].lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or "html" in (content_type or ""):
        return "an HTML page (a login, consent or error page?), not audio"
    if text.startswith((b"<?xml", b"<rss", b"<feed")):
        return "an XML document (a feed?), not audio"
    if text.startswith((b"{", b"[")):
        return "a JSON document, not audio"
    if not head:
        return "an empty body"
    shown = head[:16].hex(" ")
    return f"not a recognised audio format (Content-Type {content_type or 'missing'}, first bytes {shown})"
