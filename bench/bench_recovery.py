"""Recovery time per fault: `cast-pipeline run` on one machine, and the PostgreSQL deployment.

Run by hand (not a test):
    .venv/bin/python bench/bench_recovery.py [--episodes 6] [--repeat 1]     # single machine
    .venv/bin/python bench/bench_recovery.py --deployment [--repeat 1]      # PostgreSQL deployment

``--deployment`` runs the fault tests of the PostgreSQL deployment (cast_pipeline_tests/deploy/
test_recovery.py and test_postgres_outage.py: real daemon, webserver, gRPC location, a private
PostgreSQL) with production timings instead of the suite's short ones: systemd's 10 s RestartSec,
PostgreSQL down for a full minute, Dagster's own 30 s backfill loop. It prints one table row per
fault and measure (the ``recovery | ...`` lines the tests print). Needs initdb/pg_ctl and
CAST_TEST_POSTGRES_URL like the tests.

Single machine:

Serves a feed of N short real-speech clips (shared/data/audio) on 127.0.0.1 and, in fresh
instances and data folders, measures with real `cast-pipeline run` processes:
  1. baseline: one run from nothing to every episode transcribed;
  2. recovery: a run killed with SIGKILL as soon as its first speech file exists, then the next run
     (it reclaims the dead run's speech slot and reuses the finished speech): start to success.
Reports both wall times, their ratio and how many episodes the recovery run reused. Before issue 11
the recovery run never finished (it waited for the dead run's pool slot for ever). The machine is
shared and noisy: compare the ratio, not the absolute seconds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cast_pipeline_tests.cli.runkit import Env, make_env, serve_clips, speech_statuses, start_run, wait_for
from cast_pipeline_tests.conftest import SHARED_DATA
from cast_pipeline_tests.httpserver import LocalHTTPServer


def _timed_run(env: Env, url: str) -> float:
    started = time.monotonic()
    proc = start_run(env, "--feed", url)
    out, err = proc.communicate(timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"run failed ({proc.returncode}):\n{out}\n{err}")
    return time.monotonic() - started


ROOT = Path(__file__).resolve().parents[1]
DEPLOYMENT_TESTS = ["cast_pipeline_tests/deploy/test_recovery.py", "cast_pipeline_tests/deploy/test_postgres_outage.py"]
PRODUCTION_TIMINGS = {
    "CAST_TEST_RESTART_SECONDS": "10",
    "CAST_TEST_PG_OUTAGE_SECONDS": "60",
    "CAST_TEST_BACKFILL_INTERVAL": "0",
}


def deployment(repeat: int) -> None:
    rows: list[tuple[str, str, str]] = []
    env = {**os.environ, **PRODUCTION_TIMINGS, "PYTHONPATH": str(ROOT)}
    for attempt in range(1, repeat + 1):
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", *DEPLOYMENT_TESTS],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        for line in done.stdout.splitlines():
            if line.startswith("recovery | "):
                _, fault, measure, seconds = (part.strip() for part in line.split("|"))
                rows.append((fault, measure, seconds))
        status = "passed" if done.returncode == 0 else f"FAILED (pytest exit {done.returncode})"
        print(f"deployment run {attempt}: {status} in {time.monotonic() - started:.0f} s", flush=True)
        if done.returncode != 0:
            print(done.stdout[-4000:])
    print("\n| fault | measure | seconds |\n| --- | --- | --- |")
    for fault, measure, seconds in rows:
        print(f"| {fault} | {measure} | {seconds} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--deployment", action="store_true", help="the PostgreSQL deployment's faults")
    args = parser.parse_args()
    if args.deployment:
        deployment(args.repeat)
        return
    server = LocalHTTPServer().start()
    try:
        url = serve_clips(server, SHARED_DATA, args.episodes)
        for attempt in range(1, args.repeat + 1):
            with tempfile.TemporaryDirectory() as clean, tempfile.TemporaryDirectory() as faulty:
                baseline = _timed_run(make_env(Path(clean)), url)
                env = make_env(Path(faulty))
                first = start_run(env, "--feed", url)
                wait_for(env.speech_files, 1800, "the first speech file", first)
                first.kill()
                first.communicate()
                done = len(env.speech_files())
                recovery = _timed_run(env, url)
                instance = env.instance()
                reused = sum(speech_statuses(instance, key)[-1] == "reused" for key in env.speech_files())
                instance.dispose()
                print(
                    f"run {attempt}: baseline {baseline:.1f} s, recovery after kill -9 {recovery:.1f} s "
                    f"(ratio {recovery / baseline:.2f}); {done} of {args.episodes} speech files existed at the "
                    f"kill, {reused} reused by the recovery run"
                )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
