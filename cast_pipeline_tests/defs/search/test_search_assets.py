"""embeddings + search_index on a real instance: real transcripts, real embeddings, real LanceDB and DuckDB."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
import yaml

from cast_pipeline.definitions import defs
from cast_pipeline.defs.search.assets import EMBEDDINGS_KEY, SEARCH_INDEX_KEY, build_embeddings_asset
from cast_pipeline.defs.search.resources import EmbeddingModel
from cast_pipeline.paths import DataPaths
from cast_pipeline.search import search, store
from cast_pipeline.search.embeddings import bundled_model_dir
from cast_pipeline.search.passages import split_passages
from cast_pipeline.segments import segments_to_json
from cast_pipeline.transcripts.store import TRANSCRIPT_JSON, load_transcript
from cast_pipeline_tests.conftest import REPO_ROOT, require_shared
from cast_pipeline_tests.defs.search.searchkit import (
    HTML_TIPS,
    KDE_TELEGRAM,
    SMALL,
    Pipeline,
    register,
    run_checks,
    serve_feed,
)
from cast_pipeline_tests.httpserver import LocalHTTPServer

MODEL = "all-MiniLM-L6-v2"


def _phrases(paths: DataPaths, key: str) -> int:
    return sum(1 for s in load_transcript(paths, key).segments if s.text.strip())


def _passages(paths: DataPaths, key: str) -> int:
    """Embeddings and index rows of an episode: one per passage of each non-blank phrase."""
    return len(split_passages(load_transcript(paths, key).segments))


def _indexed_rows(paths: DataPaths, key: str) -> int:
    manifest = store.require_manifest(paths)
    return store.connect(paths, manifest.generation).open_table(store.SEGMENTS).count_rows(f"episode_key = '{key}'")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """The three-item feed through feed -> ... -> embeddings (one ranged run), then search_index."""
    shared = require_shared()
    root = tmp_path_factory.mktemp("search-assets")
    server = LocalHTTPServer().start()
    try:
        with pytest.MonkeyPatch.context() as mp, dg.instance_for_test() as instance:
            mp.setenv("CAST_DATA_DIR", str(root / "data"))
            mp.setenv("CAST_FEEDS_FILE", str(root / "feeds.yaml"))
            mp.delenv("CAST_EMBEDDING_MODEL", raising=False)
            pipeline = register(instance, root / "data", serve_feed(server, shared))
            assert pipeline.embed().success
            assert pipeline.index().success
            yield pipeline
    finally:
        server.stop()


@pytest.fixture
def small(http_server: LocalHTTPServer, data_dir: Path, shared_data: Path) -> Iterator[Pipeline]:
    """Two short real transcripts, embedded and indexed, on a fresh instance (for tests that change things)."""
    with dg.instance_for_test() as instance:
        pipeline = register(instance, data_dir, serve_feed(http_server, shared_data, SMALL))
        assert pipeline.embed().success
        assert pipeline.index().success
        yield pipeline


@pytest.mark.slow  # shares the module's ~15 s pipeline (model load, three episodes)
def test_each_episode_is_embedded_or_says_why_not(built: Pipeline) -> None:
    paths = built.paths
    for item in (HTML_TIPS, KDE_TELEGRAM):
        key = built.keys[item.guid]
        meta = built.metadata("embeddings", item.guid)
        assert (meta["status"], meta["model"], meta["dimensions"]) == ("embedded", MODEL, 384)
        table = pq.read_table(paths.episode_file(key, "embeddings.parquet"))
        assert meta["passages"] == table.num_rows == _passages(paths, key)
        assert table.num_rows >= meta["phrases"] == _phrases(paths, key) > 0
    assert built.metadata("embeddings", "tips")["phrases"] == 10  # the HTML example's ten paragraphs
    mute = built.keys["mute"]
    assert built.metadata("embeddings", "mute")["status"] == "no_transcript"
    assert built.metadata("transcript", "mute")["status"] == "awaiting_audio"
    assert not paths.episode_file(mute, "embeddings.parquet").exists()
    assert not list(paths.episode_dir(mute).glob(".*.tmp"))  # no half-written file anywhere

    evaluations = built.runs[0].get_asset_check_evaluations()  # the per-episode check ran in the same run
    assert {e.partition: e.passed for e in evaluations} == dict.fromkeys(built.keys.values(), True)
    assert "no transcript yet" in next(e.description for e in evaluations if e.partition == mute)


@pytest.mark.slow  # shares the module's ~15 s pipeline (model load, three episodes)
def test_the_index_makes_every_transcript_searchable(built: Pipeline) -> None:
    meta = built.metadata("search_index")
    tips, kde = built.keys["tips"], built.keys["kde-16"]
    phrases = _passages(built.paths, tips) + _passages(built.paths, kde)
    assert (meta["status"], meta["rows"], meta["episodes"], meta["model"]) == ("rebuilt", phrases, 2, MODEL)
    assert meta["updated_episodes"] == 2 and meta["build_seconds"] > 0
    assert {e.check_name: e.passed for e in built.runs[1].get_asset_check_evaluations()} == {
        "rows_match_embeddings": True,
        "model_is_configured": True,
    }

    # The end of the HTML example's 700-word-piece paragraph (phrase 6), found by meaning alone.
    hits = search("formatting show notes with bullet points and links", mode="semantic", data_dir=built.paths.root)
    assert (hits.loc[0, "episode_key"], hits.loc[0, "segment_index"], hits.loc[0, "matched_by"]) == (tips, 6, "meaning")
    assert hits.loc[0, "play_url"].endswith(f"/a/tips.mp3#t={int(hits.loc[0, 'start'])}")

    hybrid = search("Telegram", data_dir=built.paths.root)
    assert (hybrid.loc[0, "result_type"], hybrid.loc[0, "episode_key"]) == ("episode", kde)  # the title hit first
    segments = hybrid[hybrid.result_type == "segment"]
    assert not segments.empty and set(segments.episode_key) == {kde}
    assert segments.highlighted.str.contains("**Telegram**", regex=False).all()


@pytest.mark.slow  # four runs on a fresh instance: ~10 s, more on a busy machine
def test_rematerialising_skips_unchanged_episodes_and_never_duplicates_rows(small: Pipeline) -> None:
    paths, kde = small.paths, small.keys["kde-16"]
    rows = small.metadata("search_index")["rows"]
    file = paths.episode_file(kde, "embeddings.parquet")
    stamp = file.stat().st_mtime_ns

    assert small.embed("kde-16", selection=[EMBEDDINGS_KEY]).success  # same model, same transcript
    assert small.metadata("embeddings", "kde-16")["status"] == "unchanged"
    assert file.stat().st_mtime_ns == stamp
    assert small.index().success
    assert (small.metadata("search_index")["status"], small.metadata("search_index")["rows"]) == ("up_to_date", rows)

    assert small.embed("kde-16").success  # the whole chain again: episode.json is rewritten, rows replaced
    assert small.index().success
    meta = small.metadata("search_index")
    assert (meta["status"], meta["updated_episodes"], meta["rows"]) == ("updated", 1, rows)

    doc = load_transcript(paths, kde)  # the transcript changes (e.g. a better source arrived): re-embed
    changed = [*doc.segments[:-1], doc.segments[-1].__class__(doc.segments[-1].start, doc.segments[-1].end, "Adiós.")]
    paths.episode_file(kde, TRANSCRIPT_JSON).write_text(segments_to_json(changed, **doc.meta), encoding="utf-8")
    assert small.embed("kde-16", selection=[EMBEDDINGS_KEY]).success
    assert small.metadata("embeddings", "kde-16")["status"] == "embedded"
    assert small.index().success
    meta = small.metadata("search_index")
    assert (meta["status"], meta["updated_episodes"], meta["rows"]) == ("updated", 1, rows)  # replaced, not added
    assert _indexed_rows(paths, kde) == _passages(paths, kde)
    assert list(search("Adiós", mode="keyword", data_dir=paths.root).text) == ["Adiós."]


def test_checks_fail_when_an_episodes_embeddings_are_deleted(small: Pipeline) -> None:
    paths, kde = small.paths, small.keys["kde-16"]
    paths.episode_file(kde, "embeddings.parquet").unlink()

    (embedded,) = run_checks(small.instance, EMBEDDINGS_KEY, kde)
    assert (embedded.partition, embedded.passed) == (kde, False)
    assert "no embeddings" in embedded.description
    (trailer,) = run_checks(small.instance, EMBEDDINGS_KEY, small.keys["trailer"])
    assert trailer.passed
    index_checks = {e.check_name: e for e in run_checks(small.instance, SEARCH_INDEX_KEY)}
    assert not index_checks["rows_match_embeddings"].passed
    assert kde in index_checks["rows_match_embeddings"].description  # indexed but no embeddings any more

    assert small.index().success  # the next build drops the episode, and the checks pass again
    assert small.metadata("search_index")["removed_episodes"] == 1
    assert all(e.passed for e in small.runs[-1].get_asset_check_evaluations())
    assert _indexed_rows(paths, kde) == 0


def test_the_model_is_part_of_the_embeddings_code_version(tmp_path: Path) -> None:
    default = defs.resolve_assets_def("embeddings").code_versions_by_key[EMBEDDINGS_KEY]
    assert default == f"passages-v1:{MODEL}"
    other = build_embeddings_asset(EmbeddingModel(model="paraphrase-multilingual-MiniLM-L12-v2"))
    assert other.code_versions_by_key[EMBEDDINGS_KEY] == "passages-v1:paraphrase-multilingual-MiniLM-L12-v2"
    local = tmp_path / "my-model"
    local.symlink_to(bundled_model_dir(), target_is_directory=True)
    versioned = build_embeddings_asset(EmbeddingModel(model=str(local))).code_versions_by_key[EMBEDDINGS_KEY]
    assert versioned == f"passages-v1:{os.path.realpath(local)}"


def test_search_index_is_a_single_writer() -> None:
    """Unpartitioned (one step per run) in a pool that both instance configs limit to one step at a time."""
    index = defs.resolve_assets_def("search_index")
    assert index.partitions_def is None and index.op.pool == "search_index"
    for config in ("cast_pipeline/instance_files/dagster.yaml", "deploy/dagster.yaml"):
        pools = yaml.safe_load((REPO_ROOT / config).read_text())["concurrency"]["pools"]
        assert pools == {"default_limit": 1} or pools.get("search_index") == 1, config
