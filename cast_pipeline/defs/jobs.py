"""Jobs: the per-episode transcript-first job and the feed refresh job.

The episodes job is built from whatever per-episode assets a code location holds, so the single
machine definitions (everything) and the core location (no speech model) share one job name, which
the sensor and `dagster job launch -j episodes_job` use.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from cast_pipeline.defs.feeds.partitions import EPISODES, FEEDS

EPISODES_JOB = "episodes_job"
FEEDS_JOB = "feeds_job"


def _partitioned_by(assets: Sequence[dg.AssetsDefinition], name: str) -> list[dg.AssetKey]:
    return [
        key
        for a in assets
        if isinstance(a.partitions_def, dg.DynamicPartitionsDefinition) and a.partitions_def.name == name
        for key in a.keys
    ]


def build_jobs(assets: Sequence[dg.AssetsDefinition]) -> list[dg.UnresolvedAssetJobDefinition]:
    jobs = [
        dg.define_asset_job(
            EPISODES_JOB,
            selection=dg.AssetSelection.assets(*_partitioned_by(assets, EPISODES)),
            # Steps of one batch run one after another anyway (each needs the previous); one process
            # saves ~2 s of process start-up per step and lets a loaded model serve every step.
            executor_def=dg.in_process_executor,
            description="Transcript-first processing of episodes: metadata, publisher transcript, "
            "(audio and speech where none exists), transcript. One run may cover a range of episodes.",
        )
    ]
    if _partitioned_by(assets, FEEDS):
        jobs.append(
            dg.define_asset_job(
                FEEDS_JOB,
                selection=dg.AssetSelection.assets(*_partitioned_by(assets, FEEDS)),
                executor_def=dg.in_process_executor,
                description="Refresh one feed and rewrite its episode catalog.",
            )
        )
    return jobs
