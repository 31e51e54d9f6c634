"""Encoding test audio with PyAV's bundled encoders (no system ffmpeg), for tests and bench/."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from cast_pipeline.speech.decode import SAMPLE_RATE


def encode_audio(samples: np.ndarray, dest: Path, codec: str, rate: int, layout: str) -> Path:
    """Write 16 kHz mono float32 ``samples`` to ``dest`` (container from the extension) with ``codec``."""
    with av.open(str(dest), "w") as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        resampler = av.AudioResampler(format=stream.codec_context.format, layout=layout, rate=rate)
        for converted in [*resampler.resample(frame), *resampler.resample(None)]:
            converted.pts = None
            for packet in stream.encode(converted):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return dest
