"""`cast-pipeline search` after `cast-pipeline run`: ranked hits for people, JSON for programs, clear errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef
from typer.testing import CliRunner

from cast_pipeline.cli.main import app
from cast_pipeline_tests.defs.feedkit import Item, serve_feed
from cast_pipeline_tests.httpserver import LocalHTTPServer

pytestmark = pytest.mark.slow  # one module setup runs the pipeline twice (~15 s with the model load)
runner = CliRunner()
ITEMS = [
    Item("ep-1", "Pasta", pub="Mon, 06 Mar 2023 10:00:00 GMT"),
    Item("ep-2", "Rockets", pub="Mon, 05 Jun 2023 10:00:00 GMT"),
]


@dataclass
class Demo:
    root: Path
    feed_url: str
    first_run: str
    second_run: str


def _table(output: str) -> dict[str, str]:
    """The rows of the run summary table: what -> count."""
    return {
        line.split("│")[1].strip(): line.split("│")[2].strip() for line in output.splitlines() if line.count("│") == 3
    }


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """Two episodes with publisher transcripts, through `cast-pipeline run` (twice) in a temp home."""
    root = tmp_path_factory.mktemp("cli-search")
    server = LocalHTTPServer().start()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("DAGSTER_HOME", str(root / "home"))
            mp.setenv("CAST_DATA_DIR", str(root / "data"))
            mp.setenv("CAST_FEEDS_FILE", str(root / "feeds.yaml"))
            mp.delenv("CAST_EMBEDDING_MODEL", raising=False)
            url = serve_feed(server, "/feed.xml", "Show", ITEMS)
            first = runner.invoke(app, ["run", "--feed", url], terminal_width=200)
            assert first.exit_code == 0, first.output
            second = runner.invoke(app, ["run", "--feed", url], terminal_width=200)
            assert second.exit_code == 0, second.output
            yield Demo(root, url, first.output, second.output)
    finally:
        server.stop()


@pytest.fixture
def env(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> Demo:
    monkeypatch.setenv("DAGSTER_HOME", str(demo.root / "home"))
    monkeypatch.setenv("CAST_DATA_DIR", str(demo.root / "data"))
    return demo


def test_run_makes_the_new_episodes_searchable_and_reindexes_only_on_change(env: Demo) -> None:
    assert _table(env.first_run)["episodes searchable"] == "2"
    assert _table(env.second_run)["episodes searchable"] == "2"  # nothing changed: no index run
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(env.root / "home"))) as instance:
        index_runs = [r for r in instance.get_runs() if r.job_name == "search_index_job"]
        assert len(index_runs) == 1 and index_runs[0].status == dg.DagsterRunStatus.SUCCESS
        assert index_runs[0].tags["cast/launched_by"] == "cast-pipeline run"


def test_search_prints_title_hits_first_then_phrases_with_time_link_and_match(env: Demo) -> None:
    result = runner.invoke(app, ["search", "pasta", "--limit", "3"], terminal_width=200)
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.output.splitlines() if line.strip()]
    assert lines[0] == "3 results for 'pasta' (hybrid)"
    assert lines[1].startswith("1.  EPISODE  Pasta — Show · 2023-03-06")
    assert lines[2].startswith("**Pasta**")  # no colours in a pipe: the match is marked with **
    assert lines[3] == f"▶ {env.feed_url.rsplit('/', 1)[0]}/a/ep-1.mp3"
    assert lines[4] == "2. Pasta — Show · 2023-03-06 · 00:00:00 · matched by keyword + meaning"
    assert lines[5] == "Alice: Welcome to the show about **Pasta**."  # who said it
    assert lines[6].endswith("/a/ep-1.mp3#t=0")
    assert "Rockets" not in result.output


def test_search_json_is_one_object_per_hit(env: Demo) -> None:
    result = runner.invoke(app, ["search", "rocket launches", "--json", "--mode", "semantic"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.output)
    assert hits and {h["result_type"] for h in hits} == {"segment"}  # semantic mode: phrases only
    assert {h["title"] for h in hits} == {"Rockets"}
    assert all(h["matched_by"] == "meaning" and h["play_url"].endswith(f"#t={int(h['start'])}") for h in hits)
    assert hits[0]["published"].startswith("2023-06-05") and hits[0]["timestamp"] == "00:00:00"


def test_filters_and_errors_are_clear(env: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    later = runner.invoke(app, ["search", "pasta", "--since", "2023-04-01", "--mode", "keyword"])
    assert later.exit_code == 0 and later.output.strip() == "no results for 'pasta' (keyword)"
    by_feed = runner.invoke(app, ["search", "rockets", "--feed", "show", "--json", "-m", "keyword"])
    assert by_feed.exit_code == 0 and {h["title"] for h in json.loads(by_feed.output)} == {"Rockets"}
    unknown = runner.invoke(app, ["search", "pasta", "--feed", "Nope"])
    assert unknown.exit_code == 2 and "no indexed feed matches 'Nope'" in unknown.output and "Show" in unknown.output
    bad_mode = runner.invoke(app, ["search", "pasta", "--mode", "fuzzy"])
    assert bad_mode.exit_code == 2

    monkeypatch.setenv("CAST_DATA_DIR", str(tmp_path / "empty"))
    missing = runner.invoke(app, ["search", "pasta"])
    assert missing.exit_code == 1
    assert "cannot search: no search index" in missing.output and "cast-pipeline run" in missing.output
