"""A backfill that ended failed has its missing partitions launched again, a bounded number of times."""

from __future__ import annotations

import time
from collections.abc import Iterator

import dagster as dg
import pytest
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.definitions.events import AssetKeyPartitionKey
from dagster._core.execution.backfill import BulkActionsFilter, BulkActionStatus, PartitionBackfill
from dagster._core.storage.tags import PARENT_BACKFILL_ID_TAG, ROOT_BACKFILL_ID_TAG

from cast_pipeline.defs.recovery.backfills import MAX_RESUMES, RESUME_DELAY_SECONDS, resume_failed_backfills
from cast_pipeline.defs.recovery.sensors import resume_failed_backfills as resume_sensor

PARTS = dg.StaticPartitionsDefinition(["a", "b", "c", "d"])


@dg.asset(partitions_def=PARTS)
def part(context) -> None:
    context.log.info(f"materialised {context.partition_key}")


DEFS = dg.Definitions(assets=[part])


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


def _failed_backfill(instance: dg.DagsterInstance, ended: float, status=BulkActionStatus.FAILED) -> PartitionBackfill:
    """A backfill over every partition that the daemon ended failed after a and b were materialised."""
    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id="outage",
        asset_graph=DEFS.resolve_asset_graph(),
        partition_names=PARTS.get_partition_keys(),
        asset_selection=[part.key],
        backfill_timestamp=ended - 60,
        tags={"team": "ops"},
        dynamic_partitions_store=instance,
        all_partitions=False,
        title="nightly",
        description=None,
        run_config=None,
    )
    data = backfill.get_asset_backfill_data(DEFS.resolve_asset_graph())
    graph = DEFS.resolve_asset_graph()
    materialised = AssetGraphSubset.from_asset_partition_set({AssetKeyPartitionKey(part.key, k) for k in "ab"}, graph)
    failed = (
        backfill.with_asset_backfill_data(
            data._replace(materialized_subset=materialised), dynamic_partitions_store=instance, asset_graph=graph
        )
        .with_status(status)
        .with_end_timestamp(ended)
    )
    instance.add_backfill(failed)
    return failed


def _partitions(backfill: PartitionBackfill) -> set[str]:
    data = backfill.asset_backfill_data
    assert data is not None
    return set(data.target_subset.get_partitions_subset(part.key).get_partition_keys())


@pytest.mark.parametrize("status", [BulkActionStatus.FAILED, BulkActionStatus.COMPLETED_FAILED])
def test_missing_partitions_of_a_failed_backfill_are_launched_again(
    instance: dg.DagsterInstance, status: BulkActionStatus
) -> None:
    now = time.time()
    _failed_backfill(instance, ended=now - RESUME_DELAY_SECONDS - 1, status=status)

    (resumed,) = resume_failed_backfills(instance, now=now)

    new = instance.get_backfill(resumed.new_id)
    assert new is not None and new.status == BulkActionStatus.REQUESTED
    assert _partitions(new) == {"c", "d"}, "only what the failed backfill did not materialise"
    assert new.tags[PARENT_BACKFILL_ID_TAG] == "outage" and new.tags[ROOT_BACKFILL_ID_TAG] == "outage"
    assert new.tags["team"] == "ops" and "nightly" in (new.title or "")
    assert resume_failed_backfills(instance, now=now + 60) == [], "one re-launch per failed backfill"


def test_a_partition_materialised_by_a_failed_run_is_not_launched_again(instance: dg.DagsterInstance) -> None:
    """A run that recorded c and then failed (PostgreSQL went away before its success): c is done."""
    now = time.time()
    _failed_backfill(instance, ended=now - RESUME_DELAY_SECONDS - 1)
    instance.report_runless_asset_event(dg.AssetMaterialization(part.key, partition="c"))
    (resumed,) = resume_failed_backfills(instance, now=now)
    new = instance.get_backfill(resumed.new_id)
    assert new is not None and _partitions(new) == {"d"}


def test_a_backfill_that_just_failed_is_given_time_before_it_is_resumed(instance: dg.DagsterInstance) -> None:
    now = time.time()
    _failed_backfill(instance, ended=now - 1)
    assert resume_failed_backfills(instance, now=now) == []
    assert len(resume_failed_backfills(instance, now=now + RESUME_DELAY_SECONDS)) == 1


def test_resumes_stop_after_the_limit(instance: dg.DagsterInstance) -> None:
    now = time.time()
    _failed_backfill(instance, ended=now - 600)
    for attempt in range(1, MAX_RESUMES + 1):
        (resumed,) = resume_failed_backfills(instance, now=now)
        assert resumed.attempt == attempt
        new = instance.get_backfill(resumed.new_id)
        assert new is not None
        instance.update_backfill(new.with_status(BulkActionStatus.FAILED).with_end_timestamp(now - 600))
    assert resume_failed_backfills(instance, now=now) == [], (
        f"a backfill failing {MAX_RESUMES + 1} times needs a person"
    )
    assert len(instance.get_backfills(filters=BulkActionsFilter(statuses=[BulkActionStatus.REQUESTED]))) == 0


def test_the_sensor_says_what_it_launched(instance: dg.DagsterInstance) -> None:
    _failed_backfill(instance, ended=time.time() - RESUME_DELAY_SECONDS - 5)
    result = resume_sensor(dg.build_sensor_context(instance=instance))
    assert isinstance(result, dg.SkipReason) and "backfill outage ended failed" in (result.skip_message or "")
    again = resume_sensor(dg.build_sensor_context(instance=instance))
    assert "no failed backfill" in (again.skip_message or "")
