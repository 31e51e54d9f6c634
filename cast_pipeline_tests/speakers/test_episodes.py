"""Speakers on a built transcript: only from the turns made for the very speech result in use.

Files are written as the assets write them (speech-local.json, speakers-local.json); the transcript
is built by cast_pipeline.transcripts.store like the transcript asset does.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cast_pipeline.feeds.model import Episode
from cast_pipeline.paths import DataPaths, write_text_atomic
from cast_pipeline.segments import Segment, Word
from cast_pipeline.speakers.model import SpeakerResult, Turn, content_fingerprint
from cast_pipeline.speech.backends.base import SpeechResult
from cast_pipeline.transcripts.render import render
from cast_pipeline.transcripts.store import build_transcript

KEY = "show-0123abcd--ep-1-0123456789"
FEED = "https://feeds.example.org/show.rss"


def _episode() -> Episode:
    return Episode(KEY, "show-0123abcd", FEED, "Show", "ep-1", "Two hosts")


def _speech(paths: DataPaths) -> Path:
    words = [Word(0.0, 0.5, "Hello"), Word(0.5, 1.0, "there."), Word(1.4, 1.8, "Hi"), Word(1.8, 2.2, "Alice.")]
    seg = Segment(0.0, 2.2, "Hello there. Hi Alice.", words=tuple(words))
    result = SpeechResult([seg], "en", 2.5, "tiny.en", "faster-whisper", "cpu", "int8", 0.3)
    path = paths.episode_file(KEY, "speech-local.json")
    write_text_atomic(path, result.to_json(episode_key=KEY, location="local", audio_file="audio.wav"))
    return path


def _speakers(paths: DataPaths, fingerprint: str) -> None:
    turns = [Turn(0.0, 1.2, "Speaker 1"), Turn(1.2, 2.5, "Speaker 2")]
    result = SpeakerResult(turns, "resemblyzer+ahc", "resemblyzer-ge2e@hop1", 2.5, 0.1)
    text = result.to_json(location="local", speech_file="speech-local.json", speech_fingerprint=fingerprint)
    write_text_atomic(paths.episode_file(KEY, "speakers-local.json"), text)


def test_turns_made_for_this_speech_label_the_transcript(paths: DataPaths) -> None:
    _speakers(paths, content_fingerprint(_speech(paths)))
    doc = build_transcript(paths, _episode())
    assert doc is not None
    assert [(s.speaker, s.text) for s in doc.segments] == [("Speaker 1", "Hello there."), ("Speaker 2", "Hi Alice.")]
    assert doc.meta["speakers"] == ["Speaker 1", "Speaker 2"]
    assert doc.meta["diarization"] == "resemblyzer+ahc:resemblyzer-ge2e@hop1"
    markdown = paths.episode_file(KEY, "transcript.md").read_text(encoding="utf-8")
    assert "**[00:00:00]** Speaker 1: Hello there." in markdown and "**[00:00:01]** Speaker 2: Hi Alice." in markdown
    assert "<v Speaker 2>Hi Alice." in render("vtt", doc.segments)
    assert "Speaker 1: Hello there." in render("srt", doc.segments)
    saved = json.loads(paths.episode_file(KEY, "transcript.json").read_text(encoding="utf-8"))
    assert [s["speaker"] for s in saved["segments"]] == ["Speaker 1", "Speaker 2"]


def test_turns_of_an_earlier_speech_result_are_not_used(paths: DataPaths) -> None:
    _speakers(paths, "0" * 40)  # made for another transcription of the episode
    _speech(paths)
    doc = build_transcript(paths, _episode())
    assert doc is not None and {s.speaker for s in doc.segments} == {None}
    assert doc.meta["speakers"].startswith("stale")


def test_diarization_off_leaves_speakers_out(paths: DataPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    _speakers(paths, content_fingerprint(_speech(paths)))
    monkeypatch.setenv("CAST_DIARIZATION", "off")
    doc = build_transcript(paths, _episode())
    assert doc is not None and {s.speaker for s in doc.segments} == {None}


@pytest.mark.parametrize(
    ("flag_in_file", "setting", "expected"),
    [(False, "", ["Speaker 1", "Speaker 2"]), (True, "", ["Alice", "Bob"]), (False, "true", ["Alice", "Bob"])],
)
def test_host_names_only_when_asked(
    paths: DataPaths, data_dir: Path, monkeypatch: pytest.MonkeyPatch, flag_in_file: bool, setting: str, expected: list
) -> None:
    feeds = data_dir.parent / "feeds.yaml"
    flag = "\n    name_speakers: true" if flag_in_file else ""
    feeds.write_text(f"feeds:\n  - url: {FEED}\n    speakers: [Alice, Bob]{flag}\n", encoding="utf-8")
    monkeypatch.setenv("CAST_NAME_SPEAKERS", setting)
    _speakers(paths, content_fingerprint(_speech(paths)))
    doc = build_transcript(paths, _episode())
    assert doc is not None and [s.speaker for s in doc.segments] == expected
