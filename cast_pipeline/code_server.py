"""Keep a code location's ``dagster api grpc`` server able to fail its dead runs after a PostgreSQL outage.

Why: the server starts each run as a child process and, every half second, a cleanup thread looks
for children that exited and marks their runs failed in the instance. In dagster 1.13 that thread
has no error handling: if a run worker dies while PostgreSQL is away (it cannot write its events,
so it exits), the thread's call to the database raises and the thread ends for good. From then on
the server lists the dead run as executing for ever (``GetCurrentRuns``), so run monitoring
(cast_pipeline.run_launcher) is told it is healthy, it keeps its place under the location's run
cap, and every later run of that location, a backfill's included, waits in the queue behind it
(seen in cast_pipeline_tests/deploy/test_postgres_outage.py: no progress at all after the outage).

:func:`keep_orphan_check_alive` wraps that check so an error is logged and the check runs again at
the next tick: once PostgreSQL answers, the dead run is failed and ``run_retries`` retries it.
Applied when any location module is imported (cast_pipeline.locations), i.e. inside the server.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

_log = logging.getLogger("cast_pipeline.code_server")
_GUARDED = "_cast_guarded"
# Log a failing check at most this often (it runs every 0.5 s while the database is away).
LOG_EVERY_SECONDS = 30.0


def keep_orphan_check_alive() -> None:
    """Make ``DagsterApiServer``'s dead-run check survive errors (idempotent)."""
    from dagster._grpc.server import DagsterApiServer

    original: Callable[[Any], None] = DagsterApiServer._check_for_orphaned_runs
    if getattr(original, _GUARDED, False):
        return
    last_logged = [0.0]

    def guarded(server: Any) -> None:
        try:
            original(server)
        except Exception:  # the database is away, typically: try again next tick instead of dying
            now = time.monotonic()
            if now - last_logged[0] >= LOG_EVERY_SECONDS:
                last_logged[0] = now
                _log.warning("could not check for dead run workers (database down?); trying again", exc_info=True)

    setattr(guarded, _GUARDED, True)
    DagsterApiServer._check_for_orphaned_runs = guarded  # type: ignore[method-assign]
