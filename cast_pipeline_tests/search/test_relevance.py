"""Relevance on the demo corpus: each query names the phrase (or episode) that must come first.

The corpus (corpus.py) is small but real: real MiniLM embeddings, real LanceDB full-text and vector
indexes. A failure here means ranking, stemming, phrase handling or fusion changed behaviour.
"""

from __future__ import annotations

import re

import pytest

from cast_pipeline.paths import DataPaths
from cast_pipeline.search import search
from cast_pipeline_tests.search.corpus import ref

# (query, mode, expected first segment as (feed, episode number, segment index))
TOP_SEGMENT = [
    ("sourdough starter", "hybrid", ("cooking", 1, 1)),
    ("wild yeast", "hybrid", ("cooking", 1, 2)),
    ("why do my eyes water when chopping onions", "hybrid", ("cooking", 2, 2)),
    ("tears while slicing onions", "semantic", ("cooking", 2, 2)),
    ("sharp knife", "hybrid", ("cooking", 2, 3)),
    ("polymerised oil seasoning", "hybrid", ("cooking", 3, 1)),
    ("rocket trip to the red planet", "hybrid", ("space", 2, 0)),
    ("Mars dust storms", "keyword", ("space", 2, 3)),
    ("Einstein", "hybrid", ("space", 1, 1)),
    ("event horizon", "hybrid", ("space", 1, 2)),
    ("galaxies at the centre", "hybrid", ("space", 1, 3)),
    ("Pluto frozen worlds", "hybrid", ("space", 3, 1)),
    ("Arrokoth", "keyword", ("space", 3, 2)),
    ("interest rates", "hybrid", ("money", 1, 1)),
    ("emergency fund", "hybrid", ("money", 2, 2)),
    ("how much cash should I keep for emergencies", "semantic", ("money", 2, 2)),
    ("labelled examples for supervised models", "hybrid", ("tech", 1, 1)),
    ('"password manager"', "hybrid", ("tech", 2, 1)),
    ('"training data"', "keyword", ("tech", 1, 1)),
    ("Wärmepumpe", "hybrid", ("wohnen", 2, 0)),
    ("Heizkosten sparen", "hybrid", ("wohnen", 2, 0)),
    ("Fenster", "keyword", ("wohnen", 2, 1)),
    # German stemming: "Häuser" is only ever said as "Haus", "Kind" only as "Kinder"
    ("Häuser", "keyword", ("wohnen", 1, 0)),
    ("Kind", "keyword", ("wohnen", 1, 3)),
    # paraphrases that share no word with their target (checked below): found by meaning alone
    ("skillet corrosion prevention", "hybrid", ("cooking", 3, 0)),
    ("clocks tick slower close to a collapsed star", "hybrid", ("space", 1, 0)),
]


@pytest.mark.parametrize(("query", "mode", "expected"), TOP_SEGMENT, ids=[q for q, _, _ in TOP_SEGMENT])
def test_the_expected_phrase_is_the_best_segment_hit(
    corpus: DataPaths, query: str, mode: str, expected: tuple[str, int, int]
) -> None:
    results = search(query, mode=mode, paths=corpus, limit=5)  # type: ignore[arg-type]
    segments = results[results.result_type == "segment"]
    assert not segments.empty, f"no segment found for {query!r}"
    top = segments.iloc[0]
    assert (top.episode_key, top.segment_index) == ref(*expected)


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


@pytest.mark.parametrize(
    ("query", "target"),
    [
        ("skillet corrosion prevention", "Never leave a cast iron pan soaking in water overnight or it will rust."),
        (
            "clocks tick slower close to a collapsed star",
            "Near a black hole, time passes more slowly for the falling astronaut than for observers far away.",
        ),
    ],
)
def test_a_paraphrase_without_shared_words_is_found_by_meaning_only(corpus: DataPaths, query: str, target: str) -> None:
    # "a" is a shared stop word for the second pair: the keyword index ignores it; nothing else is shared
    assert _words(query) & _words(target) <= {"a"}
    assert search(query, mode="keyword", paths=corpus).empty
    top = search(query, mode="hybrid", paths=corpus).iloc[0]
    assert top.text == target
    assert top.matched_by == "meaning"


def test_a_word_only_in_an_episode_title_returns_that_episode_first(corpus: DataPaths) -> None:
    results = search("Kuiper", paths=corpus)
    assert results.iloc[0].result_type == "episode"
    assert results.iloc[0].episode_key == ref("space", 3)
    assert results.iloc[0].title == "Kuiper Belt Mysteries"
    assert "**Kuiper**" in results.iloc[0].highlighted


def test_title_matches_come_before_segments(corpus: DataPaths) -> None:
    results = search("machine learning", paths=corpus)
    assert results.result_type.tolist()[0] == "episode"
    assert results.iloc[0].episode_key == ref("tech", 1)
    assert set(results.result_type.tolist()[1:]) == {"segment"}


def test_german_query_needs_the_german_stemmer_not_just_accent_folding(corpus: DataPaths) -> None:
    hits = search("Häuser", mode="keyword", paths=corpus)
    assert hits.text.tolist() == ["Wir haben letztes Jahr ein Haus auf dem Land gekauft."]
    assert hits.iloc[0].highlighted == "Wir haben letztes Jahr ein **Haus** auf dem Land gekauft."


def test_both_retrievers_agreeing_is_reported_as_both(corpus: DataPaths) -> None:
    top = search("sourdough starter", paths=corpus, mode="hybrid")
    top_segment = top[top.result_type == "segment"].iloc[0]
    assert top_segment.matched_by == "both"
