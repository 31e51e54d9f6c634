"""`cast-pipeline run` under faults, with real processes: kill -9 mid-speech, Ctrl-C, two runs at once.

Each test drives real `cast-pipeline run` subprocesses against one SQLite instance and a local feed
of short real-speech clips, then checks what a user would: the next run finishes without waiting on
the speech pool, finished speech files are reused (not rewritten), every episode ends transcribed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import dagster as dg
import psutil
import pytest

from cast_pipeline.defs.recovery.runs import RUN_HOST_TAG, RUN_PID_TAG, RUN_PROCESS_STARTED_TAG
from cast_pipeline.processes import this_host
from cast_pipeline_tests.cli.runkit import (
    SPEECH,
    Env,
    claimed,
    make_env,
    serve_clips,
    speech_statuses,
    start_run,
    wait_for,
)
from cast_pipeline_tests.httpserver import LocalHTTPServer

pytestmark = pytest.mark.slow
RUN_BOUND_SECONDS = 240  # a whole run of a few short clips on 2 loaded cores; a pool wait would never end


def _finish(proc: subprocess.Popen[str], timeout: float = RUN_BOUND_SECONDS) -> tuple[int, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"`cast-pipeline run` still running after {timeout} s:\n{out}\n{err}") from None
    return proc.returncode, out + err


def _assert_converged(env: Env, url: str, before: dict[str, os.stat_result], count: int) -> None:
    """Every episode transcribed, files that existed before not rewritten and reported as reused."""
    instance = env.instance()
    assert len(env.transcripts()) == count
    after = env.speech_files()
    for key, stat in before.items():
        assert (after[key].st_ino, after[key].st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns), f"{key} rewritten"
    for key in after:
        statuses = speech_statuses(instance, key)
        assert statuses.count("transcribed") <= 1, f"{key} transcribed twice: {statuses}"
        if key in before:
            assert statuses[-1] == "reused", statuses
        else:
            assert statuses == ["transcribed"], statuses
    assert claimed(instance) == []


def test_kill_9_then_ctrl_c_then_two_runs_at_once_converge_without_redoing_finished_speech(
    tmp_path: Path, http_server: LocalHTTPServer, shared_data: Path
) -> None:
    """One instance through three faults in a row, as an unlucky user would meet them.

    1. ``kill -9`` of a run mid-speech leaves it STARTED holding the speech slot; the next run
       reclaims it (fails it, frees the slot) instead of waiting for ever, and reuses its speech file.
    2. Ctrl-C of that multi-batch run stops it within seconds; its second batch's speech never starts.
    3. Two runs started at once: one waits for the other; together they finish every episode,
       transcribing each once and reusing (not rewriting) every speech file of the runs before.
    """
    env, count = make_env(tmp_path), 3
    url = serve_clips(http_server, shared_data, count)
    instance = env.instance()

    # 1. kill -9 mid-speech
    first = start_run(env, "--feed", url)
    wait_for(lambda: len(env.speech_files()) >= 1, RUN_BOUND_SECONDS, "the first speech file", first)
    first.kill()  # SIGKILL: no cleanup of any kind
    first.communicate()
    after_kill = env.speech_files()
    assert 1 <= len(after_kill) < count, "the kill must land mid-batch"
    (dead,) = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    assert claimed(instance) == [dead.run_id]  # the fault of issue 11: the dead run holds the speech slot

    # 2. the next run reclaims the dead run's slot, goes on, and is stopped by Ctrl-C in its first batch
    started = time.monotonic()
    second = start_run(env, "--feed", url, "--batch-size", "2")  # two batches: Ctrl-C must stop both
    wait_for(lambda: len(env.speech_files()) > len(after_kill), RUN_BOUND_SECONDS, "a new speech file", second)
    reclaimed_after = time.monotonic() - started
    second.send_signal(signal.SIGINT)
    interrupted_at = time.monotonic()
    rc, output = _finish(second, timeout=60)
    stop_seconds = time.monotonic() - interrupted_at
    print(f"\nkill -9: the next run wrote new speech {reclaimed_after:.1f} s after it started (no pool wait)")
    print(f"Ctrl-C: run stopped {stop_seconds:.1f} s after SIGINT")
    assert f"reclaimed run {dead.run_id[:8]}" in output and "speech" in output, output
    assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
    failure = instance.all_logs(dead.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert "is gone" in failure[-1].dagster_event.message
    assert rc == 130, output
    assert stop_seconds < 30
    assert "stopped by Ctrl-C" in output and "continue with the next `cast-pipeline run`" in output
    assert not instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    assert claimed(instance) == []
    # Batch 2's transcript lookups (and its audio download) run ahead of batch 1's speech (cli.audio_ahead);
    # its speech must never start.
    speech_runs = [r for r in instance.get_runs() if not r.asset_selection or SPEECH in r.asset_selection]
    assert len(speech_runs) == 2, "the killed run and the first batch of the interrupted run: no second batch"
    before = env.speech_files()
    assert len(before) < count

    # 3. two runs at once finish the rest: each episode transcribed once, finished speech reused
    started = time.monotonic()
    one = start_run(env, "--feed", url)
    wait_for(lambda: (env.home / "cast-pipeline-run.lock").exists(), 60, "the run to take the lock", one)
    other = start_run(env, "--feed", url)
    (rc1, out1), (rc2, out2) = _finish(one), _finish(other)
    print(f"then two runs at once: both done {time.monotonic() - started:.1f} s after the first started")
    assert rc1 == 0 and rc2 == 0, out1 + out2
    assert "another `cast-pipeline run` is working on this Dagster instance" in out1 + out2
    _assert_converged(env, url, before, count)


def test_ctrl_c_while_waiting_for_a_pool_slot_stops_the_run(
    tmp_path: Path, http_server: LocalHTTPServer, shared_data: Path
) -> None:
    """A live process elsewhere holds the speech slot: the run waits, says why, and Ctrl-C still stops it."""
    env = make_env(tmp_path)
    url = serve_clips(http_server, shared_data, 1)
    holder = subprocess.Popen(["sleep", "300"])
    try:
        instance = env.instance()
        process = psutil.Process(holder.pid)
        tags = {RUN_HOST_TAG: this_host(), RUN_PID_TAG: str(holder.pid)}
        tags[RUN_PROCESS_STARTED_TAG] = f"{process.create_time():.3f}"
        started = dg.DagsterRunStatus.STARTED
        run_id = str(uuid.uuid4())
        busy = instance.add_run(dg.DagsterRun(job_name="episodes_job", run_id=run_id, status=started, tags=tags))
        instance.event_log_storage.initialize_concurrency_limit_to_default("speech")
        assert instance.event_log_storage.claim_concurrency_slot("speech", busy.run_id, "speech_step").is_claimed

        run = start_run(env, "--feed", url)
        pending = lambda: any(  # noqa: E731
            s.run_id != busy.run_id for s in instance.event_log_storage.get_concurrency_info("speech").pending_steps
        )
        wait_for(pending, RUN_BOUND_SECONDS, "the run to wait for the speech pool", run)
        time.sleep(1)
        run.send_signal(signal.SIGINT)
        interrupted_at = time.monotonic()
        rc, output = _finish(run, timeout=60)
        print(f"\nCtrl-C while blocked on the pool: stopped after {time.monotonic() - interrupted_at:.1f} s")
        assert rc == 130, output
        assert time.monotonic() - interrupted_at < 20
        assert claimed(instance) == [busy.run_id]  # a live holder is never reclaimed
    finally:
        holder.kill()
        holder.wait()
