"""The ``audio`` asset (core side) and the ``<prefix>/speech_transcript`` asset factory.

``audio`` downloads an episode's enclosure only when the publisher offers no usable transcript
(transcript-first: most episodes of feeds with transcripts never cost a download). A complete,
valid earlier download of the same URL is reused.

``build_speech_asset(prefix, model)`` makes the speech asset of one transcription location
(``local`` on a single machine, ``gpu`` in transcribe_gpu, ``mac`` in transcribe_mac: an asset key
can be materialised in only one code location). One run loads the model once and transcribes the
batch with :func:`cast_pipeline.speech.transcribe_files`, which decodes the next file while the
model works on the current one; a file that fails fails only its own partition.

The per-episode work lives in ``audio_step`` and ``speech_step``, and each asset's attributes in
:func:`audio_attributes` / :func:`speech_attributes`: the single machine builds one step that
materialises both keys from the same parts (cast_pipeline.defs.speech.overlap).
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from cast_pipeline.defs.batching import per_episode
from cast_pipeline.defs.feeds.assets import OWNERS
from cast_pipeline.defs.feeds.partitions import FIND_BY_TITLE, episode_backfill_policy, episodes_partitions
from cast_pipeline.defs.speech.audio_step import AudioStep
from cast_pipeline.defs.speech.keys import AUDIO_KEY, speech_key
from cast_pipeline.defs.speech.resources import SpeechModel
from cast_pipeline.defs.speech.speech_step import SpeechStep
from cast_pipeline.defs.storage.resources import CastResource
from cast_pipeline.defs.transcripts.assets import publisher_transcript
from cast_pipeline.transcripts.store import speech_file

# Both steps run over a range of episodes in one run (a sensor batch, a backfill of up to 25).
BATCHED = {"partitions_def": episodes_partitions, "backfill_policy": episode_backfill_policy}


def audio_attributes() -> dict[str, Any]:
    """What the ``audio`` asset is (key aside): the same for ``@dg.asset`` and a multi-asset's ``dg.AssetSpec``."""
    return {
        "deps": [publisher_transcript],
        "group_name": "speech",
        "kinds": {"audio"},
        "owners": OWNERS,
        "tags": {"domain": "speech"},
        "description": "The episode's audio (its RSS enclosure), downloaded only when the publisher offers no "
        "usable transcript; otherwise status not_needed and nothing is fetched. Stored as audio.<ext> (format "
        "from the magic bytes, HTML pages rejected) with audio.json; a complete download of the same URL is "
        "reused. Local file enclosures are accepted only from feeds that are local files." + FIND_BY_TITLE,
    }


def speech_attributes(prefix: str, model: SpeechModel) -> dict[str, Any]:
    """What ``<prefix>/speech_transcript`` is (key aside), its code version ``<backend>:<model>``."""
    version = model.describe()
    return {
        "deps": [AUDIO_KEY],
        "group_name": "speech",
        "kinds": {"json"},
        "owners": OWNERS,
        "tags": {"domain": "speech"},
        "code_version": version,
        "description": f"Speech-to-text of the episode's audio in this code location ({prefix}), model "
        f"{version} (the code version). Writes {speech_file(prefix)}: segments with word times, plus model, "
        "device, duration, realtime factor, host and pid. Episodes with a publisher transcript are recorded as "
        "not_needed without loading the model. Re-transcribing episodes made with an older model is one "
        "backfill: set CAST_SPEECH_MODEL, reload the location, then Materialize -> the changed partitions -> "
        "Launch backfill; `transcript` follows through the transcript_sources sensor." + FIND_BY_TITLE,
    }


@dg.asset(key=AUDIO_KEY, **BATCHED, **audio_attributes())
def audio(context: dg.AssetExecutionContext, cast: CastResource):
    # Downloads run a few at a time (AudioPrefetch); episodes are recorded in order as theirs ends.
    step = AudioStep(cast.paths(), cast.settings(), context.partition_keys, context.log)
    with step.fetching():
        yield from per_episode(context, step.work)


def build_speech_asset(
    prefix: str, model: SpeechModel, *, op_tags: Mapping[str, str] | None = None, pool: str = "speech"
) -> dg.AssetsDefinition:
    """The ``<prefix>/speech_transcript`` asset, its code version ``<backend>:<model>`` from ``model``.

    ``model`` is the location's configured :class:`SpeechModel` (the same values must be bound as
    the ``speech_model`` resource); its backend and model name become the asset's code version, so
    after a model change the UI marks every partition made with the old one as changed. ``op_tags``
    and ``pool``: the fleet routes the step to a Celery queue and limits it per queue.
    """
    version = model.describe()

    @dg.asset(
        key=speech_key(prefix),
        **BATCHED,
        **speech_attributes(prefix, model),
        pool=pool,
        op_tags=dict(op_tags) if op_tags else None,
    )
    def speech_transcript(context: dg.AssetExecutionContext, cast: CastResource, speech_model: SpeechModel):
        step = SpeechStep(cast.paths(), prefix, version, speech_model, context.partition_keys, context.log)
        try:
            yield from per_episode(context, step.work)
        finally:
            step.close()

    return speech_transcript
