"""A cold `cast-pipeline search` imports LanceDB without its REST client and still finds the same hits."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cast_pipeline.cli.search import records
from cast_pipeline.paths import DataPaths
from cast_pipeline.search import search
from cast_pipeline.search.embeddings import BUNDLED_MODEL
from cast_pipeline.search.onnx_encoder import load_query_encoder
from cast_pipeline_tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow  # uses the service tests' indexed archive and a fresh process
SNIPPET = """
import json, sys
sys.argv = ["cast-pipeline", "search", "why do onions make you cry", "--json"]
from cast_pipeline.cli.main import app
try:
    app()
except SystemExit as exit:
    assert not exit.code, exit.code
watched = ("dagster", "torch", "scipy", "lance_namespace_urllib3_client")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in watched)))
"""


def test_cold_search_skips_dagster_torch_speakers_and_the_rest_client(archive: DataPaths) -> None:
    load_query_encoder(BUNDLED_MODEL)  # the first use exports the ONNX model (with torch); cold runs reuse it
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAST_SERVICE")}
    env |= {"CAST_DATA_DIR": str(archive.root), "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-c", SNIPPET], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    *hits, modules = done.stdout.strip().splitlines()
    assert json.loads("\n".join(hits)) == records(search("why do onions make you cry", paths=archive))
    loaded = json.loads(modules)
    assert not [m for m in loaded if m.startswith(("dagster", "torch", "scipy"))]  # scipy: the speakers stack
    assert "lance_namespace_urllib3_client.api" not in loaded
    assert "lance_namespace_urllib3_client.models" in loaded  # what LanceDB needs is still there
