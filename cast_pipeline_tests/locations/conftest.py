"""A throwaway PostgreSQL database per test, for instances shared by several processes."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a fresh database ``cast_locations_test_<random>`` (dropped afterwards).

    Skips when PostgreSQL is unreachable, except under CI (CI=true), where that is a failure.
    """
    import psycopg2

    url = os.environ.get("CAST_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    parts = urlsplit(url)
    try:
        admin = psycopg2.connect(url, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        reason = f"PostgreSQL not reachable at {parts.hostname}:{parts.port or 5432} ({str(exc).strip()})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must provide it (CAST_TEST_POSTGRES_URL)")
        pytest.skip(f"{reason}; set CAST_TEST_POSTGRES_URL")
    admin.autocommit = True
    name = f"cast_locations_test_{secrets.token_hex(6)}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
