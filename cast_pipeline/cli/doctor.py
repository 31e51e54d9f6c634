"""`cast-pipeline doctor [--fix] [--json]`: is the instance and the data healthy, and what fixes each problem.

Why a list of checks: each check is a function of a :class:`DoctorContext` returning
:class:`cast_pipeline.health.Finding` values (one shape for every problem: what, where, the fix), so
instance checks (stuck runs, held pool slots: ``cast_pipeline.defs.recovery.runs.instance_findings``)
and data checks (episode files, orphans, the search index) report alike. With ``--fix`` a check
repairs what it safely can and marks those findings ``repaired``. Data checks run after the instance
checks and the index check last, so an index rebuilt by ``--fix`` includes the episodes re-made just
before. Exit status 1 while anything is left unfixed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import dagster as dg
import typer
from rich.console import Console
from rich.markup import escape

from cast_pipeline.health import Finding
from cast_pipeline.paths import DataPaths

console = Console(stderr=True)


@dataclass
class DoctorContext:
    instance: dg.DagsterInstance
    paths: DataPaths
    job: dg.JobDefinition  # the per-episode job whose assets' files are checked and re-made
    fix: bool


Check = Callable[[DoctorContext], list[Finding]]


def episode_files(ctx: DoctorContext) -> list[Finding]:
    """Every recorded file of every episode exists, parses and matches its fingerprint (the full check)."""
    from cast_pipeline.cli.repair import file_problems, redo_selection, rematerialise
    from cast_pipeline.cli.run import RunSummary

    problems = file_problems(ctx.instance, ctx.job, ctx.paths, None, full=True)
    if not problems:
        count = len(ctx.instance.get_dynamic_partitions("episodes"))
        return [Finding("episodes", f"{count} episodes", "every recorded file is intact", "nothing to do", "ok")]
    fixed: set[str] = set()
    if ctx.fix:
        summary = RunSummary()
        rematerialise(ctx.instance, ctx.job, problems, summary)
        left = {
            p.episode_key
            for p in file_problems(ctx.instance, ctx.job, ctx.paths, {p.episode_key for p in problems}, full=True)
        }
        fixed = {p.episode_key for p in problems} - left - set(summary.failures)
    return [
        Finding(
            "episodes",
            f"{p.title} ({p.episode_key})",
            p.describe(),
            "`cast-pipeline run --repair` re-makes "
            + ", ".join(sorted(k.to_user_string() for k in redo_selection(ctx.job, [p.asset]))),
            repaired=p.episode_key in fixed,
        )
        for p in problems
    ]


def orphaned_files(ctx: DoctorContext) -> list[Finding]:
    """Episode folders with no partition, and temp files of writes a crash interrupted."""
    from cast_pipeline.integrity import TEMP_GRACE_SECONDS, orphaned_episode_dirs, stale_temp_files

    known = set(ctx.instance.get_dynamic_partitions("episodes"))
    findings = [
        Finding(
            "orphaned files",
            str(folder),
            "episode folder without an episodes partition in this Dagster instance",
            "`cast-pipeline run` adds it back if the episode is still in its feed; otherwise delete the folder",
            "warning",
        )
        for folder in orphaned_episode_dirs(ctx.paths, known)
    ]
    for temp in stale_temp_files(ctx.paths):
        removed = False
        if ctx.fix:
            temp.unlink(missing_ok=True)
            removed = True
        findings.append(
            Finding(
                "orphaned files",
                str(temp),
                f"temp file of an interrupted write, older than {TEMP_GRACE_SECONDS // 60} minutes",
                "`cast-pipeline doctor --fix` deletes it",
                "warning",
                repaired=removed,
            )
        )
    return findings


def _rebuild_index(ctx: DoctorContext) -> bool:
    """Materialise ``search_index`` in this process (it rebuilds a reset index); True when it succeeded."""
    from cast_pipeline.definitions import defs
    from cast_pipeline.defs.search.automation import SEARCH_INDEX_JOB

    result = defs.resolve_job_def(SEARCH_INDEX_JOB).execute_in_process(
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        instance=ctx.instance,
        tags={"cast/launched_by": "cast-pipeline doctor --fix"},
        raise_on_error=False,
    )
    return result.success


def search_index(ctx: DoctorContext) -> list[Finding]:
    """The index reads, holds exactly the embedded phrases (rows vs embeddings) and is up to date."""
    from cast_pipeline.definitions import embedding_model
    from cast_pipeline.search.checks import check_index_counts
    from cast_pipeline.search.health import FIX, index_damage, reset_index
    from cast_pipeline.search.store import read_manifest
    from cast_pipeline.search.sync import plan_sync, writer_lock

    subject = str(ctx.paths.search_dir)
    damage = index_damage(ctx.paths, deep=True)
    if damage is not None:
        repaired = False
        if ctx.fix:
            with writer_lock(ctx.paths):
                reset_index(ctx.paths)
            repaired = _rebuild_index(ctx) and index_damage(ctx.paths) is None
        return [Finding("search index", subject, damage, FIX, repaired=repaired)]
    if read_manifest(ctx.paths) is None:
        return [Finding("search index", subject, "no index built yet", "`cast-pipeline run` builds it", "warning")]
    findings = []
    try:
        behind = plan_sync(ctx.paths, embedding_model.name()).needed
        counts = check_index_counts(ctx.paths)
    except Exception as exc:  # a damaged embeddings file (reported above) or a broken model setting
        problem = f"cannot compare the index with the embeddings ({type(exc).__name__}: {str(exc)[:160]})"
        return [Finding("search index", subject, problem, "`cast-pipeline run --repair`, then `doctor` again")]
    if behind:
        repaired = ctx.fix and _rebuild_index(ctx)
        findings.append(
            Finding(
                "search index",
                subject,
                "behind the episodes' embeddings (some changed since the last build)",
                "`cast-pipeline run` (or `doctor --fix`) updates it",
                "warning",
                repaired=repaired,
            )
        )
        if not repaired:
            return findings  # rows differ from the embeddings until the update: that is this finding
        counts = check_index_counts(ctx.paths)
    if not counts.passed:
        repaired = False
        if ctx.fix:
            with writer_lock(ctx.paths):
                reset_index(ctx.paths)
            repaired = _rebuild_index(ctx) and check_index_counts(ctx.paths).passed
        findings.append(
            Finding(
                "search index",
                subject,
                f"rows differ from the embeddings: {counts.description}",
                FIX,
                repaired=repaired,
            )
        )
    return findings or [Finding("search index", subject, counts.description, "nothing to do", "ok")]


def runs_and_slots(ctx: DoctorContext) -> list[Finding]:
    """Runs of this host whose process is gone and pool slots held by ended runs (--fix frees them)."""
    from cast_pipeline.defs.recovery.runs import fail_dead_runs, instance_findings

    findings = instance_findings(ctx.instance)
    if ctx.fix and any(f.severity == "error" for f in findings):
        fail_dead_runs(ctx.instance)
        left = {(f.area, f.subject) for f in instance_findings(ctx.instance)}
        findings = [replace(f, repaired=(f.area, f.subject) not in left) for f in findings]
    return findings or [Finding("runs", "this host", "no dead runs, no leaked pool slots", "nothing to do", "ok")]


CHECKS: list[Check] = [runs_and_slots, episode_files, orphaned_files, search_index]


def doctor(
    fix: bool = typer.Option(
        False, "--fix", help="Repair what can be repaired: re-make damaged files, rebuild the index."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as a JSON array."),
) -> None:
    """Check the Dagster instance and the data folder; each problem with its fix. Exit 1 if any is left."""
    from cast_pipeline.definitions import defs
    from cast_pipeline.defs.jobs import EPISODES_JOB
    from cast_pipeline.instance import get_instance
    from cast_pipeline.settings import load_settings

    began = time.monotonic()
    ctx = DoctorContext(get_instance(), DataPaths(load_settings().data_dir), defs.resolve_job_def(EPISODES_JOB), fix)
    findings = [finding for check in CHECKS for finding in check(ctx)]
    left = [f for f in findings if f.severity != "ok" and not f.repaired]
    if as_json:
        typer.echo(json.dumps([asdict(f) for f in findings], ensure_ascii=False, indent=1))
    else:
        for finding in findings:
            colour = {"ok": "green", "warning": "yellow", "error": "red"}[finding.severity]
            console.print(f"[{colour}]{escape(finding.line())}[/{colour}]", soft_wrap=True)
        verdict = "healthy" if not left else f"{len(left)} problem(s) left"
        console.print(f"doctor: {verdict} ({time.monotonic() - began:.1f} s)")
    if left:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Called by cast_pipeline.cli.main: adds the ``doctor`` command."""
    app.command("doctor")(doctor)
