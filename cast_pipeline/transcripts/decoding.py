"""Bytes to text for publisher transcripts, and the refusal of binary data.

Why not just ``data.decode("utf-8")``: transcripts come from thousands of hosting setups. Real
files arrive with byte-order marks, as UTF-16 (Windows caption tools) with or without a BOM, in
cp1252, or with a wrong ``charset`` header; and a misconfigured feed sometimes points the transcript
link at the MP3 itself. The order of evidence, strongest first:

1. A byte-order mark (UTF-32, UTF-8, UTF-16 LE/BE) decides, and is removed.
2. UTF-16 without a BOM: ASCII-heavy text in UTF-16 has a NUL in every other byte; when at least
   40 % of the odd (or even) bytes of the first 4 KiB are NUL and almost none of the others, it is
   UTF-16 LE (or BE).
3. Anything else containing NUL bytes, or with more than 1 % C0 control bytes (other than tab,
   newline, carriage return, form feed) in the first 64 KiB, is binary and refused. Text never
   has them; compressed audio has about 11 %.
4. The ``charset`` of the content type, when Python knows it. A UTF-16/32 charset is applied before
   step 2 (such text legitimately contains NUL bytes), but only if there is a NUL byte at all: every
   transcript has spaces or newlines, which are NUL-padded in UTF-16, so without one the label lies.
   Servers also often label UTF-8 as ISO-8859-1 / ASCII (the old HTTP default), so for those labels
   valid UTF-8 wins.
5. UTF-8, then cp1252, then ISO-8859-1 (which accepts any byte, so decoding always ends somewhere).

Everything runs in C over the whole buffer (``bytes.count``, ``translate``, ``decode``): linear
time, fast enough for 50 MB files.
"""

from __future__ import annotations

import codecs

from cast_pipeline.transcripts.errors import TranscriptParseError

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# C0 controls that never occur in text files (tab, LF, CR and form feed excluded).
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13)) + b"\x7f"
_CONTROL_CHARS = {b: None for b in _CONTROL_BYTES}
_SNIFF = 4096
_SAMPLE = 65536
_MAX_CONTROL_RATIO = 0.01
# Labels servers put on UTF-8 by default; valid UTF-8 overrides them.
_WEAK_CHARSETS = {"iso8859-1", "ascii", "cp1252"}


def _utf16_without_bom(data: bytes) -> str | None:
    head = data[: _SNIFF - _SNIFF % 2]
    half = len(head) // 2
    if half < 2:
        return None
    even_nul = head[0::2].count(0) / half
    odd_nul = head[1::2].count(0) / half
    if odd_nul >= 0.4 and even_nul <= 0.05:
        return "utf-16-le"
    if even_nul >= 0.4 and odd_nul <= 0.05:
        return "utf-16-be"
    return None


def _normalise_charset(charset: str | None) -> str | None:
    if not charset:
        return None
    try:
        return codecs.lookup(charset.strip().strip("'\"")).name
    except LookupError:
        return None  # an unknown label is no evidence; fall through to the defaults


def _refuse_binary(text_or_bytes: bytes | str, source: str) -> None:
    nul = text_or_bytes.find(b"\0" if isinstance(text_or_bytes, bytes) else "\0")
    if nul >= 0:
        raise TranscriptParseError(
            source,
            f"binary data, not text (NUL byte at offset {nul}); check that the link points at the "
            "transcript file and not at the audio or an image",
        )
    sample = text_or_bytes[:_SAMPLE]
    if isinstance(sample, bytes):
        controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    else:
        controls = len(sample) - len(sample.translate(_CONTROL_CHARS))
    if sample and controls / len(sample) > _MAX_CONTROL_RATIO:
        raise TranscriptParseError(
            source,
            f"binary data, not text ({controls} control bytes in the first {len(sample)}); check that "
            "the link points at the transcript file and not at the audio or an image",
        )


def decode_transcript(data: bytes, charset: str | None, source: str) -> str:
    """Decode ``data`` following the order above; ``source`` names the input in errors."""
    if not data:
        raise TranscriptParseError(source, "the file is empty (0 bytes)")
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _decode_strict(data[len(bom) :], encoding, source, why="its byte-order mark")
    declared = _normalise_charset(charset)
    if declared and declared.startswith(("utf-16", "utf-32")) and b"\0" in data:
        if declared == "utf-16":  # no byte order given: take it from the NUL pattern when there is one
            declared = _utf16_without_bom(data) or declared
        return _decode_strict(data, declared, source, why="the content type's charset")
    utf16 = _utf16_without_bom(data)
    if utf16:
        return _decode_strict(data, utf16, source, why="its NUL-byte pattern")
    _refuse_binary(data, source)
    candidates = [declared] if declared and not declared.startswith(("utf-16", "utf-32")) else []
    if declared in _WEAK_CHARSETS:
        candidates.insert(0, "utf-8")
    for encoding in (*candidates, "utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("iso8859-1")


def _decode_strict(data: bytes, encoding: str, source: str, why: str) -> str:
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise TranscriptParseError(
            source, f"{why} says {encoding}, but byte {exc.start} is not valid {encoding}: {exc.reason}"
        ) from None
    _refuse_binary(text, source)
    return text
