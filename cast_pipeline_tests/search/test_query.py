"""The public search() API: result shape, filters, modes, phrases, caps and clear errors."""

from __future__ import annotations

import pandas as pd
import pytest

from cast_pipeline.paths import DataPaths
from cast_pipeline.search import RESULT_COLUMNS, IndexNotBuiltError, search
from cast_pipeline.search.text import normalize
from cast_pipeline_tests.search.corpus import feed_by_slug, ref


def test_results_have_the_documented_columns_and_a_playable_timestamp(corpus: DataPaths) -> None:
    results = search("event horizon", paths=corpus)
    assert list(results.columns) == RESULT_COLUMNS
    top = results.iloc[0]
    assert top.result_type == "segment"
    assert top.feed_title == "Deep Space Weekly"
    assert top.title == "Black holes and time"
    assert top.published == pd.Timestamp("2024-01-10T06:00:00Z")
    assert (top.start, top.end) == (65.0, 93.0)
    assert top.timestamp == "00:01:05"
    assert top.play_url == "https://space.example/audio/1.mp3#t=65"
    assert top.highlighted == "The **event** **horizon** is the boundary beyond which not even light can escape."
    assert top.matched_by in {"keyword", "meaning", "both"}
    assert results.score.is_monotonic_decreasing or results.result_type.iloc[0] == "episode"


def test_data_dir_argument_and_environment_find_the_same_index(
    corpus: DataPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    by_paths = search("wild yeast", paths=corpus, mode="keyword")
    by_dir = search("wild yeast", data_dir=corpus.root, mode="keyword")
    monkeypatch.setenv("CAST_DATA_DIR", str(corpus.root))
    by_env = search("wild yeast", mode="keyword")
    pd.testing.assert_frame_equal(by_paths, by_dir)
    pd.testing.assert_frame_equal(by_paths, by_env)


def test_limit_caps_the_number_of_rows(corpus: DataPaths) -> None:
    assert len(search("the", paths=corpus, mode="semantic", limit=2)) <= 2
    assert len(search("machine learning", paths=corpus, limit=4)) == 4


def test_one_long_episode_cannot_fill_the_page(corpus: DataPaths) -> None:
    results = search("machine learning", paths=corpus, mode="keyword", limit=10)
    segments = results[results.result_type == "segment"]
    assert (segments.episode_key == ref("tech", 1)).sum() == 3  # 6 of its phrases say "machine learning"
    assert ref("tech", 2) in set(segments.episode_key)


def test_quoted_phrase_matches_exactly(corpus: DataPaths) -> None:
    for mode in ("hybrid", "keyword", "semantic"):
        results = search('"training data"', paths=corpus, mode=mode)  # type: ignore[arg-type]
        assert len(results) >= 1
        assert all("training data" in normalize(t) for t in results.text)
    # the words alone also find "...memorises the training set" and "...bad data"
    loose = search("training data", paths=corpus, mode="keyword")
    assert len(loose) > 1


def test_quoted_phrase_is_highlighted_as_one_span(corpus: DataPaths) -> None:
    top = search('"password manager"', paths=corpus).iloc[0]
    assert top.highlighted.startswith("A **password manager** lets you")


@pytest.mark.parametrize("feed", ["Money Matters", "money matters", "https://money.example/feed.xml"])
def test_feed_filter_accepts_title_or_url(corpus: DataPaths, feed: str) -> None:
    results = search("savings", paths=corpus, feed=feed)
    assert len(results) > 0
    assert set(results.feed_title) == {"Money Matters"}


def test_feed_filter_accepts_the_feed_key_and_applies_before_ranking(corpus: DataPaths) -> None:
    key = feed_by_slug("space").key
    results = search("money savings budget", paths=corpus, feed=key, mode="semantic", limit=3)
    assert set(results.feed_key) <= {key}


def test_unknown_feed_is_a_clear_error_listing_known_feeds(corpus: DataPaths) -> None:
    with pytest.raises(ValueError, match=r"no indexed feed matches 'Nope'.*Deep Space Weekly"):
        search("mars", paths=corpus, feed="Nope")


def test_since_filters_by_publication_date(corpus: DataPaths) -> None:
    everything = search("bank", paths=corpus, mode="keyword")
    recent = search("savings interest budget", paths=corpus, since="2024-06-15", mode="keyword")
    assert (everything.published < pd.Timestamp("2024-06-15", tz="UTC")).any()
    assert len(recent) > 0
    assert (recent.published >= pd.Timestamp("2024-06-15", tz="UTC")).all()


def test_since_accepts_dates_and_rejects_garbage(corpus: DataPaths) -> None:
    from datetime import date

    assert search("Mars", paths=corpus, since=date(2030, 1, 1)).empty
    with pytest.raises(ValueError, match="since must be a date"):
        search("Mars", paths=corpus, since="last tuesday")


def test_keyword_mode_reports_keyword_and_semantic_mode_meaning(corpus: DataPaths) -> None:
    keyword = search("onion", paths=corpus, mode="keyword")
    semantic = search("onion", paths=corpus, mode="semantic")
    assert set(keyword.matched_by) == {"keyword"}
    assert set(semantic.matched_by) == {"meaning"}
    assert set(semantic.result_type) == {"segment"}  # episode matches are keyword matches


def test_semantic_scores_are_cosine_similarities(corpus: DataPaths) -> None:
    results = search("Pluto frozen worlds", paths=corpus, mode="semantic")
    assert results.score.between(0.3, 1.0).all()
    assert results.score.iloc[0] > 0.8


@pytest.mark.parametrize("bad", ["", "   ", '""', "?!"])
def test_empty_query_is_rejected(corpus: DataPaths, bad: str) -> None:
    with pytest.raises(ValueError, match="empty search query"):
        search(bad, paths=corpus)


def test_unknown_mode_and_bad_limit_are_rejected(corpus: DataPaths) -> None:
    with pytest.raises(ValueError, match="mode must be one of"):
        search("mars", paths=corpus, mode="fuzzy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="limit must be >= 1"):
        search("mars", paths=corpus, limit=0)


def test_searching_before_any_index_exists_says_what_to_run(paths: DataPaths) -> None:
    with pytest.raises(IndexNotBuiltError, match="materialise the search_index asset"):
        search("anything", paths=paths)
