"""Specification of phrase merging: the rules of ``merge_phrases`` and its edge cases."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from cast_pipeline.segments import Segment, Word
from cast_pipeline.transcripts import merge_phrases, parse
from cast_pipeline_tests.costkit import assert_linear


def words(text: str, *, start: float = 0.0, step: float = 0.3, speaker: str | None = "A") -> list[Segment]:
    """One segment per word, back to back, ``step`` seconds each."""
    return [Segment(start + i * step, start + (i + 1) * step, word, speaker) for i, word in enumerate(text.split(" "))]


def texts(segments: list[Segment]) -> list[str]:
    return [s.text for s in segments]


def characters(segments: list[Segment]) -> str:
    """All text without whitespace: equal before and after merging when no word is lost or moved
    (merging removes the space before attached punctuation, so comparing words would not work)."""
    return "".join("".join(s.text.split()) for s in segments)


def test_empty_input_gives_no_phrases() -> None:
    assert merge_phrases([]) == []


def test_a_single_word_is_one_phrase() -> None:
    assert merge_phrases([Segment(1.0, 1.4, " Hello ", "A")]) == [Segment(1.0, 1.4, "Hello", "A")]


def test_short_sentences_stay_together_until_the_phrase_is_long_enough() -> None:
    merged = merge_phrases(words("Hi. I am here. This sentence makes the phrase long enough. Next one starts."))
    assert texts(merged) == ["Hi. I am here. This sentence makes the phrase long enough.", "Next one starts."]
    assert (merged[0].start, merged[0].end, merged[1].start) == (0.0, pytest.approx(3.3), pytest.approx(3.3))


@pytest.mark.parametrize("ending", ['."', "?”", "!)", "…", ".'"])
def test_closing_quotes_and_brackets_after_the_full_stop_still_end_the_sentence(ending: str) -> None:
    merged = merge_phrases(words(f"He said it was the best episode of the whole season{ending} Then silence."))
    assert len(merged) == 2 and merged[0].text.endswith(ending)


def test_abbreviations_are_not_sentence_ends() -> None:
    merged = merge_phrases(words("We talked about this at length with our guest Dr. Smith today. And then more."))
    assert texts(merged) == ["We talked about this at length with our guest Dr. Smith today.", "And then more."]


def test_min_chars_is_a_parameter() -> None:
    assert texts(merge_phrases(words("Hi. Yes. No."), min_chars=0)) == ["Hi.", "Yes.", "No."]


def test_sentences_ending_inside_caption_cues_end_phrases_with_estimated_times() -> None:
    """Cues are cut for display; phrases should still end where sentences do (rule 5)."""
    cues = [
        Segment(0.0, 4.0, "When you first get started in podcasting, you make", "T"),  # 50 chars
        Segment(4.0, 8.0, "mistakes. So in this bonus episode, we look", "T"),  # 43 chars
        Segment(8.0, 10.0, "back at them all.", "T"),
    ]
    merged = merge_phrases(cues)
    assert texts(merged) == [
        "When you first get started in podcasting, you make mistakes.",
        "So in this bonus episode, we look back at them all.",
    ]
    # "mistakes. " is 10 of the cue's 43 characters: the cut falls 10/43 of the way into its 4 s
    assert merged[0].end == merged[1].start == round(4.0 + 4.0 * 10 / 43, 3)
    assert (merged[0].start, merged[1].end) == (0.0, 10.0)


def test_inner_cuts_use_word_timings_when_the_segment_has_them() -> None:
    spoken = (Word(0.0, 0.4, "It"), Word(0.5, 0.9, "works."), Word(2.0, 2.3, "Next"), Word(2.4, 3.0, "part."))
    segment = Segment(0.0, 3.0, "It works. Next part.", "A", spoken)
    merged = merge_phrases([segment], min_chars=0)
    assert [(s.start, s.end, s.text, s.words) for s in merged] == [
        (0.0, 0.9, "It works.", spoken[:2]),
        (2.0, 3.0, "Next part.", spoken[2:]),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "We met at 9 a.m. and talked for an hour about it",
        "Version 3.5 is out and everyone seems to like it a lot",
        "Our long-time friend Dr. Smith joined us for this one",
        "Was it good? yes, lower case after a question mark is no new sentence",
    ],
)
def test_no_inner_cut_after_abbreviations_decimals_or_before_lower_case(text: str) -> None:
    assert texts(merge_phrases([Segment(0, 5, text, "A")], min_chars=0)) == [text]


def test_short_sentences_inside_one_segment_stay_together() -> None:
    assert texts(merge_phrases([Segment(0, 2, "Hi. Yes. No. Sure.", "A")])) == ["Hi. Yes. No. Sure."]


def test_a_segment_of_max_chars_or_more_is_never_divided_even_at_sentence_ends() -> None:
    long = "This paragraph is long. " * 9  # 216 characters: an HTML monologue, a publisher's choice
    assert texts(merge_phrases([Segment(0, 60, long, "A")])) == [long.strip()]


def test_a_speaker_change_mid_sentence_breaks() -> None:
    segments = [*words("So what I was going", speaker="A"), *words("to say is no.", start=2.0, speaker="B")]
    merged = merge_phrases(segments)
    assert [(s.speaker, s.text) for s in merged] == [("A", "So what I was going"), ("B", "to say is no.")]


def test_a_pause_over_max_pause_breaks_and_one_at_the_limit_does_not() -> None:
    segments = [Segment(0, 1, "before", "A"), Segment(2.5, 3, "at limit", "A"), Segment(4.51, 5, "after", "A")]
    assert texts(merge_phrases(segments)) == ["before at limit", "after"]
    assert texts(merge_phrases(segments, max_pause=3.0)) == ["before at limit after"]


def test_without_punctuation_phrases_break_at_a_word_boundary_before_max_chars() -> None:
    text = " ".join(f"word{i}" for i in range(200))
    merged = merge_phrases(words(text, step=0.1))
    assert all(len(s.text) <= 200 for s in merged)
    assert all(len(s.text) > 190 for s in merged[:-1])  # filled up to the limit, not broken early
    assert " ".join(texts(merged)) == text


def test_max_chars_is_a_parameter() -> None:
    assert texts(merge_phrases(words("aa bb cc dd ee"), min_chars=0, max_chars=5)) == ["aa bb", "cc dd", "ee"]


def test_an_already_long_segment_stays_whole_and_alone() -> None:
    long = "x" * 150 + " " + "y" * 100
    segments = [Segment(0, 1, "Before,", "A"), Segment(1, 9, long, "A"), Segment(9, 10, "after.", "A")]
    assert texts(merge_phrases(segments)) == ["Before,", long, "after."]


def test_zero_length_segments_merge_like_any_other() -> None:
    segments = [Segment(2.16, 2.16, "Uh,", "A"), Segment(2.19, 2.73, "so", "A"), Segment(2.73, 2.73, "I", "A")]
    assert merge_phrases(segments) == [Segment(2.16, 2.73, "Uh, so I", "A")]


def test_overlapping_and_out_of_order_times_never_break_and_the_phrase_covers_them_all() -> None:
    """Two-line SRT cards split into lines share one time span (buzzcast.json does that)."""
    segments = [Segment(4.8, 8.25, "show. And Travis", "A"), Segment(4.8, 8.25, "together an outline.", "A"),
                Segment(3.0, 4.0, "earlier", "A")]  # fmt: skip
    assert merge_phrases(segments) == [Segment(3.0, 8.25, "show. And Travis together an outline. earlier", "A")]


@pytest.mark.parametrize(
    ("pieces", "joined"),
    [
        (["don", "'t"], "don't"),
        (["do", "n't"], "don't"),
        (["it", "’s", "fine"], "it’s fine"),
        (["word", ",", "next"], "word, next"),
        (["end", "."], "end."),
        (["really", "?!"], "really?!"),
        (["(", "aside", ")"], "(aside)"),
        (["“", "quoted", "”"], "“quoted ”"),  # the opener attaches; a lone closing quote is not punctuation
        (["100", "%"], "100%"),
        (["he", "said", "'hello'"], "he said 'hello'"),  # a quote, not a contraction
    ],
)
def test_punctuation_and_contractions_attach_to_the_previous_word(pieces: list[str], joined: str) -> None:
    segments = [Segment(i, i + 0.2, piece, None) for i, piece in enumerate(pieces, start=1)]
    assert texts(merge_phrases(segments, max_pause=5)) == [joined]


def test_empty_segments_are_dropped() -> None:
    segments = [Segment(0, 1, "a", "A"), Segment(1, 1, "  ", "A"), Segment(1, 1, "", "A"), Segment(1, 2, "b", "A")]
    assert texts(merge_phrases(segments)) == ["a b"]


def test_word_timings_are_kept_in_order() -> None:
    first = Segment(0, 1, "Hello", "A", (Word(0, 0.4, "Hel", 0.9), Word(0.4, 1, "lo", 0.8)))
    second = Segment(1, 2, "world.", "A", (Word(1, 2, "world.", 0.99),))
    assert merge_phrases([first, second])[0].words == (*first.words, *second.words)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="min_chars <= max_chars"):
        merge_phrases([], min_chars=300, max_chars=200)
    with pytest.raises(ValueError, match="max_pause must be >= 0"):
        merge_phrases([], max_pause=-1)


def test_one_word_segments_become_readable_phrases(shared_data: Path) -> None:
    raw = parse((shared_data / "transcripts/transcriptator/one_word_segments.json").read_bytes())
    merged = merge_phrases(raw)
    assert len(raw) == 392 and 10 <= len(merged) <= 40
    assert characters(merged) == characters(raw)  # nothing lost, added or moved
    assert all(len(s.text) <= 200 for s in merged)
    # phrases end at sentence ends unless a speaker change, a pause or the length limit forced the break
    for phrase, following in itertools.pairwise(merged):
        forced = following.speaker != phrase.speaker or following.start - phrase.end > 1.5
        assert forced or re.search(r"[.?!]$", phrase.text) or len(phrase.text) + len(following.text) > 150
    assert merged[0].text.startswith("Hey, Travis Albritain here. Uh, so I hope the, these episodes")
    assert [s.speaker for s in merged].index("Eric") == next(
        i for i, s in enumerate(merged) if s.text.startswith("So my name is Eric Nuzum")
    )


@pytest.mark.parametrize("name", ["buzzcast.json", "how_to_start_a_podcast.json", "buzzcast.srt"])
def test_merging_real_transcripts_keeps_every_word_in_order(shared_data: Path, name: str) -> None:
    raw = parse((shared_data / "transcripts/transcriptator" / name).read_bytes(), None, name)
    merged = merge_phrases(raw)
    assert characters(merged) == characters(raw)
    assert len(merged) < len(raw)
    assert all(m.end >= m.start for m in merged)


def test_merging_cost_is_linear_in_the_number_of_segments() -> None:
    """Eight times the segments: about eight times the CPU time, never 64."""
    assert_linear(merge_phrases, lambda n: words("tiny word. " * n, step=0.1), 1_250)
