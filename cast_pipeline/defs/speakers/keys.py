"""Asset keys of the diarization assets: ``<prefix>/speakers``, one per transcription location.

Why per location, like ``<prefix>/speech_transcript``: diarization reads the same audio as the speech
model and aligns to that location's words, so it runs where the speech runs (the GPU box can run
pyannote on its GPU), and an asset key can be materialised in only one code location.
"""

from __future__ import annotations

import dagster as dg

from cast_pipeline.defs.speech.keys import check_prefix

SPEAKERS_ASSET_NAME = "speakers"


def speakers_key(prefix: str) -> dg.AssetKey:
    """``AssetKey([prefix, "speakers"])`` for a speech location prefix (cast_pipeline.defs.speech.keys)."""
    return dg.AssetKey([check_prefix(prefix), SPEAKERS_ASSET_NAME])
