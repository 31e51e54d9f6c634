"""The failures of `cast-pipeline run` name each episode by title and full key, even on a narrow terminal."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cast_pipeline.cli.main import app
from cast_pipeline_tests.defs.feedkit import Item, serve_feed
from cast_pipeline_tests.httpserver import LocalHTTPServer

runner = CliRunner()
TITLE = "The one whose audio is gone: a long title that would not fit a table column"


@pytest.fixture
def env(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    return tmp_path


def test_failures_show_the_title_and_the_whole_key(env: Path, http_server: LocalHTTPServer, data_dir: Path) -> None:
    url = serve_feed(http_server, "/feed.xml", "Show", [Item("ep-1", "Pasta"), Item("ep-2", TITLE, transcript=False)])
    result = runner.invoke(app, ["run", "--feed", url], terminal_width=60)  # its audio URL answers 404
    assert result.exit_code == 1, result.output
    (key,) = [p.parent.name for p in data_dir.glob("episodes/*/*/episode.json") if TITLE in p.read_text()]
    lines = [line.strip() for line in result.output.splitlines()]
    assert f"✗ {TITLE!r}" in lines
    assert key in lines  # whole, on its own line, ready to copy into `cast-pipeline transcript show`
    reason = lines[lines.index(key) + 1]
    assert reason.startswith("audio:") and "404" in reason
