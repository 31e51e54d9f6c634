"""Cost of trusting the files: the cheap check inside `cast-pipeline run`, the full one of `run --repair`.

Run by hand (not a test):  .venv/bin/python bench/bench_integrity.py [--episodes 1000] [--index DATA_DIR]

Writes N episodes' files (episode.json, publisher.json + raw VTT, transcript.json/.md, a real
embeddings.parquet of 120 phrases x 384 floats) into a temp data folder and records, in a real SQLite
Dagster instance (on /dev/shm when it exists, only to make the setup quick), one materialisation per
per-episode asset and episode with metadata shaped like the real one (title, status, preview, files).
Then, in the same process:
  baseline  `missing_episodes` (what every run already asks Dagster: materialised partitions per asset)
  cheap     `file_problems(full=False)`: latest metadata per asset and episode + one stat per file
  full      `file_problems(full=True)`: + SHA-256 and parsing of every file
With --index DATA_DIR (e.g. the demo's ./data), also times a rebuild of that search index after a reset,
as `run` / `doctor --fix` do it after finding it damaged (on a copy; the original is not touched).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import dagster as dg

from cast_pipeline.cli.repair import file_problems
from cast_pipeline.cli.run import missing_episodes
from cast_pipeline.definitions import defs
from cast_pipeline.defs.jobs import EPISODES_JOB
from cast_pipeline.defs.storage.records import cache_path, recorded_metadata
from cast_pipeline.feeds.model import Episode
from cast_pipeline.feeds.snapshot import save_episode
from cast_pipeline.integrity import files_metadata
from cast_pipeline.paths import DataPaths, write_text_atomic
from cast_pipeline.search.embeddings import embeddings_schema, write_episode_embeddings
from cast_pipeline.segments import Segment, segments_to_json

PHRASES = 120
DIM = 384
FEED = "bench-example-org-feed-1a2b3c4d"


def _segments(n: int) -> list[Segment]:
    return [
        Segment(i * 5.0, i * 5.0 + 4.5, f"Phrase {i} of the episode, about podcasting and the weather.")
        for i in range(n)
    ]


def _embeddings(key: str, segments: list[Segment], rng: np.random.Generator) -> pa.Table:
    vectors = rng.standard_normal((len(segments), DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    schema = embeddings_schema(DIM, "all-MiniLM-L6-v2")
    columns = {
        "episode_key": [key] * len(segments),
        "segment_index": list(range(len(segments))),
        "passage_index": [0] * len(segments),
        "start": [s.start for s in segments],
        "end": [s.end for s in segments],
        "speaker": [None] * len(segments),
        "text": [s.text for s in segments],
        "model": ["all-MiniLM-L6-v2"] * len(segments),
    }
    arrays = [pa.array(v, type=schema.field(k).type) for k, v in columns.items()]
    arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), DIM))
    return pa.Table.from_arrays(arrays, schema=schema)


def build(instance: dg.DagsterInstance, paths: DataPaths, n: int) -> list[str]:
    rng = np.random.default_rng(0)
    segments = _segments(PHRASES)
    keys = [f"{FEED}--episode-{i:05d}-{i:010x}" for i in range(n)]
    instance.add_dynamic_partitions("episodes", keys)
    preview = dg.MetadataValue.md("\n".join(s.text for s in segments[:16]))
    for i, key in enumerate(keys):
        title = f"Episode {i}: podcasting and the weather"
        save_episode(paths, Episode(key, FEED, "https://example.org/feed", "Bench show", f"g{i}", title))
        folder = paths.episode_dir(key)
        write_text_atomic(folder / "publisher.json", segments_to_json(segments, episode_key=key, status="found"))
        write_text_atomic(folder / "publisher.raw.vtt", "WEBVTT\n\n" + "\n\n".join(s.text for s in segments))
        write_text_atomic(folder / "transcript.json", segments_to_json(segments, episode_key=key, title=title))
        write_text_atomic(folder / "transcript.md", f"# {title}\n\n" + "\n\n".join(s.text for s in segments))
        write_episode_embeddings(paths, key, _embeddings(key, segments, rng))
        recorded = {
            "episode": {"title": title, **files_metadata(folder, ["episode.json"])},
            "publisher_transcript": {
                "title": title,
                "status": "found",
                **files_metadata(folder, ["publisher.json", "publisher.raw.vtt"]),
            },
            "audio": {"title": title, "status": "not_needed", "reason": "publisher transcript found"},
            "local/speech_transcript": {"title": title, "status": "not_needed"},
            "transcript": {
                "title": title,
                "status": "ready",
                "preview": preview,
                **files_metadata(folder, ["transcript.json", "transcript.md"]),
            },
            "embeddings": {"title": title, "status": "embedded", **files_metadata(folder, ["embeddings.parquet"])},
        }
        for asset, metadata in recorded.items():
            event = dg.AssetMaterialization(
                asset_key=dg.AssetKey.from_user_string(asset), partition=key, metadata=metadata
            )
            instance.report_runless_asset_event(event)
    return keys


def timed(label: str, fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    best, median = min(times), statistics.median(times)
    print(f"  {label:<48} best {best:7.3f} s   median {median:7.3f} s")
    return median


def bench_files(n: int) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bench-integrity-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    data = Path(tempfile.mkdtemp(prefix="bench-integrity-data-"))
    try:
        with dg.instance_for_test(temp_dir=str(scratch)) as instance:
            began = time.perf_counter()
            paths = DataPaths(data)
            keys = build(instance, paths, n)
            size = sum(f.stat().st_size for f in data.rglob("*") if f.is_file())
            print(f"{n} episodes, {size / 1e6:.0f} MB of episode files, set up in {time.perf_counter() - began:.0f} s")
            job = defs.resolve_job_def(EPISODES_JOB)
            assets = list(job.asset_layer.executable_asset_keys)
            base = timed(
                "baseline: missing_episodes (every run does it)", lambda: missing_episodes(instance, job, keys)
            )
            cache = cache_path(instance)
            assert cache is not None

            def cold(full: bool) -> None:
                cache.unlink(missing_ok=True)
                file_problems(instance, job, paths, keys, full=full)

            meta = timed("recorded metadata, every record read", lambda: recorded_metadata(instance, assets, keys))
            first = timed("cheap check, first run (cache rebuilt)", lambda: cold(False))
            file_problems(instance, job, paths, keys, full=False)
            cached = timed(
                "cheap check (every run): cached metadata + stat",
                lambda: file_problems(instance, job, paths, keys, full=False),
            )
            warm_meta = timed(
                "  of which the cached metadata", lambda: recorded_metadata(instance, assets, keys, cache=cache)
            )
            full = timed(
                "full check (run --repair, doctor)", lambda: file_problems(instance, job, paths, keys, full=True)
            )
            assert file_problems(instance, job, paths, keys, full=True) == []
            per = 1000 / n
            print(
                f"per 1,000 episodes: baseline {base * per:.2f} s; cheap check {cached * per:.2f} s "
                f"(cached metadata {warm_meta * per:.2f} s), {cached / base:.1f}x the baseline; first run without "
                f"cache {first * per:.2f} s (all records {meta * per:.2f} s); full check {full * per:.2f} s"
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)


def bench_index(source: Path) -> None:
    from cast_pipeline.search.health import index_damage, reset_index
    from cast_pipeline.search.sync import sync_index

    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        paths = DataPaths(Path(shutil.copytree(source, Path(tmp) / "data")))
        timed("damage check (cheap, inside every index update)", lambda: index_damage(paths))
        timed("damage check (deep, doctor)", lambda: index_damage(paths, deep=True))

        def rebuild() -> None:
            reset_index(paths)
            result = sync_index(paths, "all-MiniLM-L6-v2")
            assert result.status == "rebuilt", result

        timed(f"rebuild after a reset ({source})", rebuild)
        result = sync_index(paths, "all-MiniLM-L6-v2")
        print(f"  index: {result.segments} phrases of {result.episodes} episodes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--index", type=Path, help="a data folder whose search index to rebuild (on a copy)")
    args = parser.parse_args()
    if args.episodes:
        bench_files(args.episodes)
    if args.index:
        bench_index(args.index)


if __name__ == "__main__":
    main()
