"""The ``new_episodes`` sensor: registered feeds in, new episode partitions and their runs out.

Each tick (every minute): register feeds listed in ``feeds.yaml`` that are not partitions yet, refresh
the feeds that are due (never fetched, or last checked CAST_FEED_REFRESH_SECONDS ago; see
cast_pipeline.feeds.due) with a conditional GET within a time budget, add one ``episodes`` partition per new item,
record a ``feed`` materialisation for every feed whose content changed, and request runs over
exactly the new keys, batched as partition ranges. Run keys are the batch's first and last key, so a
re-evaluated tick never launches the same batch twice. A broken feed is logged and skipped.
"""

from collections.abc import Sequence

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from cast_pipeline.defs.feeds.assets import refresh_metadata
from cast_pipeline.defs.feeds.partitions import (
    EPISODES,
    EPISODES_PER_RUN,
    FEEDS,
    episodes_partitions,
    feeds_partitions,
)
from cast_pipeline.defs.jobs import EPISODES_JOB
from cast_pipeline.defs.storage.resources import CastResource
from cast_pipeline.feeds.discovery import ScanResult, contiguous_ranges, scan_feeds
from cast_pipeline.feeds.due import due_feeds
from cast_pipeline.feeds.late import late_transcript_keys, links_digest
from cast_pipeline.feeds.model import Episode
from cast_pipeline.feeds.registry import read_feeds_file
from cast_pipeline.http import make_client
from cast_pipeline.paths import DataPaths
from cast_pipeline.settings import Settings

TICK_BUDGET_SECONDS = 40.0  # the sensor evaluation timeout is 60 s by default


def feeds_from_file(settings: Settings, log: object | None = None) -> list[str]:
    """Feed URLs of ``feeds.yaml`` (empty when the file does not exist; bad YAML is logged)."""
    if not settings.feeds_file.exists():
        return []
    try:
        return read_feeds_file(settings.feeds_file)
    except Exception as exc:
        if log is not None:
            log.error(f"cannot read {settings.feeds_file}: {exc}")  # type: ignore[attr-defined]
        return []


def registered_feeds(instance: dg.DagsterInstance, settings: Settings, log: object | None = None) -> list[str]:
    """Feeds partitions of the instance plus those in ``feeds.yaml``, in registration order."""
    urls = list(instance.get_dynamic_partitions(FEEDS))
    for url in feeds_from_file(settings, log):
        if url not in urls:
            urls.append(url)
    return urls


def late_transcripts(
    result: ScanResult, paths: DataPaths, new_keys: set[str], *, changed_only: bool = True
) -> dict[str, Episode]:
    """Processed episodes whose publisher added a transcript since (cast_pipeline.feeds.late).

    The sensor looks only at feeds whose content changed this tick (it requests the runs in the same
    tick); `cast-pipeline run` looks at every feed, because the sensor may have refreshed it since.
    """
    late: dict[str, Episode] = {}
    for scan in result.scans:
        if scan.refresh is None or (changed_only and scan.refresh.not_modified):
            continue
        by_key = {ep.key: ep for ep in scan.refresh.episodes if ep.key not in new_keys}
        late.update({key: by_key[key] for key in late_transcript_keys(paths, by_key.values())})
    return late


def late_run_requests(late: dict[str, Episode]) -> list[dg.RunRequest]:
    """One run per episode; the run key carries the links, so the same change is never run twice."""
    return [
        dg.RunRequest(run_key=f"late:{key}@{links_digest([ep])}", job_name=EPISODES_JOB, partition_key=key)
        for key, ep in late.items()
    ]


def episode_run_requests(keys: Sequence[str], job_name: str = EPISODES_JOB) -> list[dg.RunRequest]:
    """One run per batch of consecutive new keys; a batch of one is a plain single-partition run."""
    requests = []
    for batch in contiguous_ranges(keys, set(keys), EPISODES_PER_RUN):
        first, last = batch[0], batch[-1]
        if first == last:
            requests.append(dg.RunRequest(run_key=first, job_name=job_name, partition_key=first))
        else:
            requests.append(
                dg.RunRequest(
                    run_key=f"{first}...{last}",
                    job_name=job_name,
                    tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
                )
            )
    return requests


@dg.sensor(
    name="new_episodes",
    job_name=EPISODES_JOB,
    minimum_interval_seconds=60,  # new feeds within a minute; known ones per CAST_FEED_REFRESH_SECONDS
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Every minute: fetches newly registered feeds, re-checks the others every "
    "CAST_FEED_REFRESH_SECONDS (conditional GET), adds a partition per new episode and requests "
    "transcript-first runs for exactly the new ones.",
)
def new_episodes(context: dg.SensorEvaluationContext, cast: CastResource) -> dg.SensorResult:
    settings, paths = cast.settings(), cast.paths()
    instance = context.instance
    partition_feeds = set(instance.get_dynamic_partitions(FEEDS))
    urls = registered_feeds(instance, settings, context.log)
    if not urls:
        return dg.SensorResult(skip_reason="no feeds registered: add one with `cast-pipeline feeds add URL`")
    new_feeds = [u for u in urls if u not in partition_feeds]
    due = due_feeds(urls, paths, settings.feed_refresh_seconds)
    if not due and not new_feeds:
        return dg.SensorResult(
            skip_reason=f"no feed due: each of the {len(urls)} feeds is re-checked every "
            f"{settings.feed_refresh_seconds:g} s (CAST_FEED_REFRESH_SECONDS); new feeds on the next tick"
        )
    known = set(instance.get_dynamic_partitions(EPISODES))
    with make_client(settings) as client:
        result = scan_feeds(due, known, paths, settings, client=client, budget_seconds=TICK_BUDGET_SECONDS)
    for url, error in result.errors.items():
        context.log.warning(f"feed {url} skipped this tick: {error}")
    events = [
        dg.AssetMaterialization(asset_key="feed", partition=scan.url, metadata=refresh_metadata(scan.refresh))
        for scan in result.scans
        if scan.refresh is not None and not scan.refresh.not_modified
    ]
    new_keys = result.new_keys
    late = late_transcripts(result, paths, set(new_keys))
    requests = []
    if new_feeds:
        requests.append(feeds_partitions.build_add_request(new_feeds))
    if new_keys:
        requests.append(episodes_partitions.build_add_request(new_keys))
    context.log.info(
        f"scanned {len(result.scans)} of {len(due)} due feeds ({len(urls)} registered), {len(new_keys)} new "
        f"episodes, {len(result.errors)} feed errors"
    )
    if late:
        context.log.info(f"{len(late)} processed episodes gained a publisher transcript: running them again")
    return dg.SensorResult(
        run_requests=episode_run_requests(new_keys) + late_run_requests(late),
        dynamic_partitions_requests=requests,
        asset_events=events,
    )
