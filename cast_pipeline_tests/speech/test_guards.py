"""Hallucination guards on synthetic segment sequences shaped like real Whisper failure modes."""

from __future__ import annotations

from cast_pipeline.segments import Segment
from cast_pipeline.speech.guards import (
    GuardThresholds,
    ScoredSegment,
    apply_guards,
    compression_ratio,
    longest_repeat,
)

SPEECH = [
    "And so, my fellow Americans, ask not what your country can do for you.",
    "Ask what you can do for your country.",
    "He was not an ill-disposed young man.",
]


def _seg(text: str, start: float = 0.0, **scores: float) -> ScoredSegment:
    return ScoredSegment(Segment(start, start + 2.0, text), **scores)


def _texts(items: list[ScoredSegment]) -> list[str]:
    kept, _ = apply_guards(items)
    return [s.text for s in kept]


def test_ordinary_speech_passes_untouched() -> None:
    scores = {"no_speech_prob": 0.05, "avg_logprob": -0.3}
    items = [_seg(t, i * 2.0, **scores) for i, t in enumerate(SPEECH)]
    kept, report = apply_guards(items)
    assert [s.text for s in kept] == SPEECH and report.total == 0


def test_short_real_repetitions_are_kept() -> None:
    """People do say "no, no, no" and "thank you, thank you": short runs are not a loop."""
    texts = ["No, no, no, no.", "Thank you. Thank you.", "Yeah, yeah, yeah, I know, I know what you mean."]
    assert _texts([_seg(t) for t in texts]) == texts


def test_a_segment_that_compresses_too_well_is_dropped() -> None:
    loop = "I'm going to go ahead and do it. " * 8
    assert compression_ratio(loop) > 2.8 > compression_ratio(SPEECH[0])
    kept, report = apply_guards([_seg(SPEECH[0]), _seg(loop), _seg(SPEECH[1])])
    assert [s.text for s in kept] == [SPEECH[0], SPEECH[1]] and report.compression == 1


def test_repeated_ngrams_dominating_a_segment_are_dropped() -> None:
    # compresses below 2.8 (so only the n-gram guard can catch it): "the end of" 5 times = 15 of 22 words
    text = "So this is the end of the end of the end of the end of the end of the story I guess"
    assert compression_ratio(text) < 2.8
    assert longest_repeat(text.lower().split(), 4) == (5, 15)
    kept, report = apply_guards([_seg(text)])
    assert kept == [] and report.repetition == 1


def test_silence_rule_needs_both_no_speech_and_low_confidence() -> None:
    items = [
        _seg("Thanks for watching!", 0.0, no_speech_prob=0.9, avg_logprob=-1.3),  # dropped
        _seg("Right.", 2.0, no_speech_prob=0.9, avg_logprob=-0.4),  # confident: kept
        _seg("Mm-hmm.", 4.0, no_speech_prob=0.2, avg_logprob=-1.5),  # unsure but speech: kept
    ]
    kept, report = apply_guards(items)
    assert [s.text for s in kept] == ["Right.", "Mm-hmm."] and report.silence == 1


def test_a_segment_repeated_verbatim_three_times_or_more_is_kept_once() -> None:
    loop = [_seg("Thank you for watching.", 10.0 + i * 2) for i in range(5)]
    kept, report = apply_guards([_seg(SPEECH[0]), *loop, _seg(SPEECH[1], 20.0)])
    assert [s.text for s in kept] == [SPEECH[0], "Thank you for watching.", SPEECH[1]]
    assert kept[1].start == 10.0 and report.verbatim == 4


def test_two_identical_segments_in_a_row_are_kept() -> None:
    texts = ["Okay.", "Okay.", SPEECH[2]]
    assert _texts([_seg(t, i * 2.0) for i, t in enumerate(texts)]) == texts


def test_verbatim_runs_compare_normalised_text() -> None:
    items = [_seg(t, i * 2.0) for i, t in enumerate(["Thank you.", "thank you", "Thank you!", "Bye."])]
    assert _texts(items) == ["Thank you.", "Bye."]


def test_empty_segments_are_dropped_silently_and_thresholds_are_configurable() -> None:
    items = [_seg("  "), _seg(" . "), _seg(SPEECH[0])]
    kept, report = apply_guards(items, GuardThresholds(max_compression_ratio=compression_ratio(SPEECH[0]) - 0.01))
    assert kept == [] and report.compression == 1 and report.total == 1
