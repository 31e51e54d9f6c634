"""Automation of the search assets, evaluated by Dagster's own condition evaluator on a real instance.

A new transcript gets embedded, new embeddings get indexed, and the index does not wait for episodes
that have no embeddings (yet): with one partition per episode, some are always missing.
"""

from __future__ import annotations

import dagster as dg

from cast_pipeline.definitions import defs
from cast_pipeline.defs.feeds.partitions import EPISODES
from cast_pipeline.defs.search.assets import EMBEDDINGS_KEY, INDEX_CONDITION, SEARCH_INDEX_KEY
from cast_pipeline.defs.search.automation import SEARCH_AUTOMATION_SENSOR

SEARCH = dg.AssetSelection.assets(EMBEDDINGS_KEY, SEARCH_INDEX_KEY)
DONE, AWAITING_AUDIO = "show-1234abcd--done-0000000001", "show-1234abcd--mute-0000000002"


def _requested(result: dg.EvaluateAutomationConditionsResult) -> dict[str, object]:
    out: dict[str, object] = {}
    for key in (EMBEDDINGS_KEY, SEARCH_INDEX_KEY):
        if result.get_num_requested(key):
            partitions = result.get_requested_partitions(key)
            out[key.to_user_string()] = partitions if partitions != {None} else True
    return out


def _record(instance: dg.DagsterInstance, asset: str, partition: str | None = None) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=partition))


def test_a_new_transcript_is_embedded_then_indexed_without_waiting_for_other_episodes() -> None:
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(EPISODES, [DONE, AWAITING_AUDIO])
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=SEARCH)
        assert _requested(tick) == {}  # no transcript yet: nothing to embed, nothing to index

        _record(instance, "transcript", DONE)
        tick = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=SEARCH, cursor=tick.cursor
        )
        assert _requested(tick) == {"embeddings": {DONE}}

        _record(instance, "embeddings", DONE)  # AWAITING_AUDIO stays without embeddings
        tick = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=SEARCH, cursor=tick.cursor
        )
        assert _requested(tick) == {"search_index": True}

        _record(instance, "search_index")
        tick = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=SEARCH, cursor=tick.cursor
        )
        assert _requested(tick) == {}  # up to date: nothing requested again


def _index_requests(condition: dg.AutomationCondition) -> int:
    """search_index requests after one episode's embeddings update while another episode has none."""
    assets = [
        a.map_asset_specs(lambda spec: spec.replace_attributes(automation_condition=condition))
        if a.keys == {SEARCH_INDEX_KEY}
        else a
        for a in defs.resolve_asset_graph().assets_defs
        if a.is_executable
    ]
    only_index = dg.AssetSelection.assets(SEARCH_INDEX_KEY)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(EPISODES, [DONE, AWAITING_AUDIO])
        tick = dg.evaluate_automation_conditions(defs=assets, instance=instance, asset_selection=only_index)
        _record(instance, "transcript", DONE)
        _record(instance, "embeddings", DONE)
        tick = dg.evaluate_automation_conditions(
            defs=assets, instance=instance, asset_selection=only_index, cursor=tick.cursor
        )
        return tick.get_num_requested(SEARCH_INDEX_KEY)


def test_plain_eager_would_never_index_while_any_episode_lacks_embeddings() -> None:
    """Why search_index drops eager()'s "all dependencies present" rule."""
    assert _index_requests(dg.AutomationCondition.eager()) == 0
    assert _index_requests(INDEX_CONDITION) == 1


def test_the_search_automation_sensor_targets_both_assets_and_starts_stopped() -> None:
    sensor = defs.resolve_sensor_def(SEARCH_AUTOMATION_SENSOR)
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED  # switched on in the UI, like new_episodes
    graph = defs.resolve_asset_graph()
    assert sensor.asset_selection.resolve(graph) == {EMBEDDINGS_KEY, SEARCH_INDEX_KEY}
