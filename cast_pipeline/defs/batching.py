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

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import dagster as dg
from dagster._core.definitions.data_version import CODE_VERSION_TAG
from dagster._core.storage.dagster_run import assets_are_externally_managed
from dagster._core.storage.tags import EXTERNALLY_MANAGED_ASSETS_TAG

EpisodeWork = Callable[[str], Mapping[str, Any]]
RECORD_EACH_EPISODE_TAGS = {EXTERNALLY_MANAGED_ASSETS_TAG: "true"}


def _materialization(
    context: dg.AssetExecutionContext, asset: dg.AssetKey, key: str, metadata: Mapping[str, Any]
) -> dg.AssetMaterialization:
    version = context.assets_def.code_versions_by_key.get(asset)
    return dg.AssetMaterialization(
        asset_key=asset,
        partition=key,
        metadata=dict(metadata),
        tags={CODE_VERSION_TAG: version} if version else None,
    )


def per_episode(context: dg.AssetExecutionContext, work: EpisodeWork) -> Iterator[Any]:
    """Call ``work(episode_key)`` for each partition key; it returns that partition's metadata."""
    yield from per_episode_assets(context, [(context.asset_key, work)])


def per_episode_assets(
    context: dg.AssetExecutionContext, steps: Sequence[tuple[dg.AssetKey, EpisodeWork]]
) -> Iterator[Any]:
    """:func:`per_episode` for a multi-asset: each episode goes through ``steps`` in order.

    Why per episode and not per asset: a multi-asset that downloads and transcribes records an
    episode's audio, then its speech, before it starts on the next episode's speech. When a step
    fails for an episode, that episode's later steps are not run (they need its result); the other
    episodes go on. The failure's ``failed_assets`` says which asset failed for each episode.
    """
    names = ", ".join(asset.to_user_string() for asset, _ in steps)
    keys = context.partition_keys
    each = assets_are_externally_managed(context.run)
    done: dict[tuple[dg.AssetKey, str], Mapping[str, Any]] = {}
    failed: dict[str, str] = {}
    failed_assets: dict[str, str] = {}
    for index, key in enumerate(keys, 1):
        for asset, work in steps:
            try:
                done[asset, key] = work(key)
            except Exception as exc:  # one episode's error must not lose the others' work
                reason = f"{type(exc).__name__}: {exc}"
                name = asset.to_user_string()
                context.log.error(f"{name}: episode {key} failed: {reason}")
                failed[key] = reason
                failed_assets[key] = name
                break
            if each:
                yield _materialization(context, asset, key, done[asset, key])
        if len(keys) > 1 and (index % 10 == 0 or index == len(keys)):
            context.log.info(f"{names}: {index}/{len(keys)} episodes processed, {len(failed)} failed")
    if failed:
        if not each:
            for (asset, key), metadata in done.items():
                yield _materialization(context, asset, key, metadata)
        named = len(steps) > 1  # then each line says which asset failed
        lines = "\n".join(f"- {key}: {failed_assets[key] + ': ' if named else ''}{why}" for key, why in failed.items())
        written = len({key for _, key in done if key not in failed})
        raise dg.Failure(
            description=f"{names} failed for {len(failed)} of {len(keys)} episodes "
            f"({written} were written and recorded):\n{lines}",
            metadata={
                "failed_episodes": dg.MetadataValue.json(failed),
                "failed_assets": dg.MetadataValue.json(failed_assets),
            },
            allow_retries=False,
        )
    if not each:
        for (asset, key), metadata in done.items():
            context.add_asset_metadata(dict(metadata), asset_key=asset, partition_key=key)
    for asset, _ in steps:
        yield dg.MaterializeResult(asset_key=asset)
