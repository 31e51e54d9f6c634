"""Recovery sensors: ``reclaim_dead_runs`` (dead runs of this host) and ``resume_failed_backfills``.

``reclaim_dead_runs``: in `dagster dev`, fail runs of this host whose process died and free their slots.

Why a sensor: with the default run launcher the daemon cannot see a run worker (or a `cast-pipeline
run` on the same instance) die, and its pool slots stay claimed until someone frees them by hand.
The sensor runs the same check as `cast-pipeline run` (cast_pipeline.defs.recovery.runs) every
30 seconds; it requests no runs, it only repairs the instance and says what it did.

``resume_failed_backfills`` (in `dagster dev` and the ``core`` location of the deployment): Dagster
leaves a backfill that failed during an outage failed for good; the sensor launches its missing
partitions again (cast_pipeline.defs.recovery.backfills).
"""

from __future__ import annotations

import dagster as dg

from cast_pipeline.defs.recovery.backfills import resume_failed_backfills as resume_backfills
from cast_pipeline.defs.recovery.runs import fail_dead_runs

RECLAIM_INTERVAL_SECONDS = 30


@dg.sensor(
    name="reclaim_dead_runs",
    minimum_interval_seconds=RECLAIM_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks runs of this host whose process is gone (kill -9, crash, reboot) as failed and frees "
    "the pool slots they (or finished runs) still hold, so runs waiting for the speech pool go on.",
)
def reclaim_dead_runs(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    reclaimed = fail_dead_runs(context.instance)
    for dead in reclaimed:
        context.log.warning(f"reclaimed {dead.line()}")
    if not reclaimed:
        return dg.SkipReason("no dead runs or leaked pool slots on this host")
    return dg.SkipReason(f"reclaimed {len(reclaimed)} run(s): " + "; ".join(d.line() for d in reclaimed))


RESUME_INTERVAL_SECONDS = 15


@dg.sensor(
    name="resume_failed_backfills",
    minimum_interval_seconds=RESUME_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches the missing partitions of a backfill that ended FAILED or COMPLETED_FAILED (a location "
    "or PostgreSQL was down, its runs crashed) again, as 'Re-execute from failure' would, up to 3 times; "
    "partitions materialised since the backfill began are left out.",
)
def resume_failed_backfills(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    resumed = resume_backfills(context.instance)
    for each in resumed:
        context.log.warning(each.line())
    if not resumed:
        return dg.SkipReason("no failed backfill to resume")
    return dg.SkipReason("; ".join(r.line() for r in resumed))
