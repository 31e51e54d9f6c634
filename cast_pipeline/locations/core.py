"""Code location ``core``: everything except the speech models.

Feeds, episodes, publisher transcripts, audio downloads and transcripts, the ``new_episodes`` sensor
(``episodes_job``) and the ``transcript_sources`` sensor (``transcript_job``). ``transcript`` depends
on ``gpu/speech_transcript`` and ``mac/speech_transcript`` by key: those assets are materialised in
the transcription locations, and the workspace joins the graphs, so the UI shows
``audio -> gpu/speech_transcript -> transcript`` across locations. When a transcription location
records speech, ``transcript_sources`` rebuilds the transcript here.

Search lives here too: ``embeddings`` (in the same runs as ``transcript``; a small CPU model) and the
single-writer ``search_index`` with its ``search_automation`` sensor and ``search_index_job``.
"""

from __future__ import annotations

import dagster as dg

from cast_pipeline.defs.feeds.assets import episode, feed
from cast_pipeline.defs.feeds.sensors import new_episodes
from cast_pipeline.defs.jobs import build_jobs
from cast_pipeline.defs.recovery.sensors import resume_failed_backfills
from cast_pipeline.defs.search.assets import build_embeddings_asset, search_index
from cast_pipeline.defs.search.automation import search_automation, search_index_job
from cast_pipeline.defs.search.checks import SEARCH_CHECKS
from cast_pipeline.defs.search.resources import EmbeddingModel
from cast_pipeline.defs.speakers.keys import speakers_key
from cast_pipeline.defs.speech.assets import audio
from cast_pipeline.defs.speech.automation import build_transcript_job, build_transcript_sources_sensor
from cast_pipeline.defs.speech.keys import CPU, GPU, MAC, speech_key
from cast_pipeline.defs.storage.resources import CastResource
from cast_pipeline.defs.transcripts.assets import build_transcript_asset, publisher_transcript
from cast_pipeline.defs.transcripts.sensors import awaiting_transcripts

LOCATION_NAME = "core"
# gpu, mac: transcribe_gpu / transcribe_mac, or the fleet's speech-cuda / speech-mps queues; cpu: speech-cpu
SPEECH_PREFIXES = (GPU, MAC, CPU)

transcript = build_transcript_asset([k for p in SPEECH_PREFIXES for k in (speech_key(p), speakers_key(p))])
embedding_model = EmbeddingModel()  # CAST_EMBEDDING_MODEL of the core host; embeddings and index live here
ASSETS = [feed, episode, publisher_transcript, audio, transcript]
ASSETS += [build_embeddings_asset(embedding_model), search_index]

defs = dg.Definitions(
    assets=ASSETS,
    sensors=[
        new_episodes,
        build_transcript_sources_sensor(SPEECH_PREFIXES),
        awaiting_transcripts,
        search_automation,
        resume_failed_backfills,  # backfills of every location: the instance is shared
    ],
    jobs=[*build_jobs(ASSETS), build_transcript_job(ASSETS), search_index_job],
    asset_checks=SEARCH_CHECKS,
    resources={"cast": CastResource(), "embedding_model": embedding_model},
)
