"""The new_episodes sensor: new items become partitions and runs, exactly once, bad feeds are skipped."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from cast_pipeline.defs.feeds.partitions import EPISODES, EPISODES_PER_RUN, FEEDS
from cast_pipeline.defs.feeds.sensors import episode_run_requests, new_episodes
from cast_pipeline.defs.storage.resources import CastResource
from cast_pipeline.keys import feed_key, feed_key_of
from cast_pipeline_tests.defs.feedkit import Item, serve_feed
from cast_pipeline_tests.httpserver import LocalHTTPServer


def tick(instance: dg.DagsterInstance, data_dir: Path, cursor: str | None = None) -> dg.SensorResult:
    """One sensor evaluation, then apply its partition requests as the daemon would."""
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"cast": CastResource(data_dir=str(data_dir))}
    )
    result = new_episodes(context)
    assert isinstance(result, dg.SensorResult)
    for request in result.dynamic_partitions_requests or []:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def test_second_tick_adds_only_the_new_episode(
    http_server: LocalHTTPServer, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAST_FEED_REFRESH_SECONDS", "0")  # every tick re-checks every feed
    items = [Item("ep-1", "One"), Item("ep-2", "Two", transcript=False)]
    url = serve_feed(http_server, "/feed.xml", "Show", items)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(FEEDS, [url])
        first = tick(instance, data_dir)
        keys = list(instance.get_dynamic_partitions(EPISODES))
        assert len(keys) == 2 and all(feed_key_of(k) == feed_key(url) for k in keys)
        assert len(first.run_requests) == 1  # both new episodes in one batch
        assert [e.partition for e in first.asset_events] == [url]  # the feed changed: recorded once

        serve_feed(http_server, "/feed.xml", "Show", [*items, Item("ep-3", "Three")], etag='"v2"')
        second = tick(instance, data_dir, cursor=first.cursor)
        new = [k for k in instance.get_dynamic_partitions(EPISODES) if k not in keys]
        assert len(new) == 1
        assert [r.partition_key for r in second.run_requests] == new
        assert second.run_requests[0].run_key == new[0]


def test_unchanged_feed_uses_conditional_get_and_requests_nothing(
    http_server: LocalHTTPServer, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAST_FEED_REFRESH_SECONDS", "0")
    url = serve_feed(http_server, "/feed.xml", "Show", [Item("ep-1", "One")])
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(FEEDS, [url])
        first = tick(instance, data_dir)
        second = tick(instance, data_dir, cursor=first.cursor)
        assert second.run_requests == [] and second.asset_events == []
        feed_requests = http_server.requests_to("/feed.xml")
        assert feed_requests[-1].headers.get("if-none-match") == '"v1"'
        assert "cast-pipeline" in feed_requests[-1].headers["user-agent"]


def test_a_broken_feed_does_not_stop_the_others(http_server: LocalHTTPServer, data_dir: Path) -> None:
    good = serve_feed(http_server, "/good.xml", "Good", [Item("g-1", "G")])
    html = http_server.add("/html.xml", "<html><body>Not a feed</body></html>", "text/html")
    missing = http_server.url("/gone.xml")
    malformed = http_server.add("/bad.xml", "<rss><channel><item><title>x</ti", "application/rss+xml")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(FEEDS, [html, missing, malformed, good])
        result = tick(instance, data_dir)
        keys = list(instance.get_dynamic_partitions(EPISODES))
        assert [feed_key_of(k) for k in keys] == [feed_key(good)]
        assert len(result.run_requests) == 1
        state = json.loads((data_dir / "feeds" / feed_key(missing) / "fetch.json").read_text())
        assert "404" in json.dumps(state)


def test_feeds_yaml_entries_are_registered_as_partitions(http_server: LocalHTTPServer, data_dir: Path) -> None:
    url = serve_feed(http_server, "/feed.xml", "Show", [Item("ep-1", "One")])
    feeds_file = Path(data_dir).parent / "feeds.yaml"
    feeds_file.write_text(f"feeds:\n  - {url}\n")
    with dg.instance_for_test() as instance:
        tick(instance, data_dir)
        assert list(instance.get_dynamic_partitions(FEEDS)) == [url]
        assert len(instance.get_dynamic_partitions(EPISODES)) == 1


def test_a_new_feed_is_fetched_on_the_next_tick_known_ones_only_when_due(
    http_server: LocalHTTPServer, data_dir: Path
) -> None:
    old = serve_feed(http_server, "/old.xml", "Old", [Item("o-1", "O")])
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(FEEDS, [old])
        tick(instance, data_dir)
        assert len(http_server.requests_to("/old.xml")) == 1
        quiet = tick(instance, data_dir)  # a minute later: nothing is due (CAST_FEED_REFRESH_SECONDS is 900)
        assert "no feed due" in str(quiet.skip_reason) and len(http_server.requests_to("/old.xml")) == 1

        new = serve_feed(http_server, "/new.xml", "New", [Item("n-1", "N"), Item("n-2", "M")])
        instance.add_dynamic_partitions(FEEDS, [new])  # as `feeds add` or the UI's "add partition" do
        result = tick(instance, data_dir)
        assert len(http_server.requests_to("/new.xml")) == 1 and len(http_server.requests_to("/old.xml")) == 1
        assert [feed_key_of(k) for k in result.run_requests[0].tags.values()] == [feed_key(new)] * 2

        state = data_dir / "feeds" / feed_key(old) / "fetch.json"
        stale = {**json.loads(state.read_text()), "checked_at": "2020-01-01T00:00:00+00:00"}
        state.write_text(json.dumps(stale))  # 15 minutes later, for the old feed
        tick(instance, data_dir)
        assert http_server.requests_to("/old.xml")[-1].headers.get("if-none-match") == '"v1"'


def test_a_failing_feed_waits_like_the_others(http_server: LocalHTTPServer, data_dir: Path) -> None:
    missing = http_server.url("/gone.xml")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(FEEDS, [missing])
        tick(instance, data_dir)
        tick(instance, data_dir)
        assert len(http_server.requests_to("/gone.xml")) == 1


def test_no_feeds_is_a_skip_with_a_hint(data_dir: Path) -> None:
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"cast": CastResource(data_dir=str(data_dir))})
        result = new_episodes(context)
        assert "feeds add" in str(result.skip_reason)


def test_run_requests_batch_consecutive_keys_into_ranges() -> None:
    keys = [f"f-1234abcd--e{i}-0000000000" for i in range(EPISODES_PER_RUN + 1)]
    requests = episode_run_requests(keys)
    assert len(requests) == 2
    assert requests[0].tags[ASSET_PARTITION_RANGE_START_TAG] == keys[0]
    assert requests[0].tags[ASSET_PARTITION_RANGE_END_TAG] == keys[EPISODES_PER_RUN - 1]
    assert requests[1].partition_key == keys[-1]
    assert len({r.run_key for r in requests}) == 2
