"""Episode titles and descriptions searched in memory (BM25), with the analysis of LanceDB's index.

Why not LanceDB's full-text index, which the transcripts' passages use: every LanceDB query costs ~3 ms
of CPU however small its table (measured at 1M phrases on 2 cores: reading 3 rows of the 10,000-row
``episodes`` table 3.2 ms, a title search 3.4 ms, a description search 3.1 ms), and each search asked
for titles and descriptions on top of the passages, so 2 of its 3 full-text queries were this fixed
cost. An archive has thousands to a few hundred thousand episodes: their titles and descriptions fit
in memory as numpy postings (each term's episodes and the length-normalised part of their BM25 score),
so a query there costs ~0.1 ms at 10,000 episodes and ~0.7 ms at 100,000, where a common word matches
most titles (bench/bench_episode_text.py at 100,000, session 19: p50 0.66 ms and p99 9.5 ms, against
23 ms and 376 ms with Python dicts and a full sort; the same rows in 4,920 of 4,920 searches). LanceDB
stays the store (the ``episodes`` table and its full-text indexes are still built; the CLI's and the
service's answers come from here).

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
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

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


@dataclass(frozen=True)
class _Inverted:
    """One field of the episodes of one language: each term's documents (ascending) and the term-frequency
    part of their BM25 score, which depends on the document alone; a query multiplies it by the idf."""

    postings: dict[str, tuple[np.ndarray, np.ndarray]]
    documents: int  # documents with terms: BM25's N

    @classmethod
    def build(cls, terms: list[str], docs: list[int], tfs: list[int], lengths: Mapping[int, int]) -> _Inverted:
        """From one ``(term, document, term frequency)`` triple per posting, in document order."""
        mean = sum(lengths.values()) / len(lengths)
        ids = {term: i for i, term in enumerate(dict.fromkeys(terms))}
        term_ids = np.fromiter((ids[t] for t in terms), dtype=np.int64, count=len(terms))
        order = np.argsort(term_ids, kind="stable")
        doc = np.asarray(docs, dtype=np.int64)[order]  # stable: each term's documents stay ascending
        tf = np.asarray(tfs, dtype=np.float64)[order]
        length = np.fromiter((lengths[d] for d in docs), dtype=np.float64, count=len(docs))[order]
        weight = tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / mean))
        bounds = [0, *np.cumsum(np.bincount(term_ids, minlength=len(ids))).tolist()]  # each term's slice
        postings = {t: (doc[bounds[i] : bounds[i + 1]], weight[bounds[i] : bounds[i + 1]]) for t, i in ids.items()}
        return cls(postings, len(lengths))

    def idf(self, matches: int) -> float:
        """BM25's idf of a term found in ``matches`` documents."""
        return math.log(1 + (self.documents - matches + 0.5) / (matches + 0.5))

    def scores(self, terms: Iterable[str], required: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Documents matching any of ``terms`` (and every word of each ``required`` phrase), with their
        BM25 scores."""
        found = [self.postings[t] for t in set(terms) if t in self.postings]
        parts = [(docs, self.idf(len(docs)) * weights) for docs, weights in found]
        if not parts:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        if len(parts) == 1:
            docs, scores = parts[0]
        else:
            docs, inverse = np.unique(np.concatenate([d for d, _ in parts]), return_inverse=True)
            scores = np.bincount(inverse, weights=np.concatenate([s for _, s in parts]), minlength=len(docs))
        for phrase in required:  # every word of a quoted phrase must be there (the text is checked later)
            keep = np.ones(len(docs), dtype=bool)
            for term in phrase:
                keep &= np.isin(docs, self.postings[term][0]) if term in self.postings else False
            docs, scores = docs[keep], scores[keep]
        return docs, scores


class EpisodeText:
    """Titles and descriptions of one index version's episodes, searchable in memory."""

    def __init__(self, episodes: Iterable[Mapping[str, Any]]) -> None:
        self.episodes = list(episodes)
        fields: dict[tuple[str, str], tuple[list[str], list[int], list[int], dict[int, int]]] = {}
        for doc, episode in enumerate(self.episodes):
            code = episode.get("language") or SIMPLE
            code = code if code in LANGUAGES else SIMPLE
            for name in FIELDS:
                terms = analyze(episode.get(name) or "", code)
                if not terms:  # LanceDB counts no document without terms (in N or the mean length)
                    continue
                found, docs, tfs, lengths = fields.setdefault((name, code), ([], [], [], {}))
                lengths[doc] = len(terms)
                for term, tf in Counter(terms).items():
                    found.append(term)
                    docs.append(doc)
                    tfs.append(tf)
        self.fields = {key: _Inverted.build(*built) for key, built in fields.items()}
        by_key = sorted(range(len(self.episodes)), key=lambda doc: self.episodes[doc]["episode_key"])
        self._key_rank = np.empty(len(self.episodes), dtype=np.int64)  # document -> place in key order
        self._key_rank[by_key] = np.arange(len(self.episodes))

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
        if k < 1:
            return []
        found = [
            inverted.scores(analyze(parsed.text, code), [analyze(p, code) for p in parsed.phrases])
            for (name, code), inverted in self.fields.items()
            if name == field
        ]
        if not found:
            return []
        docs = np.concatenate([d for d, _ in found])  # an episode has one language: no duplicates
        scores = np.concatenate([s for _, s in found])
        hits: list[dict[str, Any]] = []
        for doc, score in self._best_first(docs, scores, k):
            episode = self.episodes[doc]
            if accept is not None and not accept(episode):
                continue
            if parsed.phrases and not contains_phrases(episode[field], parsed.phrases):
                continue
            hits.append({"episode_key": episode["episode_key"], "_score": score, field: episode[field]})
            if len(hits) == k:
                break
        return hits

    def _best_first(self, docs: np.ndarray, scores: np.ndarray, k: int) -> Iterator[tuple[int, float]]:
        """``(document, score)`` by score, then episode key, best first: in rounds of the next best few.

        Why rounds: a common word matches most of a large archive (every title of 100,000 episodes says
        "Episode"), and sorting every match in Python cost 0.4 s; the caller stops after ``k`` accepted,
        so usually only the first round (the best ``4 k`` scores and their ties) is ever sorted.
        """
        wanted, upper = max(4 * k, 32), math.inf
        while True:
            if wanted < len(scores):
                cut = float(np.partition(scores, len(scores) - wanted)[len(scores) - wanted])
                chosen = np.flatnonzero((scores >= cut) & (scores < upper))  # ties at the cut included
            else:
                cut, chosen = -math.inf, np.flatnonzero(scores < upper)
            order = np.lexsort((self._key_rank[docs[chosen]], -scores[chosen]))  # score down, then key up
            yield from zip(docs[chosen][order].tolist(), scores[chosen][order].tolist(), strict=True)
            if cut == -math.inf:
                return
            wanted, upper = wanted * 8, cut
