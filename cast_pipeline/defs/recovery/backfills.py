"""Backfills that ended FAILED or COMPLETED_FAILED: launch their missing partitions again, a few times.

Why: Dagster never retries a backfill on its own. One that ends while a location is restarting,
PostgreSQL is away or a run worker is killed (its runs failed, retries used up) stays FAILED, and
its unfinished partitions wait for a person to press "Re-execute from failure". This does what that
button does (Dagster's ``retry_partition_backfill``: a new backfill of the target minus what is
materialised, tagged with its parent and root backfill; also minus what any run materialised since
the backfill began, which the backfill's own record can miss) once the backfill has been over for
``RESUME_DELAY_SECONDS``, at most ``MAX_RESUMES`` times per original backfill, so an episode whose
asset keeps raising does not loop for ever (after that: the UI, as before).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.execution.backfill import BulkActionsFilter, BulkActionStatus, PartitionBackfill
from dagster._core.storage.tags import PARENT_BACKFILL_ID_TAG, ROOT_BACKFILL_ID_TAG

# Short against the 2-minute goal: a resume launched while a location is still down just waits for it
# (the daemon runs with DAGSTER_BACKFILL_RETRY_DEFINITION_CHANGED_ERROR, deploy/env.example).
RESUME_DELAY_SECONDS = 10.0
MAX_RESUMES = 3
RESUME_COUNT_TAG = "cast/backfill_resume"
_ENDED_FAILED = [BulkActionStatus.FAILED, BulkActionStatus.COMPLETED_FAILED]


@dataclass(frozen=True)
class Resumed:
    """A failed backfill and the backfill that now launches its missing partitions."""

    failed_id: str
    new_id: str
    partitions: int
    attempt: int

    def line(self) -> str:
        return (
            f"backfill {self.failed_id} ended failed: launched backfill {self.new_id} for its "
            f"{self.partitions} missing partition(s) (automatic resume {self.attempt} of {MAX_RESUMES})"
        )


def _resumed_ids(instance: dg.DagsterInstance) -> set[str]:
    """Ids of failed backfills that already have a re-execution (by us or by hand)."""
    recent = instance.get_backfills(limit=500)
    return {b.tags[PARENT_BACKFILL_ID_TAG] for b in recent if PARENT_BACKFILL_ID_TAG in b.tags}


def _not_materialized_since(
    instance: dg.DagsterInstance, subset: AssetGraphSubset, backfill: PartitionBackfill
) -> AssetGraphSubset:
    """``subset`` without the partitions materialised since the backfill began.

    Why: the backfill's own record can miss a partition that was materialised by a run that then
    failed (PostgreSQL went away between its materialisation and its success event); relaunching it
    would do finished work again.
    """
    done = {}
    for key, partitions in subset.partitions_subsets_by_asset_key.items():
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(
                asset_key=key,
                asset_partitions=list(partitions.get_partition_keys()),
                after_timestamp=backfill.backfill_timestamp,
            ),
            limit=10_000,
        ).records
        finished = {r.partition_key for r in records if r.partition_key}
        if finished:
            done[key] = partitions.empty_subset().with_partition_keys(finished)
    return subset - AssetGraphSubset(partitions_subsets_by_asset_key=done) if done else subset


def resume_failed_backfills(instance: dg.DagsterInstance, now: float | None = None) -> list[Resumed]:
    """Re-launch the missing partitions of asset backfills that ended failed; returns what was launched."""
    now = time.time() if now is None else now
    failed = instance.get_backfills(filters=BulkActionsFilter(statuses=_ENDED_FAILED), limit=100)
    if not failed:
        return []
    already = _resumed_ids(instance)
    done: list[Resumed] = []
    for backfill in failed:
        data = backfill.asset_backfill_data  # new backfills store it unserialised: no asset graph needed
        if data is None or backfill.backfill_id in already:
            continue
        ended = backfill.backfill_end_timestamp or backfill.backfill_timestamp
        attempt = int(backfill.tags.get(RESUME_COUNT_TAG, "0")) + 1
        if now - ended < RESUME_DELAY_SECONDS or attempt > MAX_RESUMES:
            continue
        missing = _not_materialized_since(instance, data.target_subset - data.materialized_subset, backfill)
        if missing.num_partitions_and_non_partitioned_assets == 0:
            continue
        new = PartitionBackfill.from_asset_graph_subset(
            backfill_id=uuid.uuid4().hex[:8],
            asset_graph_subset=missing,
            dynamic_partitions_store=instance,
            tags={
                **backfill.tags,
                PARENT_BACKFILL_ID_TAG: backfill.backfill_id,
                ROOT_BACKFILL_ID_TAG: backfill.tags.get(ROOT_BACKFILL_ID_TAG, backfill.backfill_id),
                RESUME_COUNT_TAG: str(attempt),
            },
            backfill_timestamp=now,
            title=f"Automatic resume of {backfill.title or backfill.backfill_id}",
            description=backfill.description,
            run_config=backfill.run_config,
        )
        instance.add_backfill(new)
        done.append(
            Resumed(backfill.backfill_id, new.backfill_id, missing.num_partitions_and_non_partitioned_assets, attempt)
        )
    return done
