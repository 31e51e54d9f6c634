"""What Dagster recorded about each episode's assets: the metadata the file checks compare the disk with.

Thin on purpose: the checks themselves are plain Python (:mod:`cast_pipeline.integrity`). This reads the
latest materialisation of each per-episode asset for each episode, in two queries per asset and chunk
(the latest storage id per partition, then those records), never one query per episode.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

import dagster as dg
from dagster._core.events import DagsterEventType

_CHUNK = 500  # storage ids per query (SQLite has a limit on bound parameters)

Recorded = dict[str, dict[str, dict[str, Any]]]  # episode key -> asset (user string) -> metadata values


def recorded_metadata(
    instance: dg.DagsterInstance, asset_keys: Iterable[dg.AssetKey], episode_keys: Collection[str] | None = None
) -> Recorded:
    """``{episode key: {asset: metadata}}`` of the latest materialisation of each asset, per episode.

    ``episode_keys`` limits the answer (None: every materialised partition). Metadata values are plain
    (``.value`` of each entry: dicts for JSON entries, strings, numbers).
    """
    wanted = set(episode_keys) if episode_keys is not None else None
    out: Recorded = {}
    for asset_key in asset_keys:
        latest = instance.get_latest_storage_id_by_partition(asset_key, DagsterEventType.ASSET_MATERIALIZATION)
        ids = [sid for key, sid in latest.items() if wanted is None or key in wanted]
        name = asset_key.to_user_string()
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=asset_key, storage_ids=chunk), limit=len(chunk)
            ).records
            for record in records:
                materialization = record.asset_materialization
                if materialization is None or record.partition_key is None:
                    continue
                metadata = {k: v.value for k, v in materialization.metadata.items()}
                out.setdefault(record.partition_key, {})[name] = metadata
    return out
