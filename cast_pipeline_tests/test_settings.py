"""Settings: one declaration, read from the environment, listed in --help and the README."""

from __future__ import annotations

from pathlib import Path

import pytest

from cast_pipeline.settings import SETTINGS, load_settings, settings_help
from cast_pipeline_tests.conftest import REPO_ROOT


def test_defaults_apply_when_the_environment_is_silent(monkeypatch: pytest.MonkeyPatch) -> None:
    for setting in SETTINGS.values():
        monkeypatch.delenv(setting.env, raising=False)
    settings = load_settings()
    assert settings.data_dir == Path("./data").absolute()
    assert settings.speech_model == "tiny.en" and settings.http_timeout == 30.0


def test_environment_and_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CAST_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CAST_MAX_FEED_BYTES", "1234")
    settings = load_settings(speech_model="large-v3-turbo")
    assert settings.data_dir == tmp_path and settings.max_feed_bytes == 1234
    assert settings.speech_model == "large-v3-turbo"


def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAST_HTTP_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="CAST_HTTP_TIMEOUT='soon'"):
        load_settings()


def test_readme_and_help_list_every_setting() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    text = settings_help()
    for setting in SETTINGS.values():
        assert f"`{setting.env}`" in readme, setting.env
        assert setting.env in text
