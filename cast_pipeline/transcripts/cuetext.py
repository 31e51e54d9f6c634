"""Cue text cleaning and speaker detection, shared by the VTT, SRT, HTML and plain-text readers.

Cleaning: voice tags give the speaker (``<v Sarah>``, ``<v.loud Sarah>``, closed or not); every other
tag is dropped (``<c.yellow>``, ``<i>``, ``<b>``, ``<u>``, ``<font color=...>``, ``<lang en>``,
inline karaoke timestamps ``<00:00:18.400>``) and so are SSA overrides such as ``{\\an8}``; then HTML
entities are decoded (after tag removal, so ``&lt;i&gt;`` stays visible text) and all whitespace,
line breaks included, collapses to single spaces.

Speaker prefix rule (``Name: text``), for cues without a voice tag. The prefix counts as a speaker
only when all of these hold, so ordinary sentences such as ``Note: this is...`` or ``at 10:30 we``
keep their text:

- it sits at the very start of the cue and the colon is followed by whitespace or the end of the cue
  (so ``https://`` and ``10:30`` never match); one space before the colon is allowed (``Alban :``);
- it is one to four words, 2 to 32 characters, starts with a letter, and every word starts with an
  upper-case letter (``Sarah``, ``Dr. Jane O'Neil``, ``Mary-Jane``, ``JOHN``) except that later
  words may be numbers (``Speaker 1``, ``Guest 2``);
- none of its words is a common label or sentence word (``Note``, ``Warning``, ``Update``, ``Step``,
  ``Tip``, ``Question``, ``The``, ``But``, ``So``, ... see ``_NOT_NAMES``). Single letters (``Q:``,
  ``A:``) are not names either.

A lowercase particle (``Ludwig van Beethoven:``) makes the rule fail: the text then keeps the
prefix, which loses a speaker but never loses words.
"""

from __future__ import annotations

import html
import re

_VOICE_RE = re.compile(r"<v(?:\.[^\s<>]*)?(?:[ \t]+([^<>]*))?>", re.IGNORECASE)  # [^<>]: linear time
_BR_RE = re.compile(r"<br\s*/?>", re.IGNORECASE)  # a line break between words must stay a space
_TAG_RE = re.compile(r"</?[A-Za-z][^<>]*>|<\d[\d:.,]*>|\{\\[^{}]*\}")
_PREFIX_RE = re.compile(r"([^\W\d_][\w'’.\-]*(?:[ \t]+[\w'’.\-]+){0,3}) ?:(?:\s+|$)")
# Words that make a "Name:" prefix a label or a sentence start rather than a speaker.
_NOT_NAME_WORDS = """
note notes nb n.b ps p.s warning caution important update updated edit edited correction reminder
disclaimer example tip tips hint fact quote source question answer summary bonus step part chapter
section episode season verse lesson rule goal result problem solution takeaway conclusion definition
music sound sfx applause laughter intro outro ad sponsor website email phone date time price title
subject translation transcript transcription also however but and or so the a an this that these
those here there what why how when where who well okay ok yes no now then first second third next
finally last today remember plus
"""
_NOT_NAMES = frozenset(_NOT_NAME_WORDS.split())
_MAX_NAME_CHARS = 32


def collapse(text: str) -> str:
    """All runs of whitespace (line breaks, tabs, no-break spaces) as single spaces, trimmed."""
    return " ".join(text.split())


def strip_markup(text: str) -> str:
    """Text without tags and SSA overrides, entities decoded, whitespace collapsed."""
    if "<" in text or "{" in text:
        text = _TAG_RE.sub("", _BR_RE.sub(" ", text))
    if "&" in text:
        text = html.unescape(text)
    return collapse(text)


def _voice_name(annotation: str | None) -> str | None:
    if not annotation:
        return None
    return (collapse(html.unescape(annotation)) if "&" in annotation else collapse(annotation)) or None


def voice_spans(raw: str) -> list[tuple[str | None, str]]:
    """Split a cue into ``(speaker, clean text)`` parts at its ``<v>`` tags.

    A cue without voice tags is one part with speaker ``None``; text before the first voice tag keeps
    speaker ``None``; parts with empty text are dropped, except that an empty cue still yields its
    (speaker, "") so the caller can carry the speaker on.
    """
    if "<v" not in raw and "<V" not in raw:
        return [(None, strip_markup(raw))]
    if raw[1] in "vV":  # fast path for the usual cue: one voice tag at the very start
        match = _VOICE_RE.match(raw)
        rest = raw[match.end() :] if match else ""
        if match and "<v" not in rest and "<V" not in rest:
            return [(_voice_name(match.group(1)), strip_markup(rest))]
    parts: list[tuple[str | None, str]] = []
    pos = 0
    speaker: str | None = None
    for match in _VOICE_RE.finditer(raw):
        before = strip_markup(raw[pos : match.start()])
        if before:
            parts.append((speaker, before))
        speaker = _voice_name(match.group(1))
        pos = match.end()
    last = strip_markup(raw[pos:])
    if last or not parts:
        parts.append((speaker, last))
    return parts


def is_name_like(name: str) -> bool:
    """True when ``name`` passes the speaker-prefix rule in the module docstring."""
    if not 2 <= len(name) <= _MAX_NAME_CHARS:
        return False
    words = name.split()
    for index, word in enumerate(words):
        if word.casefold().rstrip(".") in _NOT_NAMES:
            return False
        if not (word[0].isupper() or (index > 0 and word.isdigit())):
            return False
    return True


def split_speaker_prefix(text: str) -> tuple[str | None, str]:
    """``("Sarah", "Hello")`` for ``"Sarah: Hello"``; ``(None, text)`` when the rule does not match."""
    if ":" not in text[: _MAX_NAME_CHARS + 2]:
        return None, text  # fast path: most cues have no colon near the start
    match = _PREFIX_RE.match(text)
    if match is None or not is_name_like(match.group(1)):
        return None, text
    return match.group(1), text[match.end() :]
