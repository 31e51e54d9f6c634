"""Building and updating the search index (LanceDB) from per-episode embeddings. Single writer.

Callers must be the only writer: in Dagster a non-partitioned ``search_index`` asset (or a pool of size
1), never one writer per episode partition. LanceDB commits are atomic but concurrent writers conflict,
and the vector-index and generation bookkeeping assume nobody else changes the tables meanwhile.

- :func:`update_index` replaces the rows of the given episodes in one atomic ``merge_insert`` commit per
  table (delete old rows + insert new ones), so re-running an episode never duplicates it; an episode
  whose embeddings are gone is removed.
- :func:`rebuild_index` writes a fresh generation from every episode's embeddings and switches to it
  atomically (see :mod:`cast_pipeline.search.store`); use it after changing the embedding model.
- Vectors of two models are never mixed: an update with another model raises
  :class:`ModelMismatchError` unless ``on_model_change="rebuild"``.
- Below ``VectorIndexConfig.min_rows`` rows the search is exact (brute force over all vectors is fast
  and has recall 1); above it an IVF_SQ index is trained, re-trained when the table has doubled, and
  queries re-rank ``refine_factor`` times more candidates on the full vectors (recall@10 >= 0.95,
  measured by bench/bench_search.py; see :mod:`cast_pipeline.search.indexes`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

import pyarrow as pa

from cast_pipeline.feeds.model import Episode
from cast_pipeline.keys import InvalidKeyError, is_valid_key
from cast_pipeline.paths import DataPaths
from cast_pipeline.search import rows, store
from cast_pipeline.search.embeddings import table_model
from cast_pipeline.search.errors import ModelMismatchError, SearchError
from cast_pipeline.search.indexes import (
    VectorIndexConfig,
    drop_replaced_vector_index,
    ensure_filter_indexes,
    ensure_fts,
    ensure_vector_index,
)

if TYPE_CHECKING:  # lancedb costs ~1 s CPU to import: only processes that touch the index pay it
    from lancedb import DBConnection
    from lancedb.table import Table

SEGMENT_ROW_KEY = ["episode_key", "segment_index", "passage_index"]  # one row per passage
_CHUNK = 500  # episodes per merge_insert commit (keeps the delete filter short)
_KEEP_VERSIONS = timedelta(hours=6)  # old LanceDB versions readers may still hold


@dataclass(frozen=True)
class IndexUpdate:
    """What an update did, for the asset's metadata and logs."""

    generation: str
    model: str
    updated: list[str]
    removed: list[str]
    segments: int
    episodes: int
    rebuilt: bool = False
    vector_index: bool = False
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step (rows, fts_index, vector_index...)


def _chunks(keys: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(keys), _CHUNK):
        yield keys[i : i + _CHUNK]


def _replace_rows(table: Table, on: list[str], data: pa.Table, keys: list[str]) -> None:
    """Delete every row of ``keys`` and insert ``data`` in one commit."""
    where = "episode_key IN (" + ", ".join(f"'{k}'" for k in keys) + ")"  # keys are validated [a-z0-9-]
    (
        table.merge_insert(on)
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .when_not_matched_by_source_delete(where)
        .execute(data)
    )


def _open_or_create(db: DBConnection, name: str, schema: pa.Schema) -> Table:
    if name in db.list_tables().tables:
        return db.open_table(name)
    return db.create_table(name, schema=schema)


def _finish(
    db: DBConnection,
    manifest: store.Manifest,
    config: VectorIndexConfig,
    paths: DataPaths,
    analytics: bool,
    timings: dict[str, float],
) -> store.Manifest:
    """Indexes, compaction and the DuckDB snapshot after rows changed; ``timings`` gets seconds per step."""
    segments = db.open_table(store.SEGMENTS)
    episodes = db.open_table(store.EPISODES)
    mark = time.monotonic()

    def lap(step: str) -> None:
        nonlocal mark
        now = time.monotonic()
        timings[step] = round(now - mark, 3)
        mark = now

    ensure_fts(segments, "text")
    ensure_fts(episodes, "title")
    ensure_fts(episodes, "description")
    lap("fts_index")
    ensure_filter_indexes(segments)
    lap("filter_index")
    drop_replaced_vector_index(segments, manifest, config)
    for table in (segments, episodes):  # compaction first: see ensure_vector_index
        table.optimize(cleanup_older_than=_KEEP_VERSIONS)
    lap("optimize")
    manifest = ensure_vector_index(segments, manifest, config)
    lap("vector_index")
    if analytics:
        from cast_pipeline.search.analytics import export_analytics

        export_analytics(paths, db)
        lap("analytics_snapshot")
    return manifest


def update_index(
    paths: DataPaths,
    episode_keys: Iterable[str],
    *,
    tables: Mapping[str, pa.Table] | None = None,
    episodes: Mapping[str, Episode] | None = None,
    on_model_change: Literal["error", "rebuild"] = "error",
    vector_config: VectorIndexConfig | None = None,
    analytics: bool = True,
) -> IndexUpdate:
    """Replace the index rows of ``episode_keys`` with their current embeddings (single writer only).

    Embeddings come from ``tables`` or each episode's ``embeddings.parquet``, metadata from ``episodes``
    or ``episode.json``. An episode without embeddings is removed from the index. The first call creates
    the index. With another embedding model than the index holds it raises, or, with
    ``on_model_change="rebuild"``, rebuilds the whole index from every episode embedded with the new model.
    """
    began = time.monotonic()
    config = vector_config or VectorIndexConfig()
    keys = list(dict.fromkeys(episode_keys))
    loaded = rows.load_inputs(paths, keys, tables, episodes)
    model = rows.single_model(loaded.tables)
    manifest = store.read_manifest(paths)
    if manifest is None and model is None:
        raise SearchError("nothing to index yet: none of the given episodes has embeddings")
    if manifest is not None and model is not None and model != manifest.model:
        if on_model_change == "rebuild":
            return rebuild_index(paths, model=model, vector_config=config, analytics=analytics)
        raise ModelMismatchError(
            f"the search index holds vectors of {manifest.model!r} but the episodes were embedded with {model!r}: "
            "re-embed them with the index's model, or rebuild the index (rebuild_index / on_model_change='rebuild')"
        )
    created = manifest is None
    if manifest is None:
        dim = next(iter(loaded.tables.values())).schema.field("vector").type.list_size
        manifest = store.Manifest(generation=store.new_generation(), model=str(model), dim=dim).touched()
    db = store.connect(paths, manifest.generation)
    timings: dict[str, float] = {}
    try:
        seg_table = _open_or_create(db, store.SEGMENTS, store.segments_schema(manifest.dim))
        ep_table = _open_or_create(db, store.EPISODES, store.episodes_schema())
        for chunk in _chunks(keys):
            pairs = [(loaded.tables[k], loaded.episodes[k]) for k in chunk if k in loaded.tables]
            _replace_rows(seg_table, SEGMENT_ROW_KEY, rows.segment_rows(pairs, manifest.dim), chunk)
            _replace_rows(ep_table, ["episode_key"], rows.episode_rows(pairs), chunk)
        timings["rows"] = round(time.monotonic() - began, 3)
        manifest = _finish(db, manifest, config, paths, analytics, timings)
    except BaseException:
        if created:
            store.drop_generation(paths, manifest.generation)  # never went live
        raise
    store.write_manifest(paths, manifest)
    return IndexUpdate(
        generation=manifest.generation,
        model=manifest.model,
        updated=list(loaded.tables),
        removed=loaded.missing,
        segments=seg_table.count_rows(),
        episodes=ep_table.count_rows(),
        vector_index=manifest.vector_index_rows > 0,
        seconds=round(time.monotonic() - began, 3),
        timings=timings,
    )


def embedded_episode_keys(paths: DataPaths) -> list[str]:
    """Every episode that has an ``embeddings.parquet`` on disk, sorted."""
    return sorted(p.parent.name for p in (paths.root / "episodes").glob("*/*/embeddings.parquet"))


def _build_generation(
    paths: DataPaths, generation: str, keys: list[str], model: str | None
) -> tuple[store.Manifest, dict[str, str], int, int]:
    """Write every episode's rows into the new generation's tables (no indexes yet)."""
    skipped: dict[str, str] = {}
    manifest: store.Manifest | None = None
    db = store.connect(paths, generation)
    n_segments = n_episodes = 0
    for chunk in _chunks(keys):
        loaded = rows.load_inputs(paths, chunk, None, None)
        skipped.update({k: "no embeddings" for k in loaded.missing})
        if model is not None:
            for key in [k for k, t in loaded.tables.items() if table_model(t) != model]:
                skipped[key] = f"embedded with {table_model(loaded.tables.pop(key))}, not {model}"
        found = rows.single_model(loaded.tables)
        if found is None:
            continue
        if manifest is None:
            dim = next(iter(loaded.tables.values())).schema.field("vector").type.list_size
            manifest = store.Manifest(generation=generation, model=found, dim=dim).touched()
        elif found != manifest.model:
            raise ModelMismatchError(f"episodes embedded with {manifest.model!r} and {found!r}; pass model= to choose")
        pairs = [(loaded.tables[k], loaded.episodes[k]) for k in loaded.tables]
        for name, data, schema in (
            (store.SEGMENTS, rows.segment_rows(pairs, manifest.dim), store.segments_schema(manifest.dim)),
            (store.EPISODES, rows.episode_rows(pairs), store.episodes_schema()),
        ):
            _open_or_create(db, name, schema).add(data)
        n_segments += sum(t.num_rows for t, _ in pairs)
        n_episodes += len(pairs)
    if manifest is None:
        raise SearchError(f"nothing to index: no episode has embeddings{f' from {model}' if model else ''}")
    return manifest, skipped, n_segments, n_episodes


def rebuild_index(
    paths: DataPaths,
    episode_keys: Iterable[str] | None = None,
    *,
    model: str | None = None,
    vector_config: VectorIndexConfig | None = None,
    analytics: bool = True,
) -> IndexUpdate:
    """Build a new generation from scratch and switch to it atomically; the old one stays readable.

    ``episode_keys`` defaults to every embedded episode. With ``model``, episodes embedded with another
    model are left out (listed in ``skipped``: re-embed them and update); without it, the episodes must
    agree on one model.
    """
    began = time.monotonic()
    config = vector_config or VectorIndexConfig()
    keys = list(dict.fromkeys(episode_keys if episode_keys is not None else embedded_episode_keys(paths)))
    generation = store.new_generation()
    try:
        manifest, skipped, n_segments, n_episodes = _build_generation(paths, generation, keys, model)
        timings = {"rows": round(time.monotonic() - began, 3)}
        manifest = _finish(store.connect(paths, generation), manifest, config, paths, analytics, timings)
    except BaseException:
        store.drop_generation(paths, generation)  # a failed build never becomes visible
        raise
    previous = store.read_manifest(paths)
    store.write_manifest(paths, manifest)
    store.prune_generations(paths, keep={generation} | ({previous.generation} if previous else set()))
    return IndexUpdate(
        generation=generation,
        model=manifest.model,
        updated=[k for k in keys if k not in skipped],
        removed=[],
        segments=n_segments,
        episodes=n_episodes,
        rebuilt=True,
        vector_index=manifest.vector_index_rows > 0,
        skipped=skipped,
        seconds=round(time.monotonic() - began, 3),
        timings=timings,
    )


def remove_episodes(paths: DataPaths, episode_keys: Iterable[str], *, analytics: bool = True) -> IndexUpdate:
    """Drop the given episodes from the index (e.g. removed from their feed); single writer only."""
    began = time.monotonic()
    keys = list(dict.fromkeys(episode_keys))
    for key in keys:
        if not is_valid_key(key):
            raise InvalidKeyError(f"not an episode key: {key!r}")
    manifest = store.require_manifest(paths)
    db = store.connect(paths, manifest.generation)
    seg_table, ep_table = db.open_table(store.SEGMENTS), db.open_table(store.EPISODES)
    for chunk in _chunks(keys):
        where = "episode_key IN (" + ", ".join(f"'{k}'" for k in chunk) + ")"
        seg_table.delete(where)
        ep_table.delete(where)
    if analytics:
        from cast_pipeline.search.analytics import export_analytics

        export_analytics(paths, db)
    store.write_manifest(paths, manifest.touched())
    return IndexUpdate(
        generation=manifest.generation,
        model=manifest.model,
        updated=[],
        removed=keys,
        segments=seg_table.count_rows(),
        episodes=ep_table.count_rows(),
        vector_index=manifest.vector_index_rows > 0,
        seconds=round(time.monotonic() - began, 3),
    )
