"""Hybrid ranking as plain functions: reciprocal rank fusion, per-episode caps, over-fetching.

Why reciprocal rank fusion (RRF): BM25 scores and cosine similarities live on unrelated scales, so
adding them needs per-query normalisation that breaks on outliers. RRF uses ranks only: an item's score
is the sum of ``1 / (k + rank)`` over the lists it appears in (rank from 1, ``k = 60`` as in Cormack et
al. 2009), so an item both lists like beats an item only one list likes a lot. Each list is over-fetched
(several times the page size) because fusion, phrase filters and the per-episode cap all drop items.

Why a per-episode cap: one long episode about the query topic would otherwise fill the whole page with
neighbouring phrases; a cap of 3 keeps room for other episodes (their best phrases still come first).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

RRF_K = 60
OVERFETCH = 5
MAX_PER_EPISODE = 3

Source = Literal["keyword", "meaning"]
MatchedBy = Literal["keyword", "meaning", "both"]
K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


@dataclass(frozen=True)
class Fused:
    """One item after fusion: its RRF score, which lists found it and at which rank (1-based)."""

    key: Hashable
    score: float
    ranks: dict[str, int]  # source -> best rank in a list of that source

    @property
    def matched_by(self) -> MatchedBy:
        if "keyword" in self.ranks and "meaning" in self.ranks:
            return "both"
        return "keyword" if "keyword" in self.ranks else "meaning"


def reciprocal_rank_fusion(lists: Sequence[tuple[Source, Sequence[K]]], *, k: int = RRF_K) -> list[Fused]:
    """Fuse ranked lists of keys (best first) into one list, best first.

    ``lists`` pairs each ranked list with its source (``"keyword"`` or ``"meaning"``). A key repeated in
    one list counts once, at its best rank. Ties keep the order of first appearance (keyword lists
    before meaning lists when given in that order), so the result is deterministic.
    """
    if k < 1:
        raise ValueError(f"RRF k must be >= 1, got {k}")
    scores: dict[Hashable, float] = defaultdict(float)
    ranks: dict[Hashable, dict[str, int]] = defaultdict(dict)
    first_seen: dict[Hashable, int] = {}
    for source, keys in lists:
        if source not in ("keyword", "meaning"):
            raise ValueError(f"unknown result source {source!r}; expected 'keyword' or 'meaning'")
        seen: set[Hashable] = set()
        for rank, key in enumerate(keys, start=1):
            if key in seen:
                continue
            seen.add(key)
            first_seen.setdefault(key, len(first_seen))
            scores[key] += 1.0 / (k + rank)
            ranks[key][source] = min(rank, ranks[key].get(source, rank))
    order = sorted(scores, key=lambda key: (-scores[key], first_seen[key]))
    return [Fused(key=key, score=scores[key], ranks=dict(ranks[key])) for key in order]


def cap_per_group(items: Iterable[T], group: Callable[[T], Hashable], max_per_group: int = MAX_PER_EPISODE) -> list[T]:
    """Keep at most ``max_per_group`` items of each group, in the given order (best ones survive)."""
    if max_per_group < 1:
        raise ValueError(f"max_per_group must be >= 1, got {max_per_group}")
    counts: dict[Hashable, int] = defaultdict(int)
    kept = []
    for item in items:
        g = group(item)
        if counts[g] < max_per_group:
            counts[g] += 1
            kept.append(item)
    return kept


def overfetch(limit: int, factor: int = OVERFETCH) -> int:
    """How many candidates to ask each retriever for, so fusion and caps still fill ``limit`` results."""
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    return max(limit * factor, 20)
