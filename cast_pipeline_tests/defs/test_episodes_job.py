"""episodes_job end to end on a real instance: feed -> episode -> publisher_transcript -> transcript."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from cast_pipeline.definitions import defs
from cast_pipeline.defs.feeds.partitions import EPISODES, FEEDS
from cast_pipeline.defs.jobs import EPISODES_JOB, FEEDS_JOB
from cast_pipeline.defs.storage.resources import CastResource
from cast_pipeline.feeds.catalog import read_feed_episodes
from cast_pipeline.keys import feed_key
from cast_pipeline.paths import DataPaths
from cast_pipeline_tests.defs.feedkit import Item, serve_feed
from cast_pipeline_tests.httpserver import LocalHTTPServer


def _latest_metadata(instance: dg.DagsterInstance, asset: str, partition: str) -> dict:
    event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1
    ).records
    assert records, f"{asset} not materialised for {partition}"
    assert event is not None
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def _prepare(http_server: LocalHTTPServer, data_dir: Path, instance: dg.DagsterInstance) -> tuple[str, list[str]]:
    url = serve_feed(http_server, "/feed.xml", "Show", [Item("ep-1", "Pasta"), Item("ep-2", "Mute", transcript=False)])
    instance.add_dynamic_partitions(FEEDS, [url])
    resources = {"cast": CastResource(data_dir=str(data_dir))}
    feeds_job = defs.resolve_job_def(FEEDS_JOB)
    assert feeds_job.execute_in_process(instance=instance, partition_key=url, resources=resources).success
    keys = [ep.key for ep in read_feed_episodes(DataPaths(data_dir), feed_key(url))]
    instance.add_dynamic_partitions(EPISODES, keys)
    return url, keys


def test_one_run_over_a_range_writes_every_episode(http_server: LocalHTTPServer, data_dir: Path) -> None:
    with dg.instance_for_test() as instance:
        _, keys = _prepare(http_server, data_dir, instance)
        job = defs.resolve_job_def(EPISODES_JOB)
        tags = {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}
        # Without audio and speech (cast_pipeline_tests/defs/speech), as in the core code location.
        # The data dir comes from CAST_DATA_DIR: a subset job may not take a resource override.
        no_speech = [dg.AssetKey(k) for k in ("episode", "publisher_transcript", "transcript")]
        result = job.execute_in_process(instance=instance, tags=tags, asset_selection=no_speech)
        assert result.success
        paths = DataPaths(data_dir)
        by_title = {json.loads(paths.episode_file(k, "episode.json").read_text())["title"]: k for k in keys}

        pasta = by_title["Pasta"]
        markdown = paths.episode_file(pasta, "transcript.md").read_text()
        assert markdown.startswith("# Pasta")
        assert "**[00:00:00]** Alice: Welcome to the show about Pasta." in markdown
        meta = _latest_metadata(instance, "transcript", pasta)
        assert meta["status"] == "ready" and meta["source"] == "podcast2.0:vtt" and meta["segments"] == 2
        assert _latest_metadata(instance, "publisher_transcript", pasta)["status"] == "found"

        mute = by_title["Mute"]
        assert not paths.episode_file(mute, "transcript.md").exists()  # nothing faked
        assert _latest_metadata(instance, "publisher_transcript", mute)["needs_audio"] is True
        assert _latest_metadata(instance, "transcript", mute)["status"] == "awaiting_audio"
        assert _latest_metadata(instance, "episode", mute)["title"] == "Mute"


def test_a_missing_episode_fails_its_own_partition_only(http_server: LocalHTTPServer, data_dir: Path) -> None:
    with dg.instance_for_test() as instance:
        url, keys = _prepare(http_server, data_dir, instance)
        ghost = f"{feed_key(url)}--ghost-0123456789"
        instance.add_dynamic_partitions(EPISODES, [ghost])
        job = defs.resolve_job_def(EPISODES_JOB)
        tags = {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: ghost}
        result = job.execute_in_process(
            instance=instance, tags=tags, resources={"cast": CastResource(data_dir=str(data_dir))}, raise_on_error=False
        )
        assert not result.success
        failure = result.get_step_failure_events()[0]
        assert ghost in failure.step_failure_data.user_failure_data.description
        assert "not in the catalog" in failure.step_failure_data.user_failure_data.description
        done = instance.get_materialized_partitions(dg.AssetKey("episode"))
        assert done == set(keys)  # the good episodes were recorded, the ghost was not
