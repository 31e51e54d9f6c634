"""Fixtures shared by the whole suite: real HTTP server, temp data dirs, shared test data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
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
# Everything else is spread over the workers, test by test. Without -n this changes nothing.
# The groups are given by path here, not by xdist_group marks: with pytest 9.2, xdist no longer sees
# those marks (pytest-xdist issue #1386: the node-id suffix it relies on is lost), so the scheduler below
# asks this table instead. A group is one unit of work, so keep groups much shorter than the whole run.
XDIST_GROUPS = {
    "cast_pipeline_tests/deploy/": "deploy",
    "cast_pipeline_tests/cli/test_run_faults.py": "deploy",
    "cast_pipeline_tests/serve/": "archive",
    "cast_pipeline_tests/cli/test_serve.py": "archive",
    "cast_pipeline_tests/cli/test_coldstart.py": "archive",
    "cast_pipeline_tests/search/": "corpus",
    "cast_pipeline_tests/cli/test_main.py": "demo",
    "cast_pipeline_tests/notebooks/": "demo",
    "cast_pipeline_tests/fleet/": "fleet",  # module-scoped Redis servers on fixed ports 6391-6394
}


def xdist_group(nodeid: str) -> str | None:
    """The group of a test by its node id (relative to the repository root), or None."""
    return next((group for prefix, group in XDIST_GROUPS.items() if nodeid.startswith(prefix)), None)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """``--dist loadgroup`` with the groups of XDIST_GROUPS (and any xdist_group mark xdist does see)."""
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class PathGroupScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return scope if scope != nodeid else xdist_group(nodeid) or nodeid

    return PathGroupScheduling(config, log)  # type: ignore[arg-type]


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


@dataclass(frozen=True)
class DemoRun:
    project: Path  # the project folder: demo/, feeds.yaml, and what the run made (data/, .dagster_home/)
    result: subprocess.CompletedProcess[str]


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The README's main command path, once per session: the repo's demo feeds and feeds.yaml copied to a
    temp project folder and ``cast-pipeline run`` (the installed command) run there, offline, with the
    default settings (./data, ./.dagster_home: every CAST_* and DAGSTER_HOME variable removed, except the
    session's CAST_CACHE_DIR). Read-only for tests: the run is checked by cli/test_main.py and its data
    read by the notebooks."""
    project = tmp_path_factory.mktemp("demo-project")
    shutil.copytree(REPO_ROOT / "demo", project / "demo")
    shutil.copy(REPO_ROOT / "feeds.yaml", project / "feeds.yaml")
    env = {k: v for k, v in os.environ.items() if k == "CAST_CACHE_DIR" or not k.startswith(("CAST_", "DAGSTER_HOME"))}
    command = [str(Path(sys.executable).with_name("cast-pipeline")), "run"]
    result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=600)
    return DemoRun(project, result)
