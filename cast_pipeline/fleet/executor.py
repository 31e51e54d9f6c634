"""The ``fleet`` executor: dagster_celery's executor on our queues, watching the worker that runs each step.

Why not dagster_celery's executor as it is: it submits a step and waits for its result for as long as
it takes. When the machine running the step dies (``kill -9``, power cut, a rented GPU taken away),
Redis gives the unacknowledged message to another worker only after the visibility timeout, which must
be longer than the longest step (hours). So this executor watches: every few seconds it asks the
step's Celery task for its state; once a worker has taken it (RECEIVED, then STARTED), the executor
pings that worker through the broker. A worker that has not answered for CAST_CELERY_WORKER_LOST_SECONDS
(120 s by default) is lost: the step is submitted again under a new task id (to any live worker of the
queue), and the old delivery, if Redis ever hands it out again, is dropped by the worker
(cast_pipeline.fleet.app). The new attempt reuses the episodes the lost worker had finished
(cast_pipeline.speech.reuse).

A broker that does not answer is no verdict (every worker would look lost): the clock starts again
once it answers. Steps are otherwise run by dagster_celery's own loop (submission order, priorities,
interrupts, pools): only the submit function differs.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import dagster as dg
from celery import Celery
from dagster._core.events import EngineEventData
from dagster._core.execution.retries import RetryMode, get_retries_config
from dagster._grpc.types import ExecuteStepArgs
from dagster._serdes import pack_value
from dagster_celery.config import dict_wrapper
from dagster_celery.core_execution_loop import core_celery_execution_loop
from dagster_celery.executor import CeleryExecutor

from cast_pipeline.fleet.app import SUBMITTED, make_app
from cast_pipeline.fleet.settings import TASK_NAME, FleetSettings, celery_config, load_fleet_settings

CHECK_EVERY = 5.0  # seconds between looks at a running step's worker
PING_TIMEOUT = 3.0
MISSED_PINGS = 2  # and at least lost_after seconds without an answer
MAX_RESUBMITS = 3
WATCHED_STATES = ("RECEIVED", "STARTED")


class WorkerLost(Exception):
    """The step's worker stopped answering more often than the step may be resubmitted."""


class WatchedStep:
    """The Celery result of one step, as dagster_celery's loop uses it (ready/get/revoke), plus the watch."""

    def __init__(
        self, executor: FleetExecutor, plan_context: Any, step: Any, queue: str, priority: int, known_state: Any
    ) -> None:
        self._executor, self._context, self._step = executor, plan_context, step
        self._queue, self._priority, self._known_state = queue, priority, known_state
        self._resubmits = 0
        self._gave_up: str | None = None
        self._submit()

    def _report(self, message: str, metadata: dict[str, str]) -> None:
        self._context.instance.report_engine_event(
            message, self._context.dagster_run, EngineEventData(metadata), cls=FleetExecutor, step_key=self._step.key
        )

    def _submit(self) -> None:
        context = self._context
        args = ExecuteStepArgs(
            job_origin=context.reconstructable_job.get_python_origin(),
            run_id=context.dagster_run.run_id,
            step_keys_to_execute=[self._step.key],
            instance_ref=context.instance.get_ref(),
            retry_mode=context.executor.retries.for_inner_plan(),
            known_state=self._known_state,
            print_serialized_events=True,
        )
        task_id = str(uuid.uuid4())
        # Recorded before publishing: a worker that receives the task can already tell it is the wanted one.
        self._report(
            f'Celery task {task_id} for step "{self._step.key}" on queue "{self._queue}"'
            + (f" (resubmission {self._resubmits})" if self._resubmits else ""),
            {SUBMITTED: task_id, "queue": self._queue, "resubmission": str(self._resubmits)},
        )
        signature = self._executor.app.signature(
            TASK_NAME,
            kwargs={
                "execute_step_args_packed": pack_value(args),
                "executable_dict": context.reconstructable_job.to_dict(),
            },
            immutable=True,
        )
        self.result = signature.apply_async(
            task_id=task_id, queue=self._queue, routing_key=self._queue, priority=self._priority
        )
        now = time.monotonic()
        self._checked, self._last_answer, self._missed = now, now, 0

    def ready(self) -> bool:
        if self._gave_up is not None or self.result.ready():
            return True
        now = time.monotonic()
        if now - self._checked >= CHECK_EVERY:
            self._checked = now
            self._watch(now)
        return self._gave_up is not None

    def _watch(self, now: float) -> None:
        try:
            state, info = self.result.state, self.result.info
        except Exception:  # result backend unreachable: no verdict, start the clock again once it answers
            self._last_answer, self._missed = now, 0
            return
        # RECEIVED (cast_pipeline.fleet.app.record_received) or STARTED: a worker holds the step's message
        worker = info.get("hostname") if state in WATCHED_STATES and isinstance(info, dict) else None
        if worker is None:  # waiting in the queue for a free worker: nobody to watch yet
            self._last_answer, self._missed = now, 0
            return
        try:
            replies = self._executor.app.control.ping(destination=[worker], timeout=PING_TIMEOUT, limit=1)
        except Exception:  # broker unreachable: no verdict either
            self._last_answer, self._missed = now, 0
            return
        if replies:
            self._last_answer, self._missed = now, 0
            return
        self._missed += 1
        silent = now - self._last_answer
        if self._missed < MISSED_PINGS or silent < self._executor.settings.lost_after:
            return
        self._lost(worker, silent)

    def _lost(self, worker: str, silent: float) -> None:
        old = self.result.id
        self.result.revoke()  # live workers drop it; a worker that comes back is stopped by the task's own check
        if self._resubmits >= MAX_RESUBMITS:
            self._gave_up = (
                f'step "{self._step.key}": worker {worker} stopped answering ({silent:.0f} s) and the step was '
                f"already resubmitted {self._resubmits} times; giving up"
            )
            self._report(self._gave_up, {"worker": worker, "task": old})
            return
        self._resubmits += 1
        self._report(
            f'Worker {worker} running step "{self._step.key}" (task {old}) has not answered for {silent:.0f} s: '
            f"resubmitting the step to queue {self._queue}",
            {"lost_worker": worker, "lost_task": old, "queue": self._queue},
        )
        self._submit()

    def get(self) -> Any:
        if self._gave_up is not None:
            raise WorkerLost(self._gave_up)
        return self.result.get(disable_sync_subtasks=False)

    def revoke(self) -> None:
        self.result.revoke()


class FleetExecutor(CeleryExecutor):
    """dagster_celery's executor with the fleet's settings and :class:`WatchedStep` submissions."""

    def __init__(self, settings: FleetSettings, retries: RetryMode) -> None:
        conf = celery_config(settings)
        super().__init__(retries=retries, broker=settings.broker_url, backend=settings.backend_url, config_source=conf)
        self.config_source = dict_wrapper(conf)  # ours only, not dagster_celery's defaults
        self.settings = settings
        self._app: Celery | None = None

    @property
    def app(self) -> Celery:
        if self._app is None:
            self._app = make_app(self.settings)
        return self._app

    def execute(self, plan_context: Any, execution_plan: Any) -> Any:
        def submit(_app: Any, context: Any, step: Any, queue: str, priority: int, known_state: Any) -> WatchedStep:
            return WatchedStep(self, context, step, queue, priority, known_state)

        return core_celery_execution_loop(plan_context, execution_plan, step_execution_fn=submit)


@dg.executor(
    name="fleet",
    config_schema={"retries": get_retries_config()},
    requirements=dg.multiple_process_executor_requirements(),
)
def fleet_executor(init_context: dg.InitExecutorContext) -> FleetExecutor:
    """Speech steps on the Celery queue named by their ``dagster-celery/queue`` tag (CAST_CELERY_* settings)."""
    return FleetExecutor(load_fleet_settings(), RetryMode.from_config(init_context.executor_config["retries"]))
