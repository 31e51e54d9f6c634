"""How long the speech model waits on the network in `cast-pipeline run` (issue 8, criterion 4); run by hand.

    CAST_SHARED_DIR=/work/shared .venv/bin/python bench/bench_audio_ahead.py [--episodes 8] [--batch-size 4]
        [--repeat 2] [--rate-kib 400] [--rounds 2]

Serves ``--episodes`` episodes of real speech (the shared clips concatenated ``--repeat`` times,
about 38 s per repeat, as WAV) from a local HTTP server that sends at most ``--rate-kib`` KiB/s per
download, so a download takes about as long as its transcription: the case where overlap matters.
Then runs `cast-pipeline run --batch-size N` in a fresh process and instance, two ways, alternating:

- ``before``: each batch one run, downloads one at a time (no look-ahead across batches);
- ``ahead``: the default: downloads 3 at a time, and batch k+1's audio downloads while batch k's
  model works (cast_pipeline.cli.audio_ahead).

Both run the single machine's audio+speech step (cast_pipeline.defs.speech.overlap), which
overlaps a batch's later downloads with its transcription: what ``ahead`` adds is the batch's first
download(s). For one run alone (a backfill, a sensor batch), old two-step vs one step: bench_overlap.py.

Reported per way: run wall time (the whole command: feed refresh, embeddings and search index
included), model busy time (the sum of ``processing_seconds`` in every ``speech-local.json``), the
time in the audio and speech steps, and model idle % = 1 - busy / that time (network waits plus
per-file overhead). Diarization is switched off so that the figure is about the speech model only.
The fastest round of each way counts (shared machine).

Measured 2026-12-01 under load (load average ~10 on 2 cores), 8 episodes of 71 s, batches of 4,
400 KiB/s, with the two-step runs of that time (idle = audio step / (audio step + busy)): before wall
166.6 s, audio wait 45.0 s, model idle on the network 41%; ahead wall 101.4 s (0.61x), audio wait
12.4 s (the first batch's own downloads, which nothing can hide), 22%. With the one audio+speech step
(same settings, `--rounds 1`, load average ~5): before wall 142.4 s, idle 20%; ahead wall 115.3 s
(0.81x), idle 16%.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CLIPS = (
    "jfk",
    "librivox-sense-and-sensibility-0870",
    "librivox-sense-and-sensibility-0880",
    "librivox-sense-and-sensibility-0890",
    "librivox-sense-and-sensibility-0920",
    "librivox-sense-and-sensibility-0930",
)


def episode_wav(shared: Path, repeat: int, dest: Path) -> bytes:
    frames = b""
    params = None
    for _ in range(repeat):
        for name in CLIPS:
            with wave.open(str(shared / "data" / "audio" / f"{name}.wav"), "rb") as w:
                params = w.getparams()
                frames += w.readframes(w.getnframes())
    assert params is not None
    with wave.open(str(dest), "wb") as out:
        out.setparams(params)
        out.writeframes(frames)
    return dest.read_bytes()


def serve_throttled(files: dict[str, bytes], rate: int) -> ThreadingHTTPServer:
    """Serves ``files`` by path (the dict may grow later); audio at most ``rate`` bytes/s per download."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path in files:
                body = files[self.path]
                throttle = self.path.endswith(".wav")
                ctype = "audio/wav" if throttle else "application/rss+xml"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            step = max(1, rate // 10)
            for i in range(0, len(body), step):
                self.wfile.write(body[i : i + step])
                if throttle:
                    time.sleep(0.1)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def feed_xml(base: str, count: int) -> str:
    items = "".join(
        f"<item><title>Episode {i}</title><guid>bench-{i}</guid><pubDate>Mon, 06 Mar 2023 10:00:00 GMT</pubDate>"
        f'<enclosure url="{base}/a/{i}.wav" type="audio/wav" length="1"/></item>'
        for i in range(1, count + 1)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Bench</title>{items}</channel></rss>'


def _child(mode: str, feed_url: str, batch_size: int) -> None:
    """One `cast-pipeline run` in this process, the old way (``before``) or the default (``ahead``)."""
    from typer.testing import CliRunner

    import cast_pipeline.cli.run as run_mod
    import cast_pipeline.defs.speech.prefetch as prefetch
    from cast_pipeline.cli.main import app

    if mode == "before":
        prefetch.DEFAULT_WORKERS = 1

        class OneRunPerBatch:
            def __init__(self, job, instance, run_config, summary, settings, run_batch) -> None:
                self.run_batch = run_batch
                self.job, self.instance, self.run_config, self.summary = job, instance, run_config, summary

            def run(self, batch: list[str], following: list[str] | None) -> bool:
                return self.run_batch(self.job, self.instance, batch, self.run_config, self.summary)

            def stop(self) -> None:
                pass

        run_mod.AudioAhead = OneRunPerBatch  # type: ignore[assignment,misc]
    started = time.perf_counter()
    result = CliRunner().invoke(app, ["run", "--feed", feed_url, "--batch-size", str(batch_size)])
    wall = time.perf_counter() - started
    if result.exit_code != 0:
        raise SystemExit(f"cast-pipeline run failed ({mode}):\n{result.output}")
    data = Path(os.environ["CAST_DATA_DIR"])
    busy = sum(json.loads(p.read_text())["processing_seconds"] for p in data.glob("episodes/*/*/speech-local.json"))
    print(json.dumps({"mode": mode, "wall": wall, "busy": busy, "steps": _speech_step_seconds()}))


SPEECH_STEPS = {"audio", "local__speech_transcript", "audio_and_local_speech"}  # two steps, or one (overlap)


def step_seconds(instance: object, run_id: str, steps: set[str] = SPEECH_STEPS) -> float:
    """Seconds between STEP_START and STEP_SUCCESS/FAILURE of ``steps`` in the run (the audio and speech steps)."""
    total, started = 0.0, {}
    for entry in instance.all_logs(run_id):  # type: ignore[attr-defined]
        event = entry.dagster_event
        if event is None or event.step_key not in steps:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = entry.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in started:
            total += entry.timestamp - started.pop(event.step_key)
    return total


def _speech_step_seconds() -> float:
    """Seconds in the audio and speech steps over every run of the instance."""
    from cast_pipeline.instance import get_instance

    instance = get_instance()
    return sum(step_seconds(instance, run.run_id) for run in instance.get_runs())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2, help="shared clips per episode, ~38 s each")
    parser.add_argument("--rate-kib", type=int, default=400, help="download speed per episode, KiB/s")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", nargs=3, metavar=("MODE", "FEED_URL", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], args.child[1], int(args.child[2]))
        return
    shared = Path(os.environ.get("CAST_SHARED_DIR", ROOT.parent / "shared"))
    with tempfile.TemporaryDirectory() as tmp:
        body = episode_wav(shared, args.repeat, Path(tmp) / "episode.wav")
        files = {f"/a/{i}.wav": body for i in range(1, args.episodes + 1)}
        server = serve_throttled(files, args.rate_kib * 1024)
        base = f"http://127.0.0.1:{server.server_address[1]}"
        files["/feed.xml"] = feed_xml(base, args.episodes).encode()
        feed_url = f"{base}/feed.xml"
        seconds = len(body) / 32000
        print(
            f"{args.episodes} episodes of {seconds:.0f} s speech ({len(body) / 2**20:.1f} MiB, "
            f"{len(body) / 1024 / args.rate_kib:.1f} s to download each at {args.rate_kib} KiB/s), "
            f"batches of {args.batch_size}"
        )
        best: dict[str, dict[str, float]] = {}
        for _ in range(args.rounds):
            for mode in ("before", "ahead"):
                run_dir = Path(tempfile.mkdtemp(dir=tmp))
                env = {
                    **os.environ,
                    "DAGSTER_HOME": str(run_dir / "home"),
                    "CAST_DATA_DIR": str(run_dir / "data"),
                    "CAST_FEEDS_FILE": str(run_dir / "feeds.yaml"),
                    "CAST_DIARIZATION": "off",
                    "CAST_POCKETCASTS": "off",
                    "CAST_AWAIT_TRANSCRIPT_DAYS": "0",
                    "HF_HUB_OFFLINE": "1",
                    "DAGSTER_DISABLE_TELEMETRY": "1",
                    "PYTHONPATH": str(ROOT),
                }
                (run_dir / "home").mkdir()
                out = subprocess.run(
                    [sys.executable, __file__, "--child", mode, feed_url, str(args.batch_size)],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                got = json.loads(out.stdout.strip().splitlines()[-1])
                print(f"  {mode:<7} wall {got['wall']:6.1f} s  busy {got['busy']:6.1f} s  steps {got['steps']:.1f} s")
                if mode not in best or got["wall"] < best[mode]["wall"]:
                    best[mode] = got
        server.shutdown()
    print("\nfastest round of each (model idle = 1 - busy / time in the audio and speech steps):")
    for mode, got in best.items():
        idle = 1 - got["busy"] / got["steps"]
        print(
            f"  {mode:<7} wall {got['wall']:6.1f} s  busy {got['busy']:6.1f} s  "
            f"steps {got['steps']:5.1f} s  idle {idle:.0%}"
        )
    print(f"  ahead / before wall: {best['ahead']['wall'] / best['before']['wall']:.2f}")


if __name__ == "__main__":
    main()
