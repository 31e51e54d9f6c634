"""`cast-pipeline run` downloads the next batch's audio while this batch's speech model works (issue 8).

Observable from the outside: each audio file is requested exactly once, the ``audio`` step of every
batch after the first records a download that was already complete (``reused``), and an episode
with a publisher transcript is never downloaded (transcript-first holds for the prefetch too).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from cast_pipeline.cli.main import app
from cast_pipeline.defs.speech.keys import AUDIO_KEY
from cast_pipeline.instance import get_instance
from cast_pipeline_tests.defs.speech.speechkit import SpeechItem, serve_speech_feed
from cast_pipeline_tests.httpserver import LocalHTTPServer

runner = CliRunner()
CLIPS = ("jfk", "librivox-sense-and-sensibility-0870", "librivox-sense-and-sensibility-0890")


@pytest.fixture
def env(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CAST_DIARIZATION", "off")  # not what this test is about
    return tmp_path


def _audio_statuses(keys: list[str]) -> dict[str, tuple[str, bool | None]]:
    """{episode key: (status, reused)} of the latest ``audio`` materialisation of each episode."""
    instance = get_instance()
    out: dict[str, tuple[str, bool | None]] = {}
    for key in keys:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=AUDIO_KEY, asset_partitions=[key]), limit=1
        ).records
        assert records, f"no audio materialisation for {key}"
        meta = records[0].asset_materialization.metadata
        reused = meta["reused"].value if "reused" in meta else None
        out[key] = (str(meta["status"].value), reused)
    return out


@pytest.mark.slow
def test_next_batch_audio_is_downloaded_during_this_batch(
    env: Path, http_server: LocalHTTPServer, shared_data: Path, data_dir: Path
) -> None:
    items = [
        SpeechItem(f"ep-{i}", f"Clip {i}", audio=shared_data / "audio" / f"{name}.wav")
        for i, name in enumerate(CLIPS, 1)
    ]
    items.insert(1, SpeechItem("ep-pub", "Has a publisher transcript", audio=b"RIFF", transcript=True))
    url = serve_speech_feed(http_server, items)

    result = runner.invoke(app, ["run", "--feed", url, "--batch-size", "1"])

    assert result.exit_code == 0, result.output
    instance = get_instance()
    keys = instance.get_dynamic_partitions("episodes")
    assert len(keys) == 4
    statuses = _audio_statuses(keys)
    downloaded = [k for k in keys if statuses[k][0] == "downloaded"]
    assert len(downloaded) == 3 and [statuses[k][0] for k in keys].count("not_needed") == 1
    # The first batch had nothing to prefetch it; every later one found its audio already complete.
    assert [statuses[k][1] for k in downloaded] == [False, True, True], statuses
    for item in items:
        expected = 0 if item.transcript else 1
        assert len(http_server.requests_to(f"/a/{item.guid}.wav")) == expected, item.guid
    assert len(list(data_dir.glob("episodes/*/*/transcript.json"))) == 4
