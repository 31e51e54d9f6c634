"""Episode files against what their assets recorded: the cheap check (stat) and the full one (hash, parse)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from cast_pipeline.feeds.model import Episode
from cast_pipeline.feeds.snapshot import save_episode
from cast_pipeline.integrity import (
    FILES,
    check_file,
    expected_files,
    files_metadata,
    fingerprint_file,
    orphaned_episode_dirs,
    stale_temp_files,
    verify_episode,
)
from cast_pipeline.paths import DataPaths, write_text_atomic
from cast_pipeline.segments import Segment, segments_to_json

KEY = "example-org-feed-1a2b3c4d--ep-1-0123456789"


@pytest.fixture
def episode(paths: DataPaths) -> dict[str, dict]:
    """An episode with episode.json and transcript.json written, and the metadata their assets record."""
    feed = KEY.split("--")[0]
    save_episode(paths, Episode(KEY, feed, "https://example.org/feed", "Show", "ep-1", "Pasta"))
    text = segments_to_json([Segment(0.0, 2.5, "Welcome to the show about pasta.")], episode_key=KEY)
    write_text_atomic(paths.episode_file(KEY, "transcript.json"), text)
    folder = paths.episode_dir(KEY)
    return {
        "episode": {"title": "Pasta", **files_metadata(folder, ["episode.json"])},
        "transcript": {"title": "Pasta", "status": "ready", **files_metadata(folder, ["transcript.json"])},
    }


def test_fingerprint_is_size_and_sha256_of_the_content(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 3_000_000)  # more than one read chunk
    assert fingerprint_file(path) == {"bytes": 3_000_000, "sha256": hashlib.sha256(b"x" * 3_000_000).hexdigest()}
    assert files_metadata(tmp_path, ["f.bin", "absent.json"]) == {FILES: {"f.bin": fingerprint_file(path)}}


def test_records_without_fingerprints_expect_files_by_status() -> None:
    assert expected_files("transcript", {"status": "ready"}) == {"transcript.json": None, "transcript.md": None}
    assert expected_files("transcript", {"status": "awaiting_audio"}) == {}
    assert expected_files("embeddings", {"status": "unchanged"}) == {"embeddings.parquet": None}
    assert expected_files("embeddings", {"status": "no_transcript"}) == {}
    assert expected_files("local/speech_transcript", {"status": "transcribed"}) == {"speech-local.json": None}
    assert expected_files("gpu/speech_transcript", {"status": "not_needed"}) == {}
    assert expected_files("episode", {}) == {"episode.json": None}
    assert expected_files("audio", {"status": "downloaded"}) == {}  # audio may be deleted once transcribed
    recorded = {"bytes": 10, "sha256": "ab"}
    assert expected_files("transcript", {"status": "ready", FILES: {"transcript.json": recorded}}) == {
        "transcript.json": recorded
    }


def test_intact_files_pass_both_checks(paths: DataPaths, episode: dict[str, dict]) -> None:
    assert verify_episode(paths, KEY, episode, full=False) == []
    assert verify_episode(paths, KEY, episode, full=True) == []


def test_deleted_and_truncated_files_are_caught_by_the_cheap_check(paths: DataPaths, episode: dict) -> None:
    paths.episode_file(KEY, "episode.json").unlink()
    transcript = paths.episode_file(KEY, "transcript.json")
    os.truncate(transcript, 20)
    problems = {(p.asset, p.file): p for p in verify_episode(paths, KEY, episode, full=False)}
    assert set(problems) == {("episode", "episode.json"), ("transcript", "transcript.json")}
    assert problems["episode", "episode.json"].problem == "missing"
    assert "20 bytes" in problems["transcript", "transcript.json"].problem
    assert all(p.title == "Pasta" for p in problems.values())


def test_same_size_damage_needs_the_full_check(paths: DataPaths, episode: dict) -> None:
    transcript = paths.episode_file(KEY, "transcript.json")
    transcript.write_bytes(b"#" * transcript.stat().st_size)
    assert verify_episode(paths, KEY, episode, full=False) == []
    [problem] = verify_episode(paths, KEY, episode, full=True)
    assert problem.file == "transcript.json" and "fingerprint" in problem.problem


def test_without_a_recorded_fingerprint_the_full_check_parses(paths: DataPaths, episode: dict) -> None:
    legacy = {"transcript": {"title": "Pasta", "status": "ready"}}  # recorded before fingerprints existed
    paths.episode_file(KEY, "transcript.md").write_text("# Pasta\n", encoding="utf-8")
    transcript = paths.episode_file(KEY, "transcript.json")
    transcript.write_text(transcript.read_text(encoding="utf-8")[:-10], encoding="utf-8")
    assert verify_episode(paths, KEY, legacy, full=False) == []
    [problem] = verify_episode(paths, KEY, legacy, full=True)
    assert problem.problem.startswith("does not parse (JSONDecodeError")
    transcript.write_bytes(b"")
    assert check_file(transcript, None, full=False) == "empty"


def test_recorded_names_never_leave_the_episode_folder(paths: DataPaths, episode: dict) -> None:
    hostile = {"transcript": {"status": "ready", FILES: {"../../../etc/passwd": None, ".hidden": None}}}
    assert verify_episode(paths, KEY, hostile, full=True) == []


def test_orphaned_folders_and_stale_temp_files(paths: DataPaths, episode: dict) -> None:
    assert orphaned_episode_dirs(paths, {KEY}) == []
    assert orphaned_episode_dirs(paths, set()) == [paths.episode_dir(KEY)]
    old = paths.episode_dir(KEY) / ".transcript.json.k3j4.tmp"
    new = paths.episode_dir(KEY) / ".episode.json.a1b2.tmp"
    for temp in (old, new):
        temp.write_text("half", encoding="utf-8")
    hours_ago = time.time() - 2 * 3600
    os.utime(old, (hours_ago, hours_ago))
    assert stale_temp_files(paths) == [old]  # the young one may belong to a writer still running
