"""`cast-pipeline` as a user runs it: help, feeds, run, transcript show."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cast_pipeline.cli.main import app
from cast_pipeline.settings import SETTINGS
from cast_pipeline_tests.conftest import DemoRun
from cast_pipeline_tests.defs.feedkit import Item, serve_feed
from cast_pipeline_tests.httpserver import LocalHTTPServer

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    return tmp_path


def test_help_lists_every_setting() -> None:
    result = runner.invoke(app, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    for setting in SETTINGS.values():
        assert setting.env in result.output
    assert "DAGSTER_HOME" in result.output


def test_feeds_add_list_remove(env: Path, http_server: LocalHTTPServer) -> None:
    url = serve_feed(http_server, "/feed.xml", "Show", [Item("ep-1", "One")])
    assert runner.invoke(app, ["feeds", "add", url]).exit_code == 0
    again = runner.invoke(app, ["feeds", "add", url])
    assert "already registered" in again.output
    listed = json.loads(runner.invoke(app, ["feeds", "list", "--json"]).output)
    assert [row["url"] for row in listed] == [url]
    assert runner.invoke(app, ["feeds", "remove", url]).exit_code == 0
    assert json.loads(runner.invoke(app, ["feeds", "list", "--json"]).output) == []
    missing = runner.invoke(app, ["feeds", "remove", url])
    assert missing.exit_code == 1 and "not registered" in missing.output


def test_feeds_add_resolves_an_apple_podcasts_url(
    env: Path, http_server: LocalHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed_url = serve_feed(http_server, "/real-feed.xml", "Show", [Item("ep-1", "One")])
    lookup = {
        "resultCount": 1,
        "results": [{"wrapperType": "track", "kind": "podcast", "collectionId": 123456789, "feedUrl": feed_url}],
    }
    monkeypatch.setenv("CAST_ITUNES_LOOKUP_URL", http_server.add("/lookup", json.dumps(lookup), "application/json"))
    result = runner.invoke(app, ["feeds", "add", "https://podcasts.apple.com/us/podcast/some-show/id123456789"])
    assert result.exit_code == 0, result.output
    assert feed_url in result.output
    assert http_server.requests_to("/lookup")[0].path.endswith("id=123456789&entity=podcast")


def test_run_processes_new_episodes_then_nothing(env: Path, http_server: LocalHTTPServer, shared_data: Path) -> None:
    url = serve_feed(http_server, "/feed.xml", "Show", [Item("ep-1", "Pasta"), Item("ep-2", "Mute", transcript=False)])
    http_server.add_file("/a/ep-2.mp3", shared_data / "audio" / "jfk.wav", "audio/wav")  # Mute's enclosure
    first = runner.invoke(app, ["run", "--feed", url], terminal_width=200)
    assert first.exit_code == 0, first.output
    assert "transcript from publisher" in first.output and "transcribed from audio" in first.output
    second = runner.invoke(app, ["run"], terminal_width=200)
    assert second.exit_code == 0, second.output
    assert "new episodes" in second.output
    lines = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in second.output.splitlines()
        if line.count("│") == 3
    }
    assert lines["new episodes"] == "0" and lines["episodes processed"] == "0"


def test_run_reports_a_broken_feed_and_fails(env: Path, http_server: LocalHTTPServer) -> None:
    good = serve_feed(http_server, "/feed.xml", "Show", [Item("ep-1", "Pasta")])
    bad = http_server.add("/bad.xml", "<html>nope</html>", "text/html")
    result = runner.invoke(app, ["run", "--feed", good, "--feed", bad], terminal_width=200)
    assert result.exit_code == 1
    assert bad in result.output and "transcript from publisher" in result.output


def test_transcript_show_every_format(env: Path, http_server: LocalHTTPServer, data_dir: Path) -> None:
    url = serve_feed(http_server, "/feed.xml", "Show", [Item("ep-1", "Pasta")])
    assert runner.invoke(app, ["run", "--feed", url]).exit_code == 0
    key = next((data_dir / "episodes").glob("*/*")).name
    outputs = {
        fmt: runner.invoke(app, ["transcript", "show", key, "--format", fmt])
        for fmt in ("md", "srt", "vtt", "json", "txt")
    }
    assert all(r.exit_code == 0 for r in outputs.values())
    assert outputs["md"].output.startswith("# Pasta")
    assert outputs["vtt"].output.startswith("WEBVTT")
    assert "00:00:00,000 --> " in outputs["srt"].output
    assert json.loads(outputs["json"].output)["segments"][0]["speaker"] == "Alice"
    assert "Welcome to the show about Pasta." in outputs["txt"].output
    bad = runner.invoke(app, ["transcript", "show", key, "--format", "docx"])
    assert bad.exit_code == 2 and "md, srt" in bad.output
    unknown = runner.invoke(app, ["transcript", "show", "nope-12345678--x-0000000000"])
    assert unknown.exit_code == 1 and "cast-pipeline run" in unknown.output


@pytest.mark.slow
def test_installed_command_runs_the_demo_from_another_directory(demo_run: DemoRun) -> None:
    """The README's main command path: the repo's demo feeds, offline, run from a foreign cwd (conftest
    ``demo_run``, shared with the notebooks test)."""
    result, project = demo_run.result, demo_run.project
    assert result.returncode == 0, result.stdout + result.stderr
    assert (project / ".dagster_home" / "dagster.yaml").exists()
    markdown = list((project / "data" / "episodes").glob("*/*/transcript.md"))
    assert len(markdown) >= 3
    assert "transcript from publisher" in result.stderr
    assert "transcribed from audio" in result.stderr  # the demo's speech-only feed, on this CPU
