"""The one Segment type round-trips through JSON with its words and document metadata."""

from __future__ import annotations

from cast_pipeline.segments import Segment, Word, segments_from_json, segments_to_json, word_count


def test_json_round_trip_keeps_words_speakers_and_meta() -> None:
    segments = [
        Segment(0.0, 1.5, "Hello there.", "Alice", (Word(0.0, 0.5, "Hello", 0.9), Word(0.6, 1.5, "there.", None))),
        Segment(1.5, 3.0, "Hi.", None),
    ]
    text = segments_to_json(segments, source="podcast2.0:vtt", model=None)
    back, meta = segments_from_json(text)
    assert back == segments
    assert meta == {"source": "podcast2.0:vtt", "model": None}
    assert word_count(back) == 3


def test_times_are_rounded_to_milliseconds() -> None:
    (seg,), _ = segments_from_json(segments_to_json([Segment(0.123456, 2.0004, "x")]))
    assert (seg.start, seg.end) == (0.123, 2.0)
    assert seg.duration == 2.0 - 0.123
