"""`cast-pipeline transcribe FILE...` on real speech with faster-whisper tiny.en: outputs, errors, exit code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from cast_pipeline.cli.main import app
from cast_pipeline.speech.wer import wer
from cast_pipeline.transcripts.parsing import parse

runner = CliRunner()


def test_good_files_are_written_and_a_bad_one_fails_the_command(tmp_path: Path, shared_data: Path) -> None:
    audio = shared_data / "audio"
    bad = tmp_path / "broken.wav"
    shutil.copy(audio / "bad" / "bad.wav", bad)  # a WAV header and no samples
    out = tmp_path / "out"
    files = [audio / "jfk.wav", bad, audio / "librivox-sense-and-sensibility-0870.wav"]
    result = runner.invoke(app, ["transcribe", *map(str, files), "--format", "vtt", "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "1 of 3 files failed" in result.output and str(bad) in result.output
    assert "not a readable audio container" in result.output

    # The files around the bad one are done, each written whole (no temp files left behind).
    assert sorted(p.name for p in out.iterdir()) == ["jfk.vtt", "librivox-sense-and-sensibility-0870.vtt"]
    vtt = (out / "jfk.vtt").read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT")
    cues = parse(vtt.encode(), "text/vtt")
    spoken = " ".join(c.text for c in cues)
    assert wer((audio / "jfk.txt").read_text(), spoken) <= 0.05
    assert cues[-1].end <= 11.1  # times of the audio, after phrase merging


def test_one_file_prints_to_stdout_with_the_model_recorded(shared_data: Path) -> None:
    result = runner.invoke(app, ["transcribe", str(shared_data / "audio" / "jfk.wav"), "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["source"], doc["model"], doc["language"]) == ("faster-whisper:tiny.en", "tiny.en", "en")
    assert "ask not what your country can do for you" in " ".join(s["text"] for s in doc["segments"]).lower()


def test_usage_errors_exit_2(tmp_path: Path, shared_data: Path) -> None:
    jfk = str(shared_data / "audio" / "jfk.wav")
    several = runner.invoke(app, ["transcribe", jfk, jfk])
    assert several.exit_code == 2 and "--out" in several.output
    same_name = runner.invoke(app, ["transcribe", jfk, str(tmp_path / "jfk.wav"), "--out", str(tmp_path)])
    assert same_name.exit_code == 2 and "same output name" in same_name.output
    unknown = runner.invoke(app, ["transcribe", jfk, "--format", "docx"])
    assert unknown.exit_code == 2 and "md, srt" in unknown.output
