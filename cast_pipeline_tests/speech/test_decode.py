"""Decoding: every podcast container to 16 kHz mono float32, in bounded chunks and windows."""

from __future__ import annotations

import itertools
import tracemalloc
import wave
from pathlib import Path

import numpy as np
import pytest

from cast_pipeline.speech.decode import (
    SAMPLE_RATE,
    WindowPlan,
    decode_all,
    iter_chunks,
    iter_windows,
    probe_duration,
)
from cast_pipeline.speech.errors import AudioError
from cast_pipeline_tests.speech.conftest import write_wav

JFK_SECONDS = 11.0


@pytest.mark.parametrize("kind", ["mp3", "m4a", "opus", "flac", "webm"])
def test_every_container_decodes_to_the_same_16khz_mono_speech(
    kind: str, jfk_wav: Path, jfk_variants: dict[str, Path]
) -> None:
    reference = decode_all(jfk_wav)
    audio = decode_all(jfk_variants[kind])
    assert audio.dtype == np.float32 and audio.ndim == 1
    # encoders add up to ~50 ms of priming/padding; the speech itself must be all there
    assert abs(audio.size / SAMPLE_RATE - JFK_SECONDS) < 0.1
    assert abs(probe_duration(jfk_variants[kind]) - JFK_SECONDS) < 0.1
    # same loudness as the source (downmix and resampling did not halve or clip it)
    assert np.sqrt(np.mean(audio**2)) == pytest.approx(np.sqrt(np.mean(reference**2)), rel=0.15)
    assert np.abs(audio).max() <= 1.0


def test_wav_decodes_exactly(jfk_wav: Path) -> None:
    with wave.open(str(jfk_wav)) as wav:  # an independent reader: the stdlib's
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (SAMPLE_RATE, 1, 2)
        raw = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
    audio = decode_all(jfk_wav)
    assert audio.size == raw.size == int(JFK_SECONDS * SAMPLE_RATE)
    np.testing.assert_allclose(audio, raw, atol=1e-6)


def test_chunks_are_bounded_and_add_up(jfk_wav: Path) -> None:
    chunks = list(iter_chunks(jfk_wav, chunk_seconds=3.0))
    assert [c.size for c in chunks] == [48_000, 48_000, 48_000, 32_000]
    np.testing.assert_array_equal(np.concatenate(chunks), decode_all(jfk_wav))


@pytest.mark.parametrize("name", ["bad.wav", "null.wav"])
def test_header_only_wavs_are_rejected_naming_the_file(audio_dir: Path, name: str) -> None:
    path = audio_dir / "bad" / name
    with pytest.raises(AudioError, match=name):
        decode_all(path)
    with pytest.raises(AudioError, match=name):
        probe_duration(path)


def test_zero_byte_missing_and_non_audio_files_are_rejected(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match=r"empty.mp3 is empty \(0 bytes\)"):
        decode_all(empty)
    with pytest.raises(AudioError, match="does not exist"):
        decode_all(tmp_path / "missing.mp3")
    page = tmp_path / "page.mp3"
    page.write_text("<html><body>" + "not audio " * 200 + "</body></html>")
    with pytest.raises(AudioError, match=r"page\.mp3"):
        decode_all(page)


def test_a_truncated_file_decodes_what_is_there(tmp_path: Path, jfk_variants: dict[str, Path]) -> None:
    data = jfk_variants["mp3"].read_bytes()
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(data[: len(data) // 2])
    seconds = decode_all(cut).size / SAMPLE_RATE
    assert 4.5 < seconds < 6.5


def test_windows_without_overlap_tile_the_audio(jfk_wav: Path) -> None:
    audio = decode_all(jfk_wav)
    windows = list(iter_windows(jfk_wav, WindowPlan(window_seconds=4.0), chunk_seconds=1.0))
    assert [w.offset for w in windows] == [0.0, 4.0, 8.0]
    np.testing.assert_array_equal(np.concatenate([w.samples for w in windows]), audio)
    assert [w.index for w in windows] == [0, 1, 2]
    assert windows[0].keep_start == 0.0 and windows[-1].keep_end == float("inf")


def test_overlapping_windows_share_audio_and_split_ownership_midway(jfk_wav: Path) -> None:
    audio = decode_all(jfk_wav)
    plan = WindowPlan(window_seconds=3.0, overlap_seconds=1.0)
    windows = list(iter_windows(jfk_wav, plan, chunk_seconds=0.5))
    assert [w.offset for w in windows] == [0.0, 2.0, 4.0, 6.0, 8.0]
    for w in windows:  # each window holds exactly the episode's samples at its offset
        start = round(w.offset * SAMPLE_RATE)
        np.testing.assert_array_equal(w.samples, audio[start : start + w.samples.size])
    for before, after in itertools.pairwise(windows):
        assert before.keep_end == after.keep_start == pytest.approx(after.offset + 0.5)
    assert windows[-1].end == pytest.approx(JFK_SECONDS)


def test_the_last_window_is_never_a_sliver(jfk_wav: Path) -> None:
    """11 s in 5 s windows: a 1 s third window would invite hallucinations, so the second window
    takes the rest (a window is cut only with a quarter window more audio in hand)."""
    windows = list(iter_windows(jfk_wav, WindowPlan(window_seconds=5.0), chunk_seconds=1.0))
    assert [round(w.duration, 3) for w in windows] == [5.0, 6.0]
    windows = list(iter_windows(jfk_wav, WindowPlan(window_seconds=4.5), chunk_seconds=1.0))
    assert [round(w.duration, 3) for w in windows] == [4.5, 4.5, 2.0]  # 2 s >= a quarter of 4.5 s


def test_windows_are_cut_in_the_quietest_moment(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    signal = (0.3 * rng.standard_normal(12 * SAMPLE_RATE)).astype(np.float32)
    signal[int(4.2 * SAMPLE_RATE) : int(4.4 * SAMPLE_RATE)] = 0.0  # a pause 0.8 s before the 5 s mark
    path = write_wav(np.clip(signal, -1, 1), tmp_path / "noise.wav")
    first = next(iter_windows(path, WindowPlan(window_seconds=5.0, cut_search_seconds=2.0), chunk_seconds=1.0))
    assert 4.2 <= first.end <= 4.4


def test_invalid_plans_are_refused(jfk_wav: Path) -> None:
    with pytest.raises(ValueError, match="invalid window plan"):
        next(iter_windows(jfk_wav, WindowPlan(window_seconds=2.0, overlap_seconds=1.0)))


def _peak_bytes_decoding(path: Path, plan: WindowPlan) -> tuple[float, int]:
    tracemalloc.start()
    try:
        seconds = sum(w.duration for w in iter_windows(path, plan))
        return seconds, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_episode_length(tmp_path: Path) -> None:
    """Peak allocations while decoding in 30 s windows are the same for 4 and 12 minutes of audio,
    and far below the 12-minute episode as one float32 array (46 MB)."""
    minute = (0.1 * np.sin(np.linspace(0, 2 * np.pi * 440 * 60, 60 * SAMPLE_RATE))).astype(np.float32)
    plan = WindowPlan(window_seconds=30.0)
    short_s, short_peak = _peak_bytes_decoding(write_wav(np.tile(minute, 4), tmp_path / "short.wav"), plan)
    long_s, long_peak = _peak_bytes_decoding(write_wav(np.tile(minute, 12), tmp_path / "long.wav"), plan)
    assert (short_s, long_s) == (pytest.approx(240.0), pytest.approx(720.0))
    assert long_peak < 1.3 * short_peak
    assert long_peak < 0.5 * minute.nbytes * 12
