"""`runs ...`: experiment runs, newest first, and one run in detail."""

from __future__ import annotations

import click

from mlops_tui.cli import render
from mlops_tui.cli.helpers import Table, common_options, emit, with_hub
from mlops_tui.domain import utcnow
from mlops_tui.hub import Hub
from mlops_tui.text import humanize

__all__ = ["runs"]


@click.group()
def runs() -> None:
    """Experiment runs."""


@runs.command("list")
@click.option("--experiment", metavar="NAME", help="Only this experiment.")
@click.option(
    "--filter",
    "filter_string",
    default="",
    metavar="EXPR",
    help='MLflow search filter, e.g. "metrics.val_auc > 0.8".',
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 50_000))
@common_options
@with_hub
async def runs_list(hub: Hub, experiment: str | None, filter_string: str, limit: int, as_json: bool) -> None:
    """Recent runs, newest first."""
    page = await hub.runs(filter_string, experiment=experiment, max_results=limit)
    now = utcnow()
    metrics = hub.key_metrics(page.items)
    emit(
        {
            "environment": hub.env_name,
            "runs": [render.run_json(r, hub.experiment_name(r.experiment_id)) for r in page.items],
            "next_page_token": page.next_token,
        },
        ("RUN ID", "NAME", "EXPERIMENT", "STATUS", "STARTED", "DURATION", *metrics),
        (
            (
                r.id,
                r.name,
                hub.experiment_name(r.experiment_id),
                r.status.lower(),
                humanize.age(r.start_time, now),
                humanize.duration(r.duration),
                *(humanize.metric(r.metrics.get(key)) for key in metrics),
            )
            for r in page.items
        ),
        as_json,
    )


@runs.command("show", short_help="One run: params, metrics, tags, model versions.")
@click.argument("run_id")
@common_options
@with_hub
async def runs_show(hub: Hub, run_id: str, as_json: bool) -> None:
    """One run: params, metrics with their history, tags, and the model versions made from it."""
    detail = await hub.run_detail(run_id)
    run = detail.run
    versions = Table(
        ("MODEL", "VERSION", "ALIASES", "STAGE"),
        ((v.name, v.version, ", ".join(v.aliases), v.stage) for v in detail.versions),
        title="Model versions",
    )
    emit(
        {"environment": hub.env_name, **render.run_detail_json(detail)},
        ("FIELD", "VALUE"),
        render.kv_table(
            {
                "run": f"{run.name} ({run.id})",
                "experiment": detail.experiment,
                "status": f"{run.status.lower()} (deleted)" if run.deleted else run.status.lower(),
                "user": run.user,
                "started": humanize.timestamp(run.start_time),
                "duration": humanize.duration(run.duration),
            }
        ),
        as_json,
        more=(
            Table(("PARAM", "VALUE"), sorted(run.params.items()), title="Parameters"),
            Table(
                ("METRIC", "LAST", "STEPS"),
                (
                    (k, humanize.metric(v), str(len(detail.history.get(k, ()))))
                    for k, v in sorted(run.metrics.items())
                ),
                title="Metrics",
            ),
            *((versions,) if detail.versions else ()),
        ),
    )
