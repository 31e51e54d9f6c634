"""`cast-pipeline feeds add` checks a feed before registering it, and says what to do next."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cast_pipeline.cli.main import app
from cast_pipeline_tests.defs.feedkit import Item, serve_feed
from cast_pipeline_tests.httpserver import LocalHTTPServer

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _registered() -> list[str]:
    return [row["url"] for row in json.loads(runner.invoke(app, ["feeds", "list", "--json"]).output)]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_good_feed_is_described_registered_and_the_next_step_offered(
    env: Path, http_server: LocalHTTPServer, data_dir: Path
) -> None:
    url = serve_feed(http_server, "/feed.xml", "Cooking Show", [Item("ep-1", "Pasta"), Item("ep-2", "Mute", False)])
    result = runner.invoke(app, ["feeds", "add", url], terminal_width=300)
    assert result.exit_code == 0, result.output
    assert "Cooking Show: 2 episodes, 1 with a publisher transcript" in result.output
    assert f"next: `cast-pipeline run --feed {url}`" in result.output and "within a minute" in result.output
    assert _registered() == [url]
    assert not (data_dir / "feeds").exists()  # nothing stored: the sensor fetches it on its next tick


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("typo-scheme", "unsupported URL scheme 'htps'"),
        ("missing-file", "no such file"),
        ("unreachable", "cannot reach 127.0.0.1"),
        ("http-404", "HTTP 404 Not Found"),
        ("html", "got an HTML page, not an RSS/Atom feed"),
        ("malformed", "check the feed"),
    ],
)
def test_a_broken_feed_is_refused_with_the_reason(
    env: Path, http_server: LocalHTTPServer, case: str, expected: str
) -> None:
    inputs = {
        "typo-scheme": "htps://example.org/feed.xml",
        "missing-file": str(env / "no-such-feed.xml"),
        "unreachable": f"http://127.0.0.1:{_closed_port()}/feed.xml",
        "http-404": http_server.url("/gone.xml"),
        "html": http_server.add("/page", "<!DOCTYPE html><html><body>Our podcast</body></html>", "text/html"),
        "malformed": http_server.add("/bad.xml", "<rss><channel><title>x</ti", "application/rss+xml"),
    }
    result = runner.invoke(app, ["feeds", "add", inputs[case]], terminal_width=300)
    assert result.exit_code == 1
    assert expected in " ".join(result.output.split()), result.output
    assert _registered() == []


def test_no_check_registers_a_feed_that_is_down_right_now(env: Path, http_server: LocalHTTPServer) -> None:
    url = http_server.url("/later.xml")
    refused = runner.invoke(app, ["feeds", "add", url])
    assert refused.exit_code == 1 and "--no-check" in refused.output
    result = runner.invoke(app, ["feeds", "add", "--no-check", url])
    assert result.exit_code == 0 and _registered() == [url]


def test_a_local_feed_file_is_checked_too(env: Path) -> None:
    feed = env / "show.xml"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Local</title>'
        "<item><title>A</title><guid>a</guid></item></channel></rss>"
    )
    result = runner.invoke(app, ["feeds", "add", "show.xml"], terminal_width=300)
    assert result.exit_code == 0 and "Local: 1 episode, 0 with a publisher transcript" in result.output


def test_adding_a_known_show_under_its_new_url_says_so(env: Path, http_server: LocalHTTPServer, data_dir: Path) -> None:
    from cast_pipeline.feeds.refresh import refresh_feed
    from cast_pipeline.paths import DataPaths
    from cast_pipeline.settings import load_settings

    data = Path(__file__).parents[1] / "feeds" / "data"
    old = http_server.add("/old.xml", (data / "same-show-old.xml").read_bytes(), "application/rss+xml")
    new = http_server.add("/new.xml", (data / "same-show-new.xml").read_bytes(), "application/rss+xml")
    assert runner.invoke(app, ["feeds", "add", old]).exit_code == 0
    refresh_feed(old, DataPaths(data_dir), load_settings())  # as the sensor's next tick does
    result = runner.invoke(app, ["feeds", "add", new], terminal_width=300)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert f"same show as {old} (podcast:guid 917393e3-1b1e-5cef-ace4-edaa54e1f810)" in said
