"""One machine, one run: the batch's downloads overlap its transcription (issue 8, criterion 4).

``audio`` and ``local/speech_transcript`` are one step (cast_pipeline.defs.speech.overlap). The proof is
causal, from recorded times, not a wall-clock threshold: the server holds the last episode's audio
until the first episode's transcript is on disk. With the audio step finishing before the speech
step starts (the old two-step run), that download could never complete before a transcript existed.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pytest

from cast_pipeline.definitions import defs
from cast_pipeline.defs.jobs import EPISODES_JOB
from cast_pipeline.defs.speech.keys import AUDIO_KEY, LOCAL, speech_key
from cast_pipeline.defs.speech.overlap import audio_and_speech_step
from cast_pipeline.paths import DataPaths
from cast_pipeline_tests.defs.speech.speechkit import (
    SpeechItem,
    failure_description,
    latest_metadata,
    register_feed,
    run_range,
    serve_speech_feed,
    step_keys,
)
from cast_pipeline_tests.httpserver import LocalHTTPServer, Route

SPEECH = speech_key(LOCAL)
STEP = audio_and_speech_step(LOCAL)
DELAY = 0.3  # seconds before every audio response: a slow network
GATE_SECONDS = 90.0  # the held download gives up waiting after this (then the test fails)
CLIPS = ("jfk", "librivox-sense-and-sensibility-0880", "librivox-sense-and-sensibility-0930")


@dataclass
class SlowAudio:
    """Serves audio after DELAY; ``held`` is served only once ``release_when`` exists (or after GATE_SECONDS)."""

    body: dict[str, bytes]
    held: str | None = None
    release_when: Path | None = None
    served_at: dict[str, float] = field(default_factory=dict)  # path -> when its body was handed over
    requested_at: dict[str, float] = field(default_factory=dict)
    released_by_transcript: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def route(self, path: str) -> Route:
        def handler(_headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
            with self.lock:
                self.requested_at.setdefault(path, time.time())
            time.sleep(DELAY)
            if path == self.held:
                assert self.release_when is not None
                deadline = time.monotonic() + GATE_SECONDS
                while not self.release_when.exists() and time.monotonic() < deadline:
                    time.sleep(0.05)
                self.released_by_transcript = self.release_when.exists()
            with self.lock:
                self.served_at[path] = time.time()
            return 200, {"Content-Type": "audio/wav"}, self.body[path]

        return Route(handler=handler)


def _serve(http_server: LocalHTTPServer, items: list[SpeechItem], slow: SlowAudio) -> str:
    url = serve_speech_feed(http_server, items)
    for item in items:
        if isinstance(item.audio, Path) and item.enclosure is None:
            path = f"/a/{item.guid}.wav"
            slow.body[path] = item.audio.read_bytes()
            http_server.routes[path] = slow.route(path)
    return url


@pytest.fixture(autouse=True)
def _patient_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAST_HTTP_TIMEOUT", str(GATE_SECONDS + 30))  # the held download must not time out
    monkeypatch.setenv("CAST_DIARIZATION", "off")  # not what these tests are about


def test_the_next_downloads_run_while_the_model_transcribes(
    http_server: LocalHTTPServer, data_dir: Path, shared_data: Path
) -> None:
    items = [SpeechItem(f"ep{i}", f"Clip {i}", audio=shared_data / "audio" / f"{c}.wav") for i, c in enumerate(CLIPS)]
    slow = SlowAudio(body={})
    url = _serve(http_server, items, slow)
    paths = DataPaths(data_dir)
    with dg.instance_for_test() as instance:
        keys = register_feed(defs, instance, url, data_dir)
        first, last = keys["Clip 0"], keys["Clip 2"]
        slow.held, slow.release_when = "/a/ep2.wav", paths.episode_file(first, "speech-local.json")

        # As a backfill or `dagster job launch` runs it: one run over the range, no per-episode tags.
        result = run_range(defs, EPISODES_JOB, instance, [keys[f"Clip {i}"] for i in range(3)])

        assert result.success
        assert step_keys(result)[STEP] == "STEP_SUCCESS"  # audio and speech: one step of one run
        assert slow.released_by_transcript, "the last download was held until the first transcript existed"
        first_transcribed = slow.release_when.stat().st_mtime
        # The first transcript was written while the last download was still going...
        assert slow.requested_at["/a/ep2.wav"] < first_transcribed < slow.served_at["/a/ep2.wav"]
        # ...and that download still became this run's audio and speech.
        last_meta = latest_metadata(instance, AUDIO_KEY, last)
        assert (last_meta["status"], last_meta["reused"]) == ("downloaded", False)
        assert slow.served_at["/a/ep2.wav"] < paths.episode_file(last, "speech-local.json").stat().st_mtime
        for title, key in keys.items():
            assert latest_metadata(instance, SPEECH, key)["status"] == "transcribed", title
            assert latest_metadata(instance, "transcript", key) is not None, title
        assert "ask not what your country" in paths.episode_file(first, "transcript.md").read_text().lower()
        assert all(len(http_server.requests_to(p)) == 1 for p in slow.body)  # each file downloaded once


def test_a_failed_download_mid_batch_fails_only_its_episode(
    http_server: LocalHTTPServer, data_dir: Path, shared_data: Path
) -> None:
    audio = shared_data / "audio"
    items = [
        SpeechItem("ep0", "Before", audio=audio / f"{CLIPS[1]}.wav"),
        SpeechItem("gone", "Gone", enclosure="/a/missing.wav"),  # 404 (relative to the feed URL)
        SpeechItem("ep2", "After", audio=audio / f"{CLIPS[2]}.wav"),
    ]
    slow = SlowAudio(body={})
    url = _serve(http_server, items, slow)
    paths = DataPaths(data_dir)
    with dg.instance_for_test() as instance:
        keys = register_feed(defs, instance, url, data_dir)
        result = run_range(defs, EPISODES_JOB, instance, instance.get_dynamic_partitions("episodes"))

        assert not result.success
        description = failure_description(result, STEP)
        assert "failed for 1 of 3 episodes (2 were written and recorded)" in description
        (line,) = description.splitlines()[1:]
        assert line.startswith(f"- {keys['Gone']}: audio: ") and "HTTP 404" in line
        for title in ("Before", "After"):  # downloaded and transcribed in the same step all the same
            assert latest_metadata(instance, AUDIO_KEY, keys[title])["status"] == "downloaded", title
            assert latest_metadata(instance, SPEECH, keys[title])["status"] == "transcribed", title
        gone = keys["Gone"]
        assert latest_metadata(instance, AUDIO_KEY, gone) is None and latest_metadata(instance, SPEECH, gone) is None
        assert not list(paths.episode_dir(gone).glob("*audio*")) and not list(paths.episode_dir(gone).glob(".*"))
