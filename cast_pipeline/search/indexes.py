"""The secondary indexes of the segments and episodes tables: full text per language, ANN vectors, filters.

Why these choices (measured with bench/bench_search.py on 1,000,000 segments, 2 cores):
- Below ``VectorIndexConfig.min_rows`` rows an exact (brute-force) vector search is fast enough and has
  recall 1, and a partitioned index trained on few rows is poor: no ANN index.
- From there up to ``hnsw_min_rows``, IVF_SQ: 8-bit scalar quantisation (1 byte per dimension, 384 MB per 1M vectors) in
  partitions of ``target_partition_size`` rows (8192: ~120 partitions at 1M rows; LanceDB's default
  since it stopped using sqrt(n)). Recall is limited by how many partitions a query visits, not by
  quantisation: query-to-phrase similarities are moderate (~0.5 for the 10th neighbour), so neighbours
  are spread over many partitions. Recall@10 against exact search at 1M (100 queries, session 16):
  ``nprobes=80, refine_factor=5`` 0.966 (the default), ``nprobes=60`` 0.93, ``nprobes=40`` 0.88; the
  visited share of the index sets the cost (~20-25 ms for 80 of ~120 partitions on 2 busy cores).
  Tried and rejected at 1M: ~sqrt(n) = 1000 partitions (0.84 at ``nprobes=80``; queries visit far
  fewer rows but miss more), IVF_RQ (RaBitQ; 1 bit: 0.70-0.77, 4 bits: 0.90 even visiting every
  partition), IVF_HNSW_SQ in 16 partitions (574 s to build, 0.77 at ``nprobes=8``), ``dot`` instead of
  ``cosine`` on the normalised vectors (same recall, slower), IVF_PQ (48 sub-vectors: needs
  ``refine_factor=50`` for 0.957 and 179 s to train).
- From ``hnsw_min_rows`` rows (500,000) the default (``index_type="auto"``) is IVF_HNSW_SQ instead: one
  graph (``hnsw_partitions=1``, ``m=16``, ``ef_construction=150``) walked with ``ef=1500``. At 1M IVF_SQ
  must visit ~2/3 of the index for recall 0.95 (the phrases are spread evenly, so partitions do not
  narrow the search), a ~20 ms floor on 2 cores; a graph walk does not scan. Measured at 1M (session 17,
  bench/bench_search.py, the API's 50 candidates, refined): IVF_SQ ``nprobes=80`` 21.8 ms p50, recall@10
  0.972, against one graph at ``ef=1000`` 12.7 ms, 0.948 and ``ef=1500`` 12.7 ms, 0.964 (``ef=800``:
  0.925). Two graphs of 500,000 (each query walks both) needed ``ef=800`` for 0.964 at 13.0 ms and made
  the service ~5 ms slower than one. What it costs: training the graph takes ~330-385 s at 1M against
  ~15 s for IVF_SQ; adding 1,000 rows later (``optimize()``) took 2.5-3.2 s, as for IVF_SQ. A compaction
  that moves the rows under a graph rebuilds it (287 s at 1M when training came first), hence
  compaction before training (:func:`ensure_vector_index`).
  A denser graph (``m=32``, ``ef_construction=300``) reaches recall 0.970 at ``ef=600`` and made a
  semantic search ~10% faster in the same process (hybrid ~7%, session 18), but took 1,099 s to train
  against 408 s: not the default. The candidates are re-ranked by exact distance from vectors the
  service holds in memory (:mod:`cast_pipeline.search.rerank`), LanceDB's ``refine_factor`` elsewhere.
  Worth it where a search must answer in milliseconds and the index is updated in the background (the
  ``search_index`` asset); below 500,000 rows IVF_SQ visits few enough rows to be as fast. The walk is
  this wide partly because of the benchmark corpus: its 1M vectors are noisy copies of 20,000 real
  embeddings (~50 near-duplicates each), which fill a node's neighbour list with its own copies.
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
    from lancedb.index import HnswSq, IvfPq, IvfSq
    from lancedb.table import Table

FILTER_COLUMNS = ("feed_key", "published")


@dataclass(frozen=True)
class VectorIndexConfig:
    """When to build the ANN index and how to query it (defaults tuned by bench/bench_search.py)."""

    min_rows: int = 100_000
    retrain_growth: float = 2.0
    index_type: Literal["auto", "IVF_SQ", "IVF_PQ", "IVF_HNSW_SQ"] = "auto"  # auto: see index_type_for
    hnsw_min_rows: int = 500_000  # "auto" builds IVF_HNSW_SQ from this many rows, IVF_SQ below
    num_sub_vectors: int | None = None  # IVF_PQ only; None: dim / 8
    target_partition_size: int = 8192  # rows per IVF partition (~120 partitions at 1M rows)
    nprobes: int = 80
    refine_factor: int = 5  # for 10 results: 50 candidates re-ranked on their full vectors
    hnsw_partitions: int = 1  # IVF_HNSW_SQ only: one graph per partition, every partition searched (see above)
    hnsw_m: int = 16  # IVF_HNSW_SQ only: graph neighbours per vector
    hnsw_ef_construction: int = 150  # IVF_HNSW_SQ only: candidates per insertion while building
    ef: int = 1500  # IVF_HNSW_SQ only: candidates a query keeps while walking each graph (see the module doc)

    def index_type_for(self, rows: int) -> Literal["IVF_SQ", "IVF_PQ", "IVF_HNSW_SQ"]:
        """The index to train for a table of ``rows`` rows: ``index_type`` unless it is ``"auto"``."""
        if self.index_type != "auto":
            return self.index_type
        return "IVF_HNSW_SQ" if rows >= self.hnsw_min_rows else "IVF_SQ"

    def query_nprobes(self, hnsw: bool) -> int:
        """Partitions a query visits: all of them for a graph index (few, each a graph), else ``nprobes``."""
        return max(self.hnsw_partitions, 4) if hnsw else self.nprobes

    def refine_for(self, k: int) -> int:
        """The refine factor for ``k`` results: at least ``10 * refine_factor`` candidates are re-ranked.

        The top 10 of a ``k=50`` search re-ranking 50 candidates are those of a ``k=10`` search
        re-ranking 50 (the recall the benchmark measures), without reading 250 full vectors back."""
        return max(1, -(-10 * self.refine_factor // max(k, 1)))


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


VectorIndexPlan = Literal["none", "keep", "train"]


def vector_index_plan(rows: int, manifest: store.Manifest, config: VectorIndexConfig) -> VectorIndexPlan:
    """No ANN index (too few rows), keep the trained one (new rows join it), or train one now."""
    if rows < config.min_rows:
        return "none"
    if manifest.vector_index_rows > 0 and rows < config.retrain_growth * manifest.vector_index_rows:
        return "keep"
    return "train"


def _drop_vector_indexes(table: Table) -> None:
    for name in [ix.name for ix in table.list_indices() if ix.columns == ["vector"]]:
        table.drop_index(name)


def drop_replaced_vector_index(table: Table, manifest: store.Manifest, config: VectorIndexConfig) -> None:
    """Before ``optimize()``: drop an ANN index that is about to be re-trained or dropped anyway.

    Why: ``optimize()`` adds new rows to the trained index, and rewrites it when compaction moves the rows
    it covers; for a graph index (IVF_HNSW_SQ) at 1M rows that takes 23-290 s, wasted on an index
    :func:`ensure_vector_index` replaces right after. Readers keep the version they opened meanwhile.
    """
    if vector_index_plan(table.count_rows(), manifest, config) != "keep":
        _drop_vector_indexes(table)


def ensure_vector_index(table: Table, manifest: store.Manifest, config: VectorIndexConfig) -> store.Manifest:
    """Train, keep, re-train or drop the ANN index for the table's size; returns the updated manifest.

    Call it after ``optimize()``: a new index is then trained on the compacted table, so the next
    compaction has nothing to move under it (a graph index would be rebuilt: ~290 s at 1M rows).
    """
    from lancedb.index import HnswSq, IvfPq, IvfSq

    n = table.count_rows()
    plan = vector_index_plan(n, manifest, config)
    if plan == "none":
        _drop_vector_indexes(table)  # already gone when drop_replaced_vector_index ran first
        return manifest.touched(vector_index_rows=0)
    if plan == "keep":
        return manifest  # new rows joined the trained index in optimize()
    index_type = config.index_type_for(n)
    if index_type == "IVF_PQ":
        sub_vectors = config.num_sub_vectors or max(1, manifest.dim // 8)
        index: IvfPq | IvfSq | HnswSq = IvfPq(distance_type="cosine", num_sub_vectors=sub_vectors)
    elif index_type == "IVF_HNSW_SQ":
        index = HnswSq(
            distance_type="cosine", num_partitions=config.hnsw_partitions, m=config.hnsw_m,
            ef_construction=config.hnsw_ef_construction,
        )  # fmt: skip
    else:
        index = IvfSq(distance_type="cosine", target_partition_size=config.target_partition_size)
    table.create_index("vector", config=index, replace=True)
    return manifest.touched(vector_index_rows=n)
