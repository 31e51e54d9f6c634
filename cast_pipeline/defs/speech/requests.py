"""What became of the runs a follow-up sensor requested: still going, done, given up, or lost and to ask again.

Why: a sensor that moves its cursor past a source event and requests a run must not forget that
event until the run's target is materialised. Runs get lost for reasons that have nothing to do with
the episode: the run was dequeued while its code location was restarting ("user code unreachable"),
its worker was killed, the automatic retry could not be created because the location was down. Dagster
retries some of these a fixed number of times and then stops; the episodes would stay with audio and no
transcript for good. So each requested partition stays in the sensor's cursor (:class:`Pending`) until
the target has a materialisation newer than the source event, and is requested again (a new run key)
when the run that should have made it ended without trying for an episode-level reason. A sensor ticks
only while its code location answers, so the new request waits for the location to be back.

What is NOT asked again: a partition whose step raised (the asset's own error, e.g. a corrupt file: it
would fail the same way; see cast_pipeline.defs.batching), unless the database went away while the
step wrote its events (PostgreSQL restarted under a running step: lost, asked again); a run someone
canceled; and anything after :data:`MAX_REQUESTS` requests (a crash that repeats, like the OOM killer, needs a person).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster._core.execution.plan.objects import ErrorSource
from dagster._core.storage.tags import AUTO_RETRY_RUN_ID_TAG, RUN_KEY_TAG, SENSOR_NAME_TAG, WILL_RETRY_TAG
from dagster._utils.error import SerializableErrorInfo

MAX_REQUESTS = 4  # per partition and source event: the first request and three more
GRACE_SECONDS = 300  # a requested run not created yet, or an announced automatic retry not launched yet
INTERRUPTED = ErrorSource.INTERRUPT
# Errors of the instance's database, not of the episode (psycopg2's and SQLAlchemy's names alike): a step
# that failed with one of them in its chain of causes is lost, not raised.
DATABASE_ERRORS = frozenset({"OperationalError", "InterfaceError"})


def database_went_away(error: SerializableErrorInfo | None) -> bool:
    """Whether a step failure's error, or one of its causes, is the database's (e.g. PostgreSQL restarting)."""
    while error is not None:
        if error.cls_name in DATABASE_ERRORS:
            return True
        error = error.cause or error.context
    return False


class Outcome(Enum):
    GOING = "going"  # queued, running, or about to be created / retried by Dagster
    ENDED = "ended"  # succeeded, canceled, or the step failed on its own; nothing more to ask for
    LOST = "lost"  # ended without the step running to an end (never started, killed, interrupted): ask again


@dataclass(frozen=True)
class Pending:
    """A requested partition: the source event it catches up with, its run key, how many requests so far."""

    source_id: int
    run_key: str
    requests: int
    requested_at: float

    def to_json(self) -> list[object]:
        return [self.source_id, self.run_key, self.requests, round(self.requested_at, 1)]

    @classmethod
    def from_json(cls, raw: list[object]) -> Pending:
        source_id, run_key, requests, requested_at = raw
        return cls(int(source_id), str(run_key), int(requests), float(requested_at))  # type: ignore[arg-type]


class RunLookup:
    """Runs and step failures, cached for one tick."""

    def __init__(self, instance: dg.DagsterInstance) -> None:
        self._instance = instance
        self._finished: dict[str, bool] = {}
        self._user_failures: dict[str, set[str]] = {}

    def finished(self, run_id: str) -> bool:
        if not run_id:  # a runless event (reported from outside a run)
            return True
        if run_id not in self._finished:
            run = self._instance.get_run_by_id(run_id)
            self._finished[run_id] = run is None or run.is_finished
        return self._finished[run_id]

    def step_raised(self, run_id: str, step_key: str) -> bool:
        """True when ``step_key`` failed in that run, other than by an interrupt (SIGTERM, Ctrl-C) or the database.

        A killed worker leaves no step failure at all. (Dagster records a ``dg.Failure`` as a framework
        error, so the error source cannot tell the asset's own errors from others; only interrupts are sure.)
        """
        if not run_id:
            return False
        if run_id not in self._user_failures:
            records = self._instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_FAILURE).records
            raised = set()
            for record in records:
                event = record.event_log_entry.dagster_event
                data = event.step_failure_data if event is not None else None
                if event is None or not event.step_key or data is None or data.error_source == INTERRUPTED:
                    continue
                if not database_went_away(data.error):
                    raised.add(event.step_key)
            self._user_failures[run_id] = raised
        return step_key in self._user_failures[run_id]

    def outcome(self, sensor_name: str, pending: Pending, step_key: str, now: float | None = None) -> Outcome:
        """What became of the (latest) run requested under ``pending.run_key``, retries included."""
        now = time.time() if now is None else now
        runs = self._instance.get_runs(
            filters=dg.RunsFilter(tags={SENSOR_NAME_TAG: sensor_name, RUN_KEY_TAG: pending.run_key}), limit=1
        )  # newest first: an automatic retry carries its parent's tags, so this is the latest attempt
        if not runs:
            return Outcome.GOING if now - pending.requested_at < GRACE_SECONDS else Outcome.LOST
        run = runs[0]
        if not run.is_finished:
            return Outcome.GOING
        if run.status in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.CANCELED):
            return Outcome.ENDED
        if run.tags.get(WILL_RETRY_TAG) == "true" and AUTO_RETRY_RUN_ID_TAG not in run.tags:
            record = self._instance.get_run_record_by_id(run.run_id)
            ended = record.end_time if record is not None and record.end_time else now
            if now - ended < GRACE_SECONDS:
                return Outcome.GOING  # the retry daemon has yet to launch the retry
        return Outcome.ENDED if self.step_raised(run.run_id, step_key) else Outcome.LOST
