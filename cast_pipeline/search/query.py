"""Answering a query: keyword (LanceDB full-text), semantic (vectors), hybrid (both, fused).

Why the online path is LanceDB only: its full-text and vector indexes sit in one table, take the same
pre-filter (feed, since date) and answer in milliseconds; DuckDB's BM25 was 13x slower on the benchmark
corpus (see :mod:`cast_pipeline.search.analytics`). Filters are applied inside each search
(``prefilter``), never after it, so a narrow filter still fills the page.

Where the time goes at 1M rows (bench/bench_search.py): the segments' full-text search starts on
LanceDB's async API (:mod:`cast_pipeline.search.aio`), the caller's thread embeds the query (ONNX, one
thread) and matches episode titles and descriptions in memory (:mod:`.episode_text`: a LanceDB query
costs ~3 ms of CPU however small its table) meanwhile, then the vector search joins them. The retrievers return
row ids and scores only; keys, times, text and episode fields come from the in-memory
:class:`~cast_pipeline.search.rowstore.RowStore`, because reading columns of 2 x 50 candidates from
LanceDB cost more than the searches themselves.

Result rows come in two types: ``episode`` (the query matched an episode's title or description; title
matches first, users expect them on top) and ``segment`` (a passage of a transcript phrase, see
:mod:`cast_pipeline.search.passages`, with a timestamp and a play URL that starts the audio there;
``segment_index`` is the phrase, ``passage_index`` the passage inside it).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from lancedb.query import BooleanQuery, FullTextQuery, MatchQuery, MultiMatchQuery, Occur, PhraseQuery
from lancedb.table import AsyncTable, Table

from cast_pipeline.feeds.removed import removed_keys
from cast_pipeline.keys import feed_key as feed_key_of_url
from cast_pipeline.paths import DataPaths
from cast_pipeline.search import aio, store
from cast_pipeline.search.episode_text import EpisodeText
from cast_pipeline.search.filters import SearchFilter, end_of, moment
from cast_pipeline.search.hybrid import MAX_PER_EPISODE, cap_per_group, overfetch, reciprocal_rank_fusion
from cast_pipeline.search.indexes import VectorIndexConfig
from cast_pipeline.search.languages import fts_columns
from cast_pipeline.search.onnx_encoder import load_query_encoder
from cast_pipeline.search.rerank import ExactVectors, fits_in_memory
from cast_pipeline.search.results import (
    RESULT_COLUMNS,
    Hit,
    episode_row,
    frame,
    segment_row,
)
from cast_pipeline.search.rowstore import RowStore
from cast_pipeline.search.text import ParsedQuery, contains_phrases, parse_query

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

__all__ = ["MODES", "RESULT_COLUMNS", "Mode", "SearchIndex"]

Mode = Literal["hybrid", "keyword", "semantic"]
MODES: tuple[str, ...] = ("hybrid", "keyword", "semantic")
MAX_EPISODE_RESULTS = 3
# Cosine similarity below which a "meaning" match is noise: unrelated phrases score 0.1-0.27 with
# all-MiniLM-L6-v2, true paraphrases above 0.35 (measured on the test corpus). Other models: pass min_similarity.
MIN_SIMILARITY = 0.3


def _fts_queries(parsed: ParsedQuery, columns: list[str]) -> list[FullTextQuery]:
    """Full-text queries covering ``columns`` (one per language), each tokenized by its column's index.

    Plain words need one multi-column match; phrases need positions, so one boolean query per column.
    """
    if not columns:
        return []
    if not parsed.phrases:
        return [MultiMatchQuery(parsed.text, columns)]
    queries: list[FullTextQuery] = []
    for column in columns:
        clauses: list[tuple[Occur, FullTextQuery]] = [(Occur.MUST, PhraseQuery(p, column)) for p in parsed.phrases]
        queries.append(BooleanQuery([*clauses, (Occur.SHOULD, MatchQuery(parsed.text, column))]))
    return queries


@dataclass
class SearchIndex:
    """The live index opened for reading; cheap to open, reuse it for many queries (benchmarks, a server)."""

    paths: DataPaths
    manifest: store.Manifest
    segments: Table
    episodes: Table
    vector_config: VectorIndexConfig
    asegments: AsyncTable  # the segments table on LanceDB's async API, which the searches use (see .aio)
    fts: list[str] = field(default_factory=list)  # the segments' language columns that have a full-text index
    hnsw: bool = False  # the vector index is a graph (IVF_HNSW_SQ): queried with ``ef``, every partition
    _rows: RowStore | None = field(default=None, repr=False)
    _episode_text: EpisodeText | None = field(default=None, repr=False)
    exact_vectors: ExactVectors | None = field(default=None, repr=False)  # see load_exact_vectors
    _exact_started: bool = field(default=False, repr=False)
    _rows_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def rows(self) -> RowStore:
        """Keys and times of every row of this version, loaded at the first search (see :mod:`.rowstore`)."""
        with self._rows_lock:
            if self._rows is None:
                self._rows = RowStore.load(self.segments, self.episodes)
            return self._rows

    @property
    def episode_text(self) -> EpisodeText:
        """Titles and descriptions of this version's episodes, searchable in memory (see :mod:`.episode_text`)."""
        rows = self.rows
        with self._rows_lock:
            if self._episode_text is None:
                self._episode_text = EpisodeText(rows.episodes.values())
            return self._episode_text

    def load_exact_vectors(self) -> bool:
        """Hold every vector in memory to re-rank the ANN index's candidates exactly (see :mod:`.rerank`);
        False, and LanceDB keeps refining, when there is no ANN index or it would not fit."""
        if not self.manifest.vector_index_rows or not fits_in_memory(len(self.rows.row_ids), self.manifest.dim):
            return False
        if self.exact_vectors is None:
            self.exact_vectors = ExactVectors.load(self.segments, self.rows, self.manifest.dim)
        return True

    def load_exact_vectors_in_background(self) -> None:
        """:meth:`load_exact_vectors` on a daemon thread, once per index version (what the service does:
        queries go on with LanceDB's refine meanwhile)."""
        with self._rows_lock:
            if self._exact_started:
                return
            self._exact_started = True

        def load() -> None:
            try:
                self.load_exact_vectors()
            except Exception as exc:  # a damaged table: searches keep LanceDB's refine and say what failed
                log.warning("exact re-ranking off for %s: %s", self.manifest.generation, exc)

        threading.Thread(target=load, name="exact-vectors", daemon=True).start()

    def __post_init__(self) -> None:
        vector_types = [ix.index_type for ix in self.segments.list_indices() if ix.columns == ["vector"]]
        self.hnsw = any("hnsw" in t.lower() for t in vector_types)  # what is on disk, not what config says
        indexed = {c for ix in self.segments.list_indices() for c in ix.columns if ix.index_type == "FTS"}
        self.fts = [c for c in fts_columns("text").values() if c in indexed]

    @classmethod
    def open(cls, paths: DataPaths, vector_config: VectorIndexConfig | None = None) -> SearchIndex:
        manifest = store.require_manifest(paths)
        db = store.connect(paths, manifest.generation)
        segments, episodes = db.open_table(store.SEGMENTS), db.open_table(store.EPISODES)
        asegments = aio.run(_open_async(paths, manifest.generation))
        config = vector_config or VectorIndexConfig()
        return cls(paths, manifest, segments, episodes, config, asegments)

    def resolve_feeds(self, feed: str) -> list[str]:
        """Feed keys matching a feed key, title (any case) or URL; ValueError naming known feeds if none."""
        wanted = feed.strip()
        accepted = {wanted, feed_key_of_url(wanted)} if "/" in wanted else {wanted}
        episodes = self.rows.episodes.values()  # in memory: no table scan per filtered query
        keys = sorted(
            {
                e["feed_key"]
                for e in episodes
                if e["feed_key"] in accepted or (e["feed_title"] or "").lower() == wanted.lower()
            }
        )
        if not keys:
            known = ", ".join(sorted({str(e["feed_title"]) for e in episodes})[:10])
            raise ValueError(f"no indexed feed matches {feed!r} (by key, title or URL); known feeds: {known}")
        return keys

    def filter(
        self,
        feed: str | None,
        since: date | datetime | str | None,
        until: date | datetime | str | None = None,
        include_removed: bool = False,
    ) -> SearchFilter:
        """The filter for ``feed``, ``since``, ``until`` and removed episodes.

        Episodes that left their feed (cast_pipeline.feeds.removed) stay in the index and are filtered
        out here unless ``include_removed``: a feed refresh hides them at once, no index rebuild needed.
        """
        return SearchFilter(
            hidden=frozenset() if include_removed else frozenset(removed_keys(self.paths)),
            feeds=frozenset(self.resolve_feeds(feed)) if feed else None,
            since=moment(since, "since"),
            before=end_of(until),
        )

    async def _fts(self, parsed: ParsedQuery, where: str | None, k: int) -> list[Hit]:
        """Top ``k`` segments by BM25 over every language column's full-text index."""
        fields = ["text"] if parsed.phrases else []

        async def one(fts_query: FullTextQuery) -> list[Hit]:
            # fast_search: no flat scan for rows missing from the full-text index (~1.5 ms a query at 1M
            # rows); the search_index asset indexes every row (optimize) before it writes the manifest.
            q = self.asegments.query().nearest_to_text(fts_query).select([*fields, "_score"]).with_row_id().limit(k)
            q = q.fast_search()
            return await (q.where(where) if where else q).to_list()  # a pre-filter (LanceDB's default)

        found = await asyncio.gather(*(one(f) for f in _fts_queries(parsed, self.fts)))
        hits = [h for rows in found for h in rows]
        if parsed.phrases:
            hits = [h for h in hits if contains_phrases(h["text"], parsed.phrases)]
        hits.sort(key=lambda h: -h["_score"])  # a row sits in one language column only: no duplicates
        return hits[:k]

    async def _nearest(self, vector: Sequence[float], parsed: ParsedQuery, where: str | None, k: int) -> list[Hit]:
        """Top ``k`` rows by cosine distance (exact below the ANN threshold, refined above it)."""
        q = self.asegments.query().nearest_to(vector).column("vector").distance_type("cosine")
        exact = self.exact_vectors  # loaded only where there is an ANN index
        candidates = k
        if self.manifest.vector_index_rows:
            config = self.vector_config
            refine = config.refine_for(k)
            q = q.nprobes(config.query_nprobes(self.hnsw))
            if exact is None:
                q = q.refine_factor(refine)  # LanceDB reads the candidates' full vectors back (see .rerank)
            else:
                candidates = k * refine
            if self.hnsw:
                q = q.ef(max(config.ef, k * refine))  # the graph walk must keep every candidate it returns
        q = q.select(["text", "_distance"] if parsed.phrases else ["_distance"]).with_row_id().limit(candidates)
        hits = await (q.where(where) if where else q).to_list()
        return hits if exact is None else exact.rerank(hits, vector, self.rows, k)

    def _meaning(self, hits: list[Hit], parsed: ParsedQuery, min_similarity: float) -> list[Hit]:
        for h in hits:
            h["_score"] = 1.0 - float(h.pop("_distance"))
        hits = [h for h in hits if h["_score"] >= min_similarity]
        if parsed.phrases:
            hits = [h for h in hits if contains_phrases(h["text"], parsed.phrases)]
        return self._with_keys(hits)

    def _with_keys(self, hits: list[Hit]) -> list[Hit]:
        keys = self.rows.keys([h["_rowid"] for h in hits])
        return [h | key for h, key in zip(hits, keys, strict=True)]

    def keyword_segments(self, parsed: ParsedQuery, where: str | None, k: int) -> list[Hit]:
        """Top ``k`` segments by BM25 over every language's full-text index: ``_rowid``, ``_score`` and keys."""
        return self._with_keys(aio.run(self._fts(parsed, where, k)))

    def semantic_segments(
        self, vector: Sequence[float], parsed: ParsedQuery, where: str | None, k: int, min_similarity: float
    ) -> list[Hit]:
        """Top ``k`` segments by cosine similarity (exact below the ANN threshold, refined above it):
        ``_rowid``, ``_score`` and keys."""
        return self._meaning(aio.run(self._nearest(vector, parsed, where, k)), parsed, min_similarity)

    def segment_details(self, row_ids: Sequence[int]) -> dict[int, Hit]:
        """Every column a result row shows, for row ids of this version (from memory, see :mod:`.rowstore`)."""
        ids = list(row_ids)
        return dict(zip(ids, self.rows.details(ids), strict=True))

    def _episode_hits(self, parsed: ParsedQuery, flt: SearchFilter, k: int) -> list[Hit]:
        """Episodes whose title matches (best first), then, if fewer than ``k``, those whose description does
        (in memory, see :mod:`.episode_text`)."""
        titles = self.episode_text.search("title", parsed, k, flt.accepts)
        if len({h["episode_key"] for h in titles}) >= k:
            return titles
        return titles + self.episode_text.search("description", parsed, k, flt.accepts)

    def _episodes(self, found: list[Hit], k: int) -> list[Hit]:
        seen: set[str] = set()
        out: list[Hit] = []
        for hit in found:
            h = self.rows.episodes.get(hit["episode_key"], {}) | hit  # fields from memory, not the table
            if h["episode_key"] not in seen:
                seen.add(h["episode_key"])
                out.append(h)
        return out[:k]

    def episode_matches(self, parsed: ParsedQuery, flt: SearchFilter, k: int) -> list[Hit]:
        """Episodes whose title matches (best first), then those whose description does."""
        return self._episodes(self._episode_hits(parsed, flt, k), k)

    def search(
        self,
        query: str,
        *,
        mode: Mode = "hybrid",
        feed: str | None = None,
        since: date | datetime | str | None = None,
        limit: int = 10,
        until: date | datetime | str | None = None,
        max_per_episode: int = MAX_PER_EPISODE,
        min_similarity: float = MIN_SIMILARITY,
        include_removed: bool = False,
    ) -> pd.DataFrame:
        """See :func:`cast_pipeline.search.search`."""
        rows = self.search_rows(
            query, mode=mode, feed=feed, since=since, limit=limit, until=until, max_per_episode=max_per_episode,
            min_similarity=min_similarity, include_removed=include_removed,
        )  # fmt: skip
        return frame(rows)

    def search_rows(
        self,
        query: str,
        *,
        mode: Mode = "hybrid",
        feed: str | None = None,
        since: date | datetime | str | None = None,
        limit: int = 10,
        until: date | datetime | str | None = None,
        max_per_episode: int = MAX_PER_EPISODE,
        min_similarity: float = MIN_SIMILARITY,
        include_removed: bool = False,
    ) -> list[dict[str, Any]]:
        """:meth:`search` as a list of dicts with the keys :data:`RESULT_COLUMNS` (what the service sends).

        The full-text leg runs on the query loop while this thread embeds the query, and the vector leg
        while it matches episode titles and descriptions in memory; fusion and the page's fields then
        come from the row store.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        parsed = parse_query(query)
        flt = self.filter(feed, since, until, include_removed)
        where = flt.sql
        k = overfetch(limit)
        keyword_job = aio.submit(self._fts(parsed, where, k)) if mode != "semantic" else None
        vector_job = None
        if mode != "keyword":  # the full-text leg runs meanwhile
            vector = load_query_encoder(self.manifest.model).encode([parsed.text])[0]
            vector_job = aio.submit(self._nearest(vector, parsed, where, k))
        n_episodes = min(limit, MAX_EPISODE_RESULTS)  # titles and descriptions in memory, while LanceDB searches
        episodes = self.episode_matches(parsed, flt, n_episodes) if mode != "semantic" else []
        meaning = self._meaning(vector_job.result(), parsed, min_similarity) if vector_job else []
        keyword = self._with_keys(keyword_job.result()) if keyword_job else []
        rows = [episode_row(h, parsed) for h in episodes]
        by_key = {_key(h): h for h in [*meaning, *keyword]}
        fused = reciprocal_rank_fusion([("keyword", list(map(_key, keyword))), ("meaning", list(map(_key, meaning)))])
        capped = cap_per_group(fused, lambda f: by_key[f.key]["episode_key"], max_per_episode)
        page = capped[: max(0, limit - len(rows))]
        details = self.segment_details([by_key[f.key]["_rowid"] for f in page])
        for f in page:
            hit = by_key[f.key] | details[by_key[f.key]["_rowid"]]
            rows.append(segment_row(hit, parsed, f.matched_by, f.score if mode == "hybrid" else hit["_score"]))
        return rows


async def _open_async(paths: DataPaths, generation: str) -> AsyncTable:
    db = await store.connect_async(paths, generation)
    return await db.open_table(store.SEGMENTS)


def _key(hit: Hit) -> tuple[str, int, int]:
    return hit["episode_key"], hit["segment_index"], hit["passage_index"]
