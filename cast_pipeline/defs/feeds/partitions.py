"""The two partition sets: feeds (keyed by feed URL) and episodes (keyed by episode key).

Feeds are keyed by their URL so a user can register a feed from the Dagster UI's "add partition"
dialog by pasting the URL; the filename-safe feed key is derived from it (cast_pipeline.keys).
Episodes use cast_pipeline.keys.episode_key. A MultiPartitionsDefinition (feed x episode) would
count every pair, so the feed of an episode is read from its key instead.
"""

from __future__ import annotations

import dagster as dg

FEEDS = "feeds"
EPISODES = "episodes"

feeds_partitions = dg.DynamicPartitionsDefinition(name=FEEDS)
episodes_partitions = dg.DynamicPartitionsDefinition(name=EPISODES)

# Episodes per run in backfills and sensor batches: big enough to amortise the ~6 s of run start-up
# and a model load, small enough that one bad batch does not hold back many episodes.
EPISODES_PER_RUN = 25
episode_backfill_policy = dg.BackfillPolicy.multi_run(max_partitions_per_run=EPISODES_PER_RUN)

# Ends the description of every episode-partitioned asset: partition keys are hashes, users know titles.
FIND_BY_TITLE = (
    " Find an episode by title: every partition's metadata starts with its title; `cast-pipeline episodes list` "
    "shows title, status and key, `cast-pipeline transcript show --title TEXT` opens one."
)
