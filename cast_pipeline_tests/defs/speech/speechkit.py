"""Feeds with real audio for the speech tests: RSS served by the local HTTP server, enclosures from shared/."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from cast_pipeline.defs.feeds.partitions import EPISODES, FEEDS
from cast_pipeline.defs.jobs import FEEDS_JOB
from cast_pipeline.defs.storage.resources import CastResource
from cast_pipeline.feeds.catalog import read_feed_episodes
from cast_pipeline.keys import feed_key
from cast_pipeline.paths import DataPaths
from cast_pipeline_tests.defs.feedkit import VTT
from cast_pipeline_tests.httpserver import LocalHTTPServer


@dataclass
class SpeechItem:
    guid: str
    title: str
    audio: Path | bytes | None = None  # served at /a/<guid>.<ext>
    audio_type: str = "audio/wav"
    enclosure: str | None = None  # an explicit enclosure URL instead of the served audio
    transcript: bool = False  # a publisher VTT at /t/<guid>.vtt


def item_xml(item: SpeechItem, base: str) -> str:
    parts = [f"<title>{escape(item.title)}</title>", f'<guid isPermaLink="false">{item.guid}</guid>']
    parts.append("<pubDate>Mon, 06 Mar 2023 10:00:00 GMT</pubDate>")
    url = item.enclosure or (f"{base}/a/{item.guid}.wav" if item.audio is not None else None)
    if url:
        parts.append(f'<enclosure url={quoteattr(url)} type={quoteattr(item.audio_type)} length="1000"/>')
    if item.transcript:
        parts.append(f'<podcast:transcript url="{base}/t/{item.guid}.vtt" type="text/vtt"/>')
    return "<item>" + "".join(parts) + "</item>"


def rss(title: str, items: Sequence[SpeechItem], base: str, lang: str = "en-us") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:podcast="https://podcastindex.org/namespace/1.0"><channel>'
        f"<title>{escape(title)}</title><link>{base}</link><language>{lang}</language><description>d</description>"
        + "".join(item_xml(it, base) for it in items)
        + "</channel></rss>"
    )


def serve_speech_feed(server: LocalHTTPServer, items: Sequence[SpeechItem], path: str = "/speech.xml") -> str:
    """Serve the feed, its audio and its transcripts; returns the feed URL."""
    for it in items:
        if it.audio is not None and it.enclosure is None:
            body = it.audio.read_bytes() if isinstance(it.audio, Path) else it.audio
            server.add(f"/a/{it.guid}.wav", body, it.audio_type, ranges=True)
        if it.transcript:
            server.add(f"/t/{it.guid}.vtt", VTT.format(topic=it.title), "text/vtt")
    return server.add(path, rss("Speech show", items, server.base_url), "application/rss+xml")


def register_feed(defs: dg.Definitions, instance: dg.DagsterInstance, url: str, data_dir: Path) -> dict[str, str]:
    """Register and refresh the feed, add its episodes as partitions; returns {title: episode key}."""
    instance.add_dynamic_partitions(FEEDS, [url])
    resources = {"cast": CastResource(data_dir=str(data_dir))}
    feeds_job = defs.resolve_job_def(FEEDS_JOB)
    assert feeds_job.execute_in_process(instance=instance, partition_key=url, resources=resources).success
    episodes = read_feed_episodes(DataPaths(data_dir), feed_key(url))
    instance.add_dynamic_partitions(EPISODES, [ep.key for ep in episodes])
    return {ep.title: ep.key for ep in episodes}


def run_range(
    defs: dg.Definitions, job_name: str, instance: dg.DagsterInstance, keys: Sequence[str], **kwargs: object
) -> dg.ExecuteInProcessResult:
    """One run of ``job_name`` over the partition range ``keys[0]..keys[-1]`` (as a sensor batch would).

    The data directory comes from CAST_DATA_DIR (the ``data_dir`` fixture sets it), as in a code server.
    """
    tags = {ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]}
    return defs.resolve_job_def(job_name).execute_in_process(
        instance=instance,
        tags=tags,
        raise_on_error=False,
        **kwargs,  # type: ignore[arg-type]
    )


def latest_metadata(instance: dg.DagsterInstance, asset: dg.AssetKey | str, partition: str) -> dict | None:
    """Metadata values of the partition's latest materialisation, or None when there is none."""
    key = asset if isinstance(asset, dg.AssetKey) else dg.AssetKey(asset)
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
    ).records
    if not records:
        return None
    mat = records[0].asset_materialization
    assert mat is not None
    return {k: v.value for k, v in mat.metadata.items()}


def failure_description(result: dg.ExecuteInProcessResult, step_key: str) -> str:
    for event in result.get_step_failure_events():
        if event.step_key == step_key:
            data = event.step_failure_data.user_failure_data
            return data.description if data is not None else str(event.step_failure_data.error)
    raise AssertionError(
        f"step {step_key} did not fail; failures: {[e.step_key for e in result.get_step_failure_events()]}"
    )


def step_keys(result: dg.ExecuteInProcessResult) -> Mapping[str, str]:
    """{step key: STEP_SUCCESS | STEP_FAILURE} for the steps that ran."""
    return {
        e.step_key: e.event_type_value
        for e in result.all_events
        if e.step_key and e.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE")
    }
