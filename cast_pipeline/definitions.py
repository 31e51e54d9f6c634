"""Everything on one machine: the definitions `dagster dev` and `cast-pipeline run` load.

Production splits the same assets over code locations (cast_pipeline/locations/); this module keeps
them together so one `dagster dev` with SQLite runs the whole pipeline, speech included: the
``episodes_job`` goes feed -> episode -> publisher_transcript -> audio -> local/speech_transcript
-> local/speakers -> transcript in one run, transcribing on this machine (CAST_SPEECH_*; faster-whisper tiny.en on
the CPU by default) only the episodes without a publisher transcript. ``audio`` and ``local/speech_transcript``
are one step here (cast_pipeline.defs.speech.overlap), so the batch's downloads overlap its transcription.
"""

from __future__ import annotations

import dagster as dg

from cast_pipeline.defs.feeds.assets import episode, feed
from cast_pipeline.defs.feeds.sensors import new_episodes
from cast_pipeline.defs.jobs import build_jobs
from cast_pipeline.defs.recovery.sensors import reclaim_dead_runs, resume_failed_backfills
from cast_pipeline.defs.search.assets import build_embeddings_asset, search_index
from cast_pipeline.defs.search.automation import search_automation, search_index_job
from cast_pipeline.defs.search.checks import SEARCH_CHECKS
from cast_pipeline.defs.search.resources import EmbeddingModel
from cast_pipeline.defs.speakers.assets import build_speakers_asset
from cast_pipeline.defs.speech.automation import (
    build_audio_ready_sensor,
    build_transcribe_job,
    build_transcript_job,
    build_transcript_sources_sensor,
)
from cast_pipeline.defs.speech.keys import LOCAL
from cast_pipeline.defs.speech.overlap import audio_and_speech_step, build_audio_and_speech_asset
from cast_pipeline.defs.speech.resources import SpeechModel
from cast_pipeline.defs.storage.resources import CastResource
from cast_pipeline.defs.transcripts.assets import publisher_transcript, transcript
from cast_pipeline.defs.transcripts.sensors import awaiting_transcripts

speech_model = SpeechModel()  # every field from the CAST_SPEECH_* settings
audio_and_speech = build_audio_and_speech_asset(LOCAL, speech_model)  # `audio` + `local/speech_transcript`
speakers = build_speakers_asset(LOCAL)  # who spoke when, between speech and transcript

embedding_model = EmbeddingModel()  # the CAST_EMBEDDING_MODEL setting
ASSETS = [feed, episode, publisher_transcript, audio_and_speech, speakers, transcript]
ASSETS += [build_embeddings_asset(embedding_model), search_index]

defs = dg.Definitions(
    assets=ASSETS,
    sensors=[
        new_episodes,
        # Both only complete what a failed batch left out (the episodes_job does all steps itself).
        build_audio_ready_sensor(LOCAL, dg.DefaultSensorStatus.RUNNING, target_step=audio_and_speech_step(LOCAL)),
        build_transcript_sources_sensor([LOCAL]),
        awaiting_transcripts,
        search_automation,
        reclaim_dead_runs,  # this machine only: fail runs whose process died, free their pool slots
        resume_failed_backfills,  # a backfill failed by a crash or outage: launch its missing partitions again
    ],
    jobs=[*build_jobs(ASSETS), build_transcribe_job(LOCAL), build_transcript_job(ASSETS), search_index_job],
    asset_checks=SEARCH_CHECKS,
    resources={"cast": CastResource(), "speech_model": speech_model, "embedding_model": embedding_model},
)
