"""Which process runs what: host, pid and start time, and whether that process still exists.

Why: a `cast-pipeline run` killed with ``kill -9`` (or a run worker killed by the OOM killer) leaves
its Dagster run STARTED and its pool slots claimed forever; Dagster's default run launcher cannot
tell. Recording host + pid + process start time with the run lets the next run on the same host
decide for sure: the pid no longer exists, or it now belongs to a process started later (pid
reuse), so the run's process is gone. A run recorded on another host is never judged from here.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import psutil

# Process start times come from the kernel in clock ticks; allow for rounding and clock steps.
START_TOLERANCE_SECONDS = 2.0


@dataclass(frozen=True)
class ProcessRef:
    host: str
    pid: int
    started: float | None  # process start, seconds since the epoch; None: unknown (then: started before `seen`)
    seen: float | None = None  # a moment the process was known to be running (e.g. an event it wrote)

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}"


def this_host() -> str:
    return socket.gethostname()


def current_process() -> ProcessRef:
    return ProcessRef(this_host(), os.getpid(), psutil.Process().create_time())


def is_local(ref: ProcessRef) -> bool:
    return ref.host == this_host()


def is_alive(ref: ProcessRef) -> bool:
    """True when the process of ``ref`` still runs on this host (only meaningful when ``is_local``).

    A pid that now belongs to a process started after the recorded start (or after the moment the
    process was seen running) is another process: the recorded one is gone.
    """
    try:
        proc = psutil.Process(ref.pid)
        created = proc.create_time()
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:  # exists, owned by someone else: cannot be ours unless it is
        return True
    if ref.started is not None:
        return abs(created - ref.started) <= START_TOLERANCE_SECONDS
    if ref.seen is not None:
        return created <= ref.seen + START_TOLERANCE_SECONDS
    return True
