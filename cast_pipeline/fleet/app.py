"""The Celery app of the fleet: its queues, and the task that runs one Dagster step on a worker.

Why our own task instead of dagster_celery's: a step's message can reach a worker more than once
(acks late: Redis re-delivers what a killed worker never acknowledged, and the executor resubmits the
step of a worker that stopped answering, cast_pipeline.fleet.executor). Before running a step the task
asks the instance whether that delivery is still wanted: not when the run is over, nor when the
executor has resubmitted the step under another task id since. The step itself runs exactly as in
dagster_celery (``execute_plan_iterator`` in this worker process, events written to the instance).
Episodes finished by an earlier delivery are reused from their files (cast_pipeline.speech.reuse).

A worker also records RECEIVED, with its name, the moment it takes a step's message (before its pool
child starts the step and records STARTED): a worker that dies in between would otherwise leave the
step PENDING, which the executor reads as "still queued", while Redis keeps the message unacknowledged
until the visibility timeout (hours). With RECEIVED the executor watches that worker from the start.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, states
from celery.signals import task_received
from celery.utils.log import get_task_logger
from kombu import Exchange
from kombu import Queue as KombuQueue

from cast_pipeline.fleet.settings import QUEUES, TASK_NAME, FleetSettings, celery_config

logger = get_task_logger(__name__)
SUBMITTED = "celery_task_id"  # engine event metadata: the task id the executor submitted a step as


def kombu_queues() -> list[KombuQueue]:
    """One direct exchange per queue, routing key = queue name (what the executor publishes with)."""
    return [KombuQueue(name, Exchange(name, type="direct"), routing_key=name) for name in QUEUES]


def make_app(settings: FleetSettings) -> Celery:
    """The app both sides use: the executor to submit steps, ``cast-pipeline worker`` to run them."""
    app = Celery("cast_fleet", set_as_current=False)
    app.conf.update(celery_config(settings))
    app.conf.task_queues = kombu_queues()
    app.conf.task_create_missing_queues = False  # a typo in a queue name fails the submission, never strands work
    register_step_task(app)
    task_received.connect(record_received, weak=False, dispatch_uid="cast_fleet_record_received")
    return app


def record_received(sender: Any = None, request: Any = None, **_: Any) -> None:
    """In the worker's main process, as it takes a step's message: RECEIVED + its name in the result backend."""
    if request is None or request.name != TASK_NAME:
        return
    backend = request.task.backend
    try:
        if backend.get_state(request.id) in states.READY_STATES:  # a late copy of a finished step
            return
        backend.store_result(request.id, {"hostname": request.hostname, "pid": os.getpid()}, states.RECEIVED)
    except Exception as exc:  # never keep a step from running: without it the executor only sees STARTED
        logger.warning(f"could not record that task {request.id} was received: {exc}")


def latest_submission(instance: Any, run_id: str, step_key: str) -> str | None:
    """The task id of the executor's latest submission of ``step_key`` in run ``run_id``."""
    from dagster import DagsterEventType

    latest = None
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        event = entry.dagster_event
        if event is None or entry.step_key != step_key:
            continue
        meta = event.engine_event_data.metadata if event.engine_event_data else {}
        if SUBMITTED in meta:
            latest = str(meta[SUBMITTED].value)
    return latest


def unwanted_delivery(instance: Any, run_id: str, step_key: str, task_id: str) -> str | None:
    """Why this delivery of a step must not run (None: run it)."""
    run = instance.get_run_by_id(run_id)
    if run is None:
        return f"run {run_id} does not exist"
    if run.is_finished:
        return f"run {run_id} is already {run.status.value}"
    latest = latest_submission(instance, run_id, step_key)
    if latest is not None and latest != task_id:
        return f"step {step_key} was resubmitted as task {latest}"
    from dagster import DagsterEventType

    if any(e.step_key == step_key for e in instance.all_logs(run_id, of_type=DagsterEventType.STEP_SUCCESS)):
        return f"step {step_key} already succeeded in run {run_id}"  # a copy whose acknowledgement was lost
    return None


def register_step_task(app: Celery) -> Any:
    @app.task(bind=True, name=TASK_NAME, acks_late=True, reject_on_worker_lost=True, track_started=True)
    def execute_step(self: Any, execute_step_args_packed: dict, executable_dict: dict) -> list[str]:
        # Dagster is imported here, in the worker's child process, not when the CLI starts.
        from dagster import DagsterInstance
        from dagster._core.definitions.reconstruct import ReconstructableJob
        from dagster._core.events import EngineEventData
        from dagster._core.execution.api import create_execution_plan, execute_plan_iterator
        from dagster._grpc.types import ExecuteStepArgs
        from dagster._serdes import serialize_value, unpack_value
        from dagster_celery.executor import CeleryExecutor

        from cast_pipeline.fleet.settings import worker_identity

        args = unpack_value(execute_step_args_packed, as_type=ExecuteStepArgs)
        instance = DagsterInstance.from_ref(args.instance_ref)  # type: ignore[arg-type]
        try:
            step_key = ", ".join(args.step_keys_to_execute or [])
            why_not = unwanted_delivery(instance, args.run_id, step_key, self.request.id)
            if why_not is not None:  # acknowledged without running: the run has what it needs
                logger.warning(f"not running step {step_key} of run {args.run_id} (task {self.request.id}): {why_not}")
                return []
            recon_job = ReconstructableJob.from_dict(executable_dict)
            run = instance.get_run_by_id(args.run_id)
            assert run is not None
            plan = create_execution_plan(
                recon_job, run.run_config, step_keys_to_execute=args.step_keys_to_execute, known_state=args.known_state
            )
            who = worker_identity()
            engine_event = instance.report_engine_event(
                f"Executing step {step_key} in celery worker {self.request.hostname} (pid {who['pid']})",
                run,
                EngineEventData(
                    {
                        "step_keys": step_key,
                        "Celery worker": self.request.hostname,
                        **{k: str(v) for k, v in who.items()},
                    },
                    marker_end="celery_queue_wait",
                ),
                CeleryExecutor,
                step_key=plan.step_handle_for_single_step_plans().to_key(),  # type: ignore[union-attr]
            )
            events = [engine_event]
            events += execute_plan_iterator(
                execution_plan=plan,
                job=recon_job,
                dagster_run=run,
                instance=instance,
                retry_mode=args.retry_mode,
                run_config=run.run_config,
            )
            return [serialize_value(event) for event in events]
        finally:
            instance.dispose()

    return execute_step
