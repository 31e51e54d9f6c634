"""Real `cast-pipeline run` processes for the fault tests: start, watch, kill, inspect what they left."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

import cast_pipeline.instance
from cast_pipeline.defs.speech.keys import LOCAL, speech_key
from cast_pipeline_tests.defs.speech.speechkit import SpeechItem, serve_speech_feed
from cast_pipeline_tests.httpserver import LocalHTTPServer

CLIPS = (
    "jfk",
    "librivox-sense-and-sensibility-0870",
    "librivox-sense-and-sensibility-0890",
    "librivox-sense-and-sensibility-0920",
    "librivox-sense-and-sensibility-0930",
    "librivox-sense-and-sensibility-0880",
)
SPEECH = speech_key(LOCAL)
PACKAGED_YAML = Path(cast_pipeline.instance.__file__).parent / "instance_files" / "dagster.yaml"


def serve_clips(server: LocalHTTPServer, shared_data: Path, count: int) -> str:
    """A feed of ``count`` episodes of real speech (short shared clips) without publisher transcripts."""
    items = [
        SpeechItem(f"ep-{i}", f"Clip {i}: {name}", audio=shared_data / "audio" / f"{name}.wav")
        for i, name in enumerate(CLIPS[:count], 1)
    ]
    return serve_speech_feed(server, items)


@dataclass
class Env:
    home: Path  # DAGSTER_HOME
    data: Path  # CAST_DATA_DIR
    vars: dict[str, str]

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.home))

    def speech_files(self) -> dict[str, os.stat_result]:
        """{episode key: stat} of every speech-local.json written so far."""
        return {p.parent.name: p.stat() for p in self.data.glob("episodes/*/*/speech-local.json")}

    def transcripts(self) -> set[str]:
        return {p.parent.name for p in self.data.glob("episodes/*/*/transcript.json")}


def make_env(tmp_path: Path) -> Env:
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()  # with the packaged dagster.yaml (one speech slot), as `cast-pipeline run` would create it
    shutil.copyfile(
        Path(cast_pipeline.instance.__file__).parent / "instance_files" / "dagster.yaml", home / "dagster.yaml"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAST_", "DAGSTER_HOME"))}
    env.update(
        DAGSTER_HOME=str(home),
        CAST_DATA_DIR=str(data),
        CAST_FEEDS_FILE=str(tmp_path / "feeds.yaml"),
        COLUMNS="200",
    )
    return Env(home, data, env)


def start_run(env: Env, *args: str) -> subprocess.Popen[str]:
    command = [str(Path(sys.executable).with_name("cast-pipeline")), "run", *args]
    return subprocess.Popen(command, env=env.vars, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(
    condition: Callable[[], object], timeout: float, what: str, proc: subprocess.Popen[str] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"run ended (rc {proc.returncode}) before {what}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def speech_statuses(instance: dg.DagsterInstance, key: str) -> list[str]:
    """Statuses of every speech materialisation of the episode, oldest first."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=SPEECH, asset_partitions=[key]), limit=100, ascending=True
    ).records
    return [str(r.asset_materialization.metadata["status"].value) for r in records if r.asset_materialization]


def claimed(instance: dg.DagsterInstance, pool: str = "speech") -> list[str]:
    """Run ids holding a slot of ``pool``."""
    if pool not in instance.event_log_storage.get_concurrency_keys():
        return []
    return [s.run_id for s in instance.event_log_storage.get_concurrency_info(pool).claimed_slots]
