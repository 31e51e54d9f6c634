"""Dagster definitions by domain: feeds, transcripts, speech, search (see docs/design.md)."""

import warnings

import dagster as dg

# BackfillPolicy.multi_run is what batches episodes per run; Dagster 1.13 flags the argument as beta on
# every asset that uses it. We rely on it knowingly (see defs/feeds/partitions.py), so say it once here.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)
