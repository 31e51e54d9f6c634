"""The per-feed Parquet catalog and the DuckDB views over it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from cast_pipeline.feeds import catalog
from cast_pipeline.feeds.catalog import (
    CatalogError,
    add_parquet_view,
    connect,
    read_episode,
    read_feed,
    read_feed_episodes,
    read_feed_keys,
    register_view,
    write_feed_catalog,
)
from cast_pipeline.feeds.model import Episode, Feed, TranscriptLink, oldest_first
from cast_pipeline.keys import episode_key, feed_key
from cast_pipeline.paths import DataPaths


def make_feed(url: str) -> tuple[Feed, list[Episode]]:
    fk = feed_key(url)
    feed = Feed(key=fk, url=url, title=f"Show at {url}", language="en", podcast_guid="pg-1", author="Ann")
    full = Episode(
        key=episode_key(fk, "g1"),
        feed_key=fk,
        feed_url=url,
        feed_title=feed.title,
        guid="g1",
        title="Everything set — ünïcode ✨",
        description="<p>desc</p>",
        published=datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
        link="https://example.org/1",
        enclosure_url="https://example.org/1.mp3",
        enclosure_type="audio/mpeg",
        enclosure_length=123_456_789_012,
        duration_seconds=3723.5,
        language="en",
        image="https://example.org/1.jpg",
        transcripts=(
            TranscriptLink("https://example.org/1.vtt", "text/vtt", "en", "captions"),
            TranscriptLink("https://example.org/1.txt", "text/plain"),
        ),
    )
    bare = Episode(key=episode_key(fk, None, "https://example.org/2.mp3"), feed_key=fk, feed_url=url,
                   feed_title=feed.title, guid=None, title="Nothing optional")  # fmt: skip
    return feed, [full, bare]


def test_episodes_round_trip_exactly(paths: DataPaths) -> None:
    feed, episodes = make_feed("https://example.org/feed.xml")
    path = write_feed_catalog(paths, feed, episodes)
    assert path == paths.episodes_catalog(feed.key)
    assert read_feed_episodes(paths, feed.key) == episodes
    assert read_feed(paths, feed.key) == feed
    assert read_episode(paths, episodes[1].key) == episodes[1]
    assert read_episode(paths, episodes[0].key).published.tzinfo is not None  # type: ignore[union-attr]


def test_keys_alone_come_oldest_first_with_the_feed_record(paths: DataPaths) -> None:
    feed, (dated, undated) = make_feed("https://example.org/feed.xml")
    older = Episode(**{**dated.to_dict(), "transcripts": (), "key": episode_key(feed.key, "g0"), "guid": "g0",
                       "published": datetime(2020, 1, 1, tzinfo=UTC)})  # fmt: skip
    write_feed_catalog(paths, feed, [undated, dated, older])  # feed order: as a feed lists them
    assert read_feed_keys(paths, feed.key) == (feed, [older.key, dated.key, undated.key])


def test_oldest_first_puts_undated_last_and_keeps_feed_order_for_ties() -> None:
    day = datetime(2024, 1, 1, tzinfo=UTC)
    dated = [("new", datetime(2024, 6, 1, tzinfo=UTC)), ("x", None), ("tie-a", day), ("y", None), ("tie-b", day)]
    assert oldest_first(dated) == ["tie-a", "tie-b", "new", "x", "y"]


def test_rewriting_replaces_the_file_and_leaves_no_temp_files(paths: DataPaths) -> None:
    feed, episodes = make_feed("https://example.org/feed.xml")
    write_feed_catalog(paths, feed, episodes)
    write_feed_catalog(paths, feed, episodes[:1])
    assert read_feed_episodes(paths, feed.key) == episodes[:1]
    assert [p.name for p in paths.episodes_catalog(feed.key).parent.iterdir()] == [f"{feed.key}.parquet"]


def test_missing_feeds_and_episodes_are_named(paths: DataPaths) -> None:
    feed, episodes = make_feed("https://example.org/feed.xml")
    with pytest.raises(CatalogError, match=f"feed {feed.key} has no episode catalog"):
        read_feed_episodes(paths, feed.key)
    with pytest.raises(CatalogError, match=f"feed {feed.key} has no episode catalog"):
        read_feed_keys(paths, feed.key)
    with pytest.raises(CatalogError, match="refresh the feed"):
        read_episode(paths, episodes[0].key)
    write_feed_catalog(paths, feed, episodes[:1])
    with pytest.raises(CatalogError, match=f"episode {episodes[1].key} is not in the catalog of feed {feed.key}"):
        read_episode(paths, episodes[1].key)


def test_the_episodes_view_is_empty_but_typed_before_any_feed(paths: DataPaths) -> None:
    con = connect(paths)
    assert con.sql("select count(*) from episodes").fetchone() == (0,)
    columns = dict(con.sql("select column_name, column_type from (describe episodes)").fetchall())
    assert columns["published"] == "TIMESTAMP WITH TIME ZONE"
    assert columns["transcripts"].startswith("STRUCT(url VARCHAR")


def test_the_episodes_view_spans_every_feed(paths: DataPaths) -> None:
    for url in ("https://a.example.org/feed", "https://b.example.org/feed"):
        write_feed_catalog(paths, *make_feed(url))
    con = connect(paths)
    rows = con.sql(
        "select feed_key, count(*), sum(len(transcripts)) from episodes group by feed_key order by feed_key"
    ).fetchall()
    assert [(n, t) for _, n, t in rows] == [(2, 2), (2, 2)]
    assert con.sql("select transcripts[1].type from episodes where guid = 'g1' limit 1").fetchone() == ("text/vtt",)


def test_other_modules_can_register_views(paths: DataPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog, "_VIEWS", dict(catalog._VIEWS))
    schema = pa.schema([("episode_key", pa.string()), ("words", pa.int64())])

    @register_view("transcript_stats")
    def _stats(con: duckdb.DuckDBPyConnection, p: DataPaths) -> None:
        add_parquet_view(con, "transcript_stats", str(p.root / "stats" / "*.parquet"), schema)

    con = connect(paths)
    assert con.sql("select * from transcript_stats").fetchall() == []
    assert {r[0] for r in con.sql("show tables").fetchall()} >= {"episodes", "transcript_stats"}


def test_view_names_must_be_identifiers(paths: DataPaths, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a valid view name"):
        add_parquet_view(duckdb.connect(), "x; drop", str(tmp_path / "*.parquet"), pa.schema([("a", pa.int64())]))
