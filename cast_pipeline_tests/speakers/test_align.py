"""Turns onto words: segments cut where their words change speaker, labels by first appearance, names."""

from __future__ import annotations

from cast_pipeline.segments import Segment, Word
from cast_pipeline.speakers.align import apply_names, assign_speakers, renumber
from cast_pipeline.speakers.model import Turn
from cast_pipeline.transcripts.merge import merge_phrases


def _segment(start: float, words: list[tuple[float, float, str]]) -> Segment:
    ws = tuple(Word(a, b, t) for a, b, t in words)
    return Segment(start, ws[-1].end, " ".join(t for _, _, t in words), words=ws)


def test_a_segment_is_cut_where_its_words_change_speaker() -> None:
    seg = _segment(
        0.0, [(0.0, 0.4, "Is"), (0.4, 0.8, "that"), (0.8, 1.2, "right?"), (1.3, 1.6, "Yes,"), (1.6, 2.0, "it")]
    )
    turns = [Turn(0.0, 1.25, "B"), Turn(1.25, 2.0, "A")]
    out = assign_speakers([seg], turns)
    assert [(s.speaker, s.text, s.start, s.end) for s in out] == [
        ("Speaker 1", "Is that right?", 0.0, 1.2),
        ("Speaker 2", "Yes, it", 1.3, 2.0),
    ]
    assert [len(s.words) for s in out] == [3, 2]


def test_words_between_or_beside_turns_go_to_the_nearest_turn() -> None:
    seg = _segment(0.0, [(0.0, 0.3, "one"), (5.0, 5.3, "two"), (9.8, 10.4, "three")])
    turns = [Turn(0.5, 2.0, "x"), Turn(6.0, 9.0, "y")]
    out = assign_speakers([seg], turns)
    assert [(s.speaker, s.text) for s in out] == [("Speaker 1", "one"), ("Speaker 2", "two three")]


def test_a_segment_without_words_goes_whole_to_the_turn_overlapping_it_most() -> None:
    segs = [Segment(0.0, 4.0, "no word timings here"), Segment(4.0, 6.0, "nor here")]
    turns = [Turn(0.0, 1.5, "x"), Turn(1.5, 5.5, "y"), Turn(5.5, 6.0, "x")]
    assert [s.speaker for s in assign_speakers(segs, turns)] == ["Speaker 1", "Speaker 1"]  # y, first seen
    assert assign_speakers(segs, []) == segs


def test_labels_follow_first_appearance_in_the_transcript() -> None:
    segs = [Segment(0, 1, "a", "Speaker 3"), Segment(1, 2, "b", "Speaker 1"), Segment(2, 3, "c", "Speaker 3")]
    assert [s.speaker for s in renumber(segs)] == ["Speaker 1", "Speaker 2", "Speaker 1"]


def test_phrases_never_straddle_two_speakers() -> None:
    seg = _segment(0.0, [(0.0, 0.3, "Right"), (0.3, 0.6, "so"), (0.6, 0.9, "then"), (0.9, 1.2, "we"), (1.2, 1.5, "go")])
    out = merge_phrases(assign_speakers([seg], [Turn(0.0, 0.6, "a"), Turn(0.6, 1.5, "b")]))
    assert [(p.speaker, p.text) for p in out] == [("Speaker 1", "Right so"), ("Speaker 2", "then we go")]


def test_names_go_to_the_most_talkative_speakers_in_order_of_first_appearance() -> None:
    segs = [
        Segment(0, 1, "short guest bit", "Speaker 1"),
        Segment(1, 11, "host B talks long", "Speaker 2"),
        Segment(11, 31, "host A talks longest", "Speaker 3"),
        Segment(31, 32, "guest again", "Speaker 1"),
    ]
    named = apply_names(segs, ["Alice", "Bob"])
    # Speakers 2 and 3 talk most; Speaker 2 appears first, so it is Alice.
    assert [s.speaker for s in named] == ["Speaker 1", "Alice", "Bob", "Speaker 1"]
    assert [s.speaker for s in apply_names(segs[:2], ["Alice", "Bob", "Carol"])] == ["Alice", "Bob"]
