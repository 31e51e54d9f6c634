"""load_transcriber: the model is loaded once per process, and unusable backends say what to do."""

from __future__ import annotations

import importlib.util
import sys
import threading

import pytest

from cast_pipeline.settings import load_settings
from cast_pipeline.speech.backends import (
    clear_model_cache,
    load_transcriber,
    loaded_models,
    transcriber_from_settings,
)
from cast_pipeline.speech.backends.base import Transcriber
from cast_pipeline.speech.errors import BackendUnavailableError


def test_the_model_is_loaded_once_and_shared_by_every_transcriber() -> None:
    first = load_transcriber("faster-whisper", "tiny.en", "auto", "default")
    again = load_transcriber("faster_whisper", "tiny.en", "cpu", "int8", batch_size=4, vad=False)
    assert isinstance(first, Transcriber) and isinstance(again, Transcriber)
    assert first.whisper is again.whisper  # type: ignore[attr-defined]
    assert ("faster-whisper", "tiny.en", "cpu", "int8") in loaded_models()
    assert (again.batch_size, again.vad) == (4, False)  # type: ignore[attr-defined]


def test_concurrent_first_loads_load_one_model() -> None:
    clear_model_cache()
    got: list[Transcriber] = []
    threads = [
        threading.Thread(target=lambda: got.append(load_transcriber("faster-whisper", "tiny.en"))) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(t.whisper) for t in got}) == 1  # type: ignore[attr-defined]
    assert loaded_models() == [("faster-whisper", "tiny.en", "cpu", "int8")]


def test_a_different_compute_type_is_a_different_model() -> None:
    a = load_transcriber("faster-whisper", "tiny.en", "cpu", "int8")
    b = load_transcriber("faster-whisper", "tiny.en", "cpu", "float32")
    assert a.whisper is not b.whisper  # type: ignore[attr-defined]
    assert b.compute_type == "float32"


def test_settings_choose_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAST_SPEECH_BACKEND", "faster-whisper")
    monkeypatch.setenv("CAST_SPEECH_MODEL", "tiny.en")
    transcriber = transcriber_from_settings(load_settings())
    assert (transcriber.backend, transcriber.model, transcriber.device) == ("faster-whisper", "tiny.en", "cpu")


def test_batched_decoding_is_the_default_and_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAST_SPEECH_BATCH_SIZE", raising=False)
    assert load_transcriber("faster-whisper", "tiny.en", "cpu", "int8").batch_size == 4  # type: ignore[attr-defined]
    monkeypatch.setenv("CAST_SPEECH_BATCH_SIZE", "0")
    assert transcriber_from_settings(load_settings()).batch_size == 0  # type: ignore[attr-defined]
    assert load_transcriber("faster-whisper", "tiny.en", "cpu", "int8")._pipeline is None  # type: ignore[attr-defined]
    assert load_transcriber("faster-whisper", "tiny.en", "cpu", "int8", batch_size=8).batch_size == 8  # type: ignore[attr-defined]


def test_unknown_backends_list_the_known_ones() -> None:
    with pytest.raises(BackendUnavailableError, match="faster-whisper, parakeet, mlx-whisper"):
        load_transcriber("kaldi", "tiny.en")


def test_unsupported_compute_type_is_explained() -> None:
    with pytest.raises(BackendUnavailableError, match=r"float16.*not supported on cpu.*CAST_SPEECH_COMPUTE_TYPE"):
        load_transcriber("faster-whisper", "tiny.en", "cpu", "float16")


def test_a_model_that_is_not_available_offline_fails_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BackendUnavailableError, match="could not load faster-whisper model 'no-such-model-xyz'"):
        load_transcriber("faster-whisper", "no-such-model-xyz", "cpu", "int8")
    assert all(key[1] != "no-such-model-xyz" for key in loaded_models())


@pytest.mark.skipif(importlib.util.find_spec("nemo") is not None, reason="NeMo is installed here")
def test_parakeet_without_nemo_says_which_extra_to_install() -> None:
    with pytest.raises(BackendUnavailableError, match=r"install cast-pipeline\[parakeet\]"):
        load_transcriber("parakeet", "nvidia/parakeet-tdt-0.6b-v3", "cpu", "default")


@pytest.mark.skipif(sys.platform == "darwin", reason="MLX may run on this Mac")
def test_mlx_elsewhere_than_apple_silicon_is_refused_clearly() -> None:
    with pytest.raises(BackendUnavailableError, match=r"only on Apple Silicon.*CAST_SPEECH_BACKEND=faster-whisper"):
        load_transcriber("mlx-whisper", "tiny.en")
