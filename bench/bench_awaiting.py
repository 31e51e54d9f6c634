"""The awaiting window: speech compute saved (window 0 vs 7 days) and the cost of the re-check tick.

Run by hand (not a test):
    .venv/bin/python bench/bench_awaiting.py [--feeds 500] [--days 28] [--tick-feeds 100] [--awaiting 7]
        [--served-feeds 5] [--served-days 14]

Part 1, speech saved (simulated time, the real decision code): each of N feeds publishes one episode
a day for --days days; 30 % of the episodes gain a publisher transcript 1-5 days after publication
(uniform, seeded). Every episode is looked at when it appears, then whenever
cast_pipeline.transcripts.awaiting.decide schedules its next look (6 h, 12 h, 24 h...), a look
seeing the transcript when it exists by then. Counted per window: speech transcriptions started,
looks made, hours from publication until a transcript is found or speech starts.

Part 3 (--served-feeds), the same question end to end: real feeds on a local server that change over
simulated time (items appear, transcript tags are added late), refreshed with refresh_feed, each look
through the real provider chain; its speech count is printed next to part 1's for the same
parameters and seed, so the same episodes and late transcripts (the first look is up to an hour after
publication here, 1-15 min in part 1).

Part 2, the re-check tick (real code, real HTTP on 127.0.0.1, real SQLite Dagster instance): --tick-feeds
with --awaiting awaiting episodes each (a week of daily episodes), all due. Measures the
awaiting_transcripts sensor tick (cursor read of the publisher_transcript records, await.json of
every awaiting episode, one conditional GET per feed, run requests) against the baseline of
refreshing the same feeds with conditional GETs alone, in the same process; and a tick when none is due.
Then the same episodes as gone to speech: the tick's late Pocket Casts look (a local stand-in of the API).

Measured under load (2 cores shared by 7 sessions, 2026-12-01), ``--feeds 500 --days 200 --tick-feeds 100
--awaiting 7 --served-feeds 5 --served-days 14``:
- part 1, 500 feeds x 200 episodes: window 0 -> 100,000 speech transcriptions, window 7 -> 69,861
  (30,139 saved, 30 %), 5.7 looks per episode, 149 h mean from publication to a transcript or speech;
- part 3, 5 x 14 through the real code and server: 70 vs 40 to speech, exactly the model's figures;
- part 2, 100 feeds x 7 awaiting: the tick with all 700 due 2.17 s = 0.79x the conditional-GET
  baseline (2.76 s; 100 requests, one per feed), none due 0.18 s; the late look over 700 speech
  episodes 7.75 s the first time (shows searched: 300 requests) and 1.72 s after (200 requests: one
  show list per feed, a redirect and the static file), 10 run requests for the 10 with a new transcript.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cast_pipeline.defs.feeds.partitions import EPISODES, FEEDS
from cast_pipeline.defs.storage.resources import CastResource
from cast_pipeline.defs.transcripts.sensors import awaiting_transcripts
from cast_pipeline.feeds.discovery import scan_feeds
from cast_pipeline.feeds.model import Episode
from cast_pipeline.feeds.snapshot import save_episode
from cast_pipeline.http import make_client
from cast_pipeline.paths import DataPaths
from cast_pipeline.settings import load_settings
from cast_pipeline.transcripts.awaiting import decide, load_await, save_await
from cast_pipeline_tests.httpserver import LocalHTTPServer

START = datetime(2026, 1, 1, tzinfo=UTC)


def simulate(feeds: int, days: int, window: float, seed: int = 7) -> dict[str, float]:
    rng = random.Random(seed)
    speech = looks = 0
    waits: list[float] = []
    for f in range(feeds):
        for d in range(days):
            published = START + timedelta(days=d, hours=rng.uniform(0, 24))
            late = published + timedelta(days=rng.uniform(1, 5)) if rng.random() < 0.30 else None
            ep = Episode(f"f{f}--e{d}", f"f{f}", "https://x.org/f.xml", "F", None, f"E{d}", published=published)
            now, state = published + timedelta(minutes=rng.uniform(1, 15)), None  # seen on the next feed refresh
            while True:
                found = late is not None and late <= now
                state = decide(ep, found, window, now, state)
                looks += 1
                if not state.awaiting:
                    break
                now = datetime.fromisoformat(state.next_check)
            if state.state != "found":
                speech += 1
            waits.append((now - published).total_seconds() / 3600)
    n = feeds * days
    return {"episodes": n, "speech": speech, "looks": looks, "mean_hours_to_transcript": sum(waits) / n}


def feed_xml(n: int, items: list[tuple[str, datetime]], base: str) -> str:
    entries = "".join(
        f"<item><title>{title}</title><guid>{title}</guid><pubDate>{pub:%a, %d %b %Y %H:%M:%S} GMT</pubDate>"
        f'<enclosure url="{base}/a/{n}/{title}.mp3" type="audio/mpeg" length="1000"/></item>'
        for title, pub in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Show {n}</title>{entries}</channel></rss>'


VTT_BODY = "WEBVTT\n\n00:00:00.000 --> 00:00:03.000\nThe publisher's own transcript.\n"


def served_simulation(feeds: int, days: int, window: float, seed: int = 7) -> dict[str, float]:
    """Part 3: the same question through the real code and a real local server, over simulated time.

    The server's feeds change as a simulated clock advances hour by hour: an item appears at its
    publication time, its ``<podcast:transcript>`` tag 1-5 days later for 30 % of items. Each hour,
    every feed with a new item or a due look is refreshed once (refresh_feed, conditional GET), then
    each new or due episode is snapshotted and looked at with the real provider chain
    (find_ready_made: the publisher provider downloads the VTT) and decide(); speech is counted when
    an episode leaves the window without a transcript.
    """
    from cast_pipeline.feeds.refresh import refresh_feed
    from cast_pipeline.transcripts.providers import ProviderContext, find_ready_made

    rng = random.Random(seed)
    server = LocalHTTPServer().start()
    plan: list[list[tuple[str, datetime, datetime | None]]] = []
    for n in range(feeds):
        items = []
        for d in range(days):
            published = START + timedelta(days=d, hours=rng.uniform(0, 24))
            late = published + timedelta(days=rng.uniform(1, 5)) if rng.random() < 0.30 else None
            rng.uniform(1, 15)  # part 1's first-look delay: the same draws give the same episodes as part 1
            items.append((f"s{n}e{d}", published, late))
            server.add(f"/t/s{n}e{d}.vtt", VTT_BODY, "text/vtt")
        plan.append(items)

    def publish(n: int, clock: datetime) -> str:
        visible = [(t, p, late) for t, p, late in plan[n] if p <= clock][::-1]  # newest first, as feeds are
        entries = "".join(
            f"<item><title>{t}</title><guid>{t}</guid><pubDate>{p:%a, %d %b %Y %H:%M:%S} GMT</pubDate>"
            f'<enclosure url="{server.base_url}/a/{t}.mp3" type="audio/mpeg" length="1000"/>'
            + (
                f'<podcast:transcript url="{server.base_url}/t/{t}.vtt" type="text/vtt"/>'
                if late and late <= clock
                else ""
            )
            + "</item>"
            for t, p, late in visible
        )
        body = (
            '<?xml version="1.0"?><rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0">'
            f"<channel><title>Show {n}</title>{entries}</channel></rss>"
        )
        return server.add(f"/f/{n}.xml", body, "application/rss+xml", etag=f'"{hash(body)}"')

    speech = looks = refreshes = 0
    states: dict[str, object] = {}
    next_look: dict[str, datetime] = {}
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=str(Path(tmp) / "data"), pocketcasts="off")
        paths = DataPaths(settings.data_dir)
        with make_client(settings) as client:
            ctx = ProviderContext(settings, paths, client)
            clock, end = START, START + timedelta(days=days + max(window, 0) + 1)
            while clock <= end:
                for n in range(feeds):
                    new = any(clock - timedelta(hours=1) < p <= clock for _, p, _ in plan[n])
                    due = any(k.startswith(f"s{n}e") and t <= clock for k, t in next_look.items())
                    if not (new or due):
                        continue
                    refresh = refresh_feed(publish(n, clock), paths, settings, client)
                    refreshes += 1
                    for ep in refresh.episodes:
                        if ep.guid in states and not (ep.guid in next_look and next_look[ep.guid] <= clock):
                            continue
                        save_episode(paths, ep)
                        chain = find_ready_made(ep, ctx)
                        state = decide(ep, chain.found is not None, window, clock, states.get(ep.guid))  # type: ignore[arg-type]
                        states[ep.guid] = state
                        looks += 1
                        next_look.pop(ep.guid, None)
                        if state.awaiting:
                            next_look[ep.guid] = datetime.fromisoformat(state.next_check)
                        elif state.state != "found":
                            speech += 1
                clock += timedelta(hours=1)
    server.stop()
    return {"episodes": feeds * days, "speech": speech, "looks": looks, "feed_refreshes": refreshes}


def tick_bench(feeds: int, per_feed: int) -> None:
    now = datetime.now(UTC)
    server = LocalHTTPServer().start()
    urls = []
    for n in range(feeds):
        items = [(f"s{n}e{i}", now - timedelta(days=i, hours=2)) for i in range(per_feed)]
        urls.append(
            server.add(f"/f/{n}.xml", feed_xml(n, items, server.base_url), "application/rss+xml", etag=f'"{n}"')
        )
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CAST_FEEDS_FILE"] = str(Path(tmp) / "none.yaml")
        data = Path(tmp) / "data"
        settings = load_settings(data_dir=str(data))
        paths = DataPaths(settings.data_dir)
        with make_client(settings) as client:
            scan = scan_feeds(urls, set(), paths, settings, client=client)
        keys = []
        for s in scan.scans:
            assert s.refresh is not None
            for ep in s.refresh.episodes:
                save_episode(paths, ep)
                state = decide(ep, False, 7, now - timedelta(hours=7))  # looked at 7 h ago: due now
                save_await(paths, ep.key, state)
                keys.append(ep.key)
        (Path(tmp) / "home").mkdir()
        with dg.instance_for_test(temp_dir=str(Path(tmp) / "home")) as instance:
            instance.add_dynamic_partitions(FEEDS, urls)
            instance.add_dynamic_partitions(EPISODES, keys)
            t = time.perf_counter()
            for key in keys:
                instance.report_runless_asset_event(
                    dg.AssetMaterialization(
                        "publisher_transcript", partition=key, metadata={"status": "awaiting_transcript"}
                    )
                )
            print(f"setup: {len(keys)} awaiting episodes in {feeds} feeds recorded in {time.perf_counter() - t:.1f} s")

            before = len(server.requests)
            t = time.perf_counter()
            with make_client(settings) as client:
                scan_feeds(urls, set(keys), paths, settings, client=client)
            baseline = time.perf_counter() - t
            print(
                f"baseline: conditional GET of the {feeds} feeds alone: {baseline:.2f} s, "
                f"{len(server.requests) - before} requests"
            )

            resources = {"cast": CastResource(data_dir=str(data))}
            before = len(server.requests)
            t = time.perf_counter()
            due = awaiting_transcripts(dg.build_sensor_context(instance=instance, resources=resources))
            took = time.perf_counter() - t
            runs = len(due.run_requests)
            print(
                f"tick, all {len(keys)} due (cold cursor): {took:.2f} s = {took / baseline:.2f}x baseline; "
                f"{len(server.requests) - before} feed requests (one per feed), {runs} run requests"
            )
            assert runs > 0

            for key in keys:  # the runs looked: next looks are 12 h away
                state = load_await(paths, key)
                assert state is not None
                save_await(
                    paths,
                    key,
                    decide(
                        Episode(key, "x", "u", "t", None, "e", published=now - timedelta(hours=3)), False, 7, now, state
                    ),
                )
            before = len(server.requests)
            t = time.perf_counter()
            idle = awaiting_transcripts(
                dg.build_sensor_context(instance=instance, cursor=due.cursor, resources=resources)
            )
            took = time.perf_counter() - t
            print(
                f"tick, none due (warm cursor): {took:.2f} s = {took / baseline:.2f}x baseline; "
                f"{len(server.requests) - before} requests; {idle.skip_reason}"
            )
            late_look(instance, paths, keys, feeds, resources, idle.cursor, baseline)
    server.stop()


def late_look(
    instance: dg.DagsterInstance,
    paths: DataPaths,
    keys: list[str],
    feeds: int,
    resources: dict[str, CastResource],
    cursor: str | None,
    baseline: float,
) -> None:
    """The same episodes gone to speech instead: the tick's late Pocket Casts look (stand-in API)."""
    from cast_pipeline.feeds.snapshot import load_episode
    from cast_pipeline.transcripts.providers import ProviderContext, find_ready_made
    from cast_pipeline_tests.transcripts.pocketcasts_standin import PCEpisode, PCShow, PocketCastsStandIn

    now = datetime.now(UTC)
    settings = load_settings(data_dir=str(paths.root))
    shows: dict[str, PCShow] = {}
    standin = PocketCastsStandIn().start()
    for key in keys:  # asked once with Pocket Casts off, no window: gone to speech
        ep = load_episode(paths, key)
        find_ready_made(ep, ProviderContext(settings, paths))
        save_await(paths, key, decide(ep, False, 0, now))
        show = shows.get(ep.feed_title) or standin.add_show(PCShow(ep.feed_title, "", ep.feed_url, []))
        shows[ep.feed_title] = show
        show.episodes.append(PCEpisode(ep.title, ep.published.isoformat() if ep.published else ""))
        instance.report_runless_asset_event(
            dg.AssetMaterialization("publisher_transcript", partition=key, metadata={"status": "none"})
        )
    os.environ.update(
        CAST_POCKETCASTS="on",
        CAST_POCKETCASTS_API_URL=standin.base_url,
        CAST_POCKETCASTS_MIN_INTERVAL="0",
        CAST_POCKETCASTS_CACHE_SECONDS="0",
    )
    try:
        for label, generate in (("first look (shows searched)", False), ("later look, one feed in ten has one", True)):
            if generate:
                for i, show in enumerate(shows.values()):
                    if i % 10 == 0:
                        show.episodes[0].vtt = "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nGenerated.\n"
            before = len(standin.requests)
            t = time.perf_counter()
            tick = awaiting_transcripts(dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources))
            took = time.perf_counter() - t
            cursor = tick.cursor
            lists = sum(1 for r in standin.requests[before:] if r.path.startswith("/mobile/show_notes/"))
            print(
                f"tick, late Pocket Casts look over {len(keys)} speech episodes, {label}: {took:.2f} s = "
                f"{took / baseline:.2f}x baseline; {len(standin.requests) - before} Pocket Casts requests "
                f"({lists} show lists for {feeds} feeds), {len(tick.run_requests)} run requests"
            )
    finally:
        for name in ("CAST_POCKETCASTS_API_URL", "CAST_POCKETCASTS_MIN_INTERVAL", "CAST_POCKETCASTS_CACHE_SECONDS"):
            os.environ.pop(name, None)
        os.environ["CAST_POCKETCASTS"] = "off"
        standin.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--days", type=int, default=28, help="simulated days of daily episodes per feed (part 1)")
    parser.add_argument("--awaiting", type=int, default=7, help="awaiting episodes per feed (part 2)")
    parser.add_argument(
        "--tick-feeds", type=int, default=100, help="feeds in part 2 (recording the events costs ~0.2 s each)"
    )
    parser.add_argument("--served-feeds", type=int, default=5, help="feeds in part 3 (0: skip it)")
    parser.add_argument("--served-days", type=int, default=14, help="days of daily episodes per feed in part 3")
    args = parser.parse_args()

    print(f"part 1: {args.feeds} feeds x {args.days} days, 30% gain a publisher transcript 1-5 days late")
    results = {w: simulate(args.feeds, args.days, w) for w in (0, 7)}
    for window, r in results.items():
        print(
            f"  window {window} days: {r['speech']:,} of {r['episodes']:,} episodes to speech, {r['looks']:,} looks, "
            f"{r['mean_hours_to_transcript']:.1f} h mean from publication to a found transcript or the start of speech"
        )
    saved = results[0]["speech"] - results[7]["speech"]
    print(f"  speech transcriptions saved by waiting 7 days: {saved:,} ({saved / results[0]['speech']:.0%})")
    print(json.dumps({str(k): v for k, v in results.items()}))
    if args.served_feeds:
        print(
            f"part 3: {args.served_feeds} feeds x {args.served_days} days through refresh_feed + find_ready_made + "
            "decide against a local server whose feeds change over simulated time"
        )
        for window in (0, 7):
            t = time.perf_counter()
            r = served_simulation(args.served_feeds, args.served_days, window)
            model = simulate(args.served_feeds, args.served_days, window)
            print(
                f"  window {window} days: {r['speech']:,} of {r['episodes']:,} to speech ({r['looks']:,} looks, "
                f"{r['feed_refreshes']:,} feed refreshes; the model of part 1 says {model['speech']:,}) "
                f"in {time.perf_counter() - t:.0f} s"
            )
    print(f"part 2: {args.tick_feeds} feeds x {args.awaiting} awaiting episodes")
    tick_bench(args.tick_feeds, args.awaiting)


if __name__ == "__main__":
    main()
