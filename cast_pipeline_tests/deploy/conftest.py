"""Fixtures for the deploy tests: a throwaway PostgreSQL database and a DAGSTER_HOME holding deploy/dagster.yaml."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import pytest

from cast_pipeline_tests.deploy.deploykit import DAGSTER_YAML

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _unavailable(reason: str) -> None:
    """Skip locally, fail under CI: CI's .ci/run starts PostgreSQL, so its absence there is a bug."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL needed under CI: {reason}")
    pytest.skip(f"PostgreSQL not available ({reason}); set CAST_TEST_POSTGRES_URL")


@pytest.fixture
def pg_env() -> Iterator[dict[str, str]]:
    """DAGSTER_PG_* for a fresh database ``cast_deploy_test_<random>``, dropped afterwards."""
    import psycopg2

    url = os.environ.get("CAST_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    parts = urlsplit(url)
    try:
        admin = psycopg2.connect(url, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        _unavailable(f"cannot connect to {parts.hostname}:{parts.port or 5432}: {str(exc).strip()}")
    admin.autocommit = True
    name = f"cast_deploy_test_{secrets.token_hex(6)}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {
            "DAGSTER_PG_HOST": parts.hostname or "127.0.0.1",
            "DAGSTER_PG_PORT": str(parts.port or 5432),
            "DAGSTER_PG_USER": unquote(parts.username or "postgres"),
            "DAGSTER_PG_PASSWORD": unquote(parts.password or ""),
            "DAGSTER_PG_DB": name,
            "CAST_TEST_DATABASE_URL": urlunsplit(parts._replace(path=f"/{name}")),
        }
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


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
