"""A real feed with real publisher transcripts, taken through the real pipeline to embeddings and index.

The feed is served by the local HTTP server; its transcripts are files of ``shared/data/transcripts``
(the Podcasting 2.0 HTML example, whose monologue paragraphs run past the embedding model's window, and
a Spanish KDE Express VTT), plus an episode without any transcript (it stays "awaiting audio").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from cast_pipeline.definitions import defs
from cast_pipeline.defs.feeds.partitions import EPISODES, FEEDS
from cast_pipeline.defs.jobs import EPISODES_JOB, FEEDS_JOB
from cast_pipeline.defs.search.automation import SEARCH_INDEX_JOB
from cast_pipeline.defs.storage.resources import CastResource
from cast_pipeline.feeds.catalog import read_feed_episodes
from cast_pipeline.keys import feed_key
from cast_pipeline.paths import DataPaths
from cast_pipeline_tests.httpserver import LocalHTTPServer

# Everything per episode up to embeddings, without audio and speech (as test_episodes_job does).
TO_EMBEDDINGS = [dg.AssetKey(k) for k in ("episode", "publisher_transcript", "transcript", "embeddings")]


@dataclass(frozen=True)
class RealItem:
    guid: str
    title: str
    transcript: str | None  # path under shared/data/transcripts
    media_type: str = ""
    description: str = ""
    pub: str = "Mon, 06 Mar 2023 10:00:00 GMT"


HTML_TIPS = RealItem(
    "tips",
    "Ten podcasting tips",
    "podcast-namespace/example.html",
    "text/html",
    "Rookie mistakes new podcasters make, and how to avoid them.",
    "Tue, 07 Mar 2023 10:00:00 GMT",
)
KDE_TELEGRAM = RealItem(
    "kde-16",
    "KDE Express 16: especial Telegram",
    "transcriptator/kde_express-16_kde_en_telegram.vtt",
    "text/vtt",
    "Canales y grupos de KDE en Telegram.",
    "Fri, 02 Jun 2023 08:00:00 GMT",
)
TRAILER = RealItem(
    "trailer",
    "Podcasting Q&amp;A: should you have a trailer?",
    "podcast-namespace/example.vtt",
    "text/vtt",
    "Gillian asks whether a new show needs a trailer.",
    "Wed, 08 Mar 2023 10:00:00 GMT",
)
MUTE = RealItem("mute", "An episode nobody transcribed", None, pub="Sat, 03 Jun 2023 08:00:00 GMT")
ITEMS = (HTML_TIPS, KDE_TELEGRAM, MUTE)
SMALL = (TRAILER, KDE_TELEGRAM)  # short transcripts: quick to embed, for tests that change things


def serve_feed(server: LocalHTTPServer, shared: Path, items: tuple[RealItem, ...] = ITEMS) -> str:
    """Serve an RSS feed whose items link to real transcript files; returns the feed URL."""
    base = server.base_url
    parts = []
    for it in items:
        link = ""
        if it.transcript:
            name = Path(it.transcript).name
            server.add_file(f"/t/{name}", shared / "transcripts" / it.transcript, it.media_type)
            link = f'<podcast:transcript url="{base}/t/{name}" type="{it.media_type}"/>'
        parts.append(
            f'<item><title>{it.title}</title><guid isPermaLink="false">{it.guid}</guid>'
            f"<description>{it.description}</description><pubDate>{it.pub}</pubDate>"
            f'<enclosure url="{base}/a/{it.guid}.mp3" type="audio/mpeg" length="1000"/>{link}</item>'
        )
    rss = (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:podcast="https://podcastindex.org/namespace/1.0"><channel>'
        f"<title>Real transcripts</title><link>{base}</link><language>en</language><description>d</description>"
        + "".join(parts)
        + "</channel></rss>"
    )
    return server.add("/feed.xml", rss, "application/rss+xml")


@dataclass
class Pipeline:
    """A real instance and data directory with the feed's episodes registered."""

    instance: dg.DagsterInstance
    paths: DataPaths
    keys: dict[str, str]  # item guid -> episode key
    runs: list[dg.ExecuteInProcessResult] = field(default_factory=list)

    def embed(self, *guids: str, selection: list[dg.AssetKey] = TO_EMBEDDINGS) -> dg.ExecuteInProcessResult:
        """One ranged episodes_job run up to embeddings (all episodes when no guid is given)."""
        keys = [self.keys[g] for g in guids] if guids else list(self.keys.values())
        tags = {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}
        if len(keys) == 1:
            result = defs.resolve_job_def(EPISODES_JOB).execute_in_process(
                instance=self.instance, partition_key=keys[0], asset_selection=selection
            )
        else:
            result = defs.resolve_job_def(EPISODES_JOB).execute_in_process(
                instance=self.instance, tags=tags, asset_selection=selection
            )
        self.runs.append(result)
        return result

    def index(self) -> dg.ExecuteInProcessResult:
        result = defs.resolve_job_def(SEARCH_INDEX_JOB).execute_in_process(instance=self.instance)
        self.runs.append(result)
        return result

    def metadata(self, asset: str, guid: str | None = None) -> dict:
        """The latest materialisation metadata of ``asset`` (for the item's partition when given)."""
        partitions = [self.keys[guid]] if guid else None
        records = self.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=partitions), limit=1
        ).records
        assert records, f"{asset} has no materialisation for {guid}"
        return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def register(instance: dg.DagsterInstance, data_dir: Path, url: str) -> Pipeline:
    """Refresh the feed (feeds_job) and add one episodes partition per item, as the sensor would."""
    instance.add_dynamic_partitions(FEEDS, [url])
    resources = {"cast": CastResource(data_dir=str(data_dir))}
    assert defs.resolve_job_def(FEEDS_JOB).execute_in_process(instance=instance, partition_key=url, resources=resources)
    paths = DataPaths(data_dir)
    episodes = read_feed_episodes(paths, feed_key(url))
    instance.add_dynamic_partitions(EPISODES, [e.key for e in episodes])
    return Pipeline(instance, paths, {e.guid: e.key for e in episodes})


def run_checks(instance: dg.DagsterInstance, asset: dg.AssetKey, partition: str | None = None) -> list:
    """Run only the asset checks of ``asset`` (for one partition), as "Execute checks" in the UI does."""
    job = dg.define_asset_job("checks_only", selection=dg.AssetSelection.checks_for_assets(asset))
    merged = dg.Definitions.merge(defs, dg.Definitions(jobs=[job]))
    # The partition as a run tag (what the UI sets): execute_in_process(partition_key=) looks for the
    # partitions of the job's assets, and a job of checks alone has none.
    tags = {"dagster/partition": partition} if partition is not None else None
    result = merged.resolve_job_def("checks_only").execute_in_process(instance=instance, tags=tags)
    return result.get_asset_check_evaluations()
