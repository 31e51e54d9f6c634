"""Incremental index updates from the embeddings on disk: what changed, what is gone, other models, one writer."""

from __future__ import annotations

import json
import threading
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cast_pipeline.paths import DataPaths
from cast_pipeline.search import Embedder, embed_episode, read_episode_embeddings, store, write_episode_embeddings
from cast_pipeline.search.embeddings import embeddings_are_current
from cast_pipeline.search.sync import STATE_FILE, plan_sync, sync_index, writer_lock
from cast_pipeline_tests.search.conftest import write_corpus
from cast_pipeline_tests.search.corpus import episodes_and_segments

MODEL = "all-MiniLM-L6-v2"


def _rows(paths: DataPaths, key: str | None = None) -> int:
    table = store.connect(paths, store.require_manifest(paths).generation).open_table(store.SEGMENTS)
    return table.count_rows(f"episode_key = '{key}'") if key else table.count_rows()


def _relabel(table: pa.Table, model: str) -> pa.Table:
    """The same vectors stored under another model's name (a file left by a different model)."""
    meta = {**(table.schema.metadata or {}), b"cast.embedding_model": model.encode()}
    column = table.schema.get_field_index("model")
    relabelled = table.set_column(column, "model", pa.array([model] * table.num_rows, pa.string()))
    return relabelled.replace_schema_metadata(meta)


@pytest.fixture
def embedded(paths: DataPaths, embedder: Embedder) -> list[str]:
    return write_corpus(paths, embedder)


def test_nothing_embedded_means_no_index_and_no_error(paths: DataPaths) -> None:
    assert not plan_sync(paths, MODEL).needed
    result = sync_index(paths, MODEL)
    assert (result.status, result.segments, result.generation) == ("empty", 0, None)
    assert store.read_manifest(paths) is None


def test_first_build_then_only_what_changed(paths: DataPaths, embedded: list[str], embedder: Embedder) -> None:
    total = sum(len(s) for _, s in episodes_and_segments())
    first = sync_index(paths, MODEL)
    assert (first.status, first.segments, first.episodes) == ("rebuilt", total, len(embedded))
    assert sorted(first.updated) == sorted(embedded)
    assert not plan_sync(paths, MODEL).needed
    assert sync_index(paths, MODEL).status == "up_to_date"

    episode, segments = episodes_and_segments()[0]  # re-embedded (same content, new file): rows replaced
    write_episode_embeddings(paths, episode.key, embed_episode(episode.key, segments, embedder))
    plan = plan_sync(paths, MODEL)
    assert (plan.needed, plan.full, plan.changed) == (True, False, [episode.key])
    again = sync_index(paths, MODEL)
    assert (again.status, again.updated, again.segments) == ("updated", [episode.key], total)
    assert _rows(paths, episode.key) == len(segments)

    paths.episode_file(episode.key, "embeddings.parquet").unlink()  # the episode left: its rows go
    gone = sync_index(paths, MODEL)
    assert (gone.status, gone.removed, gone.segments) == ("updated", [episode.key], total - len(segments))
    assert gone.generation == first.generation  # incremental: same LanceDB generation throughout


def test_a_lost_state_file_rebuilds_into_a_new_generation(paths: DataPaths, embedded: list[str]) -> None:
    first = sync_index(paths, MODEL)
    (paths.search_dir / STATE_FILE).unlink()
    assert plan_sync(paths, MODEL).full
    rebuilt = sync_index(paths, MODEL)
    assert rebuilt.status == "rebuilt" and rebuilt.generation != first.generation
    assert rebuilt.segments == first.segments  # rebuilt, not appended
    state = json.loads((paths.search_dir / STATE_FILE).read_text())
    assert state["generation"] == rebuilt.generation and sorted(state["episodes"]) == sorted(embedded)


def test_episodes_of_another_model_are_left_out_and_dropped_from_the_index(
    paths: DataPaths, embedded: list[str]
) -> None:
    first = sync_index(paths, MODEL)
    key = embedded[0]
    n = read_episode_embeddings(paths, key).num_rows
    write_episode_embeddings(paths, key, _relabel(read_episode_embeddings(paths, key), "other-model"))
    plan = plan_sync(paths, MODEL)
    assert (plan.changed, plan.other_model, plan.dropped) == ([], [key], [key])
    result = sync_index(paths, MODEL)
    assert (result.status, result.removed, result.other_model) == ("updated", [key], [key])
    assert result.segments == first.segments - n and _rows(paths, key) == 0
    assert sync_index(paths, MODEL).other_model == [key]  # still reported until re-embedded


def test_a_model_change_keeps_the_old_index_until_episodes_are_re_embedded(
    paths: DataPaths, embedded: list[str]
) -> None:
    first = sync_index(paths, MODEL)
    stale = sync_index(paths, "other-model")  # configured model changed, nothing embedded with it yet
    assert (stale.status, stale.model, stale.segments) == ("stale_model", MODEL, first.segments)
    key = embedded[0]
    write_episode_embeddings(paths, key, _relabel(read_episode_embeddings(paths, key), "other-model"))
    switched = sync_index(paths, "other-model")  # the first re-embedded episode: a fresh index of that model
    assert (switched.status, switched.model, switched.updated) == ("rebuilt", "other-model", [key])
    assert switched.segments == read_episode_embeddings(paths, key).num_rows


def test_a_second_writer_waits_for_the_first(paths: DataPaths, embedded: list[str]) -> None:
    done = threading.Event()
    results = []

    def second_writer() -> None:
        results.append(sync_index(paths, MODEL))
        done.set()

    with writer_lock(paths):
        thread = threading.Thread(target=second_writer)
        thread.start()
        time.sleep(1.5)
        assert not done.is_set()  # blocked on search/.writer.lock
        assert store.read_manifest(paths) is None
    thread.join(timeout=60)
    assert done.is_set() and results[0].status == "rebuilt"


def test_an_index_and_embeddings_from_before_passages_are_rebuilt(
    paths: DataPaths, embedded: list[str], embedder: Embedder
) -> None:
    total = sum(len(s) for _, s in episodes_and_segments())
    sync_index(paths, MODEL)
    manifest = json.loads(store.manifest_path(paths).read_text())
    store.manifest_path(paths).write_text(json.dumps({**manifest, "format": 1}))  # an index of whole phrases
    episode, segments = episodes_and_segments()[0]
    table = read_episode_embeddings(paths, episode.key).drop_columns(["passage_index"])
    old = paths.episode_file(episode.key, "embeddings.parquet")
    meta = {k: v for k, v in (table.schema.metadata or {}).items() if k != b"cast.embedding_format"}
    pq.write_table(table.replace_schema_metadata(meta), old)  # embedded before passages

    assert not embeddings_are_current(paths, episode.key, MODEL)  # the embeddings asset re-embeds it
    rebuilt = sync_index(paths, MODEL)
    assert (rebuilt.status, rebuilt.segments) == ("rebuilt", total - len(segments))  # left out until then
    assert rebuilt.other_model == [episode.key]
    assert "format 1, not 2" in rebuilt.repaired
    assert store.require_manifest(paths).format == store.FORMAT

    write_episode_embeddings(paths, episode.key, embed_episode(episode.key, segments, embedder))
    assert sync_index(paths, MODEL).segments == total
