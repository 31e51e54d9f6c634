"""Run one asset over every episode of a (possibly ranged) run, one episode's failure isolated.

Why: sensor batches and backfills put up to EPISODES_PER_RUN episodes in one run, so an asset sees
``context.partition_keys``, not one key. Each episode is processed on its own; when all succeed,
every partition is materialised with its own metadata. When some fail, the others are recorded as
materialised (their files are already written), then the step fails naming each failed episode and
its reason, so the UI shows exactly which partitions need attention.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import dagster as dg

EpisodeWork = Callable[[str], Mapping[str, Any]]


def per_episode(context: dg.AssetExecutionContext, work: EpisodeWork) -> Iterator[Any]:
    """Call ``work(episode_key)`` for each partition key; it returns that partition's metadata."""
    asset = context.asset_key.to_user_string()
    keys = context.partition_keys
    done: dict[str, Mapping[str, Any]] = {}
    failed: dict[str, str] = {}
    for index, key in enumerate(keys, 1):
        try:
            done[key] = work(key)
        except Exception as exc:  # one episode's error must not lose the others' work
            reason = f"{type(exc).__name__}: {exc}"
            context.log.error(f"{asset}: episode {key} failed: {reason}")
            failed[key] = reason
        if len(keys) > 1 and (index % 10 == 0 or index == len(keys)):
            context.log.info(f"{asset}: {index}/{len(keys)} episodes processed, {len(failed)} failed")
    if failed:
        for key, metadata in done.items():
            yield dg.AssetMaterialization(asset_key=context.asset_key, partition=key, metadata=dict(metadata))
        lines = "\n".join(f"- {key}: {reason}" for key, reason in failed.items())
        raise dg.Failure(
            description=f"{asset} failed for {len(failed)} of {len(keys)} episodes "
            f"({len(done)} were written and recorded):\n{lines}",
            metadata={"failed_episodes": dg.MetadataValue.json(failed)},
            allow_retries=False,
        )
    for key, metadata in done.items():
        context.add_asset_metadata(dict(metadata), partition_key=key)
    yield dg.MaterializeResult()
