"""The run launcher of the PostgreSQL deployment: Dagster's default launcher that can tell a dead run worker.

Why: with ``DefaultRunLauncher`` a run executes as a child process of its code location's
``dagster api grpc`` server (on the GPU box for ``transcribe_gpu``). If only that child dies, the server
notices and fails the run. If the server dies with its children (``systemctl restart``, a crashed or
rebooted box), nobody is left to say so: the run stays STARTED, holding its run-queue place and its
``speech`` pool slot, until ``max_runtime_seconds`` (hours). Dagster's run monitoring asks the launcher
about each STARTED run's worker every ``poll_interval_seconds``, but ``DefaultRunLauncher`` does not
answer (``supports_check_run_worker_health`` is False in dagster 1.13).

:class:`WatchedRunLauncher` answers by asking the gRPC server that started the run (host and port are
in the run's ``dagster/grpc_info`` tag) which runs it is executing. A reachable server that does not
list a STARTED run has lost its worker (a restarted server starts with none), so the run is reported
FAILED: run monitoring marks it failed, ``run_retries`` launches the retry and the daemon frees the dead
run's pool slots after ``free_slots_after_run_end_seconds`` (deploy/dagster.yaml). An unreachable server
is no verdict: the location may be restarting, and a retry could not start there anyway; the run is
checked again at the next poll, once the server answers.

It also treats a server that is shutting down as unreachable when launching: after SIGTERM
(``systemctl restart``) a gRPC server still answers but refuses new runs ("Tried to start a run on a
server after telling it to shut down"), which Dagster's queue takes for a permanent error and fails the
run. As "unreachable", the run goes back to the queue (``max_user_code_failure_retries``) and starts
once the restarted server answers.
"""

from __future__ import annotations

import json

from dagster import DefaultRunLauncher
from dagster._core.errors import DagsterLaunchFailedError, DagsterUserCodeUnreachableError
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.storage.tags import GRPC_INFO_TAG
from dagster._grpc.client import DagsterGrpcClient
from dagster._grpc.types import GetCurrentRunsResult
from dagster._serdes import deserialize_value

# dagster._grpc.server's answer to StartRun once it received SIGTERM
SHUTTING_DOWN = "after telling it to shut down"


class WatchedRunLauncher(DefaultRunLauncher):
    """``DefaultRunLauncher`` whose run workers run monitoring can check (see the module docstring)."""

    def launch_run(self, context: LaunchRunContext) -> None:
        try:
            super().launch_run(context)
        except DagsterLaunchFailedError as exc:
            if SHUTTING_DOWN not in str(exc):
                raise
            run = context.dagster_run
            location = run.remote_job_origin.location_name if run.remote_job_origin else "its code location"
            raise DagsterUserCodeUnreachableError(
                f"location {location} is shutting down (restarting?); the run waits in the queue for it"
            ) from exc

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        location = run.remote_job_origin.location_name if run.remote_job_origin else "its code location"
        raw = run.tags.get(GRPC_INFO_TAG)
        if raw is None:  # not started by a gRPC server (e.g. `dagster job execute`): nothing to ask, no verdict
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no gRPC server recorded for this run")
        info = json.loads(raw)
        where = f"{info.get('host')}:{info.get('port') or info.get('socket')}"
        client = DagsterGrpcClient(
            host=info.get("host"),
            port=info.get("port"),
            socket=info.get("socket"),
            use_ssl=bool(info.get("use_ssl", False)),
        )
        try:
            current = deserialize_value(client.get_current_runs(), GetCurrentRunsResult)
        except DagsterUserCodeUnreachableError:
            # Restarting or down: wait for it rather than fail a run that may still be going.
            return CheckRunHealthResult(
                WorkerStatus.RUNNING, f"location {location} at {where} unreachable; checked again next poll"
            )
        if run.run_id in current.current_runs:
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"running in location {location} at {where}")
        latest = self._instance.get_run_by_id(run.run_id) if self.has_instance else None
        if latest is not None and latest.is_finished:  # ended between the monitor's read and this check
            return CheckRunHealthResult(WorkerStatus.SUCCESS, f"run already {latest.status.value}")
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"the gRPC server of location {location} at {where} is not executing this run: its run worker "
            "is gone (killed, or the location was restarted). run_retries relaunches it.",
        )
