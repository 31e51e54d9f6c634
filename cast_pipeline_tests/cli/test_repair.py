"""`cast-pipeline run` trusts the files: deleted or damaged episode files and a damaged search index are
found, named (by title, in one line) and re-made; `cast-pipeline doctor` reports each with its fix."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef
from typer.testing import CliRunner

from cast_pipeline.cli.main import app
from cast_pipeline.defs.storage.records import recorded_metadata
from cast_pipeline.integrity import fingerprint_file
from cast_pipeline.paths import DataPaths
from cast_pipeline.search import remove_episodes, store
from cast_pipeline_tests.defs.feedkit import Item, serve_feed
from cast_pipeline_tests.httpserver import LocalHTTPServer

pytestmark = pytest.mark.slow  # the module runs the pipeline once (~15 s), each test runs it again
runner = CliRunner()
ITEMS = [Item("ep-1", "Pasta"), Item("ep-2", "Rockets")]


@dataclass
class Archive:
    """A copy of a processed archive (Dagster home + data) the test may damage."""

    root: Path
    feed_url: str

    @property
    def data(self) -> Path:
        return self.root / "data"

    def episode_dir(self, title: str) -> Path:
        for folder in (self.data / "episodes").glob("*/*"):
            if json.loads((folder / "episode.json").read_text(encoding="utf-8"))["title"] == title:
                return folder
        raise AssertionError(f"no episode titled {title}")

    def materialisations(self, asset: str) -> int:
        with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(self.root / "home"))) as instance:
            return len(instance.fetch_materializations(dg.AssetKey(asset), limit=100).records)


def _cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), terminal_width=200)
    return result.exit_code, result.output


def _searchable(output: str) -> str:
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip() for line in output.splitlines() if line.count("│") == 3
    }
    return rows["episodes searchable"]


def _titles(query: str) -> set[str]:
    code, output = _cli("search", query, "--json", "--mode", "keyword")
    assert code == 0, output
    return {hit["title"] for hit in json.loads(output)}


@pytest.fixture(scope="module")
def processed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    root = tmp_path_factory.mktemp("repair")
    server = LocalHTTPServer().start()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("DAGSTER_HOME", str(root / "home"))
            mp.setenv("CAST_DATA_DIR", str(root / "data"))
            mp.setenv("CAST_FEEDS_FILE", str(root / "feeds.yaml"))
            mp.delenv("CAST_EMBEDDING_MODEL", raising=False)
            url = serve_feed(server, "/feed.xml", "Show", ITEMS)
            code, output = _cli("run", "--feed", url)
            assert code == 0, output
        yield Archive(root, url)
    finally:
        server.stop()


@pytest.fixture
def archive(processed: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Archive:
    copy = Archive(Path(shutil.copytree(processed.root, tmp_path / "archive")), processed.feed_url)
    monkeypatch.setenv("DAGSTER_HOME", str(copy.root / "home"))
    monkeypatch.setenv("CAST_DATA_DIR", str(copy.data))
    monkeypatch.setenv("CAST_FEEDS_FILE", str(copy.root / "feeds.yaml"))
    return copy


def test_doctor_on_a_healthy_archive_exits_0(archive: Archive) -> None:
    code, output = _cli("doctor")
    assert code == 0, output
    assert "[ok] episodes: 2 episodes" in output and "[ok] search index" in output and "healthy" in output
    code, output = _cli("doctor", "--json")
    assert code == 0 and {f["severity"] for f in json.loads(output)} == {"ok"}


def test_every_written_file_is_fingerprinted_in_its_materialisation(archive: Archive) -> None:
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(archive.root / "home"))) as instance:
        assets = [dg.AssetKey(a) for a in ("episode", "publisher_transcript", "transcript", "embeddings")]
        recorded = recorded_metadata(instance, assets)
    assert len(recorded) == 2
    for key, by_asset in recorded.items():
        folder = archive.episode_dir(by_asset["episode"]["title"])
        assert folder.name == key
        written = {name: fp for metadata in by_asset.values() for name, fp in metadata["files"].items()}
        assert sorted(written) == sorted(
            [
                "episode.json",
                "publisher.json",
                "publisher.raw.vtt",
                "transcript.json",
                "transcript.md",
                "embeddings.parquet",
            ]
        )
        assert all(fingerprint_file(folder / name) == fp for name, fp in written.items())


def test_deleted_embeddings_are_re_made_by_the_next_run(archive: Archive) -> None:
    (archive.episode_dir("Rockets") / "embeddings.parquet").unlink()
    code, output = _cli("doctor")
    assert code == 1
    assert "Rockets" in output and "embeddings.parquet missing" in output and "run --repair" in output

    embedded = archive.materialisations("embeddings")
    code, output = _cli("run")
    assert code == 0, output
    assert "repaired: Rockets: embeddings.parquet missing -> re-made embeddings" in output
    assert _searchable(output) == "2"
    assert (archive.episode_dir("Rockets") / "embeddings.parquet").is_file()
    assert archive.materialisations("embeddings") == embedded + 1  # exactly that one, recorded in Dagster
    assert _titles("rockets") == {"Rockets"}
    code, output = _cli("doctor")
    assert code == 0, output


def test_truncated_transcript_is_named_then_rebuilt_by_the_cheap_check(archive: Archive) -> None:
    transcript = archive.episode_dir("Pasta") / "transcript.json"
    transcript.write_bytes(transcript.read_bytes()[:40])
    code, output = _cli("transcript", "show", archive.episode_dir("Pasta").name)
    assert code == 1 and str(transcript) in output and "cast-pipeline run --repair" in output
    assert "'Pasta'" in output and "Traceback" not in output

    code, output = _cli("run")
    assert code == 0, output
    assert "repaired: Pasta: transcript.json 40 bytes" in output and "re-made embeddings, transcript" in output
    code, output = _cli("transcript", "show", archive.episode_dir("Pasta").name, "--format", "txt")
    assert code == 0 and "Welcome to the show about Pasta." in output


def test_same_size_damage_is_found_by_run_repair(archive: Archive) -> None:
    transcript = archive.episode_dir("Pasta") / "transcript.json"
    transcript.write_bytes(b" " * transcript.stat().st_size)
    code, output = _cli("run")  # the cheap check compares sizes only
    assert code == 0 and "repaired" not in output
    code, output = _cli("run", "--repair")
    assert code == 0, output
    assert "repaired: Pasta: transcript.json content differs from the fingerprint" in output
    assert json.loads(transcript.read_text(encoding="utf-8"))["segments"]


def test_garbage_manifest_is_one_line_in_search_then_rebuilt_by_run(archive: Archive) -> None:
    (archive.data / "search" / store.MANIFEST).write_text("{garbage", encoding="utf-8")
    code, output = _cli("search", "pasta")
    assert code == 1 and "Traceback" not in output
    assert output.count("\n") == 1 and "manifest" in output and "cast-pipeline doctor --fix" in output

    code, output = _cli("run")
    assert code == 0, output
    [damaged] = [line for line in output.splitlines() if "search index damaged" in line]  # one line
    assert "manifest.json is damaged" in damaged and "Traceback" not in output and _searchable(output) == "2"
    assert _titles("pasta") == {"Pasta"}
    code, output = _cli("run")  # and the next run finds nothing wrong
    assert code == 0 and "damaged" not in output


def test_garbage_in_a_lancedb_file_is_rebuilt_by_doctor_fix(archive: Archive) -> None:
    manifest = store.read_manifest(DataPaths(archive.data))
    assert manifest is not None
    data_file = next((archive.data / "search" / manifest.generation / "segments.lance" / "data").glob("*.lance"))
    data_file.write_bytes(b"not a lance file")
    code, output = _cli("search", "pasta")
    assert code == 1 and output.count("\n") == 1 and "LanceDB" in output and "Traceback" not in output

    code, output = _cli("doctor")
    assert code == 1 and "[error] search index" in output and "doctor --fix" in output
    code, output = _cli("doctor", "--fix")
    assert code == 0, output
    assert "[fixed] search index" in output
    assert _titles("rockets") == {"Rockets"}
    code, output = _cli("doctor")
    assert code == 0, output


def test_index_rows_that_differ_from_the_embeddings_are_named_then_rebuilt(archive: Archive) -> None:
    key = archive.episode_dir("Pasta").name
    remove_episodes(DataPaths(archive.data), [key])  # rows gone behind the index's bookkeeping
    code, output = _cli("doctor")
    assert code == 1 and "rows differ from the embeddings" in output and key in output
    code, output = _cli("doctor", "--fix")
    assert code == 0, output
    assert "[fixed] search index" in output and _titles("pasta") == {"Pasta"}


def test_doctor_names_orphans_and_crash_leftovers_and_fix_removes_the_leftovers(archive: Archive) -> None:
    pasta = archive.episode_dir("Pasta")
    orphan = pasta.parent / f"{pasta.parent.name}--gone-0123456789"
    orphan.mkdir()
    leftover = pasta / ".transcript.json.x1y2.tmp"
    leftover.write_text("half", encoding="utf-8")
    os.utime(leftover, (time.time() - 7200, time.time() - 7200))
    code, output = _cli("doctor", "--json")
    assert code == 1
    findings = {f["subject"]: f for f in json.loads(output)}
    assert findings[str(orphan)]["area"] == "orphaned files" and "cast-pipeline run" in findings[str(orphan)]["fix"]
    assert "doctor --fix" in findings[str(leftover)]["fix"]
    code, output = _cli("doctor", "--fix")
    assert not leftover.exists() and orphan.is_dir()  # never deletes episode data by itself
    assert code == 1 and "[fixed] orphaned files" in output and "[warning] orphaned files" in output
