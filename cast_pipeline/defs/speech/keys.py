"""Asset keys of the speech assets, one per transcription location or fleet queue.

Why one key per location: Dagster lets an asset key be materialised in only ONE code location, and
there are two transcription locations (a GPU box and a Mac) besides the single-machine setup. So
each has its own key ``<prefix>/speech_transcript`` and writes its own ``speech-<prefix>.json``;
``transcript`` depends on all of them and uses the newest result (cast_pipeline.transcripts.store).
A prefix names a kind of hardware, not a machine: the fleet (cast_pipeline.locations.fleet) runs
``gpu``, ``mac`` and ``cpu`` on any number of workers, and any lowercase name is a valid prefix.
"""

from __future__ import annotations

import re

import dagster as dg

LOCAL = "local"  # single machine (cast_pipeline.definitions): faster-whisper on this machine's CPU/GPU
GPU = "gpu"  # code location transcribe_gpu (cast_pipeline.locations.gpu)
MAC = "mac"  # code location transcribe_mac (cast_pipeline.locations.mac)
CPU = "cpu"  # the fleet's speech-cpu queue (cast_pipeline.locations.fleet)
PREFIXES = (LOCAL, GPU, MAC, CPU)  # the prefixes this package uses; others are allowed
_PREFIX = re.compile(r"[a-z][a-z0-9_]{0,31}")

SPEECH_ASSET_NAME = "speech_transcript"
AUDIO_KEY = dg.AssetKey("audio")
TRANSCRIPT_KEY = dg.AssetKey("transcript")


def check_prefix(prefix: str) -> str:
    """``prefix`` when it can name a speech location (a lowercase word: also a file-name part), else ValueError."""
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise ValueError(
            f"not a speech location prefix: {prefix!r}; use a lowercase word of letters, digits and _ "
            f"(e.g. {', '.join(PREFIXES)})"
        )
    return prefix


def speech_key(prefix: str) -> dg.AssetKey:
    """``AssetKey([prefix, "speech_transcript"])``."""
    return dg.AssetKey([check_prefix(prefix), SPEECH_ASSET_NAME])
