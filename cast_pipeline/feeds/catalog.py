"""The episode catalog: one Parquet file per feed, and a DuckDB connection that reads them all.

Why per-feed Parquet and no DuckDB file: DuckDB allows one writer per database file, and feeds are
refreshed in parallel runs. Each refresh replaces only its own ``catalog/episodes/<feed key>.parquet``
(atomically, so readers see the old or the new file), and readers query the glob through an
in-memory DuckDB connection, so nothing ever contends for a lock.

The feed's own record (:class:`Feed`) travels in the Parquet schema metadata, so a 304 Not Modified
refresh can answer with feed *and* episodes from one file without parsing the stored XML again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from glob import iglob
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from cast_pipeline.feeds.model import Episode, Feed, TranscriptLink, oldest_first
from cast_pipeline.keys import feed_key_of
from cast_pipeline.paths import DataPaths, atomic_path

CATALOG_VERSION = "1"
_FEED_META = b"cast_pipeline.feed"
_VERSION_META = b"cast_pipeline.catalog_version"

TRANSCRIPT_LINK_TYPE = pa.struct(
    [("url", pa.string()), ("type", pa.string()), ("language", pa.string()), ("rel", pa.string())]
)
EPISODE_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("feed_key", pa.string()),
        ("feed_url", pa.string()),
        ("feed_title", pa.string()),
        ("guid", pa.string()),
        ("title", pa.string()),
        ("description", pa.string()),
        ("published", pa.timestamp("us", tz="UTC")),
        ("link", pa.string()),
        ("enclosure_url", pa.string()),
        ("enclosure_type", pa.string()),
        ("enclosure_length", pa.int64()),
        ("duration_seconds", pa.float64()),
        ("language", pa.string()),
        ("image", pa.string()),
        ("transcripts", pa.list_(TRANSCRIPT_LINK_TYPE)),
    ]
)


class CatalogError(LookupError):
    """A feed or episode is not in the catalog (yet): the message says which and what to run."""


def episodes_table(feed: Feed, episodes: Sequence[Episode]) -> pa.Table:
    """Episodes as an Arrow table in :data:`EPISODE_SCHEMA`, with the feed record in the metadata."""
    rows = [
        {**asdict(e), "transcripts": [asdict(t) for t in e.transcripts], "published": e.published} for e in episodes
    ]
    table = pa.Table.from_pylist(rows, schema=EPISODE_SCHEMA)
    meta = {_FEED_META: json.dumps(asdict(feed), ensure_ascii=False).encode(), _VERSION_META: CATALOG_VERSION.encode()}
    return table.replace_schema_metadata(meta)


def write_feed_catalog(paths: DataPaths, feed: Feed, episodes: Sequence[Episode]) -> Path:
    """Replace the feed's catalog file atomically; returns its path."""
    target = paths.episodes_catalog(feed.key)
    with atomic_path(target) as tmp:
        pq.write_table(episodes_table(feed, episodes), tmp, compression="zstd")
    return target


def _episode_from_row(row: dict[str, Any]) -> Episode:
    published = row["published"]
    if isinstance(published, datetime):
        published = published.astimezone(UTC)
    links = tuple(TranscriptLink(**t) for t in row["transcripts"] or ())
    return Episode(**{**row, "published": published, "transcripts": links})


def _missing(paths: DataPaths, feed_key: str) -> CatalogError:
    return CatalogError(
        f"feed {feed_key} has no episode catalog at {paths.episodes_catalog(feed_key)}; "
        "refresh the feed first (materialise its `feed` partition)"
    )


def read_feed_episodes(paths: DataPaths, feed_key: str) -> list[Episode]:
    """Every episode of one feed, in feed order."""
    path = paths.episodes_catalog(feed_key)
    if not path.exists():
        raise _missing(paths, feed_key)
    return [_episode_from_row(r) for r in pq.read_table(path).to_pylist()]


def _feed_record(path: Path, feed_key: str, schema: pa.Schema) -> Feed:
    meta = schema.metadata or {}
    if _FEED_META not in meta:
        raise CatalogError(f"{path} has no feed record; delete it and refresh feed {feed_key}")
    return Feed(**json.loads(meta[_FEED_META]))


def read_feed(paths: DataPaths, feed_key: str) -> Feed:
    """The feed record stored with the catalog."""
    path = paths.episodes_catalog(feed_key)
    if not path.exists():
        raise _missing(paths, feed_key)
    return _feed_record(path, feed_key, pq.read_schema(path))


def read_feed_keys(paths: DataPaths, feed_key: str) -> tuple[Feed, list[str]]:
    """The feed record and its episode keys oldest first, from two columns of the catalog.

    Why: a feed answering 304 Not Modified needs nothing more, and decoding every row into
    :class:`Episode` objects was two thirds of a sensor tick over unchanged feeds.
    """
    path = paths.episodes_catalog(feed_key)
    if not path.exists():
        raise _missing(paths, feed_key)
    table = pq.read_table(path, columns=["key", "published"])
    dated = zip(table.column("key").to_pylist(), table.column("published").to_pylist(), strict=True)
    return _feed_record(path, feed_key, table.schema), oldest_first(dated)


def read_episode(paths: DataPaths, episode_key: str) -> Episode:
    """One episode by key, read from its feed's catalog (only the matching row is decoded)."""
    fk = feed_key_of(episode_key)
    path = paths.episodes_catalog(fk)
    if not path.exists():
        raise _missing(paths, fk)
    rows = pq.read_table(path, filters=[("key", "=", episode_key)]).to_pylist()
    if not rows:
        raise CatalogError(
            f"episode {episode_key} is not in the catalog of feed {fk} ({path}); it may have left the feed, "
            "or the feed has not been refreshed since it appeared"
        )
    return _episode_from_row(rows[0])


# --- DuckDB views ------------------------------------------------------------------------------------

ViewBuilder = Callable[[duckdb.DuckDBPyConnection, DataPaths], None]
_VIEWS: dict[str, ViewBuilder] = {}


def register_view(name: str) -> Callable[[ViewBuilder], ViewBuilder]:
    """Decorator: ``builder(con, paths)`` creates view ``name`` on every :func:`connect`.

    Other modules (transcripts, search) add their views this way; import them before connecting.
    """

    def decorate(builder: ViewBuilder) -> ViewBuilder:
        _VIEWS[name] = builder
        return builder

    return decorate


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def add_parquet_view(con: duckdb.DuckDBPyConnection, name: str, glob: str, schema: pa.Schema) -> None:
    """View ``name`` over a Parquet glob; empty but correctly typed when no file matches yet.

    The file list is fixed when the view is created (DuckDB expands the glob then): reconnect to see
    feeds added later.
    """
    if not name.isidentifier():
        raise ValueError(f"not a valid view name: {name!r}")
    if next(iglob(glob), None) is not None:
        con.execute(
            f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet({_sql_string(glob)}, union_by_name=true)"
        )
    else:
        con.register(f"_{name}_empty", schema.empty_table())
        con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM _{name}_empty")


@register_view("episodes")
def _episodes_view(con: duckdb.DuckDBPyConnection, paths: DataPaths) -> None:
    add_parquet_view(con, "episodes", paths.episodes_catalog_glob, EPISODE_SCHEMA)


def connect(paths: DataPaths) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with every registered view (``episodes`` and those added later)."""
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    for builder in _VIEWS.values():
        builder(con, paths)
    return con
