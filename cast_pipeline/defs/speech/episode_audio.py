"""An episode's downloaded audio: ``audio.<ext>`` plus ``audio.json`` saying where it came from.

Plain Python (no Dagster), shared by the ``audio`` asset, the speech assets and the sensors.

Why a record beside the file: the ``audio`` asset must be idempotent (a re-run reuses a complete,
valid download of the same URL instead of fetching hundreds of megabytes again), and the speech
sensors must tell "new audio" from "the same file recorded again". The record keeps the URL, size
and a cheap fingerprint (size + modification time, no hashing of gigabytes); the speech result
stores the fingerprint of the file it transcribed, so a re-download is transcribed again and a
reuse is not.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from cast_pipeline.feeds.model import Episode
from cast_pipeline.paths import DataPaths, write_text_atomic
from cast_pipeline.speech.sniff import SNIFF_BYTES, sniff_audio_format

AUDIO_STEM = "audio"  # download_audio names the file audio.<sniffed extension>
AUDIO_RECORD = "audio.json"


class AudioNotAllowedError(Exception):
    """The episode's enclosure cannot or must not be downloaded (none, or a local file from a remote feed)."""


@dataclass(frozen=True)
class AudioRecord:
    file: str  # e.g. "audio.mp3", in the episode's directory
    url: str  # the enclosure URL it was downloaded from
    format: str  # sniffed container (also the extension)
    bytes: int
    content_type: str | None  # as served (None for file:// URLs)
    fingerprint: str
    downloaded_at: str  # ISO 8601, UTC


def fingerprint(path: Path) -> str:
    """``<size>-<mtime ns>``: changes when the file is downloaded again, not when it is reused."""
    st = path.stat()
    return f"{st.st_size}-{st.st_mtime_ns}"


def checked_enclosure(episode: Episode) -> str:
    """The enclosure URL to download, or :class:`AudioNotAllowedError` saying why not.

    Security: a ``file://`` enclosure is accepted only from a feed that is itself a local file.
    Otherwise anyone publishing a feed on the network could make us copy (and transcribe, and
    index) arbitrary files of this machine.
    """
    url = (episode.enclosure_url or "").strip()
    if not url:
        raise AudioNotAllowedError(
            f"episode {episode.key} ({episode.title!r}) has no audio enclosure and no usable publisher "
            "transcript: there is nothing to transcribe"
        )
    if urlsplit(url).scheme.lower() == "file" and urlsplit(episode.feed_url).scheme.lower() != "file":
        raise AudioNotAllowedError(
            f"episode {episode.key}: refusing the local file enclosure {url} of the remote feed "
            f"{episode.feed_url}; only feeds that are local files may point at local audio"
        )
    return url


def audio_record_path(paths: DataPaths, episode_key: str) -> Path:
    return paths.episode_file(episode_key, AUDIO_RECORD)


def load_audio_record(paths: DataPaths, episode_key: str) -> AudioRecord | None:
    """The episode's audio record, or None when there is none (or it is unreadable)."""
    path = audio_record_path(paths, episode_key)
    try:
        return AudioRecord(**json.loads(path.read_text(encoding="utf-8")))
    except (FileNotFoundError, ValueError, TypeError):
        return None


def save_audio_record(paths: DataPaths, episode_key: str, record: AudioRecord) -> None:
    write_text_atomic(audio_record_path(paths, episode_key), json.dumps(asdict(record), indent=1))


def new_record(path: Path, url: str, fmt: str, content_type: str | None) -> AudioRecord:
    return AudioRecord(
        file=path.name,
        url=url,
        format=fmt,
        bytes=path.stat().st_size,
        content_type=content_type,
        fingerprint=fingerprint(path),
        downloaded_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def reusable_audio(paths: DataPaths, episode_key: str, url: str) -> AudioRecord | None:
    """The record of a complete, still valid download of ``url``; None when it must be downloaded.

    Valid: same URL, the file exists with the recorded size and fingerprint, and still starts
    with audio magic bytes (a file truncated or replaced by hand is downloaded again).
    """
    record = load_audio_record(paths, episode_key)
    if record is None or record.url != url:
        return None
    path = paths.episode_file(episode_key, record.file)
    try:
        if path.stat().st_size != record.bytes or fingerprint(path) != record.fingerprint:
            return None
        with path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except FileNotFoundError:
        return None
    return record if sniff_audio_format(head) is not None else None


def episode_audio_path(paths: DataPaths, episode_key: str) -> Path:
    """The downloaded audio of the episode; FileNotFoundError says what to materialise first."""
    record = load_audio_record(paths, episode_key)
    if record is not None:
        path = paths.episode_file(episode_key, record.file)
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"episode {episode_key} has no downloaded audio (no valid {AUDIO_RECORD} in "
        f"{paths.episode_dir(episode_key)}); materialise its `audio` asset first"
    )
