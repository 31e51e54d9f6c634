"""Episode titles and descriptions searched in memory (BM25), with the analysis of LanceDB's index.

Why not LanceDB's full-text index, which the transcripts' passages use: every LanceDB query costs ~3 ms
of CPU however small its table (measured at 1M phrases on 2 cores: reading 3 rows of the 10,000-row
``episodes`` table 3.2 ms, a title search 3.4 ms, a description search 3.1 ms), and each search asked
for titles and descriptions on top of the passages, so 2 of its 3 full-text queries were this fixed
cost. An archive has thousands to a few hundred thousand episodes: their titles and descriptions fit
in memory, and a query there costs ~0.1 ms. LanceDB stays the store (the ``episodes`` table and its
full-text indexes are still built; the CLI's and the service's answers come from here).

Analysis is LanceDB's for the feed's language (found by probing its index), so a query matches the same
words in a title as in a transcript: runs of letters and digits, tokens of 40 bytes or more dropped,
lower case, the Snowball stemmer (``PyStemmer``), then the language's stop words (:mod:`.stopwords`)
dropped *after* stemming ("les" -> "le" is dropped, "machen" -> "mach" is kept), then ASCII folding.
Episodes without a supported language (``simple``) are lower-cased and folded only. Scores are BM25
(k1 1.2, b 0.75) per field and language; documents without terms count neither in N nor in the mean
length. Tests compare the titles matched and their scores with LanceDB's own index (at 1M, 200 of 200
benchmark queries gave the same episode rows).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from cast_pipeline.search.languages import LANGUAGES, SIMPLE
from cast_pipeline.search.stopwords import STOP_WORDS
from cast_pipeline.search.text import ParsedQuery, contains_phrases

K1, B = 1.2, 0.75
MAX_TOKEN_BYTES = 40  # LanceDB's default max_token_length: longer tokens are not indexed
FIELDS = ("title", "description")
_TOKEN = re.compile(r"[^\W_]+")
_FOLD = str.maketrans({"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ł": "l", "þ": "th", "ð": "d"})
_STEMMERS: dict[str, str] = {}


def _fold(token: str) -> str:
    if token.isascii():
        return token
    decomposed = unicodedata.normalize("NFKD", token.translate(_FOLD))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@cache
def _stemmer(code: str) -> Any:
    import Stemmer

    return Stemmer.Stemmer(_STEMMERS.get(code, LANGUAGES[code].lancedb.lower()), 10_000)


def analyze(text: str, code: str) -> list[str]:
    """The terms LanceDB's full-text index keeps of ``text`` in language ``code`` (in order)."""
    tokens = [t for t in _TOKEN.findall(text.lower()) if len(t.encode()) < MAX_TOKEN_BYTES]
    if code != SIMPLE and LANGUAGES[code].stem:  # LanceDB's order: stem, then drop stop words, then fold
        stop = STOP_WORDS.get(code, frozenset())
        tokens = [t for t in _stemmer(code).stemWords(tokens) if t not in stop]
    return [_fold(t) for t in tokens]


@dataclass
class _Inverted:
    """One field of the episodes of one language: term -> {document: term frequency}, and lengths."""

    postings: dict[str, dict[int, int]]
    lengths: dict[int, int]
    mean_length: float = 1.0

    def idf(self, term: str) -> float:
        n = len(self.postings.get(term, ()))
        return math.log(1 + (len(self.lengths) - n + 0.5) / (n + 0.5))

    def scores(self, terms: Iterable[str], required: list[list[str]]) -> dict[int, float]:
        out: dict[int, float] = defaultdict(float)
        for term in set(terms):
            idf = self.idf(term)
            for doc, tf in self.postings.get(term, {}).items():
                norm = tf + K1 * (1 - B + B * self.lengths[doc] / self.mean_length)
                out[doc] += idf * tf * (K1 + 1) / norm
        for phrase in required:  # every word of a quoted phrase must be there (the text is checked later)
            out = {doc: s for doc, s in out.items() if all(doc in self.postings.get(t, {}) for t in phrase)}
        return out


class EpisodeText:
    """Titles and descriptions of one index version's episodes, searchable in memory."""

    def __init__(self, episodes: Iterable[Mapping[str, Any]]) -> None:
        self.episodes = list(episodes)
        self.fields: dict[tuple[str, str], _Inverted] = {}
        for doc, episode in enumerate(self.episodes):
            code = episode.get("language") or SIMPLE
            code = code if code in LANGUAGES else SIMPLE
            for name in FIELDS:
                terms = analyze(episode.get(name) or "", code)
                if not terms:  # LanceDB counts no document without terms (in N or the mean length)
                    continue
                inverted = self.fields.setdefault((name, code), _Inverted({}, {}))
                inverted.lengths[doc] = len(terms)
                for term, tf in Counter(terms).items():
                    inverted.postings.setdefault(term, {})[doc] = tf
        for inverted in self.fields.values():
            inverted.mean_length = sum(inverted.lengths.values()) / len(inverted.lengths)

    def search(
        self,
        field: str,
        parsed: ParsedQuery,
        k: int,
        accept: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """The ``k`` best episodes whose ``field`` matches: ``episode_key``, ``_score`` and the field's text.

        Any word of the query matches (BM25 adds them up); quoted phrases must occur verbatim. A row's
        language decides how the query is analysed for it, as one full-text index per language does.
        """
        hits: list[dict[str, Any]] = []
        for (name, code), inverted in self.fields.items():
            if name != field:
                continue
            required = [analyze(p, code) for p in parsed.phrases]
            for doc, score in inverted.scores(analyze(parsed.text, code), required).items():
                episode = self.episodes[doc]
                if accept is not None and not accept(episode):
                    continue
                if parsed.phrases and not contains_phrases(episode[field], parsed.phrases):
                    continue
                hits.append({"episode_key": episode["episode_key"], "_score": score, field: episode[field]})
        hits.sort(key=lambda h: (-h["_score"], h["episode_key"]))
        return hits[:k]
