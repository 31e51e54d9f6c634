"""Query parsing, text normalisation, highlighting and the small formatting helpers of a result row.

Why our own normalisation: quoted phrases must match exactly, and "exactly" has to survive case,
punctuation and line breaks ("Machine-learning," in a transcript matches the phrase "machine learning").
Highlighting cannot ask the full-text index which words it matched, so it marks words that equal a
query term or share its stem-like prefix ("Häuser" marks "Haus", "running" marks "run"); stop words in
the query are never marked.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

_WORD = re.compile(r"\w+", re.UNICODE)
_PHRASE = re.compile(r'"([^"]*)"')

# Only used to decide which query words are worth marking; the index has its own stop-word lists.
_STOP_TEXT = """
a an and are as at be by for from has have i in is it its of on or that the this to was were will with you we
they he she do does not but what when where who how why our your their there about should would could can
much many my me so if then than just
der die das den dem des ein eine einer eines einem und oder ist sind war im in am an auf aus bei mit nach von
vor zu zum zur ich du er sie es wir ihr nicht wie was wer wo auch als dass für über
"""
_STOP_WORDS = frozenset(_STOP_TEXT.split())


@dataclass(frozen=True)
class ParsedQuery:
    """A user query split into free words and quoted phrases."""

    text: str  # every word of the query, quotes removed: what the keyword index and the embedder see
    terms: tuple[str, ...]  # the words, in order
    phrases: tuple[str, ...]  # quoted phrases as typed (must occur verbatim, modulo case and punctuation)


def parse_query(query: str) -> ParsedQuery:
    """Split ``query`` into words and ``"quoted phrases"``; an unmatched quote is ignored."""
    if not isinstance(query, str) or not _WORD.search(query):
        raise ValueError(f"empty search query: {query!r} (type at least one word)")
    phrases = tuple(p.strip() for p in _PHRASE.findall(query) if _WORD.search(p))
    terms = tuple(_WORD.findall(query.replace('"', " ")))
    return ParsedQuery(text=" ".join(terms), terms=terms, phrases=phrases)


def normalize(text: str) -> str:
    """Case-folded words separated by single spaces: the form phrases are compared in."""
    return " ".join(_WORD.findall(unicodedata.normalize("NFKC", text).casefold()))


def contains_phrases(text: str, phrases: tuple[str, ...] | list[str]) -> bool:
    """True when every phrase occurs in ``text`` as whole consecutive words (after :func:`normalize`)."""
    padded = f" {normalize(text)} "
    return all(f" {normalize(p)} " in padded for p in phrases)


def fold(word: str) -> str:
    """Accent-free, case-folded form of one word (``"Häuser"`` -> ``"hauser"``)."""
    if word.isascii():  # most words: no accents to strip (highlighting folds every word of every hit)
        return word.lower()
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# Endings that turn a word into an inflected form of itself in English or German (folded, lower case).
_ENDINGS = frozenset(
    ["s", "es", "e", "ed", "d", "er", "ers", "en", "ern", "ens", "ing", "ings", "ly", "n", "nen", "ung", "ungen"]
)


def _same_stem(word: str, term: str) -> bool:
    if word == term:
        return True
    shorter, longer = sorted((word, term), key=len)
    if len(shorter) < 3:
        return False
    prefix = len(_common_prefix(word, term))
    if prefix == len(shorter):  # one is the other plus an ending: haus/hauser, run/running, kind/kinder
        rest = longer[len(shorter) :]
        return rest in _ENDINGS or (rest[:1] == shorter[-1] and rest[1:] in _ENDINGS)
    return prefix >= max(4, len(shorter) - 2)  # same stem, different endings: houses/housing


def _common_prefix(a: str, b: str) -> str:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return a[:n]


def highlight(text: str, terms: tuple[str, ...] | list[str], phrases: tuple[str, ...] | list[str] = ()) -> str:
    """``text`` with quoted phrases and query words wrapped in ``**bold**`` (Markdown)."""
    spans: list[tuple[int, int]] = []
    for phrase in phrases:
        words = _WORD.findall(phrase)
        if not words:
            continue
        pattern = r"(?<!\w)" + r"\W+".join(re.escape(w) for w in words) + r"(?!\w)"
        spans.extend(m.span() for m in re.finditer(pattern, text, flags=re.IGNORECASE))
    wanted = [fold(t) for t in terms if t.casefold() not in _STOP_WORDS]
    exact, stems = set(wanted), {t[:3] for t in wanted}  # _same_stem needs equality or 3 common first letters
    for m in _WORD.finditer(text):
        word = fold(m.group())
        if word not in exact and (word[:3] not in stems or not any(_same_stem(word, t) for t in wanted)):
            continue
        if not any(s <= m.start() < e for s, e in spans):
            spans.append(m.span())
    out, pos = [], 0
    for start, end in sorted(spans):
        if start < pos:
            continue
        out += [text[pos:start], "**", text[start:end], "**"]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def timestamp(seconds: float | None) -> str | None:
    """``HH:MM:SS`` of a position in an episode (hours are not wrapped at 24)."""
    if seconds is None or not math.isfinite(seconds):
        return None
    total = max(0, int(seconds))
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def play_url(enclosure_url: str | None, seconds: float | None = None) -> str | None:
    """The episode's audio URL with a media fragment (``#t=754``) so players start at the hit."""
    if not enclosure_url:
        return None
    parts = urlsplit(enclosure_url)
    fragment = "" if seconds is None or not math.isfinite(seconds) else f"t={max(0, int(seconds))}"
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, fragment))
