"""A stand-in code location for the PostgreSQL outage test: a partitioned asset that takes a few seconds.

Served by `dagster api grpc -m cast_pipeline_tests.deploy.backfill_location` so the test exercises
Dagster's backfill, queue, retries and monitoring against a PostgreSQL that goes away, without loading
a speech model. Each partition writes its file atomically (temp file, then rename) and records it.
"""

import os
import time
from pathlib import Path

import dagster as dg

import cast_pipeline.locations  # noqa: F401  (like every real location: cast_pipeline.code_server)
from cast_pipeline.defs.recovery.sensors import resume_failed_backfills

PARTS = dg.StaticPartitionsDefinition([f"p{i}" for i in range(6)])
SECONDS_PER_PARTITION = 3.0  # the PostgreSQL outage test stops the database inside this window


@dg.asset(partitions_def=PARTS)
def slow_part(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    time.sleep(SECONDS_PER_PARTITION)
    out = Path(os.environ["CAST_DATA_DIR"]) / "parts" / f"{context.partition_key}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(f"{context.partition_key} by run {context.run_id}\n")
    tmp.replace(out)
    return dg.MaterializeResult(metadata={"run": context.run_id})


# As in the deployment, where the core location runs it for every location's backfills.
defs = dg.Definitions(assets=[slow_part], sensors=[resume_failed_backfills])
