"""`cast-pipeline episodes list`: every episode with its title, date, status, transcript source and key.

Statuses come from the files each asset leaves (cast_pipeline.transcripts.status); failures come
from Dagster's event log: a step that failed for the episode after its last success.
"""

from __future__ import annotations

import json

import dagster as dg
import typer
from rich.console import Console
from rich.table import Table

from cast_pipeline.defs.feeds.partitions import EPISODES
from cast_pipeline.instance import get_instance
from cast_pipeline.paths import DataPaths
from cast_pipeline.settings import load_settings
from cast_pipeline.transcripts.status import STATUSES, episode_rows

app = typer.Typer(help="List episodes and where they stand.", no_args_is_help=True)
console = Console()
AWAITING = "awaiting_transcript"  # shown with its reason: since when, until when, next check
STATUS_HELP = "Only these statuses: " + ", ".join(STATUSES)


def episode_failures(instance: dg.DagsterInstance) -> dict[str, str]:
    """{episode key: which asset failed}: planned in a run that is over, not materialised since.

    Why planned-without-materialisation: that is how Dagster's own UI marks a partition failed (the
    OSS event log keeps no per-partition failure record); a run still going is not a failure.
    """
    from cast_pipeline.definitions import defs

    storage = instance.event_log_storage
    out: dict[str, str] = {}
    finished: dict[str, bool] = {}
    graph = defs.resolve_asset_graph()
    for asset_key in graph.toposorted_asset_keys:  # upstream first: the step that failed, not the skipped ones
        partitions = graph.get(asset_key).partitions_def
        if not isinstance(partitions, dg.DynamicPartitionsDefinition) or partitions.name != EPISODES:
            continue
        attempts = storage.get_latest_asset_partition_materialization_attempts_without_materializations(asset_key)
        for key, (run_id, _) in attempts.items():
            if run_id not in finished:
                run = instance.get_run_by_id(run_id)
                finished[run_id] = run is not None and run.is_finished
            if finished[run_id]:
                out.setdefault(key, f"{asset_key.to_user_string()} failed in run {run_id[:8]} (see the Dagster UI)")
    for key, reason in _recording_run_failures(instance).items():
        out.setdefault(key, reason)
    return out


def _recording_run_failures(instance: dg.DagsterInstance, runs: int = 100) -> dict[str, str]:
    """Failures in the last failed runs that record each episode themselves (`cast-pipeline run`).

    Why: those runs switch Dagster's own asset events off (defs.batching, RECORD_EACH_EPISODE_TAGS), so
    they leave no "planned" event to find above; their step failures name each failed episode instead
    (``failed_episodes``). A failure counts until the asset is materialised for that episode again.
    """
    from dagster._core.events import DagsterEventType

    from cast_pipeline.defs.batching import RECORD_EACH_EPISODE_TAGS

    failed: dict[tuple[str, str], tuple[float, str]] = {}
    filters = dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE], tags=RECORD_EACH_EPISODE_TAGS)
    for run in instance.get_runs(filters, limit=runs):  # newest first
        for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_FAILURE):
            data = entry.dagster_event.step_failure_data if entry.dagster_event else None
            user = data.user_failure_data if data is not None else None
            meta = user.metadata.get("failed_episodes") if user is not None else None
            episodes = getattr(meta, "value", None)
            if not isinstance(episodes, dict) or entry.step_key is None:
                continue
            # Which asset failed per episode (a step may hold several); older runs: the step's own asset
            assets = getattr(user.metadata.get("failed_assets"), "value", None) if user is not None else None
            for key, reason in episodes.items():
                asset = (assets or {}).get(key) or entry.step_key.replace("__", "/")
                failed.setdefault((asset, key), (entry.timestamp, f"{asset} failed in run {run.run_id[:8]}: {reason}"))
    out: dict[str, str] = {}
    for (asset, key), (when, reason) in failed.items():
        latest = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey.from_user_string(asset), asset_partitions=[key]), limit=1
        ).records
        if not latest or latest[0].timestamp < when:
            out.setdefault(key, reason)
    return out


@app.command("list")
def list_episodes(
    feed: list[str] = typer.Option([], "--feed", help="Only episodes of these feeds (URL as listed by `feeds list`)."),
    status: list[str] = typer.Option([], "--status", help=STATUS_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    include_removed: bool = typer.Option(
        False, "--include-removed", help="Also episodes that left their feed (hidden unless --status removed)."
    ),
) -> None:
    """Episodes, newest first: title, date, status (with its reason and next check), source and key."""
    unknown = sorted(set(status) - set(STATUSES))
    if unknown:
        typer.echo(f"unknown status {', '.join(unknown)}; choose from {', '.join(STATUSES)}", err=True)
        raise typer.Exit(2)
    from cast_pipeline.cli.feeds import resolve_input

    paths = DataPaths(load_settings().data_dir)
    feeds = [resolve_input(f) for f in feed] if feed else None
    rows = episode_rows(paths, feed_urls=feeds, failures=episode_failures(get_instance()))
    if status:
        rows = [r for r in rows if r.status in status]
    elif not include_removed:
        rows = [r for r in rows if r.status != "removed"]
    if as_json:
        print(json.dumps([r.to_dict() for r in rows], indent=1, ensure_ascii=False))
        return
    table = Table("title", "published", "status", "source", "key", title=f"{len(rows)} episodes")
    for r in rows:
        detail = f"{r.status}\n{r.reason}" if r.reason and r.status in ("failed", AWAITING) else r.status
        table.add_row(r.title, (r.published or "")[:10], detail, r.source, r.key)
    console.print(table)
