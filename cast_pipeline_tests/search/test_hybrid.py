"""Reciprocal rank fusion, the per-episode cap and over-fetching, as plain functions."""

from __future__ import annotations

import pytest

from cast_pipeline.search.hybrid import cap_per_group, overfetch, reciprocal_rank_fusion


def test_rrf_scores_are_sums_of_reciprocal_ranks() -> None:
    fused = reciprocal_rank_fusion([("keyword", ["a", "b"]), ("meaning", ["b", "c"])], k=60)
    scores = {f.key: f.score for f in fused}
    assert scores["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert scores["a"] == pytest.approx(1 / 61)
    assert scores["c"] == pytest.approx(1 / 62)
    assert [f.key for f in fused] == ["b", "a", "c"]


def test_an_item_both_lists_find_beats_the_top_of_one_list() -> None:
    fused = reciprocal_rank_fusion([("keyword", ["solo", "x", "shared"]), ("meaning", ["y", "z", "shared"])])
    assert fused[0].key == "shared"


def test_each_hit_says_how_it_matched() -> None:
    fused = {f.key: f for f in reciprocal_rank_fusion([("keyword", ["a", "b"]), ("meaning", ["b", "c"])])}
    assert fused["a"].matched_by == "keyword"
    assert fused["b"].matched_by == "both"
    assert fused["c"].matched_by == "meaning"
    assert fused["b"].ranks == {"keyword": 2, "meaning": 1}


def test_ties_keep_first_appearance_order_and_duplicates_count_once() -> None:
    fused = reciprocal_rank_fusion([("keyword", ["a", "a", "b"]), ("meaning", ["b", "a"])])
    assert [f.key for f in fused] == ["a", "b"]
    assert fused[0].score == pytest.approx(1 / 61 + 1 / 62)  # a: the repeat at rank 2 is ignored
    assert fused[1].score == pytest.approx(1 / 63 + 1 / 61)  # b keeps its position in the list (3)
    fused = reciprocal_rank_fusion([("keyword", ["p"]), ("meaning", ["q"])])
    assert [f.key for f in fused] == ["p", "q"]


def test_empty_lists_fuse_to_nothing_and_bad_input_is_rejected() -> None:
    assert reciprocal_rank_fusion([("keyword", []), ("meaning", [])]) == []
    with pytest.raises(ValueError, match="unknown result source"):
        reciprocal_rank_fusion([("title", ["a"])])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="k must be >= 1"):
        reciprocal_rank_fusion([("keyword", ["a"])], k=0)


def test_cap_keeps_the_best_items_of_each_group_in_order() -> None:
    items = [("ep1", 1), ("ep1", 2), ("ep2", 1), ("ep1", 3), ("ep1", 4), ("ep2", 2)]
    assert cap_per_group(items, lambda i: i[0], 2) == [("ep1", 1), ("ep1", 2), ("ep2", 1), ("ep2", 2)]
    with pytest.raises(ValueError):
        cap_per_group(items, lambda i: i[0], 0)


def test_overfetch_asks_for_several_pages() -> None:
    assert overfetch(10) == 50
    assert overfetch(1) == 20  # a floor so that fusion has material even for tiny pages
    with pytest.raises(ValueError):
        overfetch(0)
