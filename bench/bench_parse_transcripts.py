"""Benchmark: publisher transcript parsing throughput (run by hand, not a test).

    .venv/bin/python bench/bench_parse_transcripts.py [--seconds 2] [--big-mb 50]

Parses every transcript in ``../shared/data/transcripts`` (or ``$CAST_SHARED_DIR/data/transcripts``)
repeatedly and reports MB/s per format and overall. Figures are only meaningful next to a baseline
measured in the same process on the same bytes, so it also times:

- ``decode+splitlines``: ``bytes.decode`` plus ``str.splitlines`` over every file, the least any
  line-based reader must do (C speed, no Python per line);
- ``json.loads`` over the JSON files, the floor for the JSON reader (which calls it).

``--big-mb`` builds one VTT of that size from the real cues and times it, to show that a 50 MB
file takes about 50 times as long as a 1 MB one (linear), and ``merge_phrases`` is timed on the
parsed segments. Why it matters: the pipeline parses one transcript per episode, 100k+ episodes.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from cast_pipeline.transcripts import merge_phrases, parse
from cast_pipeline.transcripts.parsing import detect_format

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CAST_SHARED_DIR", REPO_ROOT.parent / "shared")) / "data" / "transcripts"
SKIP = {"LICENSE.md", "SOURCE_COMMIT", "COPYING.txt"}


def transcripts() -> list[tuple[str, bytes]]:
    """(name, bytes) of every publisher transcript (the spec pages and expected outputs excluded)."""
    files = []
    for path in sorted(SHARED.glob("*/*")):
        if path.name in SKIP or path.suffix == ".md" or path.name.endswith("_parsed.json"):
            continue
        files.append((path.name, path.read_bytes()))
    if not files:
        raise SystemExit(f"no transcripts found under {SHARED}; set CAST_SHARED_DIR")
    return files


def throughput(work: Callable[[], object], nbytes: int, min_seconds: float) -> float:
    """MB/s of ``work`` (which processes ``nbytes``), best of repeated timed batches."""
    work()  # warm-up
    best = float("inf")
    deadline = time.perf_counter() + min_seconds
    runs = 0
    while time.perf_counter() < deadline or runs < 3:
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
        runs += 1
    return nbytes / best / 1e6


def big_vtt(files: list[tuple[str, bytes]], megabytes: float) -> bytes:
    """A VTT of about ``megabytes`` MB made of the real cues, with increasing times."""
    segments = [s for name, data in files if name.endswith((".vtt", ".srt")) for s in parse(data, None, name)]
    target = int(megabytes * 1e6)
    parts = ["WEBVTT\n\n"]
    size, offset = 0, 0.0
    while size < target:
        for s in segments:
            start, end = offset + s.start, offset + s.end
            voice = f"<v {s.speaker}>" if s.speaker else ""
            cue = f"{_ts(start)} --> {_ts(end)}\n{voice}{s.text}\n\n"
            parts.append(cue)
            size += len(cue)
        offset += segments[-1].end + 1
    return "".join(parts).encode()


def _ts(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="minimum timing per measurement")
    parser.add_argument("--big-mb", type=float, default=50.0, help="size of the large VTT (0 to skip)")
    args = parser.parse_args()

    files = transcripts()
    by_format: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
    for name, data in files:
        by_format[detect_format(data.decode("utf-8", "replace"), None, name)].append((name, data))
    total_bytes = sum(len(d) for _, d in files)
    print(f"{len(files)} transcripts, {total_bytes / 1e6:.2f} MB, from {SHARED}\n")

    def parse_all(group: list[tuple[str, bytes]]) -> Callable[[], object]:
        return lambda: [parse(data, None, name) for name, data in group]

    def baseline_lines(group: list[tuple[str, bytes]]) -> Callable[[], object]:
        return lambda: [data.decode("utf-8").splitlines() for _, data in group]

    print(f"{'format':<8}{'files':>6}{'MB':>8}{'parse MB/s':>12}{'decode+splitlines MB/s':>24}{'ratio':>8}")
    rows = [*sorted(by_format.items()), ("all", files)]
    for fmt, group in rows:
        nbytes = sum(len(d) for _, d in group)
        ours = throughput(parse_all(group), nbytes, args.seconds)
        floor = throughput(baseline_lines(group), nbytes, args.seconds)
        print(f"{fmt:<8}{len(group):>6}{nbytes / 1e6:>8.3f}{ours:>12.1f}{floor:>24.1f}{floor / ours:>7.1f}x")

    json_files = by_format.get("json", [])
    if json_files:
        nbytes = sum(len(d) for _, d in json_files)
        ours = throughput(parse_all(json_files), nbytes, args.seconds)
        floor = throughput(lambda: [json.loads(d) for _, d in json_files], nbytes, args.seconds)
        print(f"\njson: parse {ours:.1f} MB/s vs json.loads {floor:.1f} MB/s: {floor / ours:.1f}x the bare decode")

    segments = [s for name, data in files for s in parse(data, None, name)]
    started = time.perf_counter()
    phrases = merge_phrases(segments)
    elapsed = time.perf_counter() - started
    print(
        f"\nmerge_phrases: {len(segments)} segments -> {len(phrases)} phrases, "
        f"{len(segments) / elapsed:,.0f} segments/s"
    )

    if args.big_mb > 0:
        one = big_vtt(files, 1)
        big = big_vtt(files, args.big_mb)
        timings = []
        for data, runs in ((one, 5), (big, 2)):  # best of several runs: the machine may be busy
            best = float("inf")
            for _ in range(runs):
                started = time.perf_counter()
                count = len(parse(data, "text/vtt"))
                best = min(best, time.perf_counter() - started)
            timings.append((len(data), count, best))
        (small_n, small_c, small_t), (big_n, big_c, big_t) = timings
        print(
            f"\nlarge VTT: {small_n / 1e6:.1f} MB ({small_c} cues) in {small_t:.2f} s, "
            f"{big_n / 1e6:.1f} MB ({big_c} cues) in {big_t:.2f} s = {big_n / big_t / 1e6:.1f} MB/s; "
            f"time ratio {big_t / small_t:.0f}x for size ratio {big_n / small_n:.0f}x (linear: equal)"
        )


if __name__ == "__main__":
    main()
