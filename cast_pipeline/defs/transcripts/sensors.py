"""The ``awaiting_transcripts`` sensor: look again at young episodes that wait for a ready-made transcript.

Why a sensor with a cursor: the set of awaiting episodes comes from what ``publisher_transcript``
materialisations *say* (status ``awaiting_transcript``), read incrementally by storage id; when each
is due again comes from its ``await.json`` (6 h, 12 h, 24 h... after the previous look, see
cast_pipeline.transcripts.awaiting). A tick refreshes each feed that has due episodes once (a
conditional GET: one request per feed, not per episode, so a new ``<podcast:transcript>`` tag is in
the catalog) and requests ``episodes_job`` runs over the due episodes: the run snapshots the episode
again, asks the providers again and either finds a transcript, keeps waiting (next look later) or, at
the window's end, goes on to audio and speech.

The same tick looks for late Pocket Casts transcripts (cast_pipeline.transcripts.late): episodes that
found no ready-made transcript (gone to audio and speech) in the last LATE_LOOK_DAYS are kept in the
cursor and matched against their show's Pocket Casts episode list (one request per feed per
CAST_POCKETCASTS_CACHE_SECONDS); one run per episode Pocket Casts now has a transcript for.
"""

import json
from collections import defaultdict
from datetime import datetime

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from cast_pipeline.defs.feeds.partitions import EPISODES, EPISODES_PER_RUN
from cast_pipeline.defs.jobs import EPISODES_JOB
from cast_pipeline.defs.storage.resources import CastResource
from cast_pipeline.defs.transcripts.assets import feed_options
from cast_pipeline.feeds.discovery import contiguous_ranges
from cast_pipeline.feeds.refresh import refresh_feed
from cast_pipeline.feeds.snapshot import load_episode
from cast_pipeline.http import make_client
from cast_pipeline.keys import feed_key_of
from cast_pipeline.paths import DataPaths
from cast_pipeline.transcripts.awaiting import is_due, load_await
from cast_pipeline.transcripts.late import candidates, late_pocketcasts, run_key, young
from cast_pipeline.transcripts.providers import ProviderContext

AWAITING_SENSOR = "awaiting_transcripts"
AWAITING_STATUS = "awaiting_transcript"
RECORDS_PER_TICK = 1000
LATE_BUDGET_SECONDS = 20.0  # of the 60 s a sensor evaluation may take; the rest of the feeds next tick


def _requests(ranges: list[list[str]], marker: int) -> list[dg.RunRequest]:
    """One run per range; the run key changes with each look, so a re-evaluated tick never repeats one."""
    out = []
    for batch in ranges:
        first, last = batch[0], batch[-1]
        run_key = f"{AWAITING_SENSOR}:{first}...{last}@{marker}"
        tags = {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}
        out.append(
            dg.RunRequest(run_key=run_key, job_name=EPISODES_JOB, partition_key=first)
            if first == last
            else dg.RunRequest(run_key=run_key, job_name=EPISODES_JOB, tags=tags)
        )
    return out


@dg.sensor(
    name=AWAITING_SENSOR,
    job_name=EPISODES_JOB,
    minimum_interval_seconds=5 * 60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Looks again at episodes awaiting a ready-made transcript (CAST_AWAIT_TRANSCRIPT_DAYS) when "
    "their next check is due (6 h, 12 h, 24 h...): refreshes each of their feeds once (conditional GET) and "
    "runs episodes_job for them; at the window's end they go to audio and speech. Also looks up episodes "
    "that went to speech in the last 30 days in Pocket Casts (one show list per feed, cached) and re-runs "
    "those it now has a transcript for, so the late transcript replaces the speech one.",
)
def awaiting_transcripts(context: dg.SensorEvaluationContext, cast: CastResource) -> dg.SensorResult:
    paths, settings = cast.paths(), cast.settings()
    instance = context.instance
    cursor = json.loads(context.cursor) if context.cursor else {}
    after, awaiting = int(cursor.get("after", 0)), set(cursor.get("awaiting", []))
    late: dict[str, str] = dict(cursor.get("late", {}))  # {key: published}: no ready-made transcript found
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("publisher_transcript"), after_storage_id=after),
        limit=RECORDS_PER_TICK,
        ascending=True,
    ).records
    for record in records:
        after = record.storage_id
        mat = record.asset_materialization
        if record.partition_key is None or mat is None:
            continue
        status = mat.metadata.get("status")
        key = record.partition_key
        if status is not None and status.value == AWAITING_STATUS:
            awaiting.add(key)
        else:
            awaiting.discard(key)
        if status is not None and status.value in ("none", "unusable"):
            late[key] = _published(paths, key)
        else:
            late.pop(key, None)
    states = {key: load_await(paths, key) for key in awaiting}
    awaiting = {key for key, state in states.items() if state is not None and state.awaiting}
    due = sorted(key for key in awaiting if is_due(states[key]))
    late = {k: p for k, p in late.items() if p and young(datetime.fromisoformat(p)) and k not in awaiting}
    new_cursor = json.dumps({"after": after, "awaiting": sorted(awaiting), "late": late})
    try:
        late_requests = _late_requests(context, cast, late) if late else []
    except Exception as exc:  # the late look must never cost the awaiting episodes their re-check
        context.log.warning(f"late Pocket Casts look failed ({type(exc).__name__}: {exc}); trying again next tick")
        late_requests = []
    if not due and not late_requests:
        return dg.SensorResult(
            skip_reason=f"{len(awaiting)} episodes awaiting a transcript, none due; {len(late)} looked up late "
            "in Pocket Casts, none found",
            cursor=new_cursor,
        )
    if not due:
        return dg.SensorResult(run_requests=late_requests, cursor=new_cursor)

    by_feed: dict[str, list[str]] = defaultdict(list)
    for key in due:
        by_feed[feed_key_of(key)].append(key)
    with make_client(settings) as client:
        for keys in by_feed.values():
            url = load_episode(paths, keys[0]).feed_url
            try:
                refresh_feed(url, paths, settings, client=client)  # one conditional GET for all its episodes
            except Exception as exc:  # the look still happens, on the catalog we have
                context.log.warning(f"feed {url}: refresh failed ({exc}); re-checking its episodes anyway")
    ranges = contiguous_ranges(instance.get_dynamic_partitions(EPISODES), set(due), EPISODES_PER_RUN)
    marker = sum(state.checks for key, state in states.items() if key in due and state is not None)
    context.log.info(f"{len(due)} of {len(awaiting)} awaiting episodes due, {len(by_feed)} feeds refreshed")
    return dg.SensorResult(run_requests=_requests(ranges, marker) + late_requests, cursor=new_cursor)


def _published(paths: DataPaths, key: str) -> str:
    try:
        published = load_episode(paths, key).published
    except (OSError, ValueError, KeyError, TypeError):
        return ""  # no snapshot: not looked up late (the next materialisation records it again)
    return published.isoformat() if published else ""


def _late_requests(
    context: dg.SensorEvaluationContext, cast: CastResource, late: dict[str, str]
) -> list[dg.RunRequest]:
    """One run per episode Pocket Casts now lists a transcript for (see cast_pipeline.transcripts.late)."""
    paths, settings = cast.paths(), cast.settings()
    episodes = []
    for key in late:
        try:
            episodes.append(load_episode(paths, key))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    options = feed_options(settings, context.log)
    with make_client(settings) as client:
        ctx = ProviderContext(settings, paths, client)
        found, skipped = late_pocketcasts(candidates(paths, episodes), ctx, options, LATE_BUDGET_SECONDS)
    for fk, why in skipped.items():
        context.log.debug(f"feed {fk}: no late Pocket Casts look ({why})")
    if found:
        context.log.info(f"{len(found)} episodes without a ready-made transcript now have one in Pocket Casts")
    return [dg.RunRequest(run_key=run_key(k, url), job_name=EPISODES_JOB, partition_key=k) for k, url in found.items()]
