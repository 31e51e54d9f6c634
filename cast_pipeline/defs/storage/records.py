"""What Dagster recorded about each episode's assets: the metadata the file checks compare the disk with.

Thin on purpose: the checks themselves are plain Python (:mod:`cast_pipeline.integrity`). This reads the
latest materialisation of each per-episode asset for each episode: one grouped query per asset for the
latest storage id per partition, then only the records not seen before.

Why a cache: deserialising a materialisation record costs ~0.3-3 ms (its metadata holds previews), so
reading every record on every ``cast-pipeline run`` would cost seconds per thousand episodes for nothing.
The cache keeps, per asset and episode, the storage id of the latest record and the few entries the checks
use (title, status, files); a record is read again only when its storage id changed (a new
materialisation). It lives in the instance's folder (deleted with the instance) and is only a copy of
Dagster's records: unreadable, it is rebuilt from them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.events import DagsterEventType

from cast_pipeline.integrity import RECORDED_ENTRIES
from cast_pipeline.paths import write_text_atomic

_CHUNK = 500  # storage ids per query (SQLite has a limit on bound parameters)
CACHE_FILE = "cast-recorded-files.json"
_CACHE_FORMAT = 1

Recorded = dict[str, dict[str, dict[str, Any]]]  # episode key -> asset (user string) -> metadata values
_Cache = dict[str, dict[str, list[Any]]]  # asset -> episode key -> [storage id, metadata]


def cache_path(instance: dg.DagsterInstance) -> Path | None:
    """Where the cache of ``instance`` lives (None for an instance without a folder of its own)."""
    root = instance.root_directory
    return Path(root) / CACHE_FILE if root and os.path.isdir(root) else None


def _load(path: Path | None) -> _Cache:
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # a damaged cache is rebuilt from Dagster's records
    return data.get("assets", {}) if isinstance(data, dict) and data.get("format") == _CACHE_FORMAT else {}


def _plain(materialization: dg.AssetMaterialization) -> dict[str, Any]:
    return {k: v.value for k, v in materialization.metadata.items() if k in RECORDED_ENTRIES}


def recorded_metadata(
    instance: dg.DagsterInstance,
    asset_keys: Iterable[dg.AssetKey],
    episode_keys: Collection[str] | None = None,
    *,
    cache: Path | None = None,
) -> Recorded:
    """``{episode key: {asset: metadata}}`` of the latest materialisation of each asset, per episode.

    ``episode_keys`` limits the answer (None: every materialised partition). Metadata holds the entries
    the checks use (:data:`cast_pipeline.integrity.RECORDED_ENTRIES`), as plain values. With ``cache``
    (see :func:`cache_path`) only records materialised since the last call are read.
    """
    wanted = set(episode_keys) if episode_keys is not None else None
    cached = _load(cache)
    changed = False
    out: Recorded = {}
    for asset_key in asset_keys:
        name = asset_key.to_user_string()
        latest = instance.get_latest_storage_id_by_partition(asset_key, DagsterEventType.ASSET_MATERIALIZATION)
        known = cached.setdefault(name, {})
        for gone in set(known) - set(latest):  # partition deleted or asset wiped
            del known[gone]
            changed = True
        stale = [
            sid
            for key, sid in latest.items()
            if (wanted is None or key in wanted) and (key not in known or known[key][0] != sid)
        ]
        for start in range(0, len(stale), _CHUNK):
            chunk = stale[start : start + _CHUNK]
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=asset_key, storage_ids=chunk), limit=len(chunk)
            ).records
            for record in records:
                if record.asset_materialization is not None and record.partition_key is not None:
                    known[record.partition_key] = [record.storage_id, _plain(record.asset_materialization)]
                    changed = True
        for key, sid in latest.items():
            if (wanted is None or key in wanted) and key in known and known[key][0] == sid:
                out.setdefault(key, {})[name] = known[key][1]
    if cache is not None and changed:
        write_text_atomic(cache, json.dumps({"format": _CACHE_FORMAT, "assets": cached}, separators=(",", ":")))
    return out
