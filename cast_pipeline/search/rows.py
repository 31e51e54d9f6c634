"""Index rows from an episode's embeddings and metadata (denormalised: a hit needs no join).

Also loads those inputs and checks they agree on one embedding model.

Each segment's text is copied into the full-text column of its episode's language (``text_de`` for a
German feed, all other language columns null), see :mod:`cast_pipeline.search.languages`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa

from cast_pipeline.feeds.model import Episode
from cast_pipeline.keys import InvalidKeyError, is_valid_key
from cast_pipeline.paths import DataPaths
from cast_pipeline.search import store
from cast_pipeline.search.embeddings import read_episode_embeddings, table_model, validate_embeddings
from cast_pipeline.search.errors import ModelMismatchError
from cast_pipeline.search.languages import fts_columns, language_code

_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


@dataclass
class Loaded:
    """Embeddings and episode metadata of the episodes to index; ``missing`` have no embeddings."""

    tables: dict[str, pa.Table]
    episodes: dict[str, Episode]
    missing: list[str]


def load_inputs(
    paths: DataPaths,
    keys: list[str],
    tables: Mapping[str, pa.Table] | None,
    episodes: Mapping[str, Episode] | None,
) -> Loaded:
    """Each episode's embeddings (from ``tables`` or its Parquet file) and metadata (``episodes`` or episode.json)."""
    loaded = Loaded({}, {}, [])
    for key in keys:
        if not is_valid_key(key):
            raise InvalidKeyError(f"not an episode key: {key!r}")
        try:
            table = tables[key] if tables and key in tables else read_episode_embeddings(paths, key)
        except FileNotFoundError:
            loaded.missing.append(key)
            continue
        validate_embeddings(key, table)
        loaded.tables[key] = table
        if episodes and key in episodes:
            loaded.episodes[key] = episodes[key]
        else:
            from cast_pipeline.feeds.snapshot import load_episode  # the episode asset's snapshot (episode.json)

            loaded.episodes[key] = load_episode(paths, key)
    return loaded


def single_model(tables: Mapping[str, pa.Table]) -> str | None:
    """The one embedding model of ``tables`` (None if empty); ModelMismatchError if they disagree."""
    models: dict[str, list[str]] = {}
    for key, table in tables.items():
        models.setdefault(table_model(table), []).append(key)
    if len(models) > 1:
        detail = "; ".join(f"{m}: {len(ks)} episodes (e.g. {ks[0]})" for m, ks in models.items())
        raise ModelMismatchError(f"embeddings from several models cannot share one index ({detail}); re-embed first")
    return next(iter(models), None)


def plain_text(markup: str | None) -> str:
    """Show notes are often HTML: tags dropped, entities decoded, whitespace collapsed."""
    if not markup:
        return ""
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", markup))).strip()


def _published(episode: Episode) -> datetime | None:
    if episode.published is None:
        return None
    pub = episode.published
    return pub.replace(tzinfo=UTC) if pub.tzinfo is None else pub.astimezone(UTC)


def _check(table: pa.Table, episode: Episode, dim: int) -> None:
    keys = set(table.column("episode_key").unique().to_pylist())
    if keys - {episode.key}:
        raise ValueError(f"embeddings for {sorted(keys)} paired with episode metadata of {episode.key}")
    got = table.schema.field("vector").type.list_size
    if got != dim:
        raise ValueError(f"episode {episode.key} has {got}-dimensional vectors, the index {dim}-dimensional")


def segment_rows(pairs: Sequence[tuple[pa.Table, Episode]], dim: int) -> pa.Table:
    """Rows of the ``segments`` table for (embeddings table, episode) pairs."""
    schema = store.segments_schema(dim)
    parts = []
    for table, episode in pairs:
        _check(table, episode, dim)
        n = table.num_rows
        lang = language_code(episode.language)
        columns: dict[str, pa.Array | pa.ChunkedArray] = {
            "episode_key": table.column("episode_key"),
            "segment_index": table.column("segment_index"),
            "passage_index": table.column("passage_index"),
            "feed_key": pa.array([episode.feed_key] * n, pa.string()),
            "feed_title": pa.array([episode.feed_title] * n, pa.string()),
            "title": pa.array([episode.title] * n, pa.string()),
            "published": pa.array([_published(episode)] * n, schema.field("published").type),
            "enclosure_url": pa.array([episode.enclosure_url] * n, pa.string()),
            "language": pa.array([lang] * n, pa.string()),
        }
        for name in ("start", "end", "speaker", "text", "model", "vector"):
            columns[name] = table.column(name)
        for code, column in fts_columns("text").items():
            columns[column] = table.column("text") if code == lang else pa.nulls(n, pa.string())
        parts.append(pa.table({f.name: columns[f.name].cast(f.type) for f in schema}, schema=schema))
    return pa.concat_tables(parts) if parts else schema.empty_table()


def episode_rows(pairs: Sequence[tuple[pa.Table, Episode]]) -> pa.Table:
    """Rows of the ``episodes`` table: one per episode, title and plain-text description per language."""
    schema = store.episodes_schema()
    records = []
    for table, episode in pairs:
        lang = language_code(episode.language)
        description = plain_text(episode.description)
        record = {
            "episode_key": episode.key,
            "feed_key": episode.feed_key,
            "feed_url": episode.feed_url,
            "feed_title": episode.feed_title,
            "title": episode.title,
            "description": description,
            "published": _published(episode),
            "enclosure_url": episode.enclosure_url,
            "language": lang,
            "segments": table.num_rows,
            "model": table_model(table),
        }
        for field_name, value in (("title", episode.title), ("description", description)):
            for code, column in fts_columns(field_name).items():
                record[column] = value if code == lang and value else None
        records.append(record)
    return pa.Table.from_pylist(records, schema=schema)
