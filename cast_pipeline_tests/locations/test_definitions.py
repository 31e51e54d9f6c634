"""The three code locations: who materialises which key, lineage across them, jobs, sensors, speech config."""

from __future__ import annotations

import dagster as dg
import pytest

from cast_pipeline import definitions
from cast_pipeline.defs.feeds.partitions import EPISODES, FIND_BY_TITLE
from cast_pipeline.defs.speakers.keys import speakers_key
from cast_pipeline.defs.speech.assets import build_speech_asset
from cast_pipeline.defs.speech.keys import CPU, GPU, MAC, speech_key
from cast_pipeline.locations import core, gpu, mac
from cast_pipeline.locations.common import location_speech_model

LOCATIONS = {"core": core.defs, "transcribe_gpu": gpu.defs, "transcribe_mac": mac.defs}


def _executable(defs: dg.Definitions) -> set[str]:
    graph = defs.resolve_asset_graph()
    return {k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).is_executable}


def test_every_asset_key_is_materialised_in_exactly_one_location() -> None:
    executable = {name: _executable(defs) for name, defs in LOCATIONS.items()}
    speech = {name: {k for k in keys if k.endswith("/speech_transcript")} for name, keys in executable.items()}
    assert speech == {
        "core": set(),
        "transcribe_gpu": {"gpu/speech_transcript"},
        "transcribe_mac": {"mac/speech_transcript"},
    }
    # Nothing else needs the GPU box; diarization runs where the speech runs, on the same audio.
    assert executable["transcribe_gpu"] == {"gpu/speech_transcript", "gpu/speakers"}
    assert executable["transcribe_mac"] == {"mac/speech_transcript", "mac/speakers"}
    chain = {"feed", "episode", "publisher_transcript", "audio", "transcript"}
    assert chain <= executable["core"]
    names = list(executable)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not executable[a] & executable[b], f"{a} and {b} both materialise {executable[a] & executable[b]}"
    # The single machine holds the same chain with its own speech key.
    assert chain | {"local/speech_transcript", "local/speakers"} <= _executable(definitions.defs)


def test_lineage_joins_across_locations() -> None:
    """Dependencies by key: put every location's assets in one graph, as the workspace does."""
    assets = [a for defs in LOCATIONS.values() for a in defs.resolve_asset_graph().assets_defs if a.is_executable]
    graph = dg.Definitions(assets=assets).resolve_asset_graph()
    # cpu/...: the fleet's speech-cpu queue (cast_pipeline.locations.fleet), not materialised in this workspace
    assert graph.get(dg.AssetKey("transcript")).parent_keys == {
        dg.AssetKey("publisher_transcript"),
        *(key(prefix) for prefix in (GPU, MAC, CPU) for key in (speech_key, speakers_key)),
    }
    for prefix in (GPU, MAC):
        node = graph.get(speech_key(prefix))
        assert node.parent_keys == {dg.AssetKey("audio")} and node.is_executable
        assert graph.get(speakers_key(prefix)).parent_keys == {speech_key(prefix)}
        assert node.partitions_def == graph.get(dg.AssetKey("transcript")).partitions_def  # episodes, 1:1
    # Inside core alone, the speech keys are known but not materialisable there.
    core_graph = core.defs.resolve_asset_graph()
    assert not core_graph.get(speech_key(GPU)).is_executable


def test_jobs_and_sensors_per_location() -> None:
    assert {j.name for j in core.defs.resolve_all_job_defs()} >= {"episodes_job", "feeds_job", "transcript_job"}
    assert {s.name for s in core.defs.sensors} >= {"new_episodes", "transcript_sources"}
    core_episodes = core.defs.resolve_job_def("episodes_job").asset_layer.executable_asset_keys
    assert dg.AssetKey("audio") in core_episodes and not any(k.path[-1] == "speech_transcript" for k in core_episodes)
    for defs, prefix, status in (
        (gpu.defs, GPU, dg.DefaultSensorStatus.RUNNING),
        (mac.defs, MAC, dg.DefaultSensorStatus.STOPPED),  # the GPU picks up new audio; the Mac on demand
    ):
        job = defs.resolve_job_def("transcribe_job")
        assert job.asset_layer.executable_asset_keys == {speech_key(prefix), speakers_key(prefix)}
        (sensor,) = defs.sensors
        assert (sensor.name, sensor.job_name, sensor.default_status) == (
            f"audio_ready_{prefix}",
            "transcribe_job",
            status,
        )
    speech_assets = [definitions.defs.resolve_assets_def(speech_key(p)) for p in ("local",)]
    speech_assets += [gpu.speech_transcript, mac.speech_transcript]
    for asset in speech_assets:
        assert asset.op.pool == "speech"  # one speech step at a time per pool slot
        assert all(group == "speech" for group in asset.group_names_by_key.values())
    # One machine: audio and speech are one subsettable step, so downloads overlap the model (issue 8).
    local = definitions.defs.resolve_assets_def(speech_key("local"))
    assert local.keys == {dg.AssetKey("audio"), speech_key("local")} and local.can_subset


def test_location_speech_models_follow_the_host_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CAST_SPEECH_BACKEND", "CAST_SPEECH_MODEL", "CAST_SPEECH_DEVICE", "CAST_SPEECH_COMPUTE_TYPE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("CAST_SPEECH_BATCH_SIZE", raising=False)
    plain = location_speech_model(backend="faster-whisper", device="cuda")
    assert (plain.backend, plain.device, plain.describe()) == ("faster-whisper", "cuda", "faster-whisper:tiny.en")
    assert plain.batch_size is None  # CAST_SPEECH_BATCH_SIZE's default when the model loads
    assert location_speech_model(backend="faster-whisper", batch_size=8).batch_size == 8  # the GPU location's
    monkeypatch.setenv("CAST_SPEECH_BATCH_SIZE", "0")
    assert location_speech_model(backend="faster-whisper", batch_size=8).batch_size == 0  # the host decides
    assert location_speech_model(backend="mlx-whisper").describe() == "mlx-whisper:tiny.en"

    monkeypatch.setenv("CAST_SPEECH_BACKEND", "parakeet")
    monkeypatch.setenv("CAST_SPEECH_MODEL", "nvidia/parakeet-tdt-0.6b-v3")
    monkeypatch.setenv("CAST_SPEECH_DEVICE", "cpu")
    parakeet = location_speech_model(backend="faster-whisper", device="cuda")
    assert (parakeet.backend, parakeet.model, parakeet.device) == ("parakeet", "nvidia/parakeet-tdt-0.6b-v3", "cpu")
    # The model is the speech asset's code version: a new model marks old partitions as changed.
    asset = build_speech_asset(GPU, parakeet)
    assert asset.code_versions_by_key[speech_key(GPU)] == "parakeet:nvidia/parakeet-tdt-0.6b-v3"


def test_every_episode_asset_says_how_to_find_an_episode_by_title() -> None:
    checked = set()
    for defs in [definitions.defs, *LOCATIONS.values()]:
        graph = defs.resolve_asset_graph()
        for key in graph.materializable_asset_keys:
            node = graph.get(key)
            partitions = node.partitions_def
            if isinstance(partitions, dg.DynamicPartitionsDefinition) and partitions.name == EPISODES:
                assert (node.description or "").endswith(FIND_BY_TITLE), key.to_user_string()
                checked.add(key.to_user_string())
    assert {"episode", "audio", "local/speech_transcript", "gpu/speech_transcript", "embeddings"} <= checked
