"""`cast-pipeline serve` as a real process, and `cast-pipeline search` using it (or not, once it is gone)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cast_pipeline.cli.main import app
from cast_pipeline.paths import DataPaths
from cast_pipeline.serve.runtime import runtime_path
from cast_pipeline_tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow  # uses the service tests' indexed archive and starts a process
runner = CliRunner()


def _env(data: DataPaths) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAST_SERVICE")}
    return env | {"CAST_DATA_DIR": str(data.root), "PYTHONPATH": str(REPO_ROOT), "CAST_API_TOKEN": ""}


def _search_json(data: DataPaths, *args: str) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "cast_pipeline.cli.main", "search", *args, "--json"],
        env=_env(data), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return done.returncode, done.stdout, done.stderr


def test_exposing_without_a_token_is_refused(archive: DataPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAST_DATA_DIR", str(archive.root))
    monkeypatch.delenv("CAST_API_TOKEN", raising=False)
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 2
    assert "CAST_API_TOKEN" in result.output


def test_search_uses_the_running_service_and_falls_back_when_it_is_killed(
    archive_copy: DataPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAST_DATA_DIR", str(archive_copy.root))
    local = runner.invoke(app, ["search", "why do onions make you cry", "--json"])  # no service yet: local
    assert local.exit_code == 0, local.output
    server = subprocess.Popen(
        [sys.executable, "-m", "cast_pipeline.cli.main", "serve", "--port", "0"],
        env=_env(archive_copy), stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not runtime_path(archive_copy.root).exists():
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            assert time.monotonic() < deadline, "the service did not announce itself"
            time.sleep(0.1)
        url = json.loads(runtime_path(archive_copy.root).read_text())["url"]
        assert httpx.get(f"{url}/api/health", timeout=30).json()["index"]["status"] == "ok"

        via_service = _search_json(archive_copy, "why do onions make you cry")
        assert via_service[0] == 0, via_service[2]
        assert json.loads(via_service[1]) == json.loads(local.stdout)  # same results either way

        # proof that the CLI asked the service: in this process, local search would raise
        from cast_pipeline import search as search_module

        real_search = search_module.search

        monkeypatch.setattr(search_module, "search", lambda *a, **k: (_ for _ in ()).throw(AssertionError("local")))
        result = runner.invoke(app, ["search", "sourdough", "--mode", "keyword"], terminal_width=200)
        assert result.exit_code == 0, result.output
        assert "Sourdough from scratch" in result.output
        bad = runner.invoke(app, ["search", "bread", "--feed", "No Such Show"])
        assert bad.exit_code == 2 and "no indexed feed matches 'No Such Show'" in bad.output
        monkeypatch.setattr(search_module, "search", real_search)

        server.send_signal(signal.SIGKILL)  # a dead service leaves its runtime file behind
        server.wait(timeout=30)
        assert runtime_path(archive_copy.root).exists()
        after = runner.invoke(app, ["search", "why do onions make you cry", "--json"])
        assert after.exit_code == 0, after.output
        assert json.loads(after.stdout) == json.loads(local.stdout)
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)


def test_a_stopped_service_removes_its_runtime_file(archive_copy: DataPaths) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "cast_pipeline.cli.main", "serve", "--port", "0"], env=_env(archive_copy),
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not runtime_path(archive_copy.root).exists():
            assert server.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        # Stopped the moment the file appears: it is written only once uvicorn handles SIGTERM itself,
        # so even this earliest signal reaches the shutdown that removes it.
    finally:
        server.send_signal(signal.SIGTERM)  # what systemd sends
        server.wait(timeout=60)
    assert not Path(runtime_path(archive_copy.root)).exists()
