"""Query parsing, phrase normalisation, highlighting and result formatting."""

from __future__ import annotations

import pytest

from cast_pipeline.search.text import contains_phrases, highlight, normalize, parse_query, play_url, timestamp


def test_quoted_phrases_are_split_from_free_words() -> None:
    parsed = parse_query('black holes "event horizon" light')
    assert parsed.phrases == ("event horizon",)
    assert parsed.terms == ("black", "holes", "event", "horizon", "light")
    assert parsed.text == "black holes event horizon light"


def test_an_unmatched_quote_is_ignored() -> None:
    parsed = parse_query('the "open quote')
    assert parsed.phrases == ()
    assert parsed.text == "the open quote"


@pytest.mark.parametrize("bad", ["", " ", "...", '""'])
def test_queries_without_words_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="empty search query"):
        parse_query(bad)


def test_normalize_ignores_case_punctuation_and_line_breaks() -> None:
    assert normalize("Machine-Learning,\n  IS  fun!") == "machine learning is fun"
    assert normalize("Straße") == "strasse"  # case folding, as the user would type it


def test_phrases_match_whole_consecutive_words_only() -> None:
    text = "Supervised machine-learning needs labelled Training Data."
    assert contains_phrases(text, ["machine learning", "training data"])
    assert not contains_phrases(text, ["learning machine"])
    assert not contains_phrases(text, ["train"])  # part of a word is not the phrase
    assert contains_phrases(text, [])


def test_highlight_marks_query_words_and_their_inflections() -> None:
    assert highlight("Wir haben ein Haus gekauft.", ["Häuser"]) == "Wir haben ein **Haus** gekauft."
    assert highlight("She keeps running daily.", ["run"]) == "She keeps **running** daily."
    assert highlight("Die Kinder spielen.", ["Kind"]) == "Die **Kinder** spielen."


def test_highlight_leaves_look_alike_words_and_stop_words_alone() -> None:
    assert highlight("not even light", ["event"]) == "not even light"
    assert highlight("the words of the world", ["world"]) == "the words of the **world**"
    assert highlight("the end of the story", ["the", "end"]) == "the **end** of the story"


def test_highlight_marks_a_phrase_as_one_span_across_punctuation() -> None:
    marked = highlight("A password-manager helps. Manager of passwords.", ["password", "manager"], ["password manager"])
    assert marked == "A **password-manager** helps. **Manager** of **passwords**."


def test_timestamp_formats_hours_minutes_seconds() -> None:
    assert timestamp(0) == "00:00:00"
    assert timestamp(65.9) == "00:01:05"
    assert timestamp(3 * 3600 + 61) == "03:01:01"
    assert timestamp(float("nan")) is None
    assert timestamp(None) is None


def test_play_url_adds_a_media_fragment_and_replaces_an_old_one() -> None:
    assert play_url("https://a.example/ep.mp3?x=1", 754.6) == "https://a.example/ep.mp3?x=1#t=754"
    assert play_url("https://a.example/ep.mp3#t=3", 10) == "https://a.example/ep.mp3#t=10"
    assert play_url("https://a.example/ep.mp3#t=3") == "https://a.example/ep.mp3"
    assert play_url(None, 10) is None
