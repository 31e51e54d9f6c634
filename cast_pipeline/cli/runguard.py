"""What keeps `cast-pipeline run` safe to kill, interrupt and start twice.

- One `cast-pipeline run` per Dagster instance at a time (``instance_lock``): a second one says which
  run holds the instance and waits for it (Ctrl-C stops waiting), then does only what is left, so
  two runs never transcribe the same episode. The lock is an ``flock`` on a file in DAGSTER_HOME: the
  kernel releases it when its process dies, even with ``kill -9``, so a crash never leaves it stale.
- Ctrl-C stops the whole command (``interrupt_watch``). Dagster defers SIGINT during a run to
  checkpoints; a step waiting for a pool slot has none, so an interrupt there would be ignored for
  ever. The watch thread sees an interrupt Dagster has captured but not acted on for
  ``STUCK_INTERRUPT_SECONDS`` and raises KeyboardInterrupt in the main thread, which Dagster turns
  into a failed run ("Execution was interrupted").
"""

from __future__ import annotations

import ctypes
import fcntl
import functools
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from dagster._utils.interrupts import check_captured_interrupt

from cast_pipeline.defs.recovery.runs import fail_dead_runs
from cast_pipeline.instance import ensure_dagster_home, get_instance
from cast_pipeline.processes import current_process

LOCK_FILE = "cast-pipeline-run.lock"
STUCK_INTERRUPT_SECONDS = 2.0
INTERRUPTED_ERROR = "DagsterExecutionInterruptedError"


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return f"pid {info['pid']} on {info['host']}, running since {info['since']}"
    except (OSError, ValueError, KeyError):
        return "another process"


@contextmanager
def instance_lock(home: Path, say: Callable[[str], None], poll_seconds: float = 0.5) -> Iterator[None]:
    """Hold the instance's `cast-pipeline run` lock for the block, waiting (and saying so) while it is taken."""
    path = home / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    say(
                        f"another `cast-pipeline run` is working on this Dagster instance ({_holder(path)}); "
                        "waiting for it to finish, then doing what is left (Ctrl-C to stop waiting)"
                    )
                    waited = True
                time.sleep(poll_seconds)
        if waited:
            say("the other `cast-pipeline run` finished; going on")
        me = current_process()
        since = datetime.now(UTC).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": me.pid, "host": me.host, "since": since}).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the flock


@contextmanager
def interrupt_watch() -> Iterator[None]:
    """Make an interrupt that Dagster captured but cannot act on (a step waiting for a pool) stop the run."""
    main = threading.main_thread().ident
    stop = threading.Event()

    def watch() -> None:
        pending_since: float | None = None
        while not stop.wait(0.2):
            if not check_captured_interrupt():
                pending_since = None
                continue
            pending_since = pending_since or time.monotonic()
            if time.monotonic() - pending_since >= STUCK_INTERRUPT_SECONDS and main is not None:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(main), ctypes.py_object(KeyboardInterrupt))
                return

    thread = threading.Thread(target=watch, name="interrupt-watch", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=1)


def was_interrupted(result: dg.ExecuteInProcessResult) -> bool:
    """Whether the run ended because of Ctrl-C / SIGTERM (in a step, or while waiting between steps)."""
    for event in result.all_events:
        error = event.step_failure_data.error if event.is_step_failure else None
        if error is not None and error.cls_name == INTERRUPTED_ERROR:
            return True
        if event.is_run_failure and "interrupted" in (event.message or ""):
            return True
    return False


def guarded(say: Callable[[str], None]) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Wrap the `cast-pipeline run` command: instance lock, then reclaim dead runs, then an interrupt watch.

    Why reclaim before anything else: a run killed earlier (kill -9, power loss) may still be STARTED and
    hold the speech pool slot, and every new run would wait for it for ever (cast_pipeline.defs.recovery).
    """

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(command)
        def wrapper(*args: object, **kwargs: object) -> None:
            with instance_lock(ensure_dagster_home(), say):
                for dead in fail_dead_runs(get_instance()):
                    say(f"reclaimed {dead.line()}")
                with interrupt_watch():
                    command(*args, **kwargs)

        return wrapper

    return decorate
