"""Fixtures for the deploy tests: a throwaway PostgreSQL database and a DAGSTER_HOME holding deploy/dagster.yaml."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from cast_pipeline_tests.deploy.deploykit import DAGSTER_YAML, throwaway_database


def _unavailable(reason: str) -> None:
    """Skip locally, fail under CI: CI's .ci/run starts PostgreSQL, so its absence there is a bug."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL needed under CI: {reason}")
    pytest.skip(f"PostgreSQL not available ({reason}); set CAST_TEST_POSTGRES_URL")


@pytest.fixture
def pg_env() -> Iterator[dict[str, str]]:
    """DAGSTER_PG_* for a fresh database ``cast_deploy_test_<random>``, dropped afterwards."""
    import psycopg2

    with contextlib.ExitStack() as stack:
        try:
            env = stack.enter_context(throwaway_database("cast_deploy_test"))
        except psycopg2.OperationalError as exc:
            _unavailable(f"cannot connect to {os.environ.get('CAST_TEST_POSTGRES_URL')}: {str(exc).strip()}")
        yield env


@pytest.fixture
def deploy_home(tmp_path: Path, pg_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DAGSTER_HOME with deploy/dagster.yaml, its env vars pointing at the throwaway database."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DAGSTER_YAML, home / "dagster.yaml")
    for key, value in pg_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_COMPUTE_LOG_DIR", str(tmp_path / "shared" / "dagster" / "compute_logs"))
    monkeypatch.setenv("DAGSTER_ARTIFACT_DIR", str(tmp_path / "shared" / "dagster" / "artifacts"))
    return home
