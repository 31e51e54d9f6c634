"""DER and word accuracy against hand-worked examples."""

from __future__ import annotations

import pytest

from cast_pipeline.speakers.metrics import diarization_error, word_accuracy
from cast_pipeline.speakers.model import Turn

REF = [Turn(0.0, 10.0, "alice"), Turn(10.0, 20.0, "bob")]


def test_a_perfect_hypothesis_with_other_labels_scores_zero() -> None:
    der = diarization_error(REF, [Turn(0.0, 10.0, "Speaker 2"), Turn(10.0, 20.0, "Speaker 1")])
    assert der.rate == 0.0
    assert der.speech == pytest.approx(19.0, abs=0.02)  # collars: 0-0.25 s, 9.75-10.25 s, 19.75-20 s


def test_missed_false_alarm_and_confusion_are_counted_outside_the_collar() -> None:
    hyp = [Turn(0.0, 8.0, "s1"), Turn(8.0, 10.0, "s2"), Turn(10.0, 20.0, "s2"), Turn(25.0, 27.0, "s2")]
    der = diarization_error(REF, hyp, collar=0.0)
    assert der.confusion == pytest.approx(2.0, abs=0.02)  # 8-10 s given to bob's label
    assert der.false_alarm == pytest.approx(2.0, abs=0.02)
    assert der.missed == 0.0
    assert der.rate == pytest.approx(4.0 / 20.0, abs=0.002)
    only_alice = diarization_error(REF, [Turn(0.0, 10.0, "s1")], collar=0.0)
    assert only_alice.missed == pytest.approx(10.0, abs=0.02)


def test_word_accuracy_maps_labels_one_to_one() -> None:
    words = [(1.0, 1.5, "A"), (2.0, 2.5, "A"), (11.0, 11.5, "B"), (12.0, 12.5, "A")]
    assert word_accuracy(REF, words) == 0.75
    assert word_accuracy(REF, [(1.0, 1.5, "A"), (11.0, 11.5, "A")]) == 0.5  # one label cannot be both people
