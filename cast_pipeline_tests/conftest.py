"""Fixtures shared by the whole suite: real HTTP server, temp data dirs, shared test data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cast_pipeline.paths import DataPaths
from cast_pipeline_tests.httpserver import LocalHTTPServer

REPO_ROOT = Path(__file__).resolve().parents[1]
# ../shared next to the checkout; CAST_SHARED_DIR overrides (CI clones main with shared/ beside it).
SHARED_DIR = Path(os.environ.get("CAST_SHARED_DIR", REPO_ROOT.parent / "shared"))
SHARED_DATA = SHARED_DIR / "data"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
# Tests never ask the real Pocket Casts API; its tests switch it on against a local stand-in.
os.environ.setdefault("CAST_POCKETCASTS", "off")


def require_shared() -> Path:
    """The shared test data folder; under CI its absence is an error, elsewhere a skip."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI") == "true":
            raise RuntimeError(f"shared test data missing at {SHARED_DATA} (set CAST_SHARED_DIR)")
        pytest.skip(f"shared test data not found at {SHARED_DATA}; set CAST_SHARED_DIR")
    return SHARED_DATA


@pytest.fixture
def shared_data() -> Path:
    return require_shared()


@pytest.fixture
def http_server() -> Iterator[LocalHTTPServer]:
    server = LocalHTTPServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh CAST_DATA_DIR for the test (and a feeds file that does not exist yet)."""
    root = tmp_path / "data"
    monkeypatch.setenv("CAST_DATA_DIR", str(root))
    monkeypatch.setenv("CAST_FEEDS_FILE", str(tmp_path / "feeds.yaml"))
    return root


@pytest.fixture
def paths(data_dir: Path) -> DataPaths:
    return DataPaths(data_dir)
