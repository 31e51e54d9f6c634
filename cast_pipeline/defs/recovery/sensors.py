"""``reclaim_dead_runs``: in `dagster dev`, fail runs of this host whose process died and free their slots.

Why a sensor: with the default run launcher the daemon cannot see a run worker (or a `cast-pipeline
run` on the same instance) die, and its pool slots stay claimed until someone frees them by hand.
The sensor runs the same check as `cast-pipeline run` (cast_pipeline.defs.recovery.runs) every
30 seconds; it requests no runs, it only repairs the instance and says what it did.
"""

from __future__ import annotations

import dagster as dg

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
