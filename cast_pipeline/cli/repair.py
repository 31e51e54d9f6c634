"""Trust the files: re-make what is missing or damaged on disk although Dagster recorded it as done.

Used by ``cast-pipeline run`` (the cheap check: sizes against the recorded fingerprints, on every run),
``cast-pipeline run --repair`` (the full check: content fingerprints and parsing) and ``cast-pipeline
doctor --fix``. The checks are :mod:`cast_pipeline.integrity` (plain Python) fed with the recorded
metadata (:mod:`cast_pipeline.defs.storage.records`); this module turns their findings into runs of the
``episodes_job`` over exactly the damaged assets and everything downstream of them, per episode, and
brings a damaged search index back (:mod:`cast_pipeline.search.health`).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Collection, Sequence

import dagster as dg
from rich.console import Console
from rich.markup import escape

from cast_pipeline.cli.run import RunSummary, _run_batch
from cast_pipeline.defs.feeds.partitions import EPISODES, EPISODES_PER_RUN
from cast_pipeline.defs.storage.records import cache_path, recorded_metadata
from cast_pipeline.feeds.discovery import contiguous_ranges
from cast_pipeline.integrity import FileProblem, verify_episode
from cast_pipeline.paths import DataPaths
from cast_pipeline.search.health import index_damage, reset_index
from cast_pipeline.search.sync import writer_lock

console = Console(stderr=True, soft_wrap=True)  # one line per finding: the terminal wraps, not rich
REPAIRED = "repaired (files missing or damaged)"  # the run summary's row


def file_problems(
    instance: dg.DagsterInstance,
    job: dg.JobDefinition,
    paths: DataPaths,
    episode_keys: Collection[str] | None,
    *,
    full: bool,
) -> list[FileProblem]:
    """Files of the episodes (None: every recorded one) that do not match what the job's assets recorded."""
    assets = job.asset_layer.executable_asset_keys
    recorded = recorded_metadata(instance, assets, episode_keys, cache=cache_path(instance))
    order = list(dict.fromkeys(episode_keys)) if episode_keys is not None else sorted(recorded)
    return [p for key in order if key in recorded for p in verify_episode(paths, key, recorded[key], full=full)]


def redo_selection(job: dg.JobDefinition, assets: Collection[str]) -> frozenset[dg.AssetKey]:
    """The damaged assets and everything downstream of them in the job (what must be materialised again)."""
    graph = job.asset_layer.asset_graph
    selectable = set(job.asset_layer.executable_asset_keys)
    todo = [dg.AssetKey.from_user_string(a) for a in assets]
    seen: set[dg.AssetKey] = set()
    while todo:
        key = todo.pop()
        if key in seen or key not in selectable:
            continue
        seen.add(key)
        todo.extend(graph.get(key).child_keys)
    return frozenset(seen)


def rematerialise(
    instance: dg.DagsterInstance,
    job: dg.JobDefinition,
    problems: Sequence[FileProblem],
    summary: RunSummary,
    *,
    log_level: str = "WARNING",
    batch_size: int = EPISODES_PER_RUN,
) -> dict[str, frozenset[dg.AssetKey]]:
    """Run the job over each episode's damaged assets and their downstream; returns what was re-made."""
    damaged: dict[str, set[str]] = defaultdict(set)
    for problem in problems:
        damaged[problem.episode_key].add(problem.asset)
    plan = {key: redo_selection(job, assets) for key, assets in damaged.items()}
    groups: dict[frozenset[dg.AssetKey], set[str]] = defaultdict(set)
    for key, selection in plan.items():
        if selection:
            groups[selection].add(key)
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    order = instance.get_dynamic_partitions(EPISODES)
    for selection, keys in groups.items():
        for batch in contiguous_ranges(order, keys, batch_size):
            _run_batch(job, instance, batch, run_config, summary, sorted(selection, key=str))
    return plan


def _names(selection: Collection[dg.AssetKey]) -> str:
    return ", ".join(sorted(k.to_user_string() for k in selection))


def repair_files(
    instance: dg.DagsterInstance,
    job: dg.JobDefinition,
    paths: DataPaths,
    episode_keys: Collection[str] | None,
    summary: RunSummary,
    *,
    full: bool,
    log_level: str = "WARNING",
    batch_size: int = EPISODES_PER_RUN,
) -> list[FileProblem]:
    """Check the episodes' files, re-make what is damaged, report per episode (by title); returns what was found.

    An episode whose files are still wrong afterwards is added to ``summary.failures``.
    """
    began = time.monotonic()
    problems = file_problems(instance, job, paths, episode_keys, full=full)
    kind = "full file check (--repair)" if full else "file check"
    if not problems:
        if full:
            console.print(f"{kind}: every recorded file matches ({time.monotonic() - began:.1f} s)")
        return []
    by_episode: dict[str, list[FileProblem]] = defaultdict(list)
    for problem in problems:
        by_episode[problem.episode_key].append(problem)
    console.print(f"{kind}: {len(by_episode)} episode(s) have missing or damaged files; re-making them")
    plan = rematerialise(instance, job, problems, summary, log_level=log_level, batch_size=batch_size)
    still = file_problems(instance, job, paths, list(by_episode), full=full)
    left = {p.episode_key for p in still}
    for key, found in by_episode.items():
        title = escape(found[0].title)
        what = "; ".join(p.describe() for p in found)
        if key in left or key in summary.failures:
            summary.failures.setdefault(key, f"{found[0].title}: still damaged after repair: {what}")
            console.print(f"[red]not repaired[/red]: {title}: {escape(what)}")
        else:
            summary.outcomes[REPAIRED] += 1
            console.print(f"[green]repaired[/green]: {title}: {escape(what)} -> re-made {_names(plan[key])}")
    return problems


def repair_index(paths: DataPaths, *, deep: bool = False) -> str | None:
    """When the search index is damaged: say so in one line and reset it (the next sync rebuilds it)."""
    damage = index_damage(paths, deep=deep)
    if damage is None:
        return None
    console.print(f"[yellow]search index damaged[/yellow]: {escape(damage)}; rebuilding it from the episodes' files")
    with writer_lock(paths):
        reset_index(paths)
    return damage


def check_run(
    instance: dg.DagsterInstance,
    job: dg.JobDefinition,
    paths: DataPaths,
    episode_keys: Collection[str],
    summary: RunSummary,
    *,
    full: bool,
    log_level: str,
    batch_size: int,
) -> None:
    """What ``cast-pipeline run`` does after its batches: the file check (full with --repair), then the index."""
    repair_files(instance, job, paths, episode_keys, summary, full=full, log_level=log_level, batch_size=batch_size)
    repair_index(paths, deep=full)
