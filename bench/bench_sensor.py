"""Sensor tick over many local feeds: wall time, memory, and the cost of adding the partitions.

Run by hand (not a test):  .venv/bin/python bench/bench_sensor.py [--feeds 500] [--items 200]

Serves N generated feeds of M items from a real HTTP server on 127.0.0.1, then measures on a real
SQLite Dagster instance:
  1. the plain-Python scan alone (fetch + parse + diff, no Dagster) as the baseline,
  2. a first sensor tick (all episodes new) and the daemon's job of adding the partitions,
  3. further ticks: the rest of the feeds (the tick budget is 40 s), then every feed answering 304,
and prints where the time goes (scan vs Dagster calls).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cast_pipeline.defs.feeds.partitions import EPISODES, FEEDS
from cast_pipeline.defs.feeds.sensors import new_episodes
from cast_pipeline.defs.storage.resources import CastResource
from cast_pipeline.feeds.catalog import read_feed, read_feed_episodes, read_feed_keys
from cast_pipeline.feeds.discovery import scan_feeds
from cast_pipeline.http import make_client
from cast_pipeline.keys import feed_key
from cast_pipeline.paths import DataPaths
from cast_pipeline.settings import load_settings
from cast_pipeline_tests.httpserver import LocalHTTPServer


def feed_xml(n: int, items: int, base: str) -> str:
    entries = "".join(
        f"<item><title>Show {n} episode {i}: a conversation about topic {i % 37}</title>"
        f'<guid isPermaLink="false">show-{n}-ep-{i}</guid>'
        f"<pubDate>Mon, 0{1 + i % 9} Mar 2021 10:{i % 60:02d}:00 GMT</pubDate>"
        f"<description>Episode {i} of show {n}, with notes and links.</description>"
        f'<enclosure url="{base}/a/{n}/{i}.mp3" type="audio/mpeg" length="{1000 + i}"/>'
        f'<podcast:transcript url="{base}/t/{n}/{i}.vtt" type="text/vtt"/></item>'
        for i in range(items)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:podcast="https://podcastindex.org/namespace/1.0"><channel>'
        f"<title>Show {n}</title><link>{base}</link><language>en</language><description>d</description>"
        f"{entries}</channel></rss>"
    )


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--items", type=int, default=200)
    args = parser.parse_args()
    os.environ["CAST_FEED_REFRESH_SECONDS"] = "0"  # every tick re-checks every feed (the worst case)

    server = LocalHTTPServer().start()
    urls = [
        server.add(f"/f/{n}.xml", feed_xml(n, args.items, server.base_url), "application/rss+xml", etag=f'"{n}"')
        for n in range(args.feeds)
    ]
    total = args.feeds * args.items
    print(f"{args.feeds} feeds x {args.items} items = {total} episodes; peak RSS at start {rss_mb():.0f} MB")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        os.environ["CAST_FEEDS_FILE"] = str(Path(tmp) / "none.yaml")  # only the generated feeds
        settings = load_settings(data_dir=str(data))
        paths = DataPaths(settings.data_dir)

        t = time.perf_counter()
        with make_client(settings) as client:
            baseline = scan_feeds(urls, set(), paths, settings, client=client)
        scan_s = time.perf_counter() - t
        assert len(baseline.new_keys) == total, len(baseline.new_keys)
        print(f"baseline scan (no Dagster, cold): {scan_s:.1f} s, {total / scan_s:,.0f} episodes/s")

        import shutil

        shutil.rmtree(data)  # the sensor starts from scratch, like a first deployment
        (Path(tmp) / "home").mkdir()
        with dg.instance_for_test(temp_dir=str(Path(tmp) / "home")) as instance:
            instance.add_dynamic_partitions(FEEDS, urls)
            context = dg.build_sensor_context(instance=instance, resources={"cast": CastResource(data_dir=str(data))})
            t = time.perf_counter()
            first = new_episodes(context)
            tick1 = time.perf_counter() - t
            added = first.dynamic_partitions_requests[-1].partition_keys
            print(
                f"tick 1 (all new): {tick1:.1f} s -> {len(added)} new keys, {len(first.run_requests)} run requests; "
                f"ratio to baseline scan {tick1 / scan_s:.2f}; peak RSS {rss_mb():.0f} MB"
            )
            t = time.perf_counter()
            instance.add_dynamic_partitions(EPISODES, list(added))
            add_s = time.perf_counter() - t
            print(f"adding {len(added)} partitions to SQLite: {add_s:.1f} s")

            t = time.perf_counter()
            keys = instance.get_dynamic_partitions(EPISODES)
            list_s = time.perf_counter() - t
            print(f"listing {len(keys)} partitions: {list_s:.2f} s")

            cursor = first.cursor
            for n in (2, 3):
                context = dg.build_sensor_context(
                    instance=instance, cursor=cursor, resources={"cast": CastResource(data_dir=str(data))}
                )
                t = time.perf_counter()
                result = new_episodes(context)
                took = time.perf_counter() - t
                cursor = result.cursor
                added = (
                    result.dynamic_partitions_requests[-1].partition_keys if result.dynamic_partitions_requests else []
                )
                instance.add_dynamic_partitions(EPISODES, list(added))
                print(
                    f"tick {n}: {took:.1f} s, {len(added)} new keys, {len(result.run_requests)} run requests; "
                    f"peak RSS {rss_mb():.0f} MB"
                )
            print(f"partitions now: {len(instance.get_dynamic_partitions(EPISODES))}")

        # What a 304 costs on our side: the keys-only catalog read against decoding every row.
        fks = [feed_key(u) for u in urls]
        t = time.perf_counter()
        for fk in fks:
            read_feed_episodes(paths, fk)
            read_feed(paths, fk)
        full_s = time.perf_counter() - t
        t = time.perf_counter()
        for fk in fks:
            read_feed_keys(paths, fk)
        keys_s = time.perf_counter() - t
        print(
            f"catalog read per unchanged feed: every row as Episode {full_s / len(fks) * 1000:.1f} ms, "
            f"keys only {keys_s / len(fks) * 1000:.1f} ms (ratio {full_s / keys_s:.1f})"
        )
    server.stop()


if __name__ == "__main__":
    main()
