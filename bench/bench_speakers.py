"""Speaker diarization on conversations cut from real recordings: accuracy and cost, by option.

    CAST_SHARED_DIR=/work/shared .venv/bin/python bench/bench_speakers.py [--quick]

Builds conversations of 1, 2, 3 and 5 people (cast_pipeline_tests/speakers/conversations.py: JFK, the
LibriVox reader and three people from Debian's codec2-examples; 10-40 turns of 2-20 s, a third
back-to-back), transcribes each once with faster-whisper tiny.en (word timestamps), then runs every
diarization option on the same audio and words. Reports per option and conversation: speakers found,
diarization error rate (missed + false alarm + confusion, 0.25 s collar), the share of words given to
the right speaker, and diarization time as a fraction of the transcription time of the same file
(measured in this process, so the ratio holds on a busy machine). Each is timed ``--repeats`` times,
alternating, and the fastest of each is kept: on a shared machine a single timing of either side can
be inflated several-fold by another process, which swings the ratio by more than the differences
between options.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cast_pipeline.speakers.align import assign_speakers
from cast_pipeline.speakers.diarize import EmbeddingDiarizer
from cast_pipeline.speakers.encoder import load_encoder
from cast_pipeline.speakers.metrics import diarization_error, word_accuracy
from cast_pipeline.speech import load_transcriber
from cast_pipeline.speech.decode import SAMPLE_RATE
from cast_pipeline_tests.speakers.conversations import build_conversation
from cast_pipeline_tests.speech.audiokit import encode_audio

SETS = [
    (("bruce",), 8, 0),
    (("librivox", "bruce"), 16, 1),
    (("jfk", "bruce"), 20, 2),
    (("jfk", "librivox", "bruce"), 24, 3),
    (("jfk", "librivox", "bruce", "mark", "harvard"), 36, 4),
]
OPTIONS = [  # (clustering, hop between 1.6 s windows, threshold); the first is the default
    ("spectral", 1.0, 0.2),
    ("ahc", 1.0, 0.4),
    ("ahc", 0.5, 0.4),
    ("spectral", 1.0, 0.4),  # spectral merges clusters closer than the threshold: 0.4 merges close voices
    ("spectral", 0.5, 0.4),
    ("spectral", 1.5, 0.2),  # fewer windows: cheaper, a little less exact at turn edges
]


def _warm_up() -> None:
    """First calls compile librosa's numba kernels: keep that one-off cost out of the per-file figures."""
    import numpy as np

    from cast_pipeline.speakers.encoder import _mel

    _mel(np.zeros(SAMPLE_RATE, dtype=np.float32))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="first option and first three conversations only")
    parser.add_argument(
        "--only", help="run only the options with these names, comma-separated, e.g. 'spectral hop 1s t0.2'"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timings per file and option (fastest kept)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    transcriber = load_transcriber("faster-whisper", "tiny.en", "cpu")
    load_encoder()
    _warm_up()
    sets = SETS[:3] if args.quick else SETS
    options = OPTIONS[:1] if args.quick else OPTIONS
    totals: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for speakers, turns, seed in sets:
            conv = build_conversation(speakers, turns, seed=seed)
            path = encode_audio(conv.samples, Path(tmp) / f"conv{seed}.wav", "pcm_s16le", SAMPLE_RATE, "mono")
            speech_seconds = float("inf")
            for _ in range(args.repeats):
                started = time.perf_counter()
                speech = transcriber.transcribe(path)
                speech_seconds = min(speech_seconds, time.perf_counter() - started)
            print(
                f"\n{len(speakers)} speakers {speakers}: {conv.duration:.0f} s, {len(conv.turns)} reference turns, "
                f"transcribed in {speech_seconds:.1f} s"
            )
            print(
                f"  {'option':<26} {'found':>5} {'DER':>6} {'miss':>5} {'FA':>5} {'conf':>5}"
                f" {'words ok':>8} {'cost':>6}"
            )
            for clustering, hop, threshold in options:
                name = f"{clustering} hop {hop:g}s t{threshold:g}"
                if args.only and name not in args.only.split(","):
                    continue
                diarizer = EmbeddingDiarizer(clustering, hop=hop, threshold=threshold)
                result = min(
                    (diarizer.diarize(path, speech.segments) for _ in range(args.repeats)),
                    key=lambda r: r.processing_seconds,
                )
                der = diarization_error(conv.turns, result.turns)
                labelled = assign_speakers(speech.segments, result.turns)
                words = [(w.start, w.end, s.speaker) for s in labelled for w in s.words]
                acc = word_accuracy(conv.turns, words)
                cost = result.processing_seconds / speech_seconds
                totals.setdefault(name, []).extend([der.rate, acc, cost])
                print(
                    f"  {name:<26} {len(result.speakers):>5} {der.rate:>6.1%} {der.missed / der.speech:>5.1%} "
                    f"{der.false_alarm / der.speech:>5.1%} {der.confusion / der.speech:>5.1%} {acc:>8.1%} {cost:>6.1%}"
                )
    print("\nmean over conversations (DER, words to the right speaker, cost vs transcription):")
    for name, values in totals.items():
        der, acc, cost = values[0::3], values[1::3], values[2::3]
        print(
            f"  {name:<26} DER {sum(der) / len(der):.1%}  words {sum(acc) / len(acc):.1%}"
            f"  cost {sum(cost) / len(cost):.1%}"
        )


if __name__ == "__main__":
    main()
