"""The secondary indexes of the segments and episodes tables: full text per language, ANN vectors, filters.

Why these choices (measured with bench/bench_search.py on 1,000,000 segments, 2 cores):
- Below ``VectorIndexConfig.min_rows`` rows an exact (brute-force) vector search is fast enough and has
  recall 1, and a partitioned index trained on few rows is poor: no ANN index.
- Above it, IVF_SQ (8-bit scalar quantisation in ~sqrt(n) partitions). Recall was limited by how many
  partitions a query visits, not by quantisation: query-to-phrase similarities are moderate (~0.5 for
  the 10th neighbour), so neighbours are spread over many partitions. IVF_PQ (48 sub-vectors) needed
  ``nprobes=80, refine_factor=50`` for recall@10 0.957 and 179 s to train; IVF_SQ reaches 0.97-0.98
  with ``nprobes=80, refine_factor=5`` (re-ranking 5 x limit candidates on the full vectors) at p50
  24 ms / p95 32 ms and trains in 12-17 s (``refine_factor=1``: 0.94; ``nprobes=60``: 0.93). Its codes
  take 1 byte per dimension (384 MB per 1M vectors).
- New rows join the trained index on ``optimize()``; once the table has grown ``retrain_growth`` times,
  the partitions no longer fit the data and the index is re-trained.
- BTREE indexes on ``feed_key`` and ``published`` let the feed and date pre-filters skip rows instead of
  scanning both columns for every query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from cast_pipeline.search import store
from cast_pipeline.search.languages import LANGUAGES, fts_columns

if TYPE_CHECKING:
    from lancedb.index import IvfPq, IvfSq
    from lancedb.table import Table

FILTER_COLUMNS = ("feed_key", "published")


@dataclass(frozen=True)
class VectorIndexConfig:
    """When to build the ANN index and how to query it (defaults tuned by bench/bench_search.py)."""

    min_rows: int = 100_000
    retrain_growth: float = 2.0
    index_type: Literal["IVF_SQ", "IVF_PQ"] = "IVF_SQ"
    num_sub_vectors: int | None = None  # IVF_PQ only; None: dim / 8
    nprobes: int = 80
    refine_factor: int = 5


def ensure_fts(table: Table, field_name: str) -> None:
    """A full-text index on every language column that holds text; new rows join existing indexes."""
    from lancedb.index import FTS

    indexed = {c for ix in table.list_indices() for c in ix.columns if ix.index_type == "FTS"}
    for code, column in fts_columns(field_name).items():
        if column in indexed or table.count_rows(f"{column} IS NOT NULL") == 0:
            continue
        lang = LANGUAGES[code]
        config = FTS(
            language=lang.lancedb, stem=lang.stem, remove_stop_words=lang.stem, ascii_folding=True, with_position=True
        )
        table.create_index(column, config=config, replace=True)


def ensure_filter_indexes(table: Table) -> None:
    """BTREE indexes on the pre-filter columns (created once; new rows join them on ``optimize()``)."""
    indexed = {c for ix in table.list_indices() for c in ix.columns}
    for column in FILTER_COLUMNS:
        if column not in indexed:
            table.create_scalar_index(column, index_type="BTREE", replace=True)


def ensure_vector_index(table: Table, manifest: store.Manifest, config: VectorIndexConfig) -> store.Manifest:
    """Train, keep, re-train or drop the ANN index for the table's size; returns the updated manifest."""
    from lancedb.index import IvfPq, IvfSq

    n = table.count_rows()
    has_index = manifest.vector_index_rows > 0
    if n < config.min_rows:
        if has_index:
            table.drop_index("vector_idx")
        return manifest.touched(vector_index_rows=0)
    if has_index and n < config.retrain_growth * manifest.vector_index_rows:
        return manifest  # new rows join the trained index in optimize()
    if config.index_type == "IVF_PQ":
        sub_vectors = config.num_sub_vectors or max(1, manifest.dim // 8)
        index: IvfPq | IvfSq = IvfPq(distance_type="cosine", num_sub_vectors=sub_vectors)
    else:
        index = IvfSq(distance_type="cosine")
    table.create_index("vector", config=index, replace=True)
    return manifest.touched(vector_index_rows=n)
