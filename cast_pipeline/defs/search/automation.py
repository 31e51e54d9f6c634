"""The sensor that runs the search assets' automation conditions, and the job that builds the index.

Why a sensor of our own instead of Dagster's ``default_automation_condition_sensor``: it has a name that
says what it does in the UI (Automation -> ``search_automation``) and targets exactly the two search
assets. Like ``new_episodes`` it starts stopped: switch it on in ``dagster dev`` to have transcripts
made outside the episodes/transcript jobs embedded, and the index updated after every batch.
``emit_backfills`` turns a request for many ``embeddings`` partitions into one backfill, which the
asset's backfill policy splits into runs of 25 episodes.
"""

from __future__ import annotations

import dagster as dg

from cast_pipeline.defs.search.assets import EMBEDDINGS_KEY, SEARCH_INDEX_KEY

SEARCH_AUTOMATION_SENSOR = "search_automation"
SEARCH_INDEX_JOB = "search_index_job"

search_automation = dg.AutomationConditionSensorDefinition(
    SEARCH_AUTOMATION_SENSOR,
    target=dg.AssetSelection.assets(EMBEDDINGS_KEY, SEARCH_INDEX_KEY),
    default_status=dg.DefaultSensorStatus.STOPPED,
    emit_backfills=True,
    description="Embeds new transcripts and brings the search index up to date (eager automation conditions "
    "of embeddings and search_index).",
)

search_index_job = dg.define_asset_job(
    SEARCH_INDEX_JOB,
    selection=dg.AssetSelection.assets(SEARCH_INDEX_KEY),
    executor_def=dg.in_process_executor,
    description="Bring the search index up to date with the episodes' embeddings (and run its checks); "
    "`cast-pipeline run` executes it after its episode batches.",
)
