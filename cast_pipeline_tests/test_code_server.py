"""The code server's dead-run check survives errors (the PostgreSQL-outage fault of issue 11).

The fault itself, with a real server, run worker and PostgreSQL, is cast_pipeline_tests/deploy/
test_postgres_outage.py; these check that the guard is in place where Dagster calls it, so a Dagster
upgrade that renames or moves the check fails here first.
"""

from __future__ import annotations

import inspect

import pytest
from dagster._grpc.server import DagsterApiServer

import cast_pipeline.locations  # noqa: F401  (applies the guard, as in every location's server)
from cast_pipeline.code_server import keep_orphan_check_alive


def test_the_server_thread_calls_the_guarded_check() -> None:
    assert "self._check_for_orphaned_runs()" in inspect.getsource(DagsterApiServer._cleanup_thread)
    assert getattr(DagsterApiServer._check_for_orphaned_runs, "_cast_guarded", False)


def test_an_error_in_the_check_is_logged_and_the_next_tick_tries_again(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    def database_down(server: object) -> None:
        calls.append(1)
        raise ConnectionError("could not connect to server: Connection refused")

    monkeypatch.setattr(DagsterApiServer, "_check_for_orphaned_runs", database_down)
    keep_orphan_check_alive()
    DagsterApiServer._check_for_orphaned_runs(object())  # type: ignore[arg-type]
    DagsterApiServer._check_for_orphaned_runs(object())  # type: ignore[arg-type]
    assert calls == [1, 1], "each tick runs the real check again"
    assert "could not check for dead run workers" in caplog.text
    keep_orphan_check_alive()  # idempotent: not wrapped twice
    DagsterApiServer._check_for_orphaned_runs(object())  # type: ignore[arg-type]
    assert calls == [1, 1, 1]
