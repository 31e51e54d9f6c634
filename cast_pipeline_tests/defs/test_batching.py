"""per_episode: each episode of a ranged run is recorded once, as it finishes when the run asks for it."""

from collections.abc import Iterator

import dagster as dg
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from cast_pipeline.defs.batching import RECORD_EACH_EPISODE_TAGS, per_episode

parts = dg.DynamicPartitionsDefinition(name="eps")
KEYS = ["a", "b", "c"]
seen_before: dict[str, list[str]] = {}  # key -> partitions already recorded when its work started


def _recorded(instance: dg.DagsterInstance, asset: str) -> list[str]:
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=100, ascending=True).records
    return [r.partition_key for r in records if r.partition_key]


@dg.asset(partitions_def=parts, code_version="model-1")
def work(context: dg.AssetExecutionContext):
    def one(key: str) -> dict[str, object]:
        seen_before[key] = _recorded(context.instance, "work")
        if key == "b" and context.run.tags.get("fail_b"):
            raise ValueError("no audio for b")
        return {"title": f"Episode {key}"}

    yield from per_episode(context, one)


@dg.asset(partitions_def=parts, deps=[work])
def after(context: dg.AssetExecutionContext):
    yield from per_episode(context, lambda key: {"title": f"Episode {key}"})


defs = dg.Definitions(
    assets=[work, after], jobs=[dg.define_asset_job("j", [work, after], executor_def=dg.in_process_executor)]
)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    seen_before.clear()
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions("eps", KEYS)
        yield inst


def _run(instance: dg.DagsterInstance, **tags: str) -> dg.ExecuteInProcessResult:
    rng = {ASSET_PARTITION_RANGE_START_TAG: KEYS[0], ASSET_PARTITION_RANGE_END_TAG: KEYS[-1]}
    return defs.resolve_job_def("j").execute_in_process(instance=instance, tags={**rng, **tags}, raise_on_error=False)


def test_each_episode_is_recorded_as_it_finishes_and_only_once(instance: dg.DagsterInstance) -> None:
    assert _run(instance, **RECORD_EACH_EPISODE_TAGS).success
    assert seen_before == {"a": [], "b": ["a"], "c": ["a", "b"]}  # a crash in c would keep a and b
    assert sorted(_recorded(instance, "work")) == KEYS and sorted(_recorded(instance, "after")) == KEYS
    record = instance.fetch_materializations(dg.AssetKey("work"), limit=1).records[0].asset_materialization
    assert record is not None and record.metadata["title"].value == "Episode c"
    assert record.tags is not None and record.tags["dagster/code_version"] == "model-1"


def test_without_the_tag_episodes_are_recorded_when_the_step_ends(instance: dg.DagsterInstance) -> None:
    assert _run(instance).success
    assert seen_before == {"a": [], "b": [], "c": []}
    assert sorted(_recorded(instance, "work")) == KEYS and sorted(_recorded(instance, "after")) == KEYS


@pytest.mark.parametrize("tags", [RECORD_EACH_EPISODE_TAGS, {}])
def test_a_failed_episode_keeps_the_others_recorded_once(instance: dg.DagsterInstance, tags: dict[str, str]) -> None:
    result = _run(instance, fail_b="1", **tags)
    assert not result.success
    assert sorted(_recorded(instance, "work")) == ["a", "c"]
    failure = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert failure is not None and failure.metadata["failed_episodes"].value == {"b": "ValueError: no audio for b"}
