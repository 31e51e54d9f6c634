"""Bring the search index up to date with the episodes' embeddings files, incrementally. Single writer.

Why a state file: an update should touch only the episodes whose embeddings (or metadata) changed since
the last one, and neither LanceDB nor the manifest remembers which file versions it was built from. So
every successful update records, in ``search/index_state.json``, each indexed episode's *fingerprint*:
size and modification time (ns) of its ``embeddings.parquet`` and ``episode.json``. Both files are only
ever replaced atomically (``os.replace``), so a rewrite always changes the fingerprint, and ``stat()``
stays cheap for 100,000 episodes where hashing them would read gigabytes on every update. Fingerprints
are taken *before* the files are read: a file rewritten during an update keeps its old fingerprint and is
indexed again next time (its rows are replaced, never duplicated), so no change is ever missed.

Why a lock file on top of Dagster's ``search_index`` pool: ``cast-pipeline run`` and a daemon run are
separate processes and may both bring the index up to date; ``search/.writer.lock`` (``flock``) lets one
wait for the other instead of both writing LanceDB at once.

A missing or foreign state (no state file, another generation than the live manifest, another model)
means the index is rebuilt from every embedded episode into a fresh generation (see
:mod:`cast_pipeline.search.store`); readers keep the previous generation until the switch.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cast_pipeline.paths import DataPaths, write_text_atomic
from cast_pipeline.search import store
from cast_pipeline.search.embeddings import EMBEDDINGS_FILE, embeddings_are_current, resolve_model
from cast_pipeline.search.health import index_damage, reset_index
from cast_pipeline.search.index import rebuild_index, remove_episodes, update_index
from cast_pipeline.search.indexes import VectorIndexConfig

STATE_FILE = "index_state.json"
LOCK_FILE = ".writer.lock"
EPISODE_FILE = "episode.json"  # the episode asset's snapshot, source of the index's titles and dates
STATE_FORMAT = 1

Status = Literal["updated", "rebuilt", "up_to_date", "empty", "stale_model"]


@dataclass(frozen=True)
class SyncPlan:
    """What an update would do; computed without writing anything (``cast-pipeline run`` asks first)."""

    model: str  # the configured embedding model, as stored with vectors
    index_model: str | None  # the live index's model; None when no index exists
    full: bool  # no usable state: rebuild from every episode embedded with ``model``
    changed: list[str]  # embedded with ``model``; new or changed since the last update
    gone: list[str]  # indexed, but the embeddings file is gone
    dropped: list[str]  # indexed, but now embedded with another model
    other_model: list[str]  # embedded with another model: not indexed (re-embed them)
    known: dict[str, str] = field(repr=False, default_factory=dict)  # fingerprints the index was built from
    fingerprints: dict[str, str] = field(repr=False, default_factory=dict)  # fingerprints on disk now

    @property
    def needed(self) -> bool:
        """True when an update would change the index."""
        if self.changed or self.gone or self.dropped:
            return True
        return self.full and self.index_model == self.model  # lost state: drop what has no embeddings


@dataclass(frozen=True)
class SyncResult:
    """What an update did, for the asset's metadata and the CLI."""

    status: Status
    model: str
    generation: str | None
    segments: int
    episodes: int
    updated: list[str]
    removed: list[str]
    other_model: list[str]
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    repaired: str = ""  # the damage found in the index before this update (it was then rebuilt), if any


def state_path(paths: DataPaths) -> Path:
    return paths.search_dir / STATE_FILE


def _read_state(paths: DataPaths) -> dict | None:
    source = state_path(paths)
    if not source.is_file():
        return None
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # unreadable state: rebuild rather than guess
    return data if isinstance(data, dict) and data.get("format") == STATE_FORMAT else None


def _write_state(paths: DataPaths, generation: str, model: str, episodes: dict[str, str]) -> None:
    state = {
        "format": STATE_FORMAT,
        "generation": generation,
        "model": model,
        "episodes": dict(sorted(episodes.items())),
    }
    write_text_atomic(state_path(paths), json.dumps(state, indent=0) + "\n")


def _stamp(path: Path) -> str:
    try:
        st = path.stat()
    except FileNotFoundError:
        return "-"
    return f"{st.st_size}:{st.st_mtime_ns}"


def embedded_fingerprints(paths: DataPaths) -> dict[str, str]:
    """``{episode key: fingerprint}`` of every episode with an ``embeddings.parquet``."""
    found = {}
    for embeddings in (paths.root / "episodes").glob(f"*/*/{EMBEDDINGS_FILE}"):
        found[embeddings.parent.name] = f"{_stamp(embeddings)}/{_stamp(embeddings.with_name(EPISODE_FILE))}"
    return dict(sorted(found.items()))


def plan_sync(paths: DataPaths, model: str) -> SyncPlan:
    """Compare the embeddings on disk with what the index was last built from."""
    wanted = resolve_model(model)[0]
    manifest = store.read_manifest(paths)
    state = _read_state(paths)
    full = (
        manifest is None
        or state is None
        or state.get("generation") != manifest.generation
        or state.get("model") != wanted
        or manifest.model != wanted
    )
    known: dict[str, str] = {} if full or state is None else dict(state.get("episodes", {}))
    on_disk = embedded_fingerprints(paths)
    candidates = [k for k, fp in on_disk.items() if known.get(k) != fp]
    changed = [k for k in candidates if embeddings_are_current(paths, k, wanted)]
    other = [k for k in candidates if k not in set(changed)]
    return SyncPlan(
        model=wanted,
        index_model=manifest.model if manifest is not None else None,
        full=full,
        changed=changed,
        gone=[k for k in known if k not in on_disk],
        dropped=[k for k in other if k in known],
        other_model=other,
        known=known,
        fingerprints=on_disk,
    )


@contextlib.contextmanager
def writer_lock(paths: DataPaths) -> Iterator[None]:
    """Exclusive lock of the index writer (waits for another writer to finish)."""
    paths.search_dir.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: rely on the Dagster pool alone
        yield
        return
    with open(paths.search_dir / LOCK_FILE, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def index_size(paths: DataPaths) -> tuple[int, int]:
    """``(segments, episodes)`` rows of the live index; ``(0, 0)`` when there is none."""
    manifest = store.read_manifest(paths)
    if manifest is None:
        return 0, 0
    db = store.connect(paths, manifest.generation)
    return db.open_table(store.SEGMENTS).count_rows(), db.open_table(store.EPISODES).count_rows()


def _indexed_keys(paths: DataPaths) -> list[str]:
    manifest = store.require_manifest(paths)
    table = store.connect(paths, manifest.generation).open_table(store.EPISODES)
    return sorted(set(table.search().select(["episode_key"]).limit(None).to_arrow().column("episode_key").to_pylist()))


def sync_index(paths: DataPaths, model: str, *, vector_config: VectorIndexConfig | None = None) -> SyncResult:
    """Update the index for every episode whose embeddings changed since the last update (single writer).

    Episodes embedded with ``model`` are added or have their rows replaced; episodes whose embeddings are
    gone, or are now from another model, are removed. Without a usable state the index is rebuilt. When
    the model changed and nothing is embedded with the new one yet, the old index stays as it is (status
    ``stale_model``): searching still works, and the search_index asset check says what to do.
    """
    began = time.monotonic()
    with writer_lock(paths):
        damage = index_damage(paths) or ""
        if damage:  # derived data: drop it, the plan below then rebuilds it from the episodes' files
            reset_index(paths)
        plan = plan_sync(paths, model)
        status: Status = "up_to_date"
        updated: list[str] = []
        removed: list[str] = []
        timings: dict[str, float] = {}
        if plan.full and plan.changed:
            done = rebuild_index(paths, plan.changed, model=plan.model, vector_config=vector_config)
            status, updated, timings = "rebuilt", done.updated, done.timings
        elif plan.full and plan.index_model is None:
            status = "empty"  # nothing embedded yet, no index yet
        elif plan.full and plan.index_model != plan.model:
            status = "stale_model"  # keep serving the old model's index until an episode is re-embedded
        elif plan.full:
            removed = _indexed_keys(paths)  # state lost and no episode embedded any more: empty the index
        else:
            if plan.changed or plan.gone:
                done = update_index(paths, [*plan.changed, *plan.gone], vector_config=vector_config)
                updated, timings = done.updated, done.timings
            removed = [*plan.gone, *plan.dropped]
        if plan.dropped or (plan.full and removed):
            remove_episodes(paths, plan.dropped or removed)
        if status == "up_to_date" and (updated or removed):
            status = "updated"
        manifest = store.read_manifest(paths)
        if manifest is not None and status not in ("stale_model", "empty"):
            indexed = {k: fp for k, fp in plan.known.items() if k not in set(removed)}
            indexed.update({k: plan.fingerprints[k] for k in updated if k in plan.fingerprints})
            _write_state(paths, manifest.generation, plan.model, indexed)
        segments, episodes = index_size(paths)
    return SyncResult(
        status=status,
        model=manifest.model if manifest is not None else plan.model,
        generation=manifest.generation if manifest is not None else None,
        segments=segments,
        episodes=episodes,
        updated=updated,
        removed=removed,
        other_model=plan.other_model,
        seconds=round(time.monotonic() - began, 3),
        timings=timings,
        repaired=damage,
    )
