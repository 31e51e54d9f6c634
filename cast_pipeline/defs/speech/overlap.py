"""One step for ``audio`` and ``<prefix>/speech_transcript`` on a single machine, so downloads overlap the model.

Why (issue 8): Dagster runs a step only when the steps it depends on have ended, so with two
assets a run of 25 episodes downloads all of them while the model idles, then transcribes. Here one
subsettable multi-asset materialises both keys: when both are selected, every download of the batch
starts at once (a few at a time, :class:`AudioStep`), and each episode is recorded as soon as its
audio is there (``audio``), then transcribed (``<prefix>/speech_transcript``) while the next
downloads go on; the model waits only for a file it needs next. Selected alone, each key does
exactly what its own asset does (cast_pipeline.defs.speech.assets), built from the same parts.

Keys, files, metadata and failures are those of the two assets: an episode whose download fails
fails with its reason (and is not transcribed); the others are downloaded and transcribed. The
split deployment (cast_pipeline.locations) keeps the two assets apart, because there the audio
and the model live in different code locations.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from cast_pipeline.defs.batching import EpisodeWork, per_episode_assets
from cast_pipeline.defs.speech.assets import BATCHED, audio_attributes, speech_attributes
from cast_pipeline.defs.speech.audio_step import AudioStep
from cast_pipeline.defs.speech.keys import AUDIO_KEY, check_prefix, speech_key
from cast_pipeline.defs.speech.resources import SpeechModel
from cast_pipeline.defs.speech.speech_step import SpeechStep
from cast_pipeline.defs.storage.resources import CastResource


def audio_and_speech_step(prefix: str) -> str:
    """The op (so step) name of the multi-asset: ``audio_and_<prefix>_speech``."""
    return f"audio_and_{check_prefix(prefix)}_speech"


def build_audio_and_speech_asset(prefix: str, model: SpeechModel, *, pool: str = "speech") -> dg.AssetsDefinition:
    """``audio`` and ``<prefix>/speech_transcript`` as one subsettable multi-asset (see the module docstring).

    ``pool`` limits the step like the speech asset's (it loads the model); an ``audio``-only run of
    this step waits for that slot too.
    """
    key = speech_key(prefix)
    version = model.describe()

    @dg.multi_asset(
        name=audio_and_speech_step(prefix),
        specs=[dg.AssetSpec(AUDIO_KEY, **audio_attributes()), dg.AssetSpec(key, **speech_attributes(prefix, model))],
        can_subset=True,
        pool=pool,
        **BATCHED,
    )
    def audio_and_speech(
        context: dg.AssetExecutionContext, cast: CastResource, speech_model: SpeechModel
    ) -> Iterator[Any]:
        selected = context.selected_asset_keys
        paths, keys = cast.paths(), context.partition_keys
        if AUDIO_KEY not in selected:  # the speech asset alone (transcribe_job, a re-transcription backfill)
            speech = SpeechStep(paths, prefix, version, speech_model, keys, context.log)
            try:
                yield from per_episode_assets(context, [(key, speech.work)])
            finally:
                speech.close()
            return
        audio = AudioStep(paths, cast.settings(), keys, context.log)
        with audio.fetching():
            steps: list[tuple[dg.AssetKey, EpisodeWork]] = [(AUDIO_KEY, audio.work)]
            if key not in selected:
                yield from per_episode_assets(context, steps)
                return
            # Planned as each download ends (audio.fetched raises its error): the decode thread waits
            # for the network, the model only for the file it transcribes next.
            speech = SpeechStep(paths, prefix, version, speech_model, keys, context.log, audio_ready=audio.fetched)
            try:
                yield from per_episode_assets(context, [*steps, (key, speech.work)])
            finally:
                audio.stop()  # first: the decode thread may be waiting for a download not started yet
                speech.close()

    return audio_and_speech
