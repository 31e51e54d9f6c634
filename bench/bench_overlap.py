"""How long the speech model waits on the network inside ONE Dagster run (issue 8, criterion 4); run by hand.

    CAST_SHARED_DIR=/work/shared .venv/bin/python bench/bench_overlap.py [--episodes 8] [--repeat 2]
        [--rate-kib 400] [--rounds 2]

What a UI backfill, a sensor batch or `dagster job launch` does on one machine: one run of the
episodes job over a partition range. Serves ``--episodes`` episodes of real speech (the shared
clips concatenated ``--repeat`` times, ~38 s per repeat, as WAV) from a local HTTP server that sends
at most ``--rate-kib`` KiB/s per download (bench_audio_ahead's server), then, in this process with
a fresh instance and data directory each, runs episode -> publisher_transcript -> audio -> speech
over the whole range, two ways, alternating:

- ``two steps``: the separate ``audio`` and ``local/speech_transcript`` assets (the split
  deployment's, and the single machine's before): every download ends before the model starts;
- ``one step``: the single machine's ``audio`` + ``local/speech_transcript`` multi-asset
  (cast_pipeline.defs.speech.overlap): episode i is transcribed while the next ones download.

Both download 3 at a time and use the same loaded model (loaded once before the rounds). Reported:
the run's wall time, the model's busy time (sum of ``processing_seconds`` in ``speech-local.json``),
the time in the audio and speech steps, and model idle % = 1 - busy / that step time (network waits,
plus the per-file overhead both ways share). Fastest round of each way counts (shared machine).

Measured 2026-12-01 on the shared 2-core machine (load average 3-8), one run over the range:
- 25 episodes of 36 s, 200 KiB/s (`--episodes 25 --repeat 1 --rate-kib 200 --rounds 1`): two steps wall
  150.8 s, busy 83.6 s, steps 140.9 s, idle 41%; one step wall 95.1 s (0.63x), busy 75.9 s, steps
  87.5 s, idle 13% (the first download, ~5.6 s, plus per-file overhead).
- 8 episodes of 71 s, 400 KiB/s (the defaults, 2 rounds): two steps wall 89.0 s, idle 50%; one step
  wall 68.2 s (0.77x), idle 22%.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import dagster as dg  # noqa: E402
from bench_audio_ahead import episode_wav, feed_xml, serve_throttled, step_seconds  # noqa: E402
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG  # noqa: E402

MODES = ("two steps", "one step")


def _defs(mode: str, model: object) -> dg.Definitions:
    from cast_pipeline.defs.feeds.assets import episode, feed
    from cast_pipeline.defs.jobs import build_jobs
    from cast_pipeline.defs.speech.assets import audio, build_speech_asset
    from cast_pipeline.defs.speech.keys import LOCAL
    from cast_pipeline.defs.speech.overlap import build_audio_and_speech_asset
    from cast_pipeline.defs.storage.resources import CastResource
    from cast_pipeline.defs.transcripts.assets import publisher_transcript

    if mode == "two steps":
        speech = [audio, build_speech_asset(LOCAL, model)]  # type: ignore[arg-type]
    else:
        speech = [build_audio_and_speech_asset(LOCAL, model)]  # type: ignore[arg-type]
    assets = [feed, episode, publisher_transcript, *speech]
    resources = {"cast": CastResource(), "speech_model": model}
    return dg.Definitions(assets=assets, jobs=build_jobs(assets), resources=resources)


def _one_run(mode: str, model: object, feed_url: str, work: Path) -> dict[str, float]:
    from cast_pipeline.defs.feeds.partitions import EPISODES, FEEDS
    from cast_pipeline.defs.jobs import EPISODES_JOB, FEEDS_JOB
    from cast_pipeline.defs.speech.keys import LOCAL
    from cast_pipeline.feeds.catalog import read_feed_episodes
    from cast_pipeline.keys import feed_key
    from cast_pipeline.paths import DataPaths

    os.environ["CAST_DATA_DIR"] = str(work / "data")
    defs = _defs(mode, model)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(FEEDS, [feed_url])
        assert defs.resolve_job_def(FEEDS_JOB).execute_in_process(instance=instance, partition_key=feed_url).success
        keys = [ep.key for ep in read_feed_episodes(DataPaths(work / "data"), feed_key(feed_url))]
        instance.add_dynamic_partitions(EPISODES, keys)
        started = time.perf_counter()
        result = defs.resolve_job_def(EPISODES_JOB).execute_in_process(
            instance=instance,
            tags={ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]},
        )
        wall = time.perf_counter() - started
        assert result.success
        in_steps = step_seconds(instance, result.run_id)  # audio + speech, or the one step for both
    done = list((work / "data").glob(f"episodes/*/*/speech-{LOCAL}.json"))
    assert len(done) == len(keys), f"{mode}: {len(done)} of {len(keys)} episodes transcribed"
    busy = sum(json.loads(p.read_text())["processing_seconds"] for p in done)
    return {"wall": wall, "busy": busy, "steps": in_steps, "idle": 1 - busy / in_steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=2, help="shared clips per episode, ~38 s each")
    parser.add_argument("--rate-kib", type=int, default=400, help="download speed per episode, KiB/s")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    os.environ.update({"CAST_DIARIZATION": "off", "CAST_POCKETCASTS": "off", "CAST_AWAIT_TRANSCRIPT_DAYS": "0"})
    from cast_pipeline.defs.speech.resources import SpeechModel

    model = SpeechModel()
    model.transcriber()  # loaded once, before the rounds: both ways use the cached model
    shared = Path(os.environ.get("CAST_SHARED_DIR", ROOT.parent / "shared"))
    best: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CAST_FEEDS_FILE"] = str(Path(tmp) / "feeds.yaml")
        body = episode_wav(shared, args.repeat, Path(tmp) / "episode.wav")
        files = {f"/a/{i}.wav": body for i in range(1, args.episodes + 1)}
        server = serve_throttled(files, args.rate_kib * 1024)
        base = f"http://127.0.0.1:{server.server_address[1]}"
        files["/feed.xml"] = feed_xml(base, args.episodes).encode()
        print(
            f"{args.episodes} episodes of {len(body) / 32000:.0f} s speech, {len(body) / 1024 / args.rate_kib:.1f} s "
            f"to download each at {args.rate_kib} KiB/s (3 at a time), one run over the whole range"
        )
        for _ in range(args.rounds):
            for mode in MODES:
                got = _one_run(mode, model, f"{base}/feed.xml", Path(tempfile.mkdtemp(dir=tmp)))
                print(
                    f"  {mode:<9} wall {got['wall']:6.1f} s  busy {got['busy']:6.1f} s  "
                    f"audio+speech steps {got['steps']:6.1f} s  idle {got['idle']:.0%}"
                )
                if mode not in best or got["wall"] < best[mode]["wall"]:
                    best[mode] = got
        server.shutdown()
    print("\nfastest round of each (model idle = 1 - busy / time in the audio and speech steps):")
    for mode, got in best.items():
        print(
            f"  {mode:<9} wall {got['wall']:6.1f} s  busy {got['busy']:6.1f} s  "
            f"steps {got['steps']:6.1f} s  idle {got['idle']:.0%}"
        )
    print(f"  one step / two steps wall: {best['one step']['wall'] / best['two steps']['wall']:.2f}")


if __name__ == "__main__":
    main()
