"""The recorded metadata the file checks read: the latest materialisation per asset and episode, cached."""

from __future__ import annotations

import json
from collections.abc import Iterator

import dagster as dg
import pytest

from cast_pipeline.defs.storage.records import CACHE_FILE, cache_path, recorded_metadata

EPISODES = ["show-1a2b3c4d--ep-1-0123456789", "show-1a2b3c4d--ep-2-0123456789"]
TRANSCRIPT = dg.AssetKey("transcript")


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("episodes", EPISODES)
        yield instance


def _record(instance: dg.DagsterInstance, episode: str, size: int, **extra: object) -> None:
    metadata = {"title": episode, "status": "ready", "files": {"transcript.json": {"bytes": size}}, **extra}
    instance.report_runless_asset_event(dg.AssetMaterialization(TRANSCRIPT, partition=episode, metadata=metadata))


def test_latest_materialisation_per_episode_with_the_entries_the_checks_read(instance: dg.DagsterInstance) -> None:
    _record(instance, EPISODES[0], 10, preview=dg.MetadataValue.md("long text"))
    _record(instance, EPISODES[0], 20)
    _record(instance, EPISODES[1], 30)
    recorded = recorded_metadata(instance, [TRANSCRIPT, dg.AssetKey("embeddings")])
    assert recorded == {
        EPISODES[0]: {
            "transcript": {"title": EPISODES[0], "status": "ready", "files": {"transcript.json": {"bytes": 20}}}
        },
        EPISODES[1]: {
            "transcript": {"title": EPISODES[1], "status": "ready", "files": {"transcript.json": {"bytes": 30}}}
        },
    }
    assert list(recorded_metadata(instance, [TRANSCRIPT], [EPISODES[1]])) == [EPISODES[1]]


def test_the_cache_is_read_instead_of_unchanged_records_and_follows_new_ones(instance: dg.DagsterInstance) -> None:
    cache = cache_path(instance)
    assert cache is not None and cache.name == CACHE_FILE
    _record(instance, EPISODES[0], 10)
    first = recorded_metadata(instance, [TRANSCRIPT], cache=cache)
    data = json.loads(cache.read_text(encoding="utf-8"))
    data["assets"]["transcript"][EPISODES[0]][1]["status"] = "from the cache"
    cache.write_text(json.dumps(data), encoding="utf-8")
    assert (
        recorded_metadata(instance, [TRANSCRIPT], cache=cache)[EPISODES[0]]["transcript"]["status"] == "from the cache"
    )

    _record(instance, EPISODES[0], 11)  # a new materialisation: its record is read
    assert recorded_metadata(instance, [TRANSCRIPT], cache=cache)[EPISODES[0]]["transcript"]["files"] == {
        "transcript.json": {"bytes": 11}
    }
    cache.write_text("{garbage", encoding="utf-8")  # a damaged cache is rebuilt from the records
    assert recorded_metadata(instance, [TRANSCRIPT], cache=cache) != first
    assert json.loads(cache.read_text(encoding="utf-8"))["format"] == 1
