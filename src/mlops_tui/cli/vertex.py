"""`vertex jobs`: Vertex AI pipeline jobs and model deployment monitoring jobs. The Vertex SDK is
imported only when it runs (by the source's first call)."""

from __future__ import annotations

import click

from mlops_tui.cli import render
from mlops_tui.cli.helpers import Table, common_options, emit, with_hub
from mlops_tui.domain import utcnow
from mlops_tui.hub import Hub
from mlops_tui.text import humanize

__all__ = ["vertex"]


@click.group()
def vertex() -> None:
    """Vertex AI pipeline jobs and model monitoring jobs."""


@vertex.command("jobs", short_help="Vertex pipeline jobs and model monitoring jobs.")
@click.option("--limit", default=30, show_default=True, type=click.IntRange(1, 1000))
@common_options
@with_hub
async def vertex_jobs(hub: Hub, limit: int, as_json: bool) -> None:
    """Recent Vertex pipeline jobs and the model deployment monitoring jobs, with their state."""
    pipelines = await hub.vertex_pipelines(limit=limit)
    monitoring = await hub.monitoring_jobs()
    now = utcnow()
    emit(
        {
            "environment": hub.env_name,
            "pipeline_jobs": [render.pipeline_json(p) for p in pipelines],
            "monitoring_jobs": [render.monitoring_job_json(m) for m in monitoring],
        },
        ("PIPELINE JOB", "STATE", "PIPELINE", "MODEL", "CREATED", "DURATION"),
        (
            (
                p.id,
                p.status,
                p.ref,
                p.model or "",
                humanize.age(p.created, now),
                humanize.duration(p.duration),
            )
            for p in pipelines
        ),
        as_json,
        title="Pipeline jobs",
        more=(
            Table(
                ("MONITORING JOB", "STATE", "SCHEDULE", "ENDPOINT", "LAST RUN", "LAST ERROR"),
                (
                    (
                        m.display_name,
                        m.state,
                        m.schedule_state,
                        m.endpoint.rsplit("/", 1)[-1],
                        humanize.age(m.last_run, now),
                        m.last_error,
                    )
                    for m in monitoring
                ),
                title="Model monitoring jobs",
            ),
        ),
    )
