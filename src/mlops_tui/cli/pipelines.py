"""`pipelines ...` and `retrain`: CI/CD pipelines and local training runs, their jobs and logs;
retry, cancel, and start a retraining."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import click

from mlops_tui.cli import render
from mlops_tui.cli.helpers import Table, apply, common_options, emit, with_hub, write_options
from mlops_tui.domain import Job, utcnow
from mlops_tui.errors import MlopsError, UsageError
from mlops_tui.hub import Hub
from mlops_tui.ops.pipelines import plan_pause, plan_pipeline_change, plan_retrain
from mlops_tui.text import humanize
from mlops_tui.text.sanitize import terminal_log

__all__ = ["POLL_SECONDS", "pipelines", "retrain"]

POLL_SECONDS = 2.0
"""How often `trace --follow` and `retrain --wait` ask the runner again."""


@click.group()
def pipelines() -> None:
    """Pipelines of every runner (GitLab, local, Vertex AI, Airflow)."""


@pipelines.command("list")
@click.option("--ref", metavar="REF", help="Only pipelines of this ref.")
@click.option("--status", metavar="STATUS", help="Only pipelines in this status (failed, running, ...).")
@click.option("--limit", default=30, show_default=True, type=click.IntRange(1, 1000))
@common_options
@with_hub
async def pipelines_list(hub: Hub, ref: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """Recent pipelines of every runner of the environment, newest first."""
    answer = await hub.pipelines(ref=ref, status=status, limit=limit)
    now = utcnow()
    emit(
        {"environment": hub.env_name, "pipelines": [render.pipeline_json(p) for p in answer.items]},
        ("ID", "RUNNER", "STATUS", "REF", "TRIGGER", "USER", "CREATED", "DURATION"),
        (
            (
                p.id,
                p.source,
                p.status,
                p.ref,
                p.trigger,
                p.user or "",
                humanize.age(p.created, now),
                humanize.duration(p.duration),
            )
            for p in answer.items
        ),
        as_json,
    )
    answer.raise_failures()


_JOB_COLUMNS = ("JOB ID", "STAGE", "NAME", "STATUS", "DURATION")


def _job_rows(jobs: list[Job]) -> Iterator[tuple[str, ...]]:
    return ((j.id, j.stage, j.name, j.status, humanize.duration(j.duration)) for j in jobs)


@pipelines.command("show")
@click.argument("pipeline_id")
@common_options
@with_hub
async def pipelines_show(hub: Hub, pipeline_id: str, as_json: bool) -> None:
    """A pipeline and its jobs by stage."""
    pipeline, jobs = await hub.pipeline(pipeline_id)
    emit(
        {
            "environment": hub.env_name,
            "pipeline": render.pipeline_json(pipeline),
            "jobs": [render.job_json(j) for j in jobs],
        },
        ("FIELD", "VALUE"),
        render.kv_table(
            {
                "pipeline": f"{pipeline.id} ({pipeline.source})",
                "status": pipeline.status,
                "ref": pipeline.ref,
                "trigger": pipeline.trigger,
                "user": pipeline.user,
                "created": humanize.timestamp(pipeline.created),
                "duration": humanize.duration(pipeline.duration),
                "url": pipeline.web_url,
            }
        ),
        as_json,
        more=(Table(_JOB_COLUMNS, _job_rows(jobs)),),
    )


@pipelines.command("jobs")
@click.argument("pipeline_id")
@common_options
@with_hub
async def pipelines_jobs(hub: Hub, pipeline_id: str, as_json: bool) -> None:
    """A pipeline's jobs, in stage order."""
    _, jobs = await hub.pipeline(pipeline_id)
    emit(
        {"environment": hub.env_name, "jobs": [render.job_json(j) for j in jobs]},
        _JOB_COLUMNS,
        _job_rows(jobs),
        as_json,
    )


@pipelines.command("trace", short_help="A job's log; --follow keeps reading until it ends.")
@click.argument("job_id")
@click.option("--follow", "-f", is_flag=True, help="Keep printing while the job runs.")
@click.option("--env", "env", metavar="NAME", help="Environment to use.")
@click.option("--config", "config", type=click.Path(dir_okay=False), help="Config file to use.")
@with_hub
async def pipelines_trace(hub: Hub, job_id: str, follow: bool) -> None:
    """A job's log (GitLab's section markers stripped, colours kept); --follow reads only the new
    part each time until the job ends."""
    offset = 0
    while True:
        chunk = await hub.trace(job_id, offset)
        if chunk.text:
            # Its colours and nothing else; click leaves the colours out too when writing to a pipe.
            click.echo(terminal_log(humanize.clean_trace(chunk.text)), nl=False)
        offset = chunk.next_offset
        if chunk.complete or not follow:
            return
        await asyncio.sleep(POLL_SECONDS)


@pipelines.command("retry", short_help="Retry a pipeline's failed jobs (--all: every job).")
@click.argument("item_id", metavar="ID")
@click.option("--job", is_flag=True, help="ID is a job, not a pipeline.")
@click.option(
    "--all",
    "whole",
    is_flag=True,
    help="Run every job of the ended pipeline again, not only the failed ones (Airflow: clear the run).",
)
@write_options
@common_options
@with_hub
async def pipelines_retry(
    hub: Hub,
    item_id: str,
    job: bool,
    whole: bool,
    yes: bool,
    confirm: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Retry a pipeline's failed jobs (with --all, every job; with --job, one job)."""
    action = await plan_pipeline_change(hub, item_id, verb="retry", job=job, whole=whole)
    await apply(hub, action, yes=yes, confirm=confirm, dry_run=dry_run, as_json=as_json)


@pipelines.command("cancel")
@click.argument("item_id", metavar="ID")
@click.option("--job", is_flag=True, help="ID is a job, not a pipeline.")
@write_options
@common_options
@with_hub
async def pipelines_cancel(
    hub: Hub, item_id: str, job: bool, yes: bool, confirm: str | None, dry_run: bool, as_json: bool
) -> None:
    """Cancel a pipeline (or, with --job, one job)."""
    action = await plan_pipeline_change(hub, item_id, verb="cancel", job=job)
    await apply(hub, action, yes=yes, confirm=confirm, dry_run=dry_run, as_json=as_json)


def _pause_write(paused: bool) -> Callable[..., Any]:
    @click.argument("item_id", metavar="ID")
    @write_options
    @common_options
    @with_hub
    async def command(
        hub: Hub, item_id: str, yes: bool, confirm: str | None, dry_run: bool, as_json: bool
    ) -> None:
        action = await plan_pause(hub, item_id, paused=paused)
        await apply(hub, action, yes=yes, confirm=confirm, dry_run=dry_run, as_json=as_json)

    command.__doc__ = (
        f"{'Pause' if paused else 'Unpause'} the Airflow DAG of ID: `airflow:DAG`, or one of its runs "
        "or tasks" + (" (its runs wait, queued, until it is unpaused)." if paused else " (it runs again).")
    )
    return command


pipelines.command("pause", short_help="Pause an Airflow DAG: its runs wait until it is unpaused.")(
    _pause_write(True)
)
pipelines.command("unpause", short_help="Unpause an Airflow DAG.")(_pause_write(False))


@click.command("retrain", short_help="Start the retraining pipeline of MODEL.")
@click.argument("model")
@click.option("--var", "variables", multiple=True, metavar="KEY=VALUE", help="Extra pipeline variable.")
@click.option("--wait", is_flag=True, help="Wait for the pipeline: exit 0 if it succeeds, 1 if not.")
@write_options
@common_options
@with_hub
async def retrain(
    hub: Hub,
    model: str,
    variables: tuple[str, ...],
    wait: bool,
    yes: bool,
    confirm: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Start the environment's retraining pipeline for MODEL (GitLab or the local runner)."""
    extra = {}
    for item in variables:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--var takes KEY=VALUE, not {item!r}")
        extra[key] = value
    action = plan_retrain(hub, model, extra)
    await apply(hub, action, yes=yes, confirm=confirm, dry_run=dry_run, as_json=as_json)
    started = action.started
    # A local run is a child of this process and ends with it: always wait for it.
    if started is None or not (wait or started.source == "local"):
        return
    while not started.done:
        await asyncio.sleep(POLL_SECONDS)
        started, _ = await hub.pipeline(started.id)
    render.say(f"mlops-tui: pipeline {started.id} {started.status}", err=True)
    if started.status != "success":
        raise MlopsError(f"pipeline {started.id} ended {started.status}")
