"""deploy/dagster.yaml: valid for Dagster's instance schema, and really stores runs in PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.instance.ref import InstanceRef
from dagster._core.launcher import RunLauncher

from cast_pipeline_tests.conftest import REPO_ROOT
from cast_pipeline_tests.deploy.deploykit import DAGSTER_YAML, LOCATIONS, env_refs, load_yaml

DUMMY_ENV = {
    "DAGSTER_PG_HOST": "db.invalid",
    "DAGSTER_PG_PORT": "5432",
    "DAGSTER_PG_USER": "dagster",
    "DAGSTER_PG_PASSWORD": "secret",
    "DAGSTER_PG_DB": "dagster",
    "DAGSTER_COMPUTE_LOG_DIR": "/mnt/cast/dagster/compute_logs",
    "DAGSTER_ARTIFACT_DIR": "/mnt/cast/dagster/artifacts",
}


def _ref(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> InstanceRef:
    for key, value in DUMMY_ENV.items():
        monkeypatch.setenv(key, value)
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(DAGSTER_YAML, home / "dagster.yaml")
    return InstanceRef.from_dir(str(home))  # validates against Dagster's schema, no connection yet


def test_env_refs_are_exactly_the_documented_ones() -> None:
    # deploy/README.md, env.example, compose and the launchd plist all list these; a new one must be
    # added there too (test_consistency checks those files against this set).
    assert env_refs(load_yaml(DAGSTER_YAML)) == set(DUMMY_ENV)


def test_schema_valid_with_postgres_queue_and_default_launcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = _ref(tmp_path, monkeypatch)
    assert (ref.storage_data.module_name, ref.storage_data.class_name) == (
        "dagster_postgres",
        "DagsterPostgresStorage",
    )
    assert ref.run_coordinator_data.class_name == "QueuedRunCoordinator"
    # Runs must start on the code location's host: only the default launcher does that (ours extends it).
    assert (ref.run_launcher_data.module_name, ref.run_launcher_data.class_name) == (
        "cast_pipeline.run_launcher",
        "WatchedRunLauncher",
    )
    assert ref.compute_logs_data.class_name == "LocalComputeLogManager"
    assert ref.local_artifact_storage_data.class_name == "LocalArtifactStorage"
    assert ref.settings["telemetry"] == {"enabled": False}


def test_env_values_stay_references_for_each_host_to_resolve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon ships this config to the code servers unresolved: each host reads its own env."""
    ref = _ref(tmp_path, monkeypatch)
    storage = yaml.safe_load(ref.storage_data.config_yaml)
    assert storage["postgres_db"]["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    assert yaml.safe_load(ref.compute_logs_data.config_yaml) == {"base_dir": {"env": "DAGSTER_COMPUTE_LOG_DIR"}}
    assert "secret" not in ref.storage_data.config_yaml


def test_run_limits_per_location_and_speech_pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    concurrency = _ref(tmp_path, monkeypatch).settings["concurrency"]
    runs = concurrency["runs"]
    limits = {
        item["value"]: item["limit"]
        for item in runs["tag_concurrency_limits"]
        if item["key"] == "dagster/code_location"
    }
    assert set(limits) == set(LOCATIONS), "one run cap per code location of deploy/workspace.yaml"
    assert limits["transcribe_gpu"] == 1 and limits["transcribe_mac"] == 1, "one model per transcription machine"
    assert limits["core"] > 1
    assert sum(limits.values()) <= runs["max_concurrent_runs"], "global cap must not starve a location"
    assert concurrency["pools"]["default_limit"] == 1, "the speech pool starts at 1"


def test_stuck_runs_are_reclaimed_and_only_crashes_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _ref(tmp_path, monkeypatch).settings
    monitoring, retries = settings["run_monitoring"], settings["run_retries"]
    assert monitoring["enabled"] is True
    assert 3600 <= monitoring["max_runtime_seconds"] <= 24 * 3600, "a stuck transcription is reclaimed within a day"
    assert monitoring["start_timeout_seconds"] > 0
    assert retries["enabled"] is True and retries["max_retries"] >= 1
    assert retries["retry_on_asset_or_op_failure"] is False


def test_a_crashed_runs_slot_is_free_within_a_minute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 11: the retry of a killed transcription waited ~10.5 min behind the dead run's pool slot."""
    ref = _ref(tmp_path, monkeypatch)
    monitoring = ref.settings["run_monitoring"]
    # the monitoring daemon frees slots of ended runs at its poll, once they ended this long ago
    assert monitoring["poll_interval_seconds"] + monitoring["free_slots_after_run_end_seconds"] <= 30
    assert monitoring["free_slots_after_run_end_seconds"] >= 5, "never free a slot at the instant a run ends"
    launcher = ref.run_launcher_data.rehydrate(as_type=RunLauncher)  # as the daemon builds it
    assert launcher.supports_check_run_worker_health, "run monitoring can see dead workers"


def test_queued_runs_wait_for_a_restarting_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run dequeued while its location is down goes back to the queue instead of failing at once."""
    config = yaml.safe_load(_ref(tmp_path, monkeypatch).run_coordinator_data.config_yaml)
    waited = config["max_user_code_failure_retries"] * config["user_code_failure_retry_delay"]
    assert waited >= 300, "a location restart (systemd RestartSec=10 + loading torch) fits many times"
    assert config["user_code_failure_retry_delay"] <= 30, "a location that is back is used again soon"


def test_missing_env_var_is_named_in_the_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = _ref(tmp_path, monkeypatch)
    monkeypatch.delenv("DAGSTER_PG_PASSWORD")
    with pytest.raises(Exception, match="DAGSTER_PG_PASSWORD"):
        dg.DagsterInstance.from_ref(ref)


@pytest.mark.postgres
def test_instance_stores_runs_events_and_pool_limits_in_postgres(deploy_home: Path, tmp_path: Path) -> None:
    @dg.asset(pool="speech")
    def speech_probe() -> dg.MaterializeResult:
        print("speech probe ran")  # captured into the compute logs on the shared mount
        return dg.MaterializeResult(metadata={"host": "test"})

    instance = dg.DagsterInstance.get()
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = dg.materialize([speech_probe], instance=instance)
        assert result.success
        run_id = result.run_id
    finally:
        instance.dispose()

    # A second process-like instance (as the webserver or a GPU box opens it) sees the same run.
    other = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(deploy_home)))
    try:
        run = other.get_run_by_id(run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        event = other.get_latest_materialization_event(dg.AssetKey("speech_probe"))
        assert event is not None and event.run_id == run_id
        # The speech pool got the configured default limit when first used.
        assert other.event_log_storage.get_concurrency_info("speech").slot_count == 1
        assert other.get_concurrency_config().run_queue_config.max_concurrent_runs >= 1
    finally:
        other.dispose()

    logs = tmp_path / "shared" / "dagster" / "compute_logs"
    captured = [p for p in logs.rglob("*") if p.is_file() and "speech probe ran" in p.read_text(errors="replace")]
    assert captured, f"step stdout not captured under DAGSTER_COMPUTE_LOG_DIR ({logs})"


def test_local_single_machine_dagster_yaml_loads(tmp_path: Path) -> None:
    """The repository-root dagster.yaml (scripts/dev, SQLite) must pass the same schema checks."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    ref = InstanceRef.from_dir(str(home))
    assert ref.run_launcher_data.class_name == "DefaultRunLauncher"
