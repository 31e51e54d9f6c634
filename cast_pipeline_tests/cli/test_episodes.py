"""`cast-pipeline episodes list` and `transcript show` by key prefix or title, on a real run."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from cast_pipeline.cli.main import app
from cast_pipeline.instance import get_instance
from cast_pipeline.paths import DataPaths
from cast_pipeline.serve.library import Library
from cast_pipeline_tests.defs.feedkit import Item, serve_feed
from cast_pipeline_tests.httpserver import LocalHTTPServer

runner = CliRunner()
ITEMS = [Item("ep-1", "Pasta"), Item("ep-2", "Pasta al forno"), Item("ep-3", "Mute", transcript=False)]


@pytest.fixture
def env(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    return tmp_path


def _listed(*args: str) -> dict[str, dict]:
    result = runner.invoke(app, ["episodes", "list", "--json", *args])
    assert result.exit_code == 0, result.output
    return {row["title"]: row for row in json.loads(result.output)}


def _search_keys(text: str, *args: str) -> set[str]:
    result = runner.invoke(app, ["search", text, "--json", "--mode", "keyword", *args])
    assert result.exit_code == 0, result.output
    return {hit["episode_key"] for hit in json.loads(result.output)}


@pytest.mark.slow
def test_episodes_list_shows_status_source_and_removed_items(
    env: Path, http_server: LocalHTTPServer, data_dir: Path
) -> None:
    url = serve_feed(http_server, "/feed.xml", "Show", ITEMS)
    # Mute has no publisher transcript and its audio is a 404: the run reports the failure.
    assert runner.invoke(app, ["run", "--feed", url]).exit_code == 1
    rows = _listed()
    assert {t: r["status"] for t, r in rows.items()} == {
        "Pasta": "transcribed",
        "Pasta al forno": "transcribed",
        "Mute": "failed",
    }
    assert rows["Pasta"]["source"] == "podcast2.0:vtt" and rows["Pasta"]["published"].startswith("2023-03-06")
    assert rows["Mute"]["reason"].startswith("audio failed in run")
    assert set(_listed("--status", "failed")) == {"Mute"}
    assert _listed("--feed", http_server.url("/other.xml")) == {}
    keys = {title: row["key"] for title, row in rows.items()}

    # Every per-episode materialisation leads with the episode's title.
    instance = get_instance()
    assets = ("episode", "publisher_transcript", "audio", "local/speech_transcript", "local/speakers", "transcript")
    for asset in (*assets, "embeddings"):
        records = instance.fetch_materializations(dg.AssetKey.from_user_string(asset), limit=10).records
        assert records, asset
        for record in records:
            mat = record.asset_materialization
            assert mat is not None and next(iter(mat.metadata)) == "title", (asset, list(mat.metadata))

    assert _search_keys("forno") == {keys["Pasta al forno"]}

    # The publisher drops an item: it stays on disk, marked removed, hidden unless asked for.
    serve_feed(http_server, "/feed.xml", "Show", [ITEMS[0], ITEMS[2]], etag='"v2"')
    runner.invoke(app, ["run", "--feed", url])
    assert "Pasta al forno" not in _listed()
    rows = _listed("--include-removed")
    assert rows["Pasta al forno"]["status"] == "removed" and rows["Pasta al forno"]["source"] == "podcast2.0:vtt"
    assert set(_listed("--status", "removed")) == {"Pasta al forno"}
    table = runner.invoke(app, ["episodes", "list", "--include-removed"], terminal_width=250)
    assert table.exit_code == 0 and "3 episodes" in table.output and "removed" in table.output
    assert "2 episodes" in runner.invoke(app, ["episodes", "list"], terminal_width=250).output
    assert _search_keys("forno") == set()  # still in the index, filtered out
    assert _search_keys("forno", "--include-removed") == {keys["Pasta al forno"]}
    library = Library(DataPaths(data_dir))  # the service's search path: the same filter, include_removed=1
    assert not library.search("forno", mode="keyword")["results"]
    found = library.search("forno", mode="keyword", include_removed="1")["results"]
    assert {hit["episode_key"] for hit in found} == {keys["Pasta al forno"]}
    bad = runner.invoke(app, ["episodes", "list", "--status", "lost"])
    assert bad.exit_code == 2 and "transcribed, awaiting_transcript, needs_audio" in bad.output


def test_transcript_show_by_key_prefix_or_title(env: Path, http_server: LocalHTTPServer) -> None:
    url = serve_feed(http_server, "/feed.xml", "Show", ITEMS[:2])
    assert runner.invoke(app, ["run", "--feed", url]).exit_code == 0
    keys = {row["title"]: row["key"] for row in _listed().values()}

    by_prefix = runner.invoke(app, ["transcript", "show", keys["Pasta al forno"][:-4]])
    assert by_prefix.exit_code == 0 and by_prefix.output.startswith("# Pasta al forno")
    by_title = runner.invoke(app, ["transcript", "show", "--title", "FORNO", "--format", "txt"])
    assert by_title.exit_code == 0 and "Welcome to the show about Pasta al forno." in by_title.output

    ambiguous = runner.invoke(app, ["transcript", "show", "--title", "pasta"])
    assert ambiguous.exit_code == 1 and "2 episodes have a title containing 'pasta'" in ambiguous.output
    assert keys["Pasta"] in ambiguous.output and "Pasta al forno" in ambiguous.output
    shared = runner.invoke(app, ["transcript", "show", keys["Pasta"].split("--")[0]])
    assert shared.exit_code == 1 and "be more specific" in shared.output
    none = runner.invoke(app, ["transcript", "show", "--title", "risotto"])
    assert none.exit_code == 1 and "no episode has a title containing 'risotto'" in none.output
    both = runner.invoke(app, ["transcript", "show", keys["Pasta"], "--title", "x"])
    assert both.exit_code == 2


@pytest.mark.slow
def test_run_leaves_a_fresh_episode_awaiting_and_says_so(env: Path, http_server: LocalHTTPServer) -> None:
    fresh = (datetime.now(UTC) - timedelta(hours=1)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    url = serve_feed(http_server, "/feed.xml", "Show", [Item("new", "Brand new", transcript=False, pub=fresh)])
    result = runner.invoke(app, ["run", "--feed", url], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "awaiting a transcript (CAST_AWAIT_TRANSCRIPT_DAYS)" in result.output
    assert http_server.requests_to("/a/new.mp3") == []  # no audio download
    row = _listed()["Brand new"]
    assert row["status"] == "awaiting_transcript" and "next look" in row["reason"]
    assert datetime.fromisoformat(row["next_check"]) > datetime.now(UTC)
    table = runner.invoke(app, ["episodes", "list", "--status", "awaiting_transcript"], terminal_width=250)
    assert "Brand new" in table.output and "awaiting_transcript" in table.output
