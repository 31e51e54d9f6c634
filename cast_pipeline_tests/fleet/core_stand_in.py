"""A stand-in for the ``core`` location in the fleet's daemon test: only the recovery sensor it carries.

Why not core itself: its other sensors (new episodes, transcripts, search) would start runs of their
own in the middle of the backfill under test. In the deployment ``core`` runs ``resume_failed_backfills``
for every location's backfills (the instance is shared); this location does exactly that here.
"""

import dagster as dg

import cast_pipeline.locations  # noqa: F401  (like every real location: cast_pipeline.code_server)
from cast_pipeline.defs.recovery.sensors import resume_failed_backfills

defs = dg.Definitions(sensors=[resume_failed_backfills])
