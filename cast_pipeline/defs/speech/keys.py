"""Asset keys of the speech assets, one per transcription location.

Why one key per location: Dagster lets an asset key be materialised in only ONE code location, and
there are two transcription locations (a GPU box and a Mac) besides the single-machine setup. So
each has its own key ``<prefix>/speech_transcript`` and writes its own ``speech-<prefix>.json``;
``transcript`` depends on all of them and uses the newest result (cast_pipeline.transcripts.store).
"""

from __future__ import annotations

import dagster as dg

LOCAL = "local"  # single machine (cast_pipeline.definitions): faster-whisper on this machine's CPU/GPU
GPU = "gpu"  # code location transcribe_gpu (cast_pipeline.locations.gpu)
MAC = "mac"  # code location transcribe_mac (cast_pipeline.locations.mac)
PREFIXES = (LOCAL, GPU, MAC)

SPEECH_ASSET_NAME = "speech_transcript"
AUDIO_KEY = dg.AssetKey("audio")
TRANSCRIPT_KEY = dg.AssetKey("transcript")


def speech_key(prefix: str) -> dg.AssetKey:
    """``AssetKey([prefix, "speech_transcript"])`` for one of :data:`PREFIXES`."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown speech location prefix {prefix!r}; use one of {', '.join(PREFIXES)}")
    return dg.AssetKey([prefix, SPEECH_ASSET_NAME])
