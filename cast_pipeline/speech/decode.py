"""Decode any audio container PyAV can read into 16 kHz mono float32, in bounded chunks.

Why chunks: a three-hour episode is 173 M samples (690 MB as float32, more while decoding). The
speech backends therefore consume :class:`AudioWindow` objects (minutes long, see
:func:`iter_windows`) produced from a stream of fixed-size chunks, so memory stays bounded by the
window size whatever the episode length. PyAV wheels bundle FFmpeg, so no system ffmpeg is needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from cast_pipeline.speech.errors import AudioError

SAMPLE_RATE = 16_000
_MAX_BAD_PACKETS = 50  # corrupt packets skipped before the file is declared broken


def _open(path: Path) -> av.container.InputContainer:
    if not path.is_file():
        raise AudioError(f"audio file {path} does not exist")
    if path.stat().st_size == 0:
        raise AudioError(f"audio file {path} is empty (0 bytes); download it again")
    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise AudioError(f"audio file {path} is not a readable audio container ({exc})") from None
    if not container.streams.audio:
        container.close()
        raise AudioError(f"audio file {path} has no audio stream")
    return container


def iter_chunks(path: Path, chunk_seconds: float = 30.0) -> Iterator[np.ndarray]:
    """Yield the audio of ``path`` as 16 kHz mono float32 arrays of ``chunk_seconds`` (the last shorter).

    Raises :class:`AudioError` naming the file when it cannot be opened, has no audio stream,
    is corrupt beyond a few bad packets, or decodes to zero samples.
    """
    chunk = max(1, int(chunk_seconds * SAMPLE_RATE))
    container = _open(path)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    pending: list[np.ndarray] = []
    pending_len = 0
    total = 0
    bad = 0
    try:
        stream = container.streams.audio[0]
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.FFmpegError as exc:
                bad += 1
                if bad > _MAX_BAD_PACKETS:
                    raise AudioError(f"audio file {path} is corrupt ({bad} undecodable packets: {exc})") from None
                continue
            for frame in frames:
                for out in resampler.resample(frame):
                    pending.append(out.to_ndarray().reshape(-1))
                    pending_len += out.samples
            while pending_len >= chunk:
                block = np.concatenate(pending)
                yield block[:chunk]
                total += chunk
                rest = block[chunk:]
                pending, pending_len = ([rest] if rest.size else []), rest.size
        for out in resampler.resample(None):
            pending.append(out.to_ndarray().reshape(-1))
            pending_len += out.samples
    except av.FFmpegError as exc:
        raise AudioError(f"audio file {path} could not be decoded ({exc})") from None
    finally:
        container.close()
    if pending_len:
        block = np.concatenate(pending)
        for start in range(0, block.size, chunk):
            yield block[start : start + chunk]
        total += block.size
    if total == 0:
        raise AudioError(f"audio file {path} contains no audio samples (a header without data?)")


def decode_all(path: Path) -> np.ndarray:
    """The whole file as one array; only for short clips (tests, benchmarks)."""
    return np.concatenate(list(iter_chunks(path)))


def probe_duration(path: Path) -> float:
    """Duration in seconds from the container's metadata; decodes the file when metadata lacks it."""
    container = _open(path)
    try:
        stream = container.streams.audio[0]
        if stream.duration is not None and stream.time_base is not None:
            seconds = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            seconds = container.duration / av.time_base
        else:
            seconds = 0.0
    finally:
        container.close()
    if seconds > 0:
        return seconds
    return sum(c.size for c in iter_chunks(path, chunk_seconds=300.0)) / SAMPLE_RATE


@dataclass(frozen=True)
class AudioWindow:
    """A stretch of decoded audio handed to a model, and the part of it whose words it owns.

    ``offset`` is where ``samples`` start in the episode. With overlapping windows each word is
    transcribed twice near a boundary; it is kept only from the window whose ``[keep_start,
    keep_end)`` contains its midpoint, so merged output has every word once.
    """

    offset: float
    samples: np.ndarray
    keep_start: float
    keep_end: float
    index: int = 0

    @property
    def duration(self) -> float:
        return self.samples.size / SAMPLE_RATE

    @property
    def end(self) -> float:
        return self.offset + self.duration


@dataclass(frozen=True)
class WindowPlan:
    """How a backend wants long audio cut: window length, overlap, and where to look for a pause.

    ``cut_search_seconds`` > 0 moves each cut back to the quietest 50 ms within that many seconds
    before the nominal end, so cuts fall between words rather than inside them.
    """

    window_seconds: float = 600.0
    overlap_seconds: float = 0.0
    cut_search_seconds: float = 0.0


def _quiet_cut(block: np.ndarray, nominal: int, search: int) -> int:
    """Sample index of the quietest 50 ms frame in ``block[nominal - search : nominal]``."""
    frame = SAMPLE_RATE // 20
    lo = max(frame, nominal - search)
    region = block[lo:nominal]
    n = region.size // frame
    if n < 2:
        return nominal
    energy = np.square(region[: n * frame].reshape(n, frame)).mean(axis=1)
    latest_quietest = n - 1 - int(np.argmin(energy[::-1]))  # ties: the latest, for longer windows
    return lo + latest_quietest * frame + frame // 2


def iter_windows(path: Path, plan: WindowPlan = WindowPlan(), chunk_seconds: float = 30.0) -> Iterator[AudioWindow]:
    """Cut the decoded audio of ``path`` into windows following ``plan`` (bounded memory).

    A window is cut only once a little more audio than it needs has arrived (the pause search span,
    and at least a quarter window up to 30 s), so the final window is never a sliver of a second
    that a model would pad with hallucinated words.
    """
    size = int(plan.window_seconds * SAMPLE_RATE)
    overlap = int(plan.overlap_seconds * SAMPLE_RATE)
    search = int(plan.cut_search_seconds * SAMPLE_RATE)
    if size <= 2 * overlap or search >= size - overlap:
        raise ValueError(f"invalid window plan {plan}: need window > 2 x overlap and window > search + overlap")
    lookahead = max(search, min(30 * SAMPLE_RATE, size // 4))
    pending: list[np.ndarray] = []
    pending_len = 0
    offset = 0  # sample index of the first pending sample in the episode
    keep_start = 0.0
    index = 0
    for chunk in iter_chunks(path, chunk_seconds):
        pending.append(chunk)
        pending_len += chunk.size
        if pending_len < size + lookahead:
            continue
        buffer = np.concatenate(pending)
        while buffer.size >= size + lookahead:
            cut = _quiet_cut(buffer, size, search) if search else size
            keep_end = (offset + cut - overlap / 2) / SAMPLE_RATE
            yield AudioWindow(offset / SAMPLE_RATE, buffer[:cut].copy(), keep_start, keep_end, index)
            index += 1
            keep_start = keep_end
            buffer = buffer[cut - overlap :]
            offset += cut - overlap
        pending, pending_len = [buffer.copy()], buffer.size
    if pending_len:
        yield AudioWindow(offset / SAMPLE_RATE, np.concatenate(pending), keep_start, float("inf"), index)
