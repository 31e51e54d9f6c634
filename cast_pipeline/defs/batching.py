"""Run one asset over every episode of a (possibly ranged) run, one episode's failure isolated.

Why: sensor batches and backfills put up to EPISODES_PER_RUN episodes in one run, so an asset sees
``context.partition_keys``, not one key. Each episode is processed on its own; when all succeed,
every partition is materialised with its own metadata. When some fail, the others are recorded as
materialised (their files are already written), then the step fails naming each failed episode and
its reason, so the UI shows exactly which partitions need attention.

Recorded as each episode finishes (``RECORD_EACH_EPISODE_TAGS`` on the run, which `cast-pipeline run`
sets): Dagster writes a ranged step's materialisations only when the step returns, so a crash
(kill -9, power loss) would forget every episode of the batch although their files are written.
With the tag, Dagster's own per-partition events for the step's output are switched off
(``dagster/defer_asset_events``) and this function records each partition the moment its work is
done: one materialisation per partition, never two, and a crash loses at most the episode in flight.
Runs without the tag (sensor batches, backfills) record all partitions when the step ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import dagster as dg
from dagster._core.definitions.data_version import CODE_VERSION_TAG
from dagster._core.storage.dagster_run import assets_are_externally_managed
from dagster._core.storage.tags import EXTERNALLY_MANAGED_ASSETS_TAG

EpisodeWork = Callable[[str], Mapping[str, Any]]
RECORD_EACH_EPISODE_TAGS = {EXTERNALLY_MANAGED_ASSETS_TAG: "true"}


def _materialization(
    context: dg.AssetExecutionContext, key: str, metadata: Mapping[str, Any]
) -> dg.AssetMaterialization:
    version = context.assets_def.code_versions_by_key.get(context.asset_key)
    return dg.AssetMaterialization(
        asset_key=context.asset_key,
        partition=key,
        metadata=dict(metadata),
        tags={CODE_VERSION_TAG: version} if version else None,
    )


def per_episode(context: dg.AssetExecutionContext, work: EpisodeWork) -> Iterator[Any]:
    """Call ``work(episode_key)`` for each partition key; it returns that partition's metadata."""
    asset = context.asset_key.to_user_string()
    keys = context.partition_keys
    each = assets_are_externally_managed(context.run)
    done: dict[str, Mapping[str, Any]] = {}
    failed: dict[str, str] = {}
    for index, key in enumerate(keys, 1):
        try:
            done[key] = work(key)
        except Exception as exc:  # one episode's error must not lose the others' work
            reason = f"{type(exc).__name__}: {exc}"
            context.log.error(f"{asset}: episode {key} failed: {reason}")
            failed[key] = reason
        else:
            if each:
                yield _materialization(context, key, done[key])
        if len(keys) > 1 and (index % 10 == 0 or index == len(keys)):
            context.log.info(f"{asset}: {index}/{len(keys)} episodes processed, {len(failed)} failed")
    if failed:
        if not each:
            for key, metadata in done.items():
                yield _materialization(context, key, metadata)
        lines = "\n".join(f"- {key}: {reason}" for key, reason in failed.items())
        raise dg.Failure(
            description=f"{asset} failed for {len(failed)} of {len(keys)} episodes "
            f"({len(done)} were written and recorded):\n{lines}",
            metadata={"failed_episodes": dg.MetadataValue.json(failed)},
            allow_retries=False,
        )
    if not each:
        for key, metadata in done.items():
            context.add_asset_metadata(dict(metadata), partition_key=key)
    yield dg.MaterializeResult()
