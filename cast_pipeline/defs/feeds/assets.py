"""Feed and episode assets: the catalog side of the pipeline.

``feed`` (one partition per registered feed URL) refreshes a feed with a conditional GET and writes
its episode catalog; ``episode`` (one partition per episode) snapshots one item's metadata, which is
what every later asset of that episode reads.
"""

from typing import Any

import dagster as dg

from cast_pipeline.defs.batching import per_episode
from cast_pipeline.defs.feeds.partitions import (
    FIND_BY_TITLE,
    episode_backfill_policy,
    episodes_partitions,
    feeds_partitions,
)
from cast_pipeline.defs.storage.resources import CastResource
from cast_pipeline.feeds.catalog import read_feed_episodes
from cast_pipeline.feeds.model import Episode
from cast_pipeline.feeds.refresh import FeedRefresh, refresh_feed
from cast_pipeline.feeds.snapshot import EPISODE_FILE, save_episode
from cast_pipeline.integrity import files_metadata
from cast_pipeline.keys import feed_key_of

OWNERS = ["team:archive"]


def refresh_metadata(refresh: FeedRefresh) -> dict[str, Any]:
    """Metadata of a feed refresh, shared by the asset and the sensor's recorded materialisations."""
    feed = refresh.feed
    return {
        "feed_url": dg.MetadataValue.url(refresh.url) if refresh.url.startswith("http") else refresh.url,
        "feed_key": refresh.feed_key,
        "title": feed.title if feed else "",
        "episodes": len(refresh.keys),
        "not_modified": refresh.not_modified,
        "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in refresh.problems) or "none"),
    }


@dg.asset(
    partitions_def=feeds_partitions,
    group_name="feeds",
    kinds={"rss", "parquet"},
    owners=OWNERS,
    tags={"domain": "feeds"},
    description="A podcast feed, fetched with a conditional GET (ETag / Last-Modified); writes the feed's "
    "episode catalog (one Parquet file per feed). Partition key: the feed URL.",
)
def feed(context: dg.AssetExecutionContext, cast: CastResource) -> dg.MaterializeResult:
    refresh = refresh_feed(context.partition_key, cast.paths(), cast.settings())
    for problem in refresh.problems:
        context.log.warning(f"feed {context.partition_key}: {problem}")
    return dg.MaterializeResult(metadata=refresh_metadata(refresh))


def _episode_metadata(ep: Episode) -> dict[str, Any]:
    return {
        "title": ep.title,
        "feed": ep.feed_title,
        "published": ep.published.isoformat() if ep.published else "unknown",
        "enclosure": ep.enclosure_url or "none",
        "duration_seconds": ep.duration_seconds or 0.0,
        "publisher_transcripts": len(ep.transcripts),
        "language": ep.language or "unknown",
    }


@dg.asset(
    partitions_def=episodes_partitions,
    deps=[dg.AssetDep(feed, partition_mapping=dg.AllPartitionMapping())],
    backfill_policy=episode_backfill_policy,
    group_name="feeds",
    kinds={"json"},
    owners=OWNERS,
    tags={"domain": "feeds"},
    description="One episode's metadata (title, dates, enclosure, <podcast:transcript> links), taken from "
    "its feed's catalog. Partition key: feed key + '--' + GUID slug + hash (see cast_pipeline.keys)." + FIND_BY_TITLE,
)
def episode(context: dg.AssetExecutionContext, cast: CastResource):
    paths = cast.paths()
    by_feed: dict[str, dict[str, Episode]] = {}

    def work(key: str) -> dict[str, Any]:
        fk = feed_key_of(key)
        if fk not in by_feed:  # one catalog read per feed per run, not per episode
            by_feed[fk] = {ep.key: ep for ep in read_feed_episodes(paths, fk)}
        ep = by_feed[fk].get(key)
        if ep is None:
            raise LookupError(
                f"episode {key} is not in the catalog of feed {fk}; the item may have left the feed. "
                "Refresh the feed (materialise `feed`) or remove the partition."
            )
        save_episode(paths, ep)
        return {**_episode_metadata(ep), **files_metadata(paths.episode_dir(key), [EPISODE_FILE])}

    yield from per_episode(context, work)
