"""The server side of the fleet for backfills through a real ``dagster-daemon``: the daemon test and the benchmark.

As the fleet deployment runs it (deploy/README.md, "Fleet"): the ``fleet`` location is a ``dagster api
grpc`` server, a real ``dagster-daemon`` loads it by workspace.yaml next to a stand-in for ``core``
carrying ``resume_failed_backfills`` (core_stand_in.py), and a backfill is added to the instance exactly
as the UI's "Launch backfill" does (``PartitionBackfill.from_asset_partitions`` + ``add_backfill``,
dagster_graphql's launchPartitionBackfill). Shared by test_fleet_daemon.py and bench/bench_fleet.py
(``--daemon-backfill``), so both measure the same set-up.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from dagster._core.execution.backfill import PartitionBackfill
from dagster._core.storage.dagster_run import RunRecord
from dagster._core.storage.tags import BACKFILL_ID_TAG, ROOT_BACKFILL_ID_TAG
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget

from cast_pipeline_tests.conftest import REPO_ROOT
from cast_pipeline_tests.deploy.deploykit import ENV_EXAMPLE, read_env_file
from cast_pipeline_tests.deploy.recoverykit import Service, daemon, free_port, grpc_location, wait_for_grpc


def server_env(env: Mapping[str, str], episodes_per_run: int) -> dict[str, str]:
    """The fleet processes' environment plus the server's: deploy/env.example's backfill settings, runs' size."""
    example = read_env_file(ENV_EXAMPLE)
    return {
        **env,
        **{k: v for k, v in example.items() if k.startswith(("DAGSTER_BACKFILL", "DAGSTER_MAX_BACKFILL"))},
        "CAST_EPISODES_PER_RUN": str(episodes_per_run),
    }


@dataclass
class Server:
    """The fleet location, the core stand-in and the daemon, each a :class:`Service`, and their workspace."""

    workspace: Path
    location: Service
    core: Service
    daemon: Service
    fleet_port: int
    core_port: int

    @property
    def services(self) -> list[Service]:
        return [self.location, self.core, self.daemon]

    def start_locations(self) -> None:
        self.location.start()
        self.core.start()
        wait_for_grpc(self.location, self.fleet_port)
        wait_for_grpc(self.core, self.core_port)

    def stop(self) -> None:
        for service in (self.daemon, self.location, self.core):
            service.stop()


def server(env: Mapping[str, str], root: Path, backfill_interval: int | None) -> Server:
    """The server's processes (not started) on free ports; ``backfill_interval`` as in recoverykit.daemon."""
    fleet_port, core_port = free_port(), free_port()
    workspace = root / "workspace.yaml"
    workspace.write_text(
        "load_from:\n"
        f"  - grpc_server: {{host: 127.0.0.1, port: {core_port}, location_name: core}}\n"
        f"  - grpc_server: {{host: 127.0.0.1, port: {fleet_port}, location_name: fleet}}\n"
    )
    here = ("-d", str(REPO_ROOT))
    location = grpc_location("fleet", "cast_pipeline.locations.fleet", fleet_port, env, root, *here)
    core = grpc_location("core", "cast_pipeline_tests.fleet.core_stand_in", core_port, env, root, *here)
    the_daemon = daemon(workspace, env, root, backfill_interval=backfill_interval)
    return Server(workspace, location, core, the_daemon, fleet_port, core_port)


def stop_new_audio_sensor(instance: dg.DagsterInstance, workspace: Path) -> None:
    """Stop the fleet location's ``audio_ready_gpu`` (on by default): before the daemon starts, or its first
    tick sends every episode with audio to speech-cuda, whose runs wait for ever for a GPU worker."""
    with WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(workspace)])) as context:
        [repo] = context.create_request_context().get_code_location("fleet").get_repositories().values()
        sensor = repo.get_sensor("audio_ready_gpu")
        instance.stop_sensor(sensor.get_remote_origin_id(), sensor.selector_id, sensor)


def add_backfill(
    instance: dg.DagsterInstance, workspace: Path, backfill_id: str, keys: list[str], asset: dg.AssetKey, title: str
) -> None:
    """Stop the location's new-audio sensor (stop_new_audio_sensor), add the backfill as the UI does."""
    stop_new_audio_sensor(instance, workspace)
    with WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(workspace)])) as context:
        backfill = PartitionBackfill.from_asset_partitions(
            backfill_id=backfill_id,
            asset_graph=context.create_request_context().asset_graph,
            partition_names=keys,
            asset_selection=[asset],
            backfill_timestamp=time.time(),
            tags={},
            dynamic_partitions_store=instance,
            all_partitions=False,
            title=title,
            description=None,
            run_config=None,
        )
        instance.add_backfill(backfill)


def backfill_chain(instance: dg.DagsterInstance, backfill_id: str) -> list[PartitionBackfill]:
    """The backfill and its automatic resumes (resume_failed_backfills), oldest first."""
    chain = [b for b in instance.get_backfills() if backfill_id in (b.backfill_id, b.tags.get(ROOT_BACKFILL_ID_TAG))]
    return sorted(chain, key=lambda b: b.backfill_timestamp)


def backfill_runs(instance: dg.DagsterInstance, backfill_id: str) -> list[RunRecord]:
    """Every run of the backfill and of its resumes."""
    return [
        record
        for backfill in backfill_chain(instance, backfill_id)
        for record in instance.get_run_records(dg.RunsFilter(tags={BACKFILL_ID_TAG: backfill.backfill_id}))
    ]
