"""Fixtures of the speech tests: real speech clips, the same speech in other containers, tiny.en.

The compressed variants of jfk.wav are encoded at test time with PyAV's bundled encoders (nothing
large is committed); they are session-scoped because several test modules use them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from cast_pipeline.speech import Transcriber, load_transcriber
from cast_pipeline.speech.decode import SAMPLE_RATE, decode_all
from cast_pipeline_tests.conftest import require_shared
from cast_pipeline_tests.speech.audiokit import encode_audio

# (file name, encoder, sample rate, channel layout): rates and layouts differ from the 16 kHz mono
# source on purpose, so decoding has to resample and downmix.
VARIANTS = {
    "mp3": ("jfk.mp3", "libmp3lame", 44_100, "stereo"),
    "m4a": ("jfk.m4a", "aac", 44_100, "stereo"),
    "opus": ("jfk.opus", "libopus", 48_000, "mono"),
    "flac": ("jfk.flac", "flac", 16_000, "mono"),
    "webm": ("jfk.webm", "libopus", 48_000, "stereo"),
}


def write_wav(samples: np.ndarray, dest: Path) -> Path:
    """16 kHz mono 16-bit PCM WAV of float32 ``samples`` (for synthetic test signals)."""
    return encode_audio(samples.astype(np.float32), dest, "pcm_s16le", SAMPLE_RATE, "mono")


@pytest.fixture(scope="session")
def audio_dir() -> Path:
    return require_shared() / "audio"


@pytest.fixture(scope="session")
def jfk_wav(audio_dir: Path) -> Path:
    return audio_dir / "jfk.wav"


@pytest.fixture(scope="session")
def jfk_variants(jfk_wav: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """jfk.wav re-encoded as mp3, m4a (AAC), opus (Ogg), flac and webm (Opus)."""
    folder = tmp_path_factory.mktemp("jfk-variants")
    samples = decode_all(jfk_wav)
    return {
        key: encode_audio(samples, folder / name, codec, rate, layout)
        for key, (name, codec, rate, layout) in VARIANTS.items()
    }


@pytest.fixture(scope="session")
def tiny() -> Iterator[Transcriber]:
    """The bundled tiny.en on CPU (int8, VAD on), loaded once for the whole session."""
    yield load_transcriber("faster-whisper", "tiny.en", "cpu", "default")
