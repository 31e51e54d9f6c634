"""Finding new episodes across many feeds within a time budget (the sensor's plain-Python core).

Why separate from the sensor: the same scan serves the ``new_episodes`` sensor, ``cast-pipeline run``
and the benchmark, and it can be tested without a Dagster daemon. One bad feed is recorded as an
error and the scan goes on; feeds not reached before the deadline are picked up next time, starting
where this scan stopped (round robin), so a slow feed cannot starve the others.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from cast_pipeline.feeds.refresh import FeedRefresh, refresh_feed
from cast_pipeline.paths import DataPaths
from cast_pipeline.settings import Settings


@dataclass
class FeedScan:
    url: str
    refresh: FeedRefresh | None = None
    new_keys: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class ScanResult:
    scans: list[FeedScan]
    next_index: int  # where the next scan starts (round robin over the feed list)
    complete: bool  # every feed was visited

    @property
    def new_keys(self) -> list[str]:
        return [k for s in self.scans for k in s.new_keys]

    @property
    def errors(self) -> dict[str, str]:
        return {s.url: s.error for s in self.scans if s.error}


def scan_feeds(
    urls: Sequence[str],
    known_keys: set[str],
    paths: DataPaths,
    settings: Settings,
    *,
    client: httpx.Client | None = None,
    start: int = 0,
    budget_seconds: float | None = None,
) -> ScanResult:
    """Refresh each feed (conditional GET) and list episode keys not in ``known_keys``.

    New keys come oldest first within a feed (feeds list newest first), so partitions are added in
    publication order and batches of consecutive keys stay within one feed.
    """
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    scans: list[FeedScan] = []
    n = len(urls)
    seen_new: set[str] = set()
    for offset in range(n):
        if deadline is not None and scans and time.monotonic() > deadline:
            return ScanResult(scans, (start + offset) % n, complete=False)
        url = urls[(start + offset) % n]
        scan = FeedScan(url)
        try:
            scan.refresh = refresh_feed(url, paths, settings, client=client)
        except Exception as exc:  # a broken feed is reported, never fatal for the others
            scan.error = f"{type(exc).__name__}: {exc}"
        else:
            for key in scan.refresh.keys:
                if key not in known_keys and key not in seen_new:
                    seen_new.add(key)
                    scan.new_keys.append(key)
        scans.append(scan)
    return ScanResult(scans, start % n if n else 0, complete=True)


def contiguous_ranges(order: Sequence[str], wanted: set[str], size: int) -> list[list[str]]:
    """Split the ``wanted`` keys into runs of consecutive keys of ``order`` (at most ``size`` each).

    A Dagster run over a partition range covers every key between its first and last one, so a
    range must never span a key that is not wanted (already done, or failed elsewhere).
    """
    if size < 1:
        raise ValueError("batch size must be at least 1")
    ranges: list[list[str]] = []
    current: list[str] = []
    for key in order:
        if key in wanted and len(current) < size:
            current.append(key)
            continue
        if current:
            ranges.append(current)
        current = [key] if key in wanted else []
    if current:
        ranges.append(current)
    return ranges
