"""Storage layout and atomic writes: readers never see a half-written file."""

from __future__ import annotations

from pathlib import Path

import pytest

from cast_pipeline.keys import InvalidKeyError, episode_key, feed_key
from cast_pipeline.paths import DataPaths, atomic_path, atomic_writer, write_text_atomic


def test_episode_files_live_under_their_feed(tmp_path: Path) -> None:
    fk = feed_key("https://a.example/feed")
    ek = episode_key(fk, "g1")
    paths = DataPaths(tmp_path)
    assert paths.episode_file(ek, "transcript.md") == tmp_path / "episodes" / fk / ek / "transcript.md"
    assert paths.episodes_catalog(fk) == tmp_path / "catalog" / "episodes" / f"{fk}.parquet"


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", "x--y--z"])
def test_paths_refuse_keys_that_could_escape(tmp_path: Path, bad: str) -> None:
    with pytest.raises((InvalidKeyError, ValueError)):
        DataPaths(tmp_path).episode_dir(bad)


def test_file_names_must_be_plain(tmp_path: Path) -> None:
    ek = episode_key(feed_key("https://a.example/feed"), "g1")
    with pytest.raises(ValueError, match="plain file name"):
        DataPaths(tmp_path).episode_file(ek, "../x")


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError), atomic_writer(target, "w") as fh:
        fh.write("half")
        raise RuntimeError("disk on fire")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_path_renames_on_success_only(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "data.bin"
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"123")
        assert not target.exists()
    assert target.read_bytes() == b"123"
    with pytest.raises(OSError), atomic_path(target) as tmp:
        tmp.write_bytes(b"456")
        raise OSError("boom")
    assert target.read_bytes() == b"123" and len(list(target.parent.iterdir())) == 1
