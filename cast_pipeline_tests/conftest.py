"""Fixtures shared by the whole suite: real HTTP server, temp data dirs, shared test data."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from cast_pipeline.paths import DataPaths
from cast_pipeline_tests.httpserver import LocalHTTPServer

if TYPE_CHECKING:
    from cast_pipeline.search import Embedder

REPO_ROOT = Path(__file__).resolve().parents[1]
# ../shared next to the checkout; CAST_SHARED_DIR overrides (CI clones main with shared/ beside it).
SHARED_DIR = Path(os.environ.get("CAST_SHARED_DIR", REPO_ROOT.parent / "shared"))
SHARED_DATA = SHARED_DIR / "data"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
# Tests never ask the real Pocket Casts API; its tests switch it on against a local stand-in.
os.environ.setdefault("CAST_POCKETCASTS", "off")


# --- parallel runs (pytest-xdist, `-n 2 --dist loadgroup` in scripts/test) -------------------------------
# Tests of one group run one after the other on the same worker. Groups keep together the tests that
# must not overlap each other (the deploy and fault tests: fixed gRPC ports from deploy/workspace.yaml,
# kills and timing) and the tests that share an expensive session fixture, so that it is built once.
# Everything else is spread over the workers. Without -n the markers change nothing.
XDIST_GROUPS = {
    "deploy/": "deploy",
    "cli/test_run_faults.py": "deploy",
    "serve/": "archive",
    "cli/test_serve.py": "archive",
    "cli/test_coldstart.py": "archive",
    "search/": "corpus",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        relative = Path(item.path).relative_to(Path(__file__).parent).as_posix()
        for prefix, group in XDIST_GROUPS.items():
            if relative.startswith(prefix):
                item.add_marker(pytest.mark.xdist_group(group))
                break


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


# --- expensive things built once per session ---------------------------------------------------------
# Defined here, not in the search/ and serve/ conftests, so that every test directory shares one
# instance: a fixture defined in two conftests (or re-exported into a test module) is built once per
# definition. Imports are inside the fixtures so that a run of, say, the transcripts tests does not
# pay for importing sentence-transformers and LanceDB. Under pytest-xdist, "session" means once per
# worker process.


@pytest.fixture(scope="session", autouse=True)
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """CAST_CACHE_DIR for the whole session (and the processes tests start with this environment): the
    ONNX export of the query encoder (tens of seconds with torch) happens once per session, in a temp
    folder rather than the user's ~/.cache, and is reused by every test that searches."""
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CAST_CACHE_DIR", str(folder))
        yield folder


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The bundled all-MiniLM-L6-v2 (sentence-transformers), loaded once."""
    from cast_pipeline.search import load_embedder
    from cast_pipeline.search.embeddings import BUNDLED_MODEL

    return load_embedder(BUNDLED_MODEL)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> DataPaths:
    """The search test corpus (search/corpus.py) embedded and indexed for real: episode snapshots,
    embeddings, LanceDB index and analytics snapshot. Read-only for tests: use ``corpus_copy`` to change it."""
    from cast_pipeline.search import update_index
    from cast_pipeline_tests.search.conftest import write_corpus

    paths = DataPaths(tmp_path_factory.mktemp("corpus") / "data")
    update_index(paths, write_corpus(paths, embedder))
    return paths


@pytest.fixture
def corpus_copy(corpus: DataPaths, tmp_path: Path) -> DataPaths:
    """A private copy of the indexed corpus that a test may change."""
    return DataPaths(Path(shutil.copytree(corpus.root, tmp_path / "data")))


@pytest.fixture(scope="session")
def archive(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> DataPaths:
    """The data directory as the pipeline leaves it for the service (serve/conftest.py write_archive):
    catalog, snapshots, transcripts with speakers, embeddings, index. Read-only: use ``archive_copy``."""
    from cast_pipeline_tests.serve.conftest import write_archive

    paths = DataPaths(tmp_path_factory.mktemp("archive") / "data")
    write_archive(paths, embedder)
    return paths


@pytest.fixture
def archive_copy(archive: DataPaths, tmp_path: Path) -> DataPaths:
    """A private copy of ``archive`` that a test may change."""
    return DataPaths(Path(shutil.copytree(archive.root, tmp_path / "data")))
