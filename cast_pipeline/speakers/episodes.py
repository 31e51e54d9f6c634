"""Diarize an episode's speech result, and put speakers on a transcript built from it.

Files (cast_pipeline.paths): ``speakers-<location>.json`` beside the ``speech-<location>.json`` it was
made from, holding the turns and the speech file's SHA-1 (``speech_fingerprint``). A transcript takes
speakers only from the file of the same location whose fingerprint matches the speech it uses, so a
re-transcription never gets the previous run's turns; until it is diarized again the transcript has
no speakers rather than wrong ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from cast_pipeline.feeds.model import Episode
from cast_pipeline.feeds.registry import FeedsFileError, read_feed_entries
from cast_pipeline.keys import InvalidKeyError, normalize_feed_url
from cast_pipeline.paths import DataPaths, write_text_atomic
from cast_pipeline.segments import Segment, segments_from_json
from cast_pipeline.settings import Settings, load_settings
from cast_pipeline.speakers import enabled
from cast_pipeline.speakers.align import apply_names, assign_speakers
from cast_pipeline.speakers.diarize import Diarizer
from cast_pipeline.speakers.model import SpeakerResult, content_fingerprint, read_turns, speakers_file


class NoSpeechError(FileNotFoundError):
    """The episode has no speech result at this location yet."""


def speech_path(paths: DataPaths, episode_key: str, location: str):
    from cast_pipeline.transcripts.store import speech_file  # store imports this module

    return paths.episode_file(episode_key, speech_file(location))


def diarize_episode(paths: DataPaths, episode_key: str, location: str, diarizer: Diarizer) -> SpeakerResult:
    """Diarize the audio of ``speech-<location>.json`` and write ``speakers-<location>.json``."""
    source = speech_path(paths, episode_key, location)
    if not source.exists():
        raise NoSpeechError(
            f"episode {episode_key} has no {source.name} to diarize; materialise {location}/speech_transcript first"
        )
    segments, meta = segments_from_json(source.read_bytes())
    audio_name = meta.get("audio_file")
    if not audio_name:
        raise ValueError(f"{source} does not name its audio file (audio_file); transcribe the episode again")
    audio = paths.episode_file(episode_key, str(audio_name))
    if not audio.exists():
        raise FileNotFoundError(f"audio {audio} of episode {episode_key} is gone; materialise audio again")
    fingerprint = content_fingerprint(source)
    result = diarizer.diarize(audio, segments)
    text = result.to_json(
        episode_key=episode_key,
        location=location,
        speech_file=source.name,
        speech_fingerprint=fingerprint,
        audio_file=audio.name,
        diarized_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    write_text_atomic(paths.episode_file(episode_key, speakers_file(location)), text)
    return result


def feed_speaker_names(settings: Settings, feed_url: str) -> tuple[str, ...]:
    """Host names for the feed from the feeds file, when naming is asked for (entry flag or CAST_NAME_SPEAKERS)."""
    try:
        entries = read_feed_entries(settings.feeds_file)
    except (FeedsFileError, OSError):
        return ()  # the run that registers feeds reports a broken feeds file; never fail a transcript for it
    asked = settings.name_speakers.strip().lower() in ("1", "true", "yes", "on")
    for entry in entries:
        try:
            same = normalize_feed_url(entry.url) == normalize_feed_url(feed_url)
        except InvalidKeyError:
            same = entry.url == feed_url
        if same:
            return entry.speakers if (asked or entry.name_speakers) else ()
    return ()


def label_speakers(
    paths: DataPaths,
    episode: Episode,
    segments: Sequence[Segment],
    source_meta: dict[str, Any],
    settings: Settings | None = None,
) -> tuple[list[Segment], dict[str, Any]]:
    """``segments`` with speakers from the matching speakers file, and what to record about it."""
    settings = settings or load_settings()
    location = source_meta.get("location")
    if not location or not enabled(settings):  # publisher transcripts carry their own speakers
        return list(segments), {}
    found = read_turns(paths.episode_file(episode.key, speakers_file(str(location))))
    if found is None:
        return list(segments), {"speakers": "not diarized"}
    turns, meta = found
    speech = speech_path(paths, episode.key, str(location))
    if not speech.exists() or meta.get("speech_fingerprint") != content_fingerprint(speech):
        return list(segments), {"speakers": "stale (made for another speech result): re-run speakers"}
    labelled = assign_speakers(segments, turns)
    names = feed_speaker_names(settings, episode.feed_url)
    if names:
        labelled = apply_names(labelled, names)
    found_speakers = list(dict.fromkeys(s.speaker for s in labelled if s.speaker))
    return labelled, {"speakers": found_speakers, "diarization": f"{meta.get('method')}:{meta.get('model')}"}
