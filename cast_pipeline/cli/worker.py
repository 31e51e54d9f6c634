"""``cast-pipeline worker``: this machine joins the transcription fleet as a Celery worker of one queue.

A thin wrapper over ``celery worker`` with the fleet's settings (cast_pipeline.fleet.settings): acks
late, no prefetch, reject on a lost child, the visibility timeout, the broker retried for ever. It sets
the queue's hardware defaults (CAST_SPEECH_DEVICE=cuda on ``speech-cuda``, mlx-whisper on ``speech-mps``,
the CPU on ``speech-cpu``) unless this host's environment sets them, and records its queue and name so
each episode's metadata says which worker transcribed it. Steps reach the worker with the instance's
reference; the worker opens it with this host's DAGSTER_PG_* / DAGSTER_* variables.
"""

from __future__ import annotations

import os
import socket

import typer

from cast_pipeline.fleet.settings import (
    CONCURRENCY_ENV,
    QUEUES,
    WORKER_NAME_ENV,
    WORKER_QUEUE_ENV,
    load_fleet_settings,
    queue,
)


def worker_argv(queue_name: str, concurrency: int, name: str, loglevel: str = "INFO") -> list[str]:
    """``celery worker`` arguments for one queue (what :func:`worker_command` runs)."""
    return [
        "worker",
        "--queues",
        queue_name,
        "--concurrency",
        str(concurrency),
        "--pool",
        "prefork",  # the main process answers the executor's pings while a child transcribes
        "--prefetch-multiplier",
        "1",
        "--hostname",
        name,
        "--loglevel",
        loglevel,
        "--without-mingle",  # no start-up chatter with every other worker
        "--without-gossip",
    ]


def default_name(queue_name: str) -> str:
    return f"{queue_name}@{socket.gethostname()}"


def worker_command(
    queue_name: str = typer.Option(..., "--queue", "-q", help=f"The queue to serve: {', '.join(QUEUES)}."),
    concurrency: int | None = typer.Option(
        None, "--concurrency", "-c", min=1, help=f"Steps at a time (default: {CONCURRENCY_ENV}, else 1)."
    ),
    name: str | None = typer.Option(
        None,
        "--name",
        "-n",
        help=f"Worker name (default: {WORKER_NAME_ENV}, else <queue>@<hostname>); unique per worker.",
    ),
    loglevel: str = typer.Option("INFO", "--loglevel", "-l", help="Celery log level."),
) -> None:
    """Serve one fleet queue on this machine (Redis at CAST_CELERY_BROKER_URL; see deploy/README.md)."""
    try:
        q = queue(queue_name)
        settings = load_fleet_settings()
    except ValueError as exc:
        typer.echo(f"cannot start the worker: {exc}", err=True)
        raise typer.Exit(2) from None
    worker_name = name or os.environ.get(WORKER_NAME_ENV) or default_name(q.name)
    if "@" not in worker_name:  # Celery node names are name@host
        worker_name = f"{worker_name}@{socket.gethostname()}"
    for key, value in q.speech_defaults.items():
        os.environ.setdefault(key, value)
    os.environ[WORKER_QUEUE_ENV] = q.name
    os.environ[WORKER_NAME_ENV] = worker_name
    from cast_pipeline.fleet.app import make_app

    typer.echo(
        f"worker {worker_name}: queue {q.name} ({q.prefix}/speech_transcript), broker {settings.redacted_broker()}, "
        f"{concurrency or settings.concurrency} at a time, visibility timeout {settings.visibility_timeout} s",
        err=True,
    )
    make_app(settings).worker_main(worker_argv(q.name, concurrency or settings.concurrency, worker_name, loglevel))


def register(app: typer.Typer) -> None:
    """Called by cast_pipeline.cli.main: adds ``worker``."""
    app.command("worker")(worker_command)
