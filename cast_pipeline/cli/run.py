"""`cast-pipeline run`: what the daemon would do, in one command, in this process.

Refresh the registered feeds, add partitions for new episodes, then materialise everything missing
for them with the same job the sensor launches (`episodes_job`), executed in-process against the
same Dagster instance, so the runs show up in `dagster dev` afterwards. Ends with a summary table.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import dagster as dg
import typer
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from cast_pipeline.cli.audio_ahead import AudioAhead
from cast_pipeline.cli.runguard import guarded, was_interrupted
from cast_pipeline.defs.batching import RECORD_EACH_EPISODE_TAGS
from cast_pipeline.defs.feeds.assets import refresh_metadata
from cast_pipeline.defs.feeds.partitions import EPISODES, EPISODES_PER_RUN, FEEDS
from cast_pipeline.defs.feeds.sensors import late_transcripts, registered_feeds
from cast_pipeline.defs.jobs import EPISODES_JOB
from cast_pipeline.defs.recovery.runs import run_process_tags
from cast_pipeline.defs.transcripts.assets import feed_options
from cast_pipeline.feeds.discovery import ScanResult, contiguous_ranges, scan_feeds
from cast_pipeline.feeds.snapshot import load_episode
from cast_pipeline.http import make_client
from cast_pipeline.instance import get_instance
from cast_pipeline.paths import DataPaths
from cast_pipeline.settings import Settings, load_settings
from cast_pipeline.transcripts.awaiting import awaiting_reason, due_keys
from cast_pipeline.transcripts.late import late_keys
from cast_pipeline.transcripts.providers import ready_made
from cast_pipeline.transcripts.store import TRANSCRIPT_JSON

console = Console(stderr=True)
log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    feeds: int = 0
    feed_errors: dict[str, str] = field(default_factory=dict)
    episodes_found: int = 0
    new_episodes: int = 0
    processed: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    searchable: int | None = None  # episodes in the search index after the run (None: no index)
    interrupted: list[str] | None = None  # set by Ctrl-C / SIGTERM: episodes left for the next run


@guarded(console.print)
def run(
    feed: list[str] = typer.Option(
        [], "--feed", help="Register this feed (URL, path or Apple Podcasts URL) and process only the given feeds."
    ),
    batch_size: int = typer.Option(EPISODES_PER_RUN, help="Episodes per Dagster run."),
    limit: int = typer.Option(0, help="Process at most this many episodes (0: all missing)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Dagster's run logs on the console."),
    repair: bool = typer.Option(
        False, "--repair", help="Also verify every file's content fingerprint and parse it; re-make what is damaged."
    ),
) -> None:
    """Refresh feeds, add new episodes and materialise everything missing for them."""
    from cast_pipeline.cli.feeds import resolve_input
    from cast_pipeline.definitions import defs

    settings = load_settings()
    paths = DataPaths(settings.data_dir)
    instance = get_instance()
    try:
        chosen = [resolve_input(u) for u in feed]
    except Exception as exc:
        console.print(f"[red]cannot use feed[/red]: {exc}")
        raise typer.Exit(1) from None
    known_feeds = set(instance.get_dynamic_partitions(FEEDS))
    urls = chosen or registered_feeds(instance, settings)
    new_feeds = [u for u in urls if u not in known_feeds]
    if new_feeds:
        instance.add_dynamic_partitions(FEEDS, new_feeds)
    if not urls:
        console.print("no feeds registered: `cast-pipeline feeds add URL`, a feeds.yaml, or --feed URL")
        raise typer.Exit(1)

    summary = RunSummary(feeds=len(urls))
    console.print(f"refreshing {len(urls)} feed(s); data in {paths.root}, Dagster home in {instance.root_directory}")
    with make_client(settings) as client:
        scan = scan_feeds(urls, set(instance.get_dynamic_partitions(EPISODES)), paths, settings, client=client)
    _record_feeds(instance, scan, summary)
    if scan.new_keys:
        instance.add_dynamic_partitions(EPISODES, scan.new_keys)

    job = defs.resolve_job_def(EPISODES_JOB)
    log_level = "DEBUG" if verbose else "WARNING"
    feed_keys = [key for s in scan.scans if s.refresh for key in s.refresh.keys]
    todo = missing_episodes(instance, job, feed_keys)
    todo += [k for k in due_keys(paths, dict.fromkeys(feed_keys)) if k not in todo]  # awaiting, due a new look
    todo += [
        k for k in late_transcripts(scan, paths, set(scan.new_keys), changed_only=False) if k not in todo
    ]  # publisher caught up
    scanned = (ep for s in scan.scans if s.refresh for ep in s.refresh.episodes)
    todo += [
        k for k in late_keys(paths, settings, scanned, feed_options(settings, log)) if k not in todo
    ]  # Pocket Casts
    if limit:
        todo = todo[:limit]
    ranges = contiguous_ranges(instance.get_dynamic_partitions(EPISODES), set(todo), batch_size)
    _execute(job, instance, ranges, summary, log_level, settings)
    if summary.interrupted is not None:  # no repair, no index update: stop now, the next run continues
        _collect_outcomes(paths, todo, summary)
        print_summary(summary, paths)
        console.print(
            f"[yellow]stopped by Ctrl-C[/yellow]: finished episodes are recorded; {len(summary.interrupted)} "
            "unfinished episode(s) continue with the next `cast-pipeline run`"
        )
        raise typer.Exit(130)
    from cast_pipeline.cli.repair import check_run  # trust the files, not only the records (issue 11)

    check_run(instance, job, paths, feed_keys, summary, full=repair, log_level=log_level, batch_size=batch_size)
    _collect_outcomes(paths, todo, summary)
    update_search_index(instance, paths, summary, log_level)
    print_summary(summary, paths)
    if summary.failures or summary.feed_errors:
        raise typer.Exit(1)


def _record_feeds(instance: dg.DagsterInstance, scan: ScanResult, summary: RunSummary) -> None:
    summary.feed_errors = scan.errors
    for s in scan.scans:
        if s.refresh is None:
            continue
        summary.episodes_found += len(s.refresh.keys)
        summary.new_episodes += len(s.new_keys)
        if not s.refresh.not_modified:
            instance.report_runless_asset_event(
                dg.AssetMaterialization(asset_key="feed", partition=s.url, metadata=refresh_metadata(s.refresh))
            )


def missing_episodes(instance: dg.DagsterInstance, job: dg.JobDefinition, keys: Sequence[str]) -> list[str]:
    """Keys (in the given order) for which any asset of the job has never been materialised."""
    asset_keys = list(job.asset_layer.executable_asset_keys)
    done = [instance.get_materialized_partitions(k) for k in asset_keys]
    return [k for k in dict.fromkeys(keys) if not all(k in d for d in done)]


def _execute(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    ranges: list[list[str]],
    summary: RunSummary,
    log_level: str,
    settings: Settings,
) -> None:
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    total = sum(len(r) for r in ranges)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    pipeline = AudioAhead(job, instance, run_config, summary, settings, _run_batch) if len(ranges) > 1 else None
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("episodes", total=total)
        for index, batch in enumerate(ranges):
            try:
                if pipeline is None:
                    stopped = _run_batch(job, instance, batch, run_config, summary)
                else:
                    following = ranges[index + 1] if index + 1 < len(ranges) else None
                    stopped = pipeline.run(batch, following)
            except KeyboardInterrupt:  # between Dagster's checkpoints, or between batches
                stopped = True
            if stopped:
                if pipeline is not None:
                    pipeline.stop()
                unfinished = missing_episodes(instance, job, batch)
                reason = "interrupted (Ctrl-C) before it finished; the next `cast-pipeline run` continues it"
                summary.failures.update({key: reason for key in unfinished})
                summary.processed += len(batch) - len(unfinished)
                summary.interrupted = unfinished + [key for later in ranges[index + 1 :] for key in later]
                return
            summary.processed += len(batch)
            progress.update(task, advance=len(batch), description=f"episodes ({len(summary.failures)} failed)")
    if pipeline is not None:
        pipeline.stop()


def _run_batch(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    batch: list[str],
    run_config: dict,
    summary: RunSummary,
    selection: list[dg.AssetKey] | None = None,
) -> bool:
    """One run over the batch (True: interrupted); when some episodes fail, run the steps skipped for the others.

    Why: a step that fails for one episode makes Dagster skip the downstream steps of the whole batch
    (e.g. a 404 audio file would leave the other episodes without transcripts, run after run). So the
    skipped assets are run again for the episodes that did not fail, as sub-ranges around the failures.
    """
    tags = {ASSET_PARTITION_RANGE_START_TAG: batch[0], ASSET_PARTITION_RANGE_END_TAG: batch[-1]}
    result = job.execute_in_process(
        run_config=run_config,
        instance=instance,
        tags={**tags, "cast/launched_by": "cast-pipeline run", **run_process_tags(), **RECORD_EACH_EPISODE_TAGS},
        raise_on_error=False,
        asset_selection=selection,
    )
    if result.success:
        return False
    if was_interrupted(result):
        return True
    failed = _failures(result, batch)
    summary.failures.update(failed)
    ran = {e.step_key for e in result.all_events if e.is_step_success or e.is_step_failure}
    selected = selection or list(job.asset_layer.executable_asset_keys)
    layer = job.asset_layer  # a step may materialise several assets (audio and speech on one machine)
    skipped = [key for key in selected if str(layer.get_op_output_handle(key).node_handle) not in ran]
    rest = {key for key in batch if key not in failed}
    if skipped and rest and len(skipped) < len(selected):
        for sub in contiguous_ranges(batch, rest, len(batch)):
            if _run_batch(job, instance, sub, run_config, summary, skipped):
                return True
    return False


def _failures(result: dg.ExecuteInProcessResult, batch: list[str]) -> dict[str, str]:
    """Per-episode reasons from the run's step failures (see defs.batching), else the step error."""
    out: dict[str, str] = {}
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        failed, assets = None, None
        if data.user_failure_data is not None:
            meta = data.user_failure_data.metadata
            failed = getattr(meta.get("failed_episodes"), "value", None)
            assets = getattr(meta.get("failed_assets"), "value", None)  # a step may hold several assets
        if isinstance(failed, dict):
            out.update({k: f"{(assets or {}).get(k) or event.step_key}: {v}" for k, v in failed.items()})
        else:
            message = data.error.message.strip().splitlines()[0] if data.error else "step failed"
            out.update({k: f"{event.step_key}: {message}" for k in batch if k not in out})
    return out or {k: "run failed (see the run in the Dagster UI)" for k in batch}


def update_search_index(instance: dg.DagsterInstance, paths: DataPaths, summary: RunSummary, log_level: str) -> None:
    """Materialise ``search_index`` in this process when any episode's embeddings changed since the last build.

    Why here: the episode batches embed their transcripts (``embeddings`` is part of ``episodes_job``), but
    the index is one unpartitioned, single-writer asset outside that job; without this step the demo
    would not be searchable until the ``search_automation`` sensor runs in ``dagster dev``.
    """
    from cast_pipeline.definitions import defs, embedding_model
    from cast_pipeline.defs.search.automation import SEARCH_INDEX_JOB
    from cast_pipeline.search.store import read_manifest
    from cast_pipeline.search.sync import index_size, plan_sync

    try:
        needed = plan_sync(paths, embedding_model.name()).needed
    except Exception as exc:  # a broken model setting or index state: report it like a failed episode
        summary.failures["search_index"] = f"{type(exc).__name__}: {exc}"
        return
    if needed:
        result = defs.resolve_job_def(SEARCH_INDEX_JOB).execute_in_process(
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
            instance=instance,
            tags={"cast/launched_by": "cast-pipeline run", **run_process_tags()},
            raise_on_error=False,
        )
        if not result.success:
            summary.failures.update(_failures(result, ["search_index"]))
    summary.searchable = index_size(paths)[1] if read_manifest(paths) is not None else None


def _collect_outcomes(paths: DataPaths, keys: Sequence[str], summary: RunSummary) -> None:
    for key in keys:
        if key in summary.failures or key in (summary.interrupted or ()):
            continue
        found = ready_made(paths, key)
        if found is not None:
            summary.outcomes[f"transcript from {found.provider}"] += 1
        elif paths.episode_file(key, TRANSCRIPT_JSON).exists():
            summary.outcomes["transcribed from audio"] += 1
        elif awaiting_reason(paths, key):
            summary.outcomes["awaiting a transcript (CAST_AWAIT_TRANSCRIPT_DAYS)"] += 1
        else:
            summary.outcomes["needs audio (no publisher transcript)"] += 1


def _episode_label(paths: DataPaths | None, key: str) -> tuple[str, str | None]:
    """(title, key) of an episode; (name, None) for what is not one (search_index) or has no metadata yet."""
    try:
        return (repr(load_episode(paths, key).title), key) if paths else (key, None)
    except Exception:  # not an episode, or its episode.json was never written
        return key, None


def print_summary(summary: RunSummary, paths: DataPaths | None = None) -> None:
    table = Table(title="cast-pipeline run", show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    rows = [
        ("feeds refreshed", summary.feeds - len(summary.feed_errors)),
        ("feeds failed", len(summary.feed_errors)),
        ("episodes in feeds", summary.episodes_found),
        ("new episodes", summary.new_episodes),
        ("episodes processed", summary.processed),
        *sorted(summary.outcomes.items()),
        ("episodes failed", len(summary.failures)),
        *([("episodes searchable", summary.searchable)] if summary.searchable is not None else []),
    ]
    for what, count in rows:
        table.add_row(what, str(count))
    console.print(table)
    if summary.feed_errors or summary.failures:
        # Not a table: keys and URLs are longer than a terminal column, and a cut key cannot be copied.
        console.print(f"[bold]failures[/bold] ({len(summary.feed_errors) + len(summary.failures)}):")
        failed = [(f"feed {name}", None, reason) for name, reason in summary.feed_errors.items()]
        failed += [(*_episode_label(paths, key), reason) for key, reason in summary.failures.items()]
        for name, key, reason in failed:
            text = Text("✗ ", style="red").append(name, style="bold")
            text.append(f"\n  {key}" if key else "").append(f"\n  {reason}")
            console.print(text, soft_wrap=True)
