"""Can the search index be read? A one-sentence diagnosis, and the reset that lets it be rebuilt.

Why: the index under ``search/`` is derived data. Every row comes from an episode's ``embeddings.parquet``
and ``episode.json``, so whatever is damaged (garbage in ``manifest.json``, a truncated LanceDB data or
index file, a broken ``analytics.duckdb``), the cure is the same: drop the index and rebuild it from the
episodes' files. :func:`index_damage` names the damaged part in one sentence (no traceback) for the CLI;
:func:`reset_index` removes the manifest, the sync state and the DuckDB snapshot, after which
:func:`cast_pipeline.search.sync.sync_index` sees "no index" and rebuilds a fresh generation (pruning
the damaged one). ``sync_index`` runs the same check itself, so the ``search_index`` asset heals the
index whoever launches it (``cast-pipeline run``, ``doctor --fix``, the automation sensor).

Cost: the check reads the ``episode_key`` column of both tables (every data file is touched) and runs
one full-text and one vector query of one row (the FTS and vector index files are touched); it does not
read the vectors themselves unless ``deep``.
"""

from __future__ import annotations

from cast_pipeline.paths import DataPaths
from cast_pipeline.search import store
from cast_pipeline.search.errors import SearchError

FIX = "`cast-pipeline doctor --fix` (or the next `cast-pipeline run`) rebuilds it from the episodes' files"
_PROBE = "podcast"  # any word: the full-text probe only has to read the index, not to find anything


def _reason(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0].split(", /rustc/")[0]  # drop Rust source locations
    return f"{type(exc).__name__}: {first[:160]}"


def _read_tables(paths: DataPaths, manifest: store.Manifest, deep: bool) -> None:
    from cast_pipeline.search.filters import SearchFilter
    from cast_pipeline.search.query import SearchIndex
    from cast_pipeline.search.text import parse_query

    db = store.connect(paths, manifest.generation)
    for name in (store.SEGMENTS, store.EPISODES):
        table = db.open_table(name)
        table.search().select(["episode_key"]).limit(None).to_arrow()
        if deep:
            for _ in table.search().limit(None).to_batches():
                pass
    index = SearchIndex.open(paths)
    parsed = parse_query(_PROBE)
    index.keyword_segments(parsed, None, 1)
    index.episode_matches(parsed, SearchFilter(), 1)
    probe = [1.0] + [0.0] * (manifest.dim - 1)
    index.segments.search(probe, vector_column_name="vector").distance_type("cosine").select(
        ["episode_key", "_distance"]
    ).limit(1).to_list()


def index_damage(paths: DataPaths, *, deep: bool = False) -> str | None:
    """None when the live index reads (or none was built yet); else what is damaged, in one sentence."""
    try:
        manifest = store.read_manifest(paths)
    except SearchError as exc:  # IndexDamagedError, or an unknown format
        return str(exc)
    if manifest is None:
        return None
    live = paths.search_dir / manifest.generation
    if not live.is_dir():
        return f"the live index generation {live} named by {store.MANIFEST} is missing"
    try:
        _read_tables(paths, manifest, deep)
    except Exception as exc:  # lance errors come as RuntimeError/OSError/ValueError: all mean unreadable
        return f"the LanceDB tables in {live} cannot be read ({_reason(exc)})"
    from cast_pipeline.search.analytics import analytics_path, connect

    snapshot = analytics_path(paths)
    if snapshot.is_file():
        try:
            con = connect(snapshot, read_only=True)
            try:
                for name in (store.SEGMENTS, store.EPISODES):
                    con.execute(f"SELECT count(*) FROM {name}").fetchone()
            finally:
                con.close()
        except Exception as exc:  # duckdb.Error and friends
            return f"the DuckDB snapshot {snapshot} cannot be read ({_reason(exc)})"
    return None


def reset_index(paths: DataPaths) -> list[str]:
    """Remove what makes the damaged index live, so the next sync rebuilds it; returns the removed names.

    Callers hold the writer lock (:func:`cast_pipeline.search.sync.writer_lock`) or are the single writer.
    The generation directories stay until the rebuild prunes them (a reader may still hold one open).
    """
    from cast_pipeline.search.analytics import analytics_path
    from cast_pipeline.search.sync import state_path

    removed = []
    for path in (store.manifest_path(paths), state_path(paths), analytics_path(paths)):
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path.name)
    return removed
