"""Speech benchmark (run by hand): realtime factors of transcribe_files, and its overhead.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_speech.py [--rounds 3] [--repeat N] [--shared DIR]
        [--long-minutes 10] [--hour] [--rss-hours 1 3] [--skip-short]

Input: 10 files, the six shared speech WAVs plus four of them converted to mp3, m4a, opus and flac
(so decoding of compressed podcast formats is part of the measurement); about 65 s of speech.
With ``--repeat N`` each file is instead the six clips concatenated N times (~N x 38 s), which is
closer to episodes: only audio longer than one 30 s chunk gives batched decoding a batch.

(a) Realtime factor (audio seconds per wall second) of ``transcribe_files`` with the cached tiny.en
    (CPU, int8): plain (no VAD, sequential), VAD sequential, and the default (VAD, batched 4 with
    chunk rests re-decoded; files under 30 s take the sequential path). WER against the reference
    texts is printed too.
(b) Throughput of ``transcribe_files`` relative to a bare faster-whisper loop
    (``model.transcribe(path, vad_filter=True, word_timestamps=True)`` then ``list(segments)``)
    over the same files with the same loaded model in the same process. Goal: >= 0.9.

(c) Long form (``--long-minutes``, default 10; ``--hour`` adds a 60-minute file): the shared clips in
    shuffled rounds with 0.3-1.5 s pauses, so the full text is known. Our default path (batched,
    chunk rests re-decoded) against bare ``BatchedInferencePipeline`` (VAD, batch 4) and bare
    sequential faster-whisper (VAD), same model, same process: x realtime and WER. Goals: >= 0.9 x
    the bare batched throughput, WER <= bare sequential + 0.3 points. (The hour skips the bare
    sequential run unless ``--hour-sequential``: it alone takes several minutes.)
(d) Memory (``--rss-hours``; ``--rss-sparse``: 20-40 s pauses after each clip, so every window is
    decoded, VAD-scanned and batched but the model has a sixth of the work): each listed duration
    is written as a WAV and transcribed by the default path in a fresh process; its peak RSS and
    CPU seconds per audio hour are printed (bounded memory: the peak must not grow with the
    duration; linear time: CPU seconds per audio hour constant).

Each configuration runs ``--rounds`` times, interleaved, and the fastest round counts: this machine
is shared, and the minimum is the least disturbed measurement.

Measured 2026-12-01 on a quiet machine (load average 0.5-1.8), ``--skip-short --long-minutes 10
--long-rounds 3 --hour``: 10.4 min, ours / bare batched wall 0.91, CPU 0.93, WER 2.65 % (bare
batched 9.10 %, bare sequential 9.10 % in a separate run); 60.3 min, wall 0.90, CPU 0.90, WER 2.52 %
(bare batched 6.34 %). ``--rss-hours 1 3`` (continuous speech, under load): peak RSS 1001 / 1008 MB,
160 / 158 CPU s per audio hour.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test helpers live in the checkout

from cast_pipeline.speech import load_transcriber, transcribe_files
from cast_pipeline.speech.backends.base import SpeechResult, Transcriber
from cast_pipeline.speech.decode import SAMPLE_RATE, decode_all, probe_duration
from cast_pipeline.speech.wer import corpus_wer
from cast_pipeline_tests.speech.audiokit import encode_audio

CONVERSIONS = [  # (source stem, extension, encoder, rate, layout)
    ("jfk", "mp3", "libmp3lame", 44_100, "stereo"),
    ("librivox-sense-and-sensibility-0870", "m4a", "aac", 44_100, "stereo"),
    ("librivox-sense-and-sensibility-0920", "opus", "libopus", 48_000, "mono"),
    ("librivox-sense-and-sensibility-0890", "flac", "flac", 16_000, "mono"),
]


def build_inputs(audio_dir: Path, work: Path, repeat: int) -> list[tuple[Path, str]]:
    """(file, reference text) for the 10 benchmark files.

    ``repeat`` 0: the six clips as they are plus four converted copies (3-11 s each). ``repeat`` N:
    file i is all six clips, rotated by i, N times over with 0.5 s pauses (about N x 38 s), so
    each file spans several 30 s chunks and batched decoding has something to batch.
    """
    wavs = [audio_dir / "jfk.wav", *sorted(audio_dir.glob("librivox-*.wav"))]
    texts = {w.stem: w.with_suffix(".txt").read_text(encoding="utf-8") for w in wavs}
    if repeat == 0:
        files = [(w, texts[w.stem]) for w in wavs]
        for stem, ext, codec, rate, layout in CONVERSIONS:
            dest = encode_audio(decode_all(audio_dir / f"{stem}.wav"), work / f"{stem}.{ext}", codec, rate, layout)
            files.append((dest, texts[stem]))
        return files
    clips = {w.stem: decode_all(w) for w in wavs}
    pause = np.zeros(SAMPLE_RATE // 2, dtype=np.float32)
    kinds = [("wav", "pcm_s16le", SAMPLE_RATE, "mono")] * 6 + [c[1:] for c in CONVERSIONS]
    files = []
    for i, (ext, codec, rate, layout) in enumerate(kinds):
        order = [wavs[(i + k) % len(wavs)].stem for k in range(len(wavs))] * repeat
        samples = np.concatenate([part for stem in order for part in (clips[stem], pause)])
        dest = encode_audio(samples, work / f"episode-{i}.{ext}", codec, rate, layout)
        files.append((dest, " ".join(texts[stem] for stem in order)))
    return files


def write_long_form(
    audio_dir: Path, dest: Path, seconds: float, seed: int = 0, pauses: tuple[float, float] = (0.3, 1.5)
) -> str:
    """A WAV of at least ``seconds`` of the shared clips in shuffled rounds; returns its text.

    Written piece by piece, so a 3-hour file never sits in this process's memory. ``pauses``: the
    range of the silence after each clip (long pauses make a file of sparse speech).
    """
    wavs = [audio_dir / "jfk.wav", *sorted(audio_dir.glob("librivox-*.wav"))]
    clips = {w.stem: (decode_all(w) * 32767).astype("<i2") for w in wavs}
    texts = {w.stem: w.with_suffix(".txt").read_text(encoding="utf-8").strip() for w in wavs}
    rng = random.Random(seed)
    said: list[str] = []
    written = 0
    with wave.open(str(dest), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        while written < seconds * SAMPLE_RATE:
            order = list(clips)
            rng.shuffle(order)
            for stem in order:
                pause = np.zeros(int(rng.uniform(*pauses) * SAMPLE_RATE), dtype="<i2")
                out.writeframes(clips[stem].tobytes() + pause.tobytes())
                written += clips[stem].size + pause.size
                said.append(texts[stem])
    return " ".join(said)


def run_bare_batched(whisper: object, path: Path, batch_size: int = 4) -> str:
    from faster_whisper import BatchedInferencePipeline

    pipeline = BatchedInferencePipeline(whisper)
    segments, _ = pipeline.transcribe(str(path), batch_size=batch_size, vad_filter=True, word_timestamps=True)
    return " ".join(s.text.strip() for s in segments)


def long_form(audio_dir: Path, work: Path, minutes: float, rounds: int, sequential: bool) -> None:
    path = work / f"long-{minutes:g}min.wav"
    reference = write_long_form(audio_dir, path, minutes * 60)
    seconds = probe_duration(path)
    ours = load_transcriber("faster-whisper", "tiny.en", "cpu", "int8", batch_size=4)
    whisper = ours.whisper  # type: ignore[attr-defined]
    last: list[SpeechResult] = []

    def run_default() -> list[str]:
        last[:] = [o for _, o in transcribe_files([path], ours) if isinstance(o, SpeechResult)]
        return [last[0].text] if last else []

    jobs: dict[str, Callable[[], list[str]]] = {
        "ours (default: batched + rests)": run_default,
        "bare batched (VAD, batch 4)": lambda: [run_bare_batched(whisper, path)],
    }
    if sequential:
        jobs["bare sequential (VAD)"] = lambda: run_bare(whisper, [path])
    results = best_of(rounds, jobs)
    print(f"\n(c) long form: {seconds / 60:.1f} min of speech, {len(reference.split())} words; best of {rounds}")
    print(f"{'configuration':<34}{'wall s':>8}{'x realtime':>12}{'CPU s':>8}{'x rt per CPU s':>16}{'WER %':>8}")
    for name, (wall, texts, cpu) in results.items():
        shown = f"{100 * corpus_wer([(reference, texts[0] if texts else '')]):>8.2f}"
        print(f"{name:<34}{wall:>8.1f}{seconds / wall:>12.1f}{cpu:>8.1f}{seconds / cpu:>16.1f}{shown}")
    ours, bare = results["ours (default: batched + rests)"], results["bare batched (VAD, batch 4)"]
    print(f"ours / bare batched throughput: wall {bare[0] / ours[0]:.2f}, CPU {bare[2] / ours[2]:.2f} (goal >= 0.9)")
    if last:
        r = last[0]
        print(
            f"ours: {r.chunks} chunks, {r.redecoded_chunks} re-decoded ({100 * r.redecoded_share:.0f} %), "
            f"{r.words_per_minute:.0f} words per minute of speech, {r.dropped_segments} segments removed by guards"
        )


def rss_child(path: Path) -> None:
    """Run in a fresh process: transcribe ``path`` by the default path, print peak RSS and timing."""
    transcriber = load_transcriber("faster-whisper", "tiny.en", "cpu", "int8", batch_size=4)
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started, cpu = time.perf_counter(), time.process_time()
    ((_, outcome),) = list(transcribe_files([path], transcriber))
    cpu = time.process_time() - cpu
    if not isinstance(outcome, SpeechResult):
        raise SystemExit(f"{path}: {outcome}")
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"loaded_mb": loaded, "peak_mb": peak, "wall": wall, "cpu": cpu, "audio": outcome.duration}))


def memory(audio_dir: Path, work: Path, hours: list[float], sparse: bool) -> None:
    kind = "sparse speech (20-40 s pauses)" if sparse else "dense speech"
    print(f"\n(d) memory and time of the default path on {kind}, each file in a fresh process")
    head = f"{'audio':>8}{'file MB':>9}{'RSS after load MB':>19}{'peak RSS MB':>13}{'wall s':>9}{'CPU s':>8}"
    print(head + f"{'CPU s per audio h':>19}")
    for h in hours:
        path = work / f"rss-{h:g}h.wav"
        write_long_form(audio_dir, path, h * 3600, seed=1, pauses=(20.0, 40.0) if sparse else (0.3, 1.5))
        cmd = [sys.executable, __file__, "--rss-child", str(path)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        r = json.loads(out)
        size = path.stat().st_size / 2**20
        per_hour = r["cpu"] / (r["audio"] / 3600)
        row = f"{h:>7g}h{size:>9.0f}{r['loaded_mb']:>19.0f}{r['peak_mb']:>13.0f}{r['wall']:>9.0f}{r['cpu']:>8.0f}"
        print(row + f"{per_hour:>19.0f}")
        path.unlink()


def run_ours(transcriber: Transcriber, paths: list[Path]) -> list[str]:
    texts = []
    for path, outcome in transcribe_files(paths, transcriber):
        if not isinstance(outcome, SpeechResult):
            raise SystemExit(f"{path}: {outcome}")
        texts.append(outcome.text)
    return texts


def run_bare(whisper: object, paths: list[Path]) -> list[str]:
    texts = []
    for path in paths:
        segments, _ = whisper.transcribe(str(path), vad_filter=True, word_timestamps=True)  # type: ignore[attr-defined]
        texts.append(" ".join(s.text.strip() for s in segments))
    return texts


def best_of(rounds: int, jobs: dict[str, Callable[[], list[str]]]) -> dict[str, tuple[float, list[str], float]]:
    """Per job: (fastest wall seconds, its texts, least CPU seconds of this process, all threads).

    CPU seconds are the steadier figure on a shared machine: other processes stretch the wall clock
    of whichever job runs while they are busy, but not the work the job itself does.
    """
    best: dict[str, tuple[float, list[str], float]] = {}
    for _ in range(rounds):
        for name, job in jobs.items():  # interleaved, so drift in machine load hits all alike
            started, cpu = time.perf_counter(), time.process_time()
            texts = job()
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            if name not in best or seconds < best[name][0]:
                best[name] = (seconds, texts, min(cpu, best[name][2]) if name in best else cpu)
            elif cpu < best[name][2]:
                best[name] = (best[name][0], best[name][1], cpu)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=0, help="0: the short clips; N: ~N x 38 s per file")
    parser.add_argument("--long-minutes", type=float, default=10.0, help="long-form file length; 0: skip (c)")
    parser.add_argument("--long-rounds", type=int, default=1)
    parser.add_argument("--hour", action="store_true", help="(c) on a 60-minute file too")
    parser.add_argument("--hour-sequential", action="store_true", help="include bare sequential in the hour")
    parser.add_argument("--skip-sequential", action="store_true", help="no bare sequential run in (c)")
    parser.add_argument("--rss-hours", type=float, nargs="*", default=[], help="(d) for these durations")
    parser.add_argument("--rss-sparse", action="store_true", help="(d) on sparse speech: ~1/6 of the model work")
    parser.add_argument("--skip-short", action="store_true", help="skip (a) and (b)")
    parser.add_argument("--rss-child", type=Path, help=argparse.SUPPRESS)
    default_shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("CAST_SHARED_DIR", default_shared)))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # read when faster-whisper is first imported
    if args.rss_child:
        rss_child(args.rss_child)
        return
    shared = args.shared / "data" if (args.shared / "data").is_dir() else args.shared
    audio_dir = shared / "audio"
    if not args.skip_short:
        short_table(audio_dir, args.rounds, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        if args.long_minutes > 0:
            long_form(audio_dir, Path(tmp), args.long_minutes, args.long_rounds, sequential=not args.skip_sequential)
        if args.hour:
            long_form(audio_dir, Path(tmp), 60.0, 1, sequential=args.hour_sequential)
        if args.rss_hours:
            memory(audio_dir, Path(tmp), args.rss_hours, args.rss_sparse)


def short_table(audio_dir: Path, rounds: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        files = build_inputs(audio_dir, Path(tmp), repeat)
        paths = [p for p, _ in files]
        refs = [r for _, r in files]
        audio_seconds = sum(probe_duration(p) for p in paths)

        started = time.perf_counter()
        default = load_transcriber("faster-whisper", "tiny.en", "cpu", "int8")
        first_load = time.perf_counter() - started
        started = time.perf_counter()
        plain = load_transcriber("faster-whisper", "tiny.en", "cpu", "int8", vad=False, batch_size=0)
        sequential = load_transcriber("faster-whisper", "tiny.en", "cpu", "int8", batch_size=0)
        cached_load = (time.perf_counter() - started) / 2
        whisper = default.whisper  # type: ignore[attr-defined]

        run_ours(default, paths[:1])  # warm-up: first inference allocates buffers
        results = best_of(
            rounds,
            {
                "plain int8 (no VAD, sequential)": lambda: run_ours(plain, paths),
                "VAD, sequential": lambda: run_ours(sequential, paths),
                "VAD, default (batched 4)": lambda: run_ours(default, paths),
                "bare faster-whisper loop (VAD)": lambda: run_bare(whisper, paths),
                "decode only (PyAV to 16 kHz)": lambda: [str(decode_all(p).size) for p in paths],
            },
        )

    print(f"10 files, {audio_seconds:.1f} s of audio; {os.cpu_count()} CPUs; best of {rounds} rounds")
    print(f"model load: first {first_load:.2f} s, cached {cached_load * 1000:.1f} ms\n")
    print(f"{'configuration':<34}{'wall s':>8}{'x realtime':>12}{'WER':>8}")
    for name, (seconds, texts, _) in results.items():
        transcribed = not name.startswith("decode")
        shown = f"{corpus_wer(zip(refs, texts, strict=True)):>8.3f}" if transcribed else ""
        print(f"{name:<34}{seconds:>8.2f}{audio_seconds / seconds:>12.1f}{shown}")
    ours, bare = results["VAD, default (batched 4)"], results["bare faster-whisper loop (VAD)"]
    print(
        f"\n(b) transcribe_files (default) / bare loop throughput: wall {bare[0] / ours[0]:.2f}, "
        f"CPU {bare[2] / ours[2]:.2f} (goal >= 0.9)"
    )


if __name__ == "__main__":
    main()
