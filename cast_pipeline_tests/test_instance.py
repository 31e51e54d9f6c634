"""The CLI's Dagster instance: a project-local DAGSTER_HOME made from the repo's dagster.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cast_pipeline.instance import DEFAULT_HOME, ensure_dagster_home
from cast_pipeline_tests.conftest import REPO_ROOT


def test_without_dagster_home_the_project_gets_the_repos_single_machine_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", "placeholder")  # so the value ensure_dagster_home sets is undone after
    monkeypatch.delenv("DAGSTER_HOME")
    monkeypatch.chdir(tmp_path)
    home = ensure_dagster_home()
    assert home == tmp_path / DEFAULT_HOME
    written = (home / "dagster.yaml").read_bytes()
    assert written == (REPO_ROOT / "dagster.yaml").read_bytes()  # the packaged copy is the root file
    assert isinstance(yaml.safe_load(written), dict)


def test_an_existing_dagster_home_is_used_as_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "prod-home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert ensure_dagster_home() == home
    assert (home / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"
