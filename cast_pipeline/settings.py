"""Every setting of cast-pipeline, read from the environment in one place.

Why one module: ``cast-pipeline --help``, the README and the Dagster resources all list the same
settings, so they are declared once here with their environment variable, default and meaning.
Values are read when :func:`load_settings` is called, never at import time, so tests and notebooks
can change the environment first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path


@dataclass(frozen=True)
class Setting:
    env: str
    default: str
    help: str


# (field name, Setting). Order is the order shown in --help and the README.
SETTINGS: dict[str, Setting] = {
    "data_dir": Setting("CAST_DATA_DIR", "./data", "Where feeds, episodes, transcripts, audio and indexes are stored."),
    "feeds_file": Setting(
        "CAST_FEEDS_FILE", "./feeds.yaml", "YAML list of feed URLs that are registered on every run."
    ),
    "feed_refresh_seconds": Setting(
        "CAST_FEED_REFRESH_SECONDS",
        "900",
        "How often the new_episodes sensor re-checks each feed; a newly added feed is fetched on its next tick.",
    ),
    "user_agent": Setting(
        "CAST_USER_AGENT",
        "cast-pipeline/0.1 (podcast transcript archiver; respects ETag and Last-Modified)",
        "User-Agent sent when fetching feeds and transcripts.",
    ),
    "audio_user_agent": Setting(
        "CAST_AUDIO_USER_AGENT",
        "",
        "User-Agent for audio downloads; 'browser' sends a browser-like one for hosts that block bots.",
    ),
    "itunes_lookup_url": Setting(
        "CAST_ITUNES_LOOKUP_URL",
        "https://itunes.apple.com/lookup",
        "iTunes lookup API used to resolve Apple Podcasts URLs.",
    ),
    "await_transcript_days": Setting(
        "CAST_AWAIT_TRANSCRIPT_DAYS",
        "7",
        "Days a new episode without a ready-made transcript waits for one before audio + speech (0: never "
        "wait; per feed: `await_transcript_days` in feeds.yaml).",
    ),
    "pocketcasts": Setting(
        "CAST_POCKETCASTS",
        "on",
        "Look for a Pocket Casts transcript when the publisher has none: on or off (per feed: "
        "`pocketcasts: false` in feeds.yaml).",
    ),
    "pocketcasts_api_url": Setting(
        "CAST_POCKETCASTS_API_URL",
        "https://podcast-api.pocketcasts.com",
        "Pocket Casts API base URL (podcast search and show notes).",
    ),
    "pocketcasts_min_interval": Setting(
        "CAST_POCKETCASTS_MIN_INTERVAL", "1.0", "Seconds between two requests to Pocket Casts (politeness)."
    ),
    "pocketcasts_cache_seconds": Setting(
        "CAST_POCKETCASTS_CACHE_SECONDS",
        "3600",
        "Seconds a show's episode list from Pocket Casts is reused before it is fetched again.",
    ),
    "episodes_per_run": Setting(
        "CAST_EPISODES_PER_RUN",
        "25",
        "Episodes per Dagster run in backfills and sensor batches (a fleet: 400 episodes / this >= busy workers).",
    ),
    "http_timeout": Setting("CAST_HTTP_TIMEOUT", "30", "Seconds before an HTTP request is abandoned."),
    "max_feed_bytes": Setting("CAST_MAX_FEED_BYTES", str(30 * 1024 * 1024), "Largest feed accepted, in bytes."),
    "max_transcript_bytes": Setting(
        "CAST_MAX_TRANSCRIPT_BYTES", str(10 * 1024 * 1024), "Largest publisher transcript accepted, in bytes."
    ),
    "max_audio_bytes": Setting(
        "CAST_MAX_AUDIO_BYTES", str(2 * 1024 * 1024 * 1024), "Largest audio file accepted, in bytes."
    ),
    "speech_backend": Setting(
        "CAST_SPEECH_BACKEND", "faster-whisper", "Speech model backend: faster-whisper, parakeet or mlx-whisper."
    ),
    "speech_model": Setting(
        "CAST_SPEECH_MODEL",
        "tiny.en",
        "Speech model name or local path (tiny.en ships offline; e.g. large-v3-turbo, nvidia/parakeet-tdt-0.6b-v3).",
    ),
    "speech_device": Setting("CAST_SPEECH_DEVICE", "auto", "Device for the speech model: auto, cpu or cuda."),
    "speech_compute_type": Setting(
        "CAST_SPEECH_COMPUTE_TYPE", "default", "CTranslate2 compute type (int8, float16, int8_float16, default)."
    ),
    "speech_batch_size": Setting(
        "CAST_SPEECH_BATCH_SIZE",
        "4",
        "faster-whisper chunks decoded at once (ends re-decoded when a chunk stops early); 0 = sequential.",
    ),
    "speech_language": Setting(
        "CAST_SPEECH_LANGUAGE", "", "Force a spoken language (e.g. en); empty: feed language or auto-detect."
    ),
    "diarization": Setting(
        "CAST_DIARIZATION",
        "resemblyzer",
        "Who spoke when in speech transcripts: resemblyzer (offline, CPU), pyannote, nemo, or off.",
    ),
    "diarization_model": Setting(
        "CAST_DIARIZATION_MODEL",
        "",
        "pyannote pipeline or NeMo model name/path; resemblyzer: clustering ahc or spectral (empty: default).",
    ),
    "name_speakers": Setting(
        "CAST_NAME_SPEAKERS",
        "false",
        "true: give the most talkative speakers the names a feed lists in feeds.yaml (speakers: [...]).",
    ),
    "embedding_model": Setting(
        "CAST_EMBEDDING_MODEL",
        "all-MiniLM-L6-v2",
        "sentence-transformers model name or path (all-MiniLM-L6-v2 ships offline).",
    ),
    "query_encoder": Setting(
        "CAST_QUERY_ENCODER", "onnx", "Query encoder: onnx (exported once, no torch) or sentence-transformers."
    ),
    "cache_dir": Setting("CAST_CACHE_DIR", "~/.cache/cast-pipeline", "Cache of derived files (ONNX models)."),
    "service_url": Setting(
        "CAST_SERVICE_URL", "", "URL of a running `cast-pipeline serve` for the CLI; empty: the one this data dir runs."
    ),
    "api_token": Setting("CAST_API_TOKEN", "", "Bearer token `cast-pipeline serve` requires (needed with --host)."),
    "dagster_ui_url": Setting(
        "CAST_DAGSTER_UI_URL", "http://127.0.0.1:3000", "Dagster UI base URL the reader links episodes to."
    ),
}


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    feeds_file: Path
    feed_refresh_seconds: float
    user_agent: str
    audio_user_agent: str
    itunes_lookup_url: str
    await_transcript_days: float
    pocketcasts: str
    pocketcasts_api_url: str
    pocketcasts_min_interval: float
    pocketcasts_cache_seconds: int
    episodes_per_run: int
    http_timeout: float
    max_feed_bytes: int
    max_transcript_bytes: int
    max_audio_bytes: int
    speech_backend: str
    speech_model: str
    speech_device: str
    speech_compute_type: str
    speech_batch_size: int
    speech_language: str
    diarization: str
    diarization_model: str
    name_speakers: str
    embedding_model: str
    query_encoder: str
    cache_dir: Path
    service_url: str
    api_token: str
    dagster_ui_url: str


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment (falling back to defaults), with explicit ``overrides`` on top."""
    values: dict[str, object] = {}
    for f in fields(Settings):
        setting = SETTINGS[f.name]
        raw = overrides.get(f.name, os.environ.get(setting.env) or setting.default)
        kind = f.type if isinstance(f.type, str) else f.type.__name__
        try:
            if kind == "Path":
                values[f.name] = Path(str(raw)).expanduser().absolute()
            elif kind == "int":
                values[f.name] = int(str(raw))
            elif kind == "float":
                values[f.name] = float(str(raw))
            else:
                values[f.name] = str(raw)
        except ValueError as exc:
            raise ValueError(f"setting {setting.env}={raw!r} is not a valid {kind}: {exc}") from None
    return Settings(**values)  # type: ignore[arg-type]


def settings_help() -> str:
    """Human-readable list of every setting, for ``--help`` and the README."""
    return "\n".join(f"  {s.env:<28} {s.help} (default: {s.default or 'empty'})" for s in SETTINGS.values())
