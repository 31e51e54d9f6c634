"""Search over transcripts: phrase embeddings, a LanceDB index (vectors + full text), hybrid ranking.

Plain Python, no Dagster: the embeddings and search_index assets, the CLI and the notebooks call
:func:`search` and the functions re-exported here. See ``docs/design.md`` for where this sits.
"""

from __future__ import annotations

import threading
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cast_pipeline.paths import DataPaths

# analytics also registers the ``search_segments`` view of cast_pipeline.feeds.catalog.connect
from cast_pipeline.search.analytics import connect_analytics
from cast_pipeline.search.embeddings import (
    Embedder,
    embed_episode,
    embeddings_are_current,
    load_embedder,
    read_episode_embeddings,
    write_episode_embeddings,
)
from cast_pipeline.search.errors import (
    EmbeddingModelError,
    ExtensionMissingError,
    IndexDamagedError,
    IndexNotBuiltError,
    ModelMismatchError,
    SearchError,
)
from cast_pipeline.search.index import IndexUpdate, VectorIndexConfig, rebuild_index, remove_episodes, update_index

if TYPE_CHECKING:  # the query side imports lancedb and pandas (~1 s CPU): loaded on first use, not by
    # every process that imports this package (Dagster's code server, the embeddings asset, the CLI)
    import pandas as pd

    from cast_pipeline.search.query import RESULT_COLUMNS, Mode, SearchIndex

_LAZY = {"RESULT_COLUMNS", "Mode", "SearchIndex"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from cast_pipeline.search import query

        return getattr(query, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "RESULT_COLUMNS",
    "Embedder",
    "EmbeddingModelError",
    "ExtensionMissingError",
    "IndexDamagedError",
    "IndexNotBuiltError",
    "IndexUpdate",
    "ModelMismatchError",
    "SearchError",
    "SearchIndex",
    "VectorIndexConfig",
    "connect_analytics",
    "embed_episode",
    "embeddings_are_current",
    "load_embedder",
    "open_index",
    "read_episode_embeddings",
    "rebuild_index",
    "remove_episodes",
    "search",
    "update_index",
    "write_episode_embeddings",
]

_open: dict[Path, tuple[int, SearchIndex]] = {}
_lock = threading.Lock()


def _paths(paths: DataPaths | None, data_dir: str | Path | None) -> DataPaths:
    if paths is not None:
        return paths
    if data_dir is not None:
        return DataPaths(Path(data_dir).expanduser().absolute())
    from cast_pipeline.settings import load_settings

    return DataPaths(load_settings().data_dir)


def open_index(paths: DataPaths | None = None, *, data_dir: str | Path | None = None) -> SearchIndex:
    """The live index, reopened only when the manifest changed since the last call in this process."""
    resolved = _paths(paths, data_dir)
    from cast_pipeline.search.store import manifest_path, require_manifest

    require_manifest(resolved)
    stamp = manifest_path(resolved).stat().st_mtime_ns
    with _lock:
        cached = _open.get(resolved.root)
        if cached is None or cached[0] != stamp:
            from cast_pipeline.search.query import SearchIndex

            cached = (stamp, SearchIndex.open(resolved))
            _open[resolved.root] = cached
        return cached[1]


def search(
    query: str,
    *,
    mode: Mode = "hybrid",
    feed: str | None = None,
    since: date | datetime | str | None = None,
    limit: int = 10,
    data_dir: str | Path | None = None,
    paths: DataPaths | None = None,
    include_removed: bool = False,
) -> pd.DataFrame:
    """Search every indexed transcript; one row per result, best first, at most ``limit`` rows.

    ``mode``: ``keyword`` (full-text, stemmed in the feed's language), ``semantic`` (by meaning, via the
    index's embedding model) or ``hybrid`` (both, reciprocal rank fusion). ``"quoted phrases"`` must
    occur verbatim. ``feed`` (key, title or URL) and ``since`` (date) filter before ranking. Episodes
    whose title or description match come first (``result_type == "episode"``), then transcript
    segments, at most 3 per episode. Episodes that left their feed are left out unless
    ``include_removed``. Columns: :data:`RESULT_COLUMNS`. Raises
    :class:`IndexNotBuiltError` when the pipeline has not built an index yet.
    """
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    return open_index(paths, data_dir=data_dir).search(
        query, mode=mode, feed=feed, since=since, limit=limit, include_removed=include_removed
    )
