"""A damaged search index is named in one sentence and rebuilt from the episodes' files by the next sync."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cast_pipeline.paths import DataPaths
from cast_pipeline.search import search, store
from cast_pipeline.search.analytics import analytics_path
from cast_pipeline.search.health import index_damage, reset_index
from cast_pipeline.search.sync import STATE_FILE, sync_index

MODEL = "all-MiniLM-L6-v2"


@pytest.fixture
def synced(corpus_copy: DataPaths) -> DataPaths:
    """The indexed corpus, brought up to date by sync_index (so it has its state file, as in production)."""
    sync_index(corpus_copy, MODEL)
    assert index_damage(corpus_copy, deep=True) is None
    return corpus_copy


def _live(paths: DataPaths) -> Path:
    return paths.search_dir / store.require_manifest(paths).generation


def _garbage(path: Path) -> None:
    path.write_bytes(b"garbage \x00\xff garbage")


def _first(pattern: str) -> Callable[[DataPaths], None]:
    def damage(paths: DataPaths) -> None:
        found = sorted(_live(paths).glob(pattern))
        assert found, f"no file matches {pattern}"
        _garbage(found[0])

    return damage


DAMAGES: dict[str, tuple[Callable[[DataPaths], None], str]] = {
    "manifest garbage": (lambda p: _garbage(store.manifest_path(p)), "manifest"),
    "manifest truncated": (lambda p: store.manifest_path(p).write_text('{"generation": "lancedb-'), "manifest"),
    "manifest of another shape": (lambda p: store.manifest_path(p).write_text('{"colour": "blue"}'), "manifest"),
    "segments data file": (_first("segments.lance/data/*.lance"), "LanceDB"),
    "episodes data file": (_first("episodes.lance/data/*.lance"), "LanceDB"),
    "full-text index file": (_first("segments.lance/_indices/*/part_0_invert.lance"), "LanceDB"),
    "live generation deleted": (lambda p: __import__("shutil").rmtree(_live(p)), "missing"),
    "analytics snapshot": (lambda p: _garbage(analytics_path(p)), "DuckDB"),
}


@pytest.mark.parametrize("case", list(DAMAGES))
def test_damage_is_named_then_the_next_sync_rebuilds_it(synced: DataPaths, case: str) -> None:
    before = search("podcast trailer", mode="keyword", paths=synced, limit=5)
    damage, named = DAMAGES[case]
    damage(synced)

    found = index_damage(synced)
    assert found is not None and named in found and "\n" not in found
    result = sync_index(synced, MODEL)
    assert result.repaired == found and result.status == "rebuilt"
    assert index_damage(synced, deep=True) is None
    after = search("podcast trailer", mode="keyword", paths=synced, limit=5)
    assert after["episode_key"].tolist() == before["episode_key"].tolist()
    again = sync_index(synced, MODEL)  # the next update finds nothing wrong and nothing to do
    assert (again.repaired, again.status) == ("", "up_to_date")
    assert [d.name for d in synced.search_dir.glob("lancedb-*")] == [store.require_manifest(synced).generation]


def test_no_index_yet_is_not_damage(paths: DataPaths) -> None:
    assert index_damage(paths) is None


def test_reset_removes_what_makes_the_index_live(synced: DataPaths) -> None:
    removed = reset_index(synced)
    assert sorted(removed) == sorted([store.MANIFEST, STATE_FILE, store.ANALYTICS_DB])
    assert store.read_manifest(synced) is None and index_damage(synced) is None
