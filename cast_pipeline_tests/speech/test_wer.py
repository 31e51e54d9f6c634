"""Word error rate: normalisation and the edit distance behind it."""

from __future__ import annotations

import pytest

from cast_pipeline.speech.wer import corpus_wer, edit_distance, normalize_text, wer


def test_normalisation_ignores_case_and_punctuation_but_keeps_numbers() -> None:
    words = ["and", "so", "my", "fellow", "americans", "ask", "not"]
    assert normalize_text("And so, my fellow Americans: ask not!") == words
    assert normalize_text("It’s 1961 — 20,000 people") == ["it's", "1961", "20", "000", "people"]
    assert normalize_text("cold-hearted") == ["cold", "hearted"]
    assert normalize_text("Mr. Dashwood and Mrs. Jennings") == ["mister", "dashwood", "and", "missus", "jennings"]


def test_identical_text_after_normalisation_has_no_errors() -> None:
    ref = "and so my fellow americans ask not what your country can do for you"
    assert wer(ref, "And so, my fellow Americans, ask not what your country can do for you.") == 0.0


def test_substitutions_insertions_and_deletions_each_count_one() -> None:
    ref = ["a", "b", "c", "d"]
    assert edit_distance(ref, ["a", "x", "c", "d"]) == 1  # substitution
    assert edit_distance(ref, ["a", "b", "c", "d", "e"]) == 1  # insertion
    assert edit_distance(ref, ["a", "c", "d"]) == 1  # deletion
    assert edit_distance([], ["a", "b"]) == 2
    assert wer("he was not an ill disposed young man", "He was not an old-sposed young man.") == pytest.approx(2 / 8)


def test_numbers_are_not_folded_into_words() -> None:
    assert wer("four score and seven years", "4 score and 7 years") == pytest.approx(2 / 5)


def test_corpus_wer_weights_by_reference_length() -> None:
    pairs = [("a b c d e f g h i j", "a b c d e f g h i j"), ("x y", "x z")]
    assert corpus_wer(pairs) == pytest.approx(1 / 12)
    assert wer("", "") == 0.0 and wer("", "words") == float("inf")
