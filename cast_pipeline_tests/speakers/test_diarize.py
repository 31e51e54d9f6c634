"""Floors of the default diarizer on conversations of real people (cast_pipeline_tests/speakers/conversations.py).

Each conversation is transcribed once by faster-whisper tiny.en (word timestamps), then diarized with
the settings' default (Resemblyzer + clustering). Floors: at least 90 % of words to the right speaker
with two people, 80 % with three, the right number of speakers, and one speaker found when there is
one. bench/bench_speakers.py measures the same on longer conversations and compares the options.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cast_pipeline.settings import load_settings
from cast_pipeline.speakers import diarizer_from_settings
from cast_pipeline.speakers.align import assign_speakers
from cast_pipeline.speakers.metrics import diarization_error, word_accuracy
from cast_pipeline.speech import load_transcriber
from cast_pipeline.speech.decode import SAMPLE_RATE
from cast_pipeline_tests.speakers.conversations import build_conversation
from cast_pipeline_tests.speech.audiokit import encode_audio

pytestmark = pytest.mark.slow

CASES = [
    # speakers, turns, seed, minimum share of words right, maximum DER
    (("librivox", "bruce"), 12, 11, 0.90, 0.15),
    (("jfk", "librivox", "bruce"), 14, 12, 0.80, 0.25),
]


def _diarize(tmp_path: Path, speakers: tuple[str, ...], turns: int, seed: int):
    conv = build_conversation(speakers, turns, seed=seed, max_turn=10.0)
    assert conv.duration < 120  # a short test
    audio = encode_audio(conv.samples, tmp_path / "conversation.wav", "pcm_s16le", SAMPLE_RATE, "mono")
    speech = load_transcriber("faster-whisper", "tiny.en", "cpu").transcribe(audio)
    diarizer = diarizer_from_settings(load_settings())
    assert diarizer is not None
    result = diarizer.diarize(audio, speech.segments)
    labelled = assign_speakers(speech.segments, result.turns)
    words = [(w.start, w.end, s.speaker) for s in labelled for w in s.words]
    return conv, result, labelled, words


@pytest.mark.parametrize(("speakers", "turns", "seed", "words_floor", "der_ceiling"), CASES)
def test_words_go_to_the_right_speaker(
    tmp_path: Path, speakers: tuple[str, ...], turns: int, seed: int, words_floor: float, der_ceiling: float
) -> None:
    conv, result, labelled, words = _diarize(tmp_path, speakers, turns, seed)
    accuracy = word_accuracy(conv.turns, words)
    der = diarization_error(conv.turns, result.turns)
    print(f"{len(speakers)} speakers, {conv.duration:.0f} s: words {accuracy:.1%}, DER {der.rate:.1%}")
    assert len(conv.turns) >= 10  # a real conversation: turns of 2-10 s, some back to back
    assert len(result.speakers) == len(speakers)
    assert accuracy >= words_floor
    assert der.rate <= der_ceiling
    assert result.speakers == [f"Speaker {i + 1}" for i in range(len(speakers))]  # by first appearance
    assert labelled[0].speaker == "Speaker 1" and len(words) > 100


def test_one_person_is_one_speaker(tmp_path: Path) -> None:
    _conv, result, _, words = _diarize(tmp_path, ("bruce",), 6, 13)
    assert result.speakers == ["Speaker 1"] and {s for _, _, s in words} == {"Speaker 1"}
