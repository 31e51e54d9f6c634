"""Timestamps as publishers write them, to and from seconds.

Accepted (all formats share this, so a VTT with SRT-style commas or an HTML ``<time>`` with hours
still reads): ``HH:MM:SS.mmm``, ``H:MM:SS,mmm``, ``MM:SS.mmm``, ``M:SS`` and bare seconds
``7.380``. The fraction is a decimal fraction of a second (``.5`` is 500 ms); more than three
digits are read and the result rounded to the millisecond, because no publisher format is more
precise and rounding keeps ``4.799`` from becoming ``4.79899999``.
"""

from __future__ import annotations

import re

# Hours are optional, minutes may exceed 59 when there are no hours (``102:30`` in a long episode).
_MS_SCALE = {1: 100, 2: 10, 3: 1}
_TIMESTAMP_RE = re.compile(r"(?:(?:(\d+):)?(\d+):)?(\d+)(?:[.,](\d+))?")


def parse_timestamp(text: str) -> float | None:
    """Seconds for ``text`` (see module docstring), or ``None`` when it is not a timestamp."""
    match = _TIMESTAMP_RE.fullmatch(text.strip())
    if match is None:
        return None
    return timestamp_from_match(match.group(1), match.group(2), match.group(3), match.group(4))


def timestamp_from_match(hours: str | None, minutes: str | None, seconds: str, fraction: str | None) -> float:
    """Seconds from the captured parts of a timestamp (shared by the caption timing-line regex)."""
    total = int(seconds)
    if minutes:
        total += int(minutes) * 60
    if hours:
        total += int(hours) * 3600
    if not fraction:
        return float(total)
    if len(fraction) <= 3:
        # whole milliseconds divided once: the float nearest to the decimal, no rounding needed
        return (total * 1000 + int(fraction) * _MS_SCALE[len(fraction)]) / 1000
    return round(total + int(fraction) / 10 ** len(fraction), 3)


def _split_ms(seconds: float) -> tuple[int, int, int, int]:
    total_ms = max(0, round(seconds * 1000))
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return hours, minutes, secs, ms


def format_timestamp(seconds: float, separator: str = ".") -> str:
    """``HH:MM:SS.mmm`` (VTT) or, with ``separator=","``, ``HH:MM:SS,mmm`` (SRT)."""
    hours, minutes, secs, ms = _split_ms(seconds)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def format_clock(seconds: float) -> str:
    """``HH:MM:SS`` (whole seconds, truncated), for Markdown and plain-text time marks."""
    hours, minutes, secs, _ = _split_ms(seconds)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"
