"""`dagster-daemon` with a shorter backfill loop, for the tests only: ``python -m ... <seconds> run -w ...``.

Why: Dagster's backfill daemon evaluates backfills every 30 s (DEFAULT_DAEMON_INTERVAL_SECONDS, not a
setting), so a test waits up to 30 s before a backfill starts and again before it is seen complete.
Everything else (queue, monitoring, retries, sensors) keeps deploy/dagster.yaml's own intervals;
bench/bench_recovery.py measures with the real daemon.
"""

import sys

import dagster._daemon.controller as controller
from dagster._daemon.cli import main

if __name__ == "__main__":
    controller.DEFAULT_DAEMON_INTERVAL_SECONDS = int(sys.argv.pop(1))  # read by the backfill loop at each tick
    sys.argv[0] = "dagster-daemon"
    sys.exit(main())
