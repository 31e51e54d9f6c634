"""Sensors and jobs that carry an episode from audio to speech to transcript, also across code locations.

Why sensors (and not AutomationCondition): an asset in one code location cannot be materialised in
the same run as one in another, so something must start the next step when the previous one has
landed. A sensor can look at what a materialisation *says*, which a condition cannot: the speech
sensor starts only for audio that was actually downloaded (not for the ``not_needed`` majority)
and only when that exact file (its fingerprint) has not been transcribed yet, so recording the
same file again never re-transcribes it. It batches partition ranges like the other sensors.

Both sensors are built by :func:`build_followup_sensor`: watch materialisations of *source* assets
(by event storage id, so nothing is missed or seen twice), and request runs of a job for the
partitions whose *target* asset is not up to date with them. Three rules keep it from doing harm:

- a source event is handled only once the run that recorded it has finished; while the run is
  going, its own later steps may still materialise the target (one machine runs audio, speech and
  transcript in one run), and the cursor waits;
- if that run already tried the target step and it raised, the partition is not retried (the same
  broken file would fail again); a step that was *skipped* because another episode of the batch
  failed upstream, or was killed, is exactly what the sensor completes;
- moving the cursor past a source event does not forget it: the partition stays in the cursor as
  requested until its target is materialised, and is requested again when its run was lost (location
  restarting, worker killed, retry never launched): cast_pipeline.defs.speech.requests.

Sensors here:
- ``audio_ready_<prefix>`` (in each speech location): downloaded audio -> ``transcribe_job``.
- ``transcript_sources`` (where ``transcript`` lives): a found publisher transcript or a new speech
  result -> ``transcript_job``. In the core location this is how speech made on the GPU box or the
  Mac becomes a transcript; on one machine it completes batches where one episode failed.
"""

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition
from dagster._core.events import DagsterEventType
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from cast_pipeline.defs.batching import RECORD_EACH_EPISODE_TAGS
from cast_pipeline.defs.feeds.partitions import EPISODES, EPISODES_PER_RUN
from cast_pipeline.defs.speakers.keys import speakers_key
from cast_pipeline.defs.speech.keys import AUDIO_KEY, TRANSCRIPT_KEY, speech_key
from cast_pipeline.defs.speech.requests import MAX_REQUESTS, Outcome, Pending, RunLookup
from cast_pipeline.feeds.discovery import contiguous_ranges
from cast_pipeline.transcripts.store import speech_file

TRANSCRIBE_JOB = "transcribe_job"
TRANSCRIPT_JOB = "transcript_job"
TRANSCRIPT_SOURCES_SENSOR = "transcript_sources"
RECORDS_PER_TICK = 500  # per watched asset; the cursor carries on at the next tick

# (source record, latest target record or None) -> True when the target is up to date with the source
IsDone = Callable[[dg.EventLogRecord, dg.EventLogRecord | None], bool]


@dataclass(frozen=True)
class Source:
    key: dg.AssetKey
    accept: Callable[[Mapping[str, Any]], bool]  # on the materialisation's metadata values


def audio_ready_sensor_name(prefix: str) -> str:
    return f"audio_ready_{prefix}"


def _metadata(record: dg.EventLogRecord | None) -> dict[str, Any]:
    mat = record.asset_materialization if record is not None else None
    return {k: v.value for k, v in mat.metadata.items()} if mat is not None else {}


def _status_is(*statuses: str) -> Callable[[Mapping[str, Any]], bool]:
    return lambda meta: meta.get("status") in statuses


def _range_requests(
    name: str, job_name: str, ranges: list[list[str]], marker: int, attempt: int
) -> list[tuple[dg.RunRequest, list[str]]]:
    """One run request per range (run key unique per range, source marker and request number)."""
    requests = []
    for batch in ranges:
        first, last = batch[0], batch[-1]
        run_key = f"{name}:{first}...{last}@{marker}" + (f"#{attempt}" if attempt > 1 else "")
        # Each episode recorded as it finishes (defs.batching): a crashed run loses at most the one in flight.
        if first == last:
            tags = dict(RECORD_EACH_EPISODE_TAGS)
            request = dg.RunRequest(run_key=run_key, job_name=job_name, partition_key=first, tags=tags)
        else:
            tags = {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}
            request = dg.RunRequest(run_key=run_key, job_name=job_name, tags={**tags, **RECORD_EACH_EPISODE_TAGS})
        requests.append((request, batch))
    return requests


def _latest_target_records(
    instance: dg.DagsterInstance, target: dg.AssetKey, partitions: set[str]
) -> dict[str, dg.EventLogRecord]:
    latest = instance.get_latest_storage_id_by_partition(target, DagsterEventType.ASSET_MATERIALIZATION, partitions)
    if not latest:
        return {}
    ids = list(latest.values())
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=target, storage_ids=ids), limit=len(ids)
    ).records
    return {r.partition_key: r for r in records if r.partition_key is not None}


PENDING = "_requested"  # cursor entry: partition -> Pending, until its target is materialised


def _requests_to_repeat(
    context: dg.SensorEvaluationContext,
    name: str,
    target_step: str,
    pending: dict[str, Pending],
    targets: Mapping[str, dg.EventLogRecord],
    runs: RunLookup,
    skip: set[str],
) -> dict[int, dict[str, Pending]]:
    """Settle the partitions requested earlier; return {request number: {partition: its Pending}} to ask again.

    A partition leaves ``pending`` once its target has a materialisation newer than the source event,
    or when its run ended for an episode-level reason (cast_pipeline.defs.speech.requests). ``skip``:
    partitions with a new source event this tick, requested afresh instead.
    """
    again: dict[int, dict[str, Pending]] = {}
    outcomes: dict[str, Outcome] = {}
    for partition, item in list(pending.items()):
        done = partition in targets and targets[partition].storage_id > item.source_id
        if done or partition in skip:
            del pending[partition]
            continue
        if item.run_key not in outcomes:
            outcomes[item.run_key] = runs.outcome(name, item, target_step)
        outcome = outcomes[item.run_key]
        if outcome is Outcome.GOING:
            continue
        del pending[partition]
        if outcome is Outcome.LOST and item.requests < MAX_REQUESTS:
            again.setdefault(item.requests + 1, {})[partition] = item
        elif outcome is Outcome.LOST:
            context.log.warning(
                f"episode {partition}: {item.requests} runs requested by {name} ended without finishing it; "
                f"not asking again. See the runs with run key {item.run_key}, then re-run it by hand."
            )
    return again


def build_followup_sensor(
    *,
    name: str,
    sources: Sequence[Source],
    target: dg.AssetKey,
    job_name: str,
    is_done: IsDone,
    default_status: dg.DefaultSensorStatus,
    description: str,
    minimum_interval_seconds: int = 60,
    target_step: str | None = None,
) -> dg.SensorDefinition:
    """A sensor requesting ``job_name`` runs for partitions whose ``target`` lags behind a ``source``.

    ``target_step``: the step that materialises ``target``; by default the asset's own op, named by its
    key parts joined by "__" (a multi-asset's step has the multi-asset's name instead).
    """
    target_step = target_step or target.to_python_identifier()

    @dg.sensor(
        name=name,
        job_name=job_name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description=description,
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        instance = context.instance
        cursor: dict[str, Any] = json.loads(context.cursor) if context.cursor else {}
        pending = {p: Pending.from_json(raw) for p, raw in cursor.pop(PENDING, {}).items()}
        runs = RunLookup(instance)
        fresh: list[dg.EventLogRecord] = []
        for source in sources:
            cursor_key = source.key.to_user_string()
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=source.key, after_storage_id=cursor.get(cursor_key, 0)),
                limit=RECORDS_PER_TICK,
                ascending=True,
            ).records
            for record in records:
                if not runs.finished(record.run_id):
                    break  # handled once that run is over; later records wait behind it
                cursor[cursor_key] = record.storage_id
                if record.partition_key and source.accept(_metadata(record)):
                    fresh.append(record)
        latest_source: dict[str, dg.EventLogRecord] = {}
        for record in fresh:  # the newest event per partition is the one to catch up with
            partition = record.partition_key
            assert partition is not None
            if partition not in latest_source or record.storage_id > latest_source[partition].storage_id:
                latest_source[partition] = record
        targets = _latest_target_records(instance, target, set(latest_source) | set(pending))
        wanted = {
            partition
            for partition, record in latest_source.items()
            if not is_done(record, targets.get(partition)) and not runs.step_raised(record.run_id, target_step)
        }
        again = _requests_to_repeat(context, name, target_step, pending, targets, runs, skip=set(latest_source))
        order = instance.get_dynamic_partitions(EPISODES) if wanted or again else []
        requests: list[dg.RunRequest] = []
        now = time.time()
        if wanted:
            marker = max(latest_source[p].storage_id for p in wanted)
            for request, batch in _range_requests(
                name, job_name, contiguous_ranges(order, wanted, EPISODES_PER_RUN), marker, 1
            ):
                requests.append(request)
                for p in batch:
                    pending[p] = Pending(latest_source[p].storage_id, str(request.run_key), 1, now)
        for attempt, parts in again.items():
            marker = max(item.source_id for item in parts.values())
            for request, batch in _range_requests(
                name, job_name, contiguous_ranges(order, set(parts), EPISODES_PER_RUN), marker, attempt
            ):
                requests.append(request)
                for p in batch:
                    pending[p] = Pending(parts[p].source_id, str(request.run_key), attempt, now)
        if pending:
            cursor[PENDING] = {p: pending[p].to_json() for p in sorted(pending)}
        new_cursor = json.dumps(cursor, sort_keys=True)
        if not requests:
            waiting = f" ({len(pending)} requested, not done yet)" if pending else ""
            return dg.SensorResult(
                skip_reason=f"no {target.to_user_string()} to bring up to date{waiting}", cursor=new_cursor
            )
        count = len(wanted) + sum(len(parts) for parts in again.values())
        context.log.info(f"{count} episodes need {target.to_user_string()}: {len(requests)} runs of {job_name}")
        return dg.SensorResult(run_requests=requests, cursor=new_cursor)

    return _sensor


def _same_audio_transcribed(source: dg.EventLogRecord, target: dg.EventLogRecord | None) -> bool:
    fingerprint = _metadata(source).get("fingerprint")
    return target is not None and _metadata(target).get("audio_fingerprint") == fingerprint


def _target_newer(source: dg.EventLogRecord, target: dg.EventLogRecord | None) -> bool:
    return target is not None and target.storage_id > source.storage_id


def build_audio_ready_sensor(
    prefix: str,
    default_status: dg.DefaultSensorStatus,
    job_name: str = TRANSCRIBE_JOB,
    minimum_interval_seconds: int = 60,
    target_step: str | None = None,
) -> dg.SensorDefinition:
    """``audio_ready_<prefix>``: downloaded audio not yet transcribed here -> ``job_name``.

    ``target_step``: the step that materialises the speech asset when it is not the asset's own op
    (on one machine, audio and speech are one step: cast_pipeline.defs.speech.overlap).
    """
    return build_followup_sensor(
        minimum_interval_seconds=minimum_interval_seconds,
        target_step=target_step,
        name=audio_ready_sensor_name(prefix),
        sources=[Source(AUDIO_KEY, _status_is("downloaded"))],
        target=speech_key(prefix),
        job_name=job_name,
        is_done=_same_audio_transcribed,
        default_status=default_status,
        description=f"Transcribes episodes whose audio was downloaded (status downloaded) and not yet "
        f"transcribed by {speech_key(prefix).to_user_string()} (same file fingerprint), in batches of up to "
        f"{EPISODES_PER_RUN} episodes per run. Switch it on in the one location that should pick up new audio; "
        "with two locations on, both transcribe every episode.",
    )


def build_transcript_sources_sensor(speech_prefixes: Sequence[str]) -> dg.SensorDefinition:
    """``transcript_sources``: a found publisher transcript or new speech newer than ``transcript``."""
    sources = [Source(dg.AssetKey("publisher_transcript"), _status_is("found"))]
    sources += [Source(speech_key(p), _status_is("transcribed")) for p in speech_prefixes]
    sources += [Source(speakers_key(p), _status_is("diarized")) for p in speech_prefixes]
    files = ", ".join(speech_file(p) for p in speech_prefixes)
    return build_followup_sensor(
        name=TRANSCRIPT_SOURCES_SENSOR,
        sources=sources,
        target=TRANSCRIPT_KEY,
        job_name=TRANSCRIPT_JOB,
        is_done=_target_newer,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Rebuilds `transcript` for episodes whose publisher transcript or speech result "
        f"({files}) is newer than it, once the run that made it has finished: speech made in a "
        "transcription location, a re-transcription backfill, or episodes of a batch whose transcript step "
        "was skipped because another episode failed.",
    )


def build_transcribe_job(
    prefix: str, name: str = TRANSCRIBE_JOB, executor_def: dg.ExecutorDefinition = dg.in_process_executor
) -> UnresolvedAssetJobDefinition:
    """``transcribe_job``: the location's speech and speakers assets (one process, one model load per run).

    The fleet names one such job per queue and runs it with its Celery executor (each step on a worker).
    """
    return dg.define_asset_job(
        name,
        selection=dg.AssetSelection.assets(speech_key(prefix), speakers_key(prefix)),
        executor_def=executor_def,
        description=f"Speech-to-text of a range of episodes with this location's model "
        f"({speech_key(prefix).to_user_string()}), then who spoke when ({speakers_key(prefix).to_user_string()}).",
    )


def build_transcript_job(assets: Sequence[dg.AssetsDefinition]) -> UnresolvedAssetJobDefinition:
    """``transcript_job``: ``transcript`` and the per-episode assets downstream of it among ``assets``."""
    per_episode = [
        key
        for a in assets
        if isinstance(a.partitions_def, dg.DynamicPartitionsDefinition) and a.partitions_def.name == EPISODES
        for key in a.keys
    ]
    selection = dg.AssetSelection.assets(TRANSCRIPT_KEY).downstream() & dg.AssetSelection.assets(*per_episode)
    return dg.define_asset_job(
        TRANSCRIPT_JOB,
        selection=selection,
        executor_def=dg.in_process_executor,
        description="Rebuild episodes' transcripts (and what is derived from them per episode) from the "
        "current sources; launched by the transcript_sources sensor.",
    )
