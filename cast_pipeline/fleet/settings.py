"""Queues, environment and Celery settings of the transcription fleet, shared by the server and the workers.

Why one module: the executor that submits speech steps (on the server) and ``cast-pipeline worker`` (on
each machine) must agree on queue names, broker and delivery rules, or tasks wait in a queue nobody
reads. Both build their Celery configuration with :func:`celery_config` from the same environment.

Delivery rules, and why (Celery's docs, "Prefetch limits" and "Redis: visibility timeout"):

- ``task_acks_late`` + ``task_reject_on_worker_lost``: a step's message is acknowledged when the step
  ends, not when it starts, so a worker killed mid-episode leaves it unacknowledged; Redis gives it to
  another worker (after the visibility timeout, or at once when only the worker's child process died).
  The executor does not wait for that: it sees a silent worker and resubmits (cast_pipeline.fleet.executor).
- ``worker_prefetch_multiplier=1`` and ``worker_disable_prefetch``: a worker reserves only what it
  runs, so a 25-episode step never waits behind another one on a busy machine while others idle.
- ``visibility_timeout`` longer than the longest step (CAST_CELERY_VISIBILITY_TIMEOUT, 4 h by
  default): Redis re-delivers an unacknowledged message after it, so a shorter value would run a
  long step twice.
- ``task_time_limit`` just under the visibility timeout: a step that hangs is stopped before Redis
  would hand its message to a second worker.
- the broker is retried for ever (a worker that loses Redis for a minute reconnects by itself).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

QUEUE_TAG = "dagster-celery/queue"  # dagster_celery.tags.DAGSTER_CELERY_QUEUE_TAG
TASK_NAME = "execute_plan"  # dagster_celery.config.TASK_EXECUTE_PLAN_NAME: the name the executor submits

BROKER_ENV = "CAST_CELERY_BROKER_URL"
BACKEND_ENV = "CAST_CELERY_BACKEND_URL"
VISIBILITY_ENV = "CAST_CELERY_VISIBILITY_TIMEOUT"
CONCURRENCY_ENV = "CAST_WORKER_CONCURRENCY"
LOST_AFTER_ENV = "CAST_CELERY_WORKER_LOST_SECONDS"
WORKER_NAME_ENV = "CAST_WORKER_NAME"
WORKER_QUEUE_ENV = "CAST_WORKER_QUEUE"
NEW_AUDIO_QUEUE_ENV = "CAST_FLEET_NEW_AUDIO_QUEUE"
DEFAULT_NEW_AUDIO_QUEUE = "speech-cuda"

DEFAULT_VISIBILITY_TIMEOUT = 4 * 3600  # seconds; longer than the longest step (25 long episodes on a GPU)
DEFAULT_LOST_AFTER = 120  # seconds without an answer from a busy worker before its step is resubmitted


@dataclass(frozen=True)
class Queue:
    """A kind of hardware: its Celery queue, the speech asset prefix its results use, its speech defaults."""

    name: str
    prefix: str  # speech asset key <prefix>/speech_transcript and file speech-<prefix>.json
    speech_defaults: dict[str, str]  # CAST_SPEECH_* a worker of this queue uses unless its host sets them


# gpu and mac are the prefixes of the two-host deployment's locations, so switching to the fleet keeps
# the asset keys, the speech files and the core location's transcript inputs.
QUEUES: dict[str, Queue] = {
    q.name: q
    for q in (
        Queue(
            "speech-cuda",
            "gpu",
            {"CAST_SPEECH_BACKEND": "faster-whisper", "CAST_SPEECH_DEVICE": "cuda", "CAST_SPEECH_BATCH_SIZE": "8"},
        ),
        Queue("speech-mps", "mac", {"CAST_SPEECH_BACKEND": "mlx-whisper"}),
        Queue("speech-cpu", "cpu", {"CAST_SPEECH_BACKEND": "faster-whisper", "CAST_SPEECH_DEVICE": "cpu"}),
    )
}


def queue(name: str) -> Queue:
    """The queue called ``name``; a clear error naming the known ones otherwise."""
    try:
        return QUEUES[name]
    except KeyError:
        raise ValueError(f"unknown fleet queue {name!r}; use one of {', '.join(QUEUES)}") from None


def new_audio_queue(env: dict[str, str] | None = None) -> Queue:
    """CAST_FLEET_NEW_AUDIO_QUEUE: the queue whose ``audio_ready_<prefix>`` sensor is on by default.

    Why a setting: new audio goes to exactly one queue. A fleet without GPU boxes that kept the
    ``speech-cuda`` default would fill every run slot with runs waiting for a worker that does not exist.
    Read when the location loads; only a sensor's default status, so a toggle in the UI still wins.
    """
    raw = ((os.environ if env is None else env).get(NEW_AUDIO_QUEUE_ENV) or "").strip() or DEFAULT_NEW_AUDIO_QUEUE
    try:
        return queue(raw)
    except ValueError as error:
        raise ValueError(f"{NEW_AUDIO_QUEUE_ENV}: {error}") from None


def pool_name(q: Queue) -> str:
    """The Dagster pool of a queue's speech steps: ``dagster instance concurrency set <queue> N`` caps it."""
    return q.name


def _int_env(env: dict[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name) or ""
    if not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ValueError(f"{name}={value} must be at least {minimum}")
    return value


@dataclass(frozen=True)
class FleetSettings:
    broker_url: str
    backend_url: str
    visibility_timeout: int
    concurrency: int
    lost_after: int

    def redacted_broker(self) -> str:
        return redact(self.broker_url)


def load_fleet_settings(env: dict[str, str] | None = None) -> FleetSettings:
    """The fleet's settings from ``env`` (default: this process's environment)."""
    env = dict(os.environ) if env is None else env
    broker = (env.get(BROKER_ENV) or "").strip()
    if not broker:
        raise ValueError(
            f"{BROKER_ENV} is not set: the fleet needs the Redis broker, e.g. redis://:PASSWORD@10.0.0.1:6379/0 "
            "(rediss:// for TLS); the laptop default (cast_pipeline.definitions) needs none"
        )
    if not broker.startswith(("redis://", "rediss://", "redis+socket://")):
        raise ValueError(f"{BROKER_ENV}={redact(broker)!r}: the fleet supports Redis brokers (redis://, rediss://)")
    return FleetSettings(
        broker_url=broker,
        backend_url=(env.get(BACKEND_ENV) or "").strip() or broker,
        visibility_timeout=_int_env(env, VISIBILITY_ENV, DEFAULT_VISIBILITY_TIMEOUT, minimum=300),
        concurrency=_int_env(env, CONCURRENCY_ENV, 1),
        lost_after=_int_env(env, LOST_AFTER_ENV, DEFAULT_LOST_AFTER, minimum=10),
    )


def redact(url: str) -> str:
    """``url`` without its password, for logs and errors."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def celery_config(settings: FleetSettings) -> dict[str, Any]:
    """The Celery settings (lowercase names) of both the submitting executor and the workers."""
    transport = {
        "visibility_timeout": settings.visibility_timeout,
        # publishing a step while Redis restarts: retry for about two minutes before failing the submission
        "max_retries": 30,
        "interval_start": 0,
        "interval_step": 1,
        "interval_max": 5,
    }
    return {
        "broker_url": settings.broker_url,
        "result_backend": settings.backend_url,
        "broker_transport_options": transport,
        "result_backend_transport_options": {"visibility_timeout": settings.visibility_timeout},
        "broker_connection_retry": True,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,  # for ever: a worker outlives a Redis restart
        "result_backend_always_retry": True,
        "result_backend_max_retries": 120,
        "redis_backend_health_check_interval": 30,
        "redis_socket_keepalive": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # a step never outlives its message: stopped (and failed, so run_retries retries it) before Redis
        # would hand the message to a second worker. Also the limit for a child that hangs.
        "task_time_limit": settings.visibility_timeout - 60,
        "task_track_started": True,  # STARTED carries the worker's hostname: the executor watches that worker
        "worker_prefetch_multiplier": 1,
        "worker_disable_prefetch": True,
        "worker_max_tasks_per_child": None,  # a child keeps its loaded model for the next step
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "task_default_queue": QUEUES["speech-cpu"].name,
        "task_default_priority": 5,
        "result_expires": 7 * 24 * 3600,
        "worker_hijack_root_logger": False,
    }


def worker_identity(env: dict[str, str] | None = None) -> dict[str, Any]:
    """host, pid, and (inside ``cast-pipeline worker``) queue and worker name: recorded with each episode."""
    env = dict(os.environ) if env is None else env
    found: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid()}
    if env.get(WORKER_QUEUE_ENV):
        found["queue"] = env[WORKER_QUEUE_ENV]
    if env.get(WORKER_NAME_ENV):
        found["worker"] = env[WORKER_NAME_ENV]
    return found
