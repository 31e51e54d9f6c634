"""The two partition sets: feeds (keyed by feed URL) and episodes (keyed by episode key).

Feeds are keyed by their URL so a user can register a feed from the Dagster UI's "add partition"
dialog by pasting the URL; the filename-safe feed key is derived from it (cast_pipeline.keys).
Episodes use cast_pipeline.keys.episode_key. A MultiPartitionsDefinition (feed x episode) would
count every pair, so the feed of an episode is read from its key instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg

from cast_pipeline.settings import SETTINGS

FEEDS = "feeds"
EPISODES = "episodes"

feeds_partitions = dg.DynamicPartitionsDefinition(name=FEEDS)
episodes_partitions = dg.DynamicPartitionsDefinition(name=EPISODES)


def episodes_per_run(env: Mapping[str, str] | None = None) -> int:
    """CAST_EPISODES_PER_RUN: read when the definitions are imported, since a backfill policy is part of them.

    Why a setting: 25 amortises the ~6 s of run start-up and a model load while one bad batch holds back
    few episodes; but a backfill only keeps as many fleet workers busy as it has runs (400 episodes in
    runs of 25 are 16 runs), so a larger fleet wants smaller runs.
    """
    setting = SETTINGS["episodes_per_run"]
    raw = ((os.environ if env is None else env).get(setting.env) or setting.default).strip()
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{setting.env}={raw!r} is not a whole number of episodes") from None
    if value < 1:
        raise ValueError(f"{setting.env}={value}: a run needs at least one episode")
    return value


# Episodes per run in backfills and sensor batches.
EPISODES_PER_RUN = episodes_per_run()
episode_backfill_policy = dg.BackfillPolicy.multi_run(max_partitions_per_run=EPISODES_PER_RUN)

# Ends the description of every episode-partitioned asset: partition keys are hashes, users know titles.
FIND_BY_TITLE = (
    " Find an episode by title: every partition's metadata starts with its title; `cast-pipeline episodes list` "
    "shows title, status and key, `cast-pipeline transcript show --title TEXT` opens one."
)
