"""The chosen transcript of an episode: pick the best source, merge into phrases, write JSON + Markdown.

Why here and not in the asset: the CLI (`transcript show`), notebooks and search read the same files,
and the rule "publisher first, else speech model" must have one home.

Files (see cast_pipeline.paths): ``publisher.json`` and ``pocketcasts.json`` (the ready-made
transcript providers' records, written by the publisher_transcript asset),
``speech-<location>.json`` (written by a speech_transcript asset: ``speech-local.json`` on a single
machine, ``speech-gpu.json`` / ``speech-mac.json`` by the transcription code locations), and the
result ``transcript.json`` / ``transcript.md``. ``transcript.json`` holds the merged segments plus
document metadata: episode key, title, feed, published, source (``podcast2.0:vtt`` for a publisher
transcript, ``<backend>:<model>`` such as ``faster-whisper:tiny.en`` for speech) and model.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cast_pipeline.feeds.model import Episode
from cast_pipeline.paths import DataPaths, write_text_atomic
from cast_pipeline.segments import Segment, segments_from_json, segments_to_json, word_count
from cast_pipeline.speakers.episodes import label_speakers
from cast_pipeline.transcripts.merge import merge_phrases
from cast_pipeline.transcripts.render import to_markdown

PUBLISHER_FILE = "publisher.json"
SPEECH_PREFIX = "speech-"  # speech-<location>.json, one per transcription location
TRANSCRIPT_JSON = "transcript.json"
TRANSCRIPT_MD = "transcript.md"


@dataclass(frozen=True)
class TranscriptDoc:
    episode_key: str
    segments: list[Segment]
    meta: dict[str, Any]

    @property
    def source(self) -> str:
        return str(self.meta.get("source", ""))

    def render_header(self) -> dict[str, Any]:
        """Title, feed title, publication date and source: the header ``render`` puts above the text."""
        published = self.meta.get("published")
        return {
            "title": self.meta.get("title") or self.episode_key,
            "feed_title": self.meta.get("feed_title") or "",
            "published": datetime.fromisoformat(published) if published else None,
            "source": self.source,
        }


def _read_source(path: Path) -> tuple[list[Segment], dict[str, Any]] | None:
    if not path.exists():
        return None
    segments, meta = segments_from_json(path.read_bytes())
    if meta.get("status", "found") != "found" or not segments:
        return None
    return segments, meta


def speech_file(location: str) -> str:
    """The speech result file of a transcription location: ``speech-<location>.json``."""
    if not location or not location.replace("_", "").isalnum():
        raise ValueError(f"not a location prefix: {location!r}")
    return f"{SPEECH_PREFIX}{location}.json"


def choose_source(paths: DataPaths, episode_key: str) -> tuple[list[Segment], dict[str, Any]] | None:
    """A ready-made transcript (best provider first), else the newest speech result, else None (needs audio).

    Why the newest speech file: each transcription location (CPU, GPU box, Mac) writes its own
    ``speech-<location>.json``, so two locations never write the same file; when an episode was
    transcribed more than once (a re-transcription backfill with a better model on another machine),
    the latest one wins. A speech result gets ``source`` ``<backend>:<model>`` so every transcript
    says which model made it.
    """
    from cast_pipeline.transcripts.providers import providers  # here: providers import this package

    for provider in providers():  # publisher > pocketcasts > ... (by priority)
        found = _read_source(paths.episode_file(episode_key, provider.record_file))
        if found is not None:
            return found
    speech = sorted(
        paths.episode_dir(episode_key).glob(f"{SPEECH_PREFIX}*.json"),
        key=lambda p: p.stat().st_mtime_ns,
        reverse=True,
    )
    for path in speech:
        found = _read_source(path)
        if found is not None:
            segments, meta = found
            if meta.get("source") == "speech" and meta.get("backend") and meta.get("model"):
                meta = {**meta, "source": f"{meta['backend']}:{meta['model']}"}
            return segments, meta
    return None


def build_transcript(paths: DataPaths, episode: Episode) -> TranscriptDoc | None:
    """Write ``transcript.json`` and ``transcript.md`` for the episode; None when no source exists yet."""
    found = choose_source(paths, episode.key)
    if found is None:
        return None
    raw, source_meta = found
    labelled, speaker_meta = label_speakers(paths, episode, raw, source_meta)  # speech sources: who spoke when
    segments = merge_phrases(labelled)
    meta: dict[str, Any] = {
        "episode_key": episode.key,
        "title": episode.title,
        "feed_title": episode.feed_title,
        "feed_url": episode.feed_url,
        "published": episode.published.isoformat() if episode.published else None,
        "enclosure_url": episode.enclosure_url,
        "language": source_meta.get("language") or episode.language,
        "source": source_meta.get("source", "unknown"),
        "model": source_meta.get("model"),
        "source_segments": len(raw),
        **speaker_meta,
    }
    write_text_atomic(paths.episode_file(episode.key, TRANSCRIPT_JSON), segments_to_json(segments, **meta))
    markdown = to_markdown(
        segments,
        title=episode.title,
        feed_title=episode.feed_title,
        published=episode.published,
        source=meta["source"],
        link=episode.link,
    )
    write_text_atomic(paths.episode_file(episode.key, TRANSCRIPT_MD), markdown)
    return TranscriptDoc(episode.key, segments, meta)


def previous_source(paths: DataPaths, episode_key: str) -> str | None:
    """The source of the transcript currently on disk (None when there is none or it is unreadable)."""
    try:
        return str(load_transcript(paths, episode_key).meta.get("source") or "") or None
    except (OSError, ValueError, KeyError):
        return None


def load_transcript(paths: DataPaths, episode_key: str) -> TranscriptDoc:
    """The episode's chosen transcript; FileNotFoundError says what to run when it does not exist."""
    path = paths.episode_file(episode_key, TRANSCRIPT_JSON)
    if not path.exists():
        raise FileNotFoundError(
            f"episode {episode_key} has no transcript yet (looked for {path}); run `cast-pipeline run` "
            "or materialise the transcript asset for that partition"
        )
    try:
        segments, meta = segments_from_json(path.read_bytes())
    except (ValueError, KeyError, TypeError) as exc:  # truncated or overwritten: name the file and the fix
        raise ValueError(
            f"the transcript of episode {episode_key} at {path} is damaged ({type(exc).__name__}: "
            f"{str(exc)[:120]}); `cast-pipeline run --repair` rebuilds it"
        ) from None
    return TranscriptDoc(episode_key, segments, meta)


def transcript_stats(doc: TranscriptDoc) -> dict[str, Any]:
    """Figures shown as asset metadata and in the CLI summary."""
    duration = max((s.end for s in doc.segments), default=0.0)
    return {
        "segments": len(doc.segments),
        "words": word_count(doc.segments),
        "duration_seconds": round(duration, 1),
        "source": doc.source,
    }
