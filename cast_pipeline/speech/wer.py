"""Word error rate, with the normalisation that makes model output and reference texts comparable.

Why normalise: reference texts (LibriVox) are lower case without punctuation, models write
"Mr. Dashwood, ..." — without normalisation every comma and capital would count as an error.
Spoken titles written as abbreviations (``Mr.`` -> ``mister``, ``Mrs.`` -> ``missus``, ``Dr.`` ->
``doctor``) are expanded, as Whisper's own English normaliser does: they are pronounced the same.
Numbers are left as they are (no "4" <-> "four" folding): a model writing digits where the
reference spells them out is a real difference in a searchable transcript.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'"})
_NON_WORD = re.compile(r"[^\w\s']|_")
_ABBREVIATIONS = {"mr": "mister", "mrs": "missus", "dr": "doctor"}


def normalize_text(text: str) -> list[str]:
    """Lower-cased words without punctuation; apostrophes inside words are kept (``don't``)."""
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).lower()
    text = _NON_WORD.sub(" ", text)
    words = [w.strip("'") for w in text.split() if w.strip("'")]
    return [_ABBREVIATIONS.get(w, w) for w in words]


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance over words (substitutions, insertions, deletions all cost 1).

    One numpy row per reference word, so an hour of speech (~9,000 words each side) takes about a
    second: within a row, insertions chain left to right, which is a running minimum of
    ``row[j] - j`` (``np.minimum.accumulate``) instead of a Python loop.
    """
    ids: dict[str, int] = {}
    ref = np.array([ids.setdefault(w, len(ids)) for w in reference], dtype=np.int64)
    hyp = np.array([ids.setdefault(w, len(ids)) for w in hypothesis], dtype=np.int64)
    steps = np.arange(len(hyp) + 1, dtype=np.int64)
    previous = steps.copy()
    for i, ref_word in enumerate(ref, start=1):
        current = np.empty_like(previous)
        current[0] = i
        current[1:] = np.minimum(previous[1:] + 1, previous[:-1] + (hyp != ref_word))  # deletion, substitution
        previous = np.minimum.accumulate(current - steps) + steps  # insertions
    return int(previous[-1])


@dataclass(frozen=True)
class WerResult:
    errors: int
    reference_words: int

    @property
    def wer(self) -> float:
        if self.reference_words == 0:
            return 0.0 if self.errors == 0 else float("inf")
        return self.errors / self.reference_words


def word_errors(reference: str, hypothesis: str) -> WerResult:
    ref, hyp = normalize_text(reference), normalize_text(hypothesis)
    return WerResult(edit_distance(ref, hyp), len(ref))


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of ``hypothesis`` against ``reference`` after :func:`normalize_text`."""
    return word_errors(reference, hypothesis).wer


def corpus_wer(pairs: Iterable[tuple[str, str]]) -> float:
    """Overall WER of (reference, hypothesis) pairs: total errors over total reference words."""
    results = [word_errors(r, h) for r, h in pairs]
    words = sum(r.reference_words for r in results)
    errors = sum(r.errors for r in results)
    return errors / words if words else 0.0
