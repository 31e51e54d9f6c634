"""transcripts.store.choose_source: publisher first, else the newest speech-<location>.json."""

from __future__ import annotations

import os

import pytest

from cast_pipeline.paths import DataPaths, write_text_atomic
from cast_pipeline.segments import Segment, segments_to_json
from cast_pipeline.transcripts.store import choose_source, speech_file

KEY = "example-org-feed-12345678--ep-1-0123456789"


def _speech(paths: DataPaths, location: str, text: str, mtime: int) -> None:
    path = paths.episode_file(KEY, speech_file(location))
    doc = segments_to_json([Segment(0.0, 2.0, text)], source="speech", backend="faster-whisper", model=location)
    write_text_atomic(path, doc)
    os.utime(path, ns=(mtime, mtime))


def test_newest_speech_result_wins_unless_the_publisher_has_a_transcript(paths: DataPaths) -> None:
    assert choose_source(paths, KEY) is None
    _speech(paths, "gpu", "from the gpu", 2_000_000_000_000_000_000)
    _speech(paths, "mac", "from the mac", 1_000_000_000_000_000_000)
    segments, meta = choose_source(paths, KEY)
    assert segments[0].text == "from the gpu" and meta["source"] == "faster-whisper:gpu"
    _speech(paths, "mac", "from the mac, later", 3_000_000_000_000_000_000)  # a re-transcription backfill
    assert choose_source(paths, KEY)[0][0].text == "from the mac, later"

    publisher = paths.episode_file(KEY, "publisher.json")
    write_text_atomic(publisher, segments_to_json([], status="none", source=""))
    assert choose_source(paths, KEY)[0][0].text == "from the mac, later"  # nothing usable from the publisher
    write_text_atomic(publisher, segments_to_json([Segment(0.0, 1.0, "publisher")], status="found", source="p:vtt"))
    segments, meta = choose_source(paths, KEY)
    assert segments[0].text == "publisher" and meta["source"] == "p:vtt"


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "x.json"])
def test_speech_file_names_only_plain_prefixes(bad: str) -> None:
    with pytest.raises(ValueError):
        speech_file(bad)
