"""Recovery time of `cast-pipeline run` after kill -9 mid-speech, against a clean run of the same feed.

Run by hand (not a test):  .venv/bin/python bench/bench_recovery.py [--episodes 6] [--repeat 1]

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
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
