"""Vertex AI headless commands: `endpoints ...` (list, show, traffic, rollback, undeploy) and
`vertex jobs`. Registered on the root group by `cli.commands`; the Vertex SDK is imported only
when one of them runs (by the source's first call)."""

from __future__ import annotations

from typing import Any

import click

from mlops_tui.cli import render
from mlops_tui.cli.commands import _apply, _common, _with_hub, _write_options, root
from mlops_tui.domain import Endpoint, utcnow
from mlops_tui.hub import Hub
from mlops_tui.ops.endpoints import parse_split_args, plan_traffic, plan_traffic_rollback, plan_undeploy
from mlops_tui.ops.journal import open_journal
from mlops_tui.text import humanize

__all__ = ["endpoints", "vertex"]


@root.group()
def endpoints() -> None:
    """Vertex AI serving endpoints and their traffic split."""


@endpoints.command("list", short_help="Endpoints, their deployed models and traffic.")
@_common
@_with_hub
async def endpoints_list(hub: Hub, as_json: bool) -> None:
    """The endpoints of interest, their deployed models and traffic split."""
    found = await hub.endpoints()
    if as_json:
        render.emit_json({"environment": hub.env_name, "endpoints": [render.endpoint_json(e) for e in found]})
        return
    _deployed_table(found)


def _deployed_table(found: list[Endpoint]) -> None:
    rows = []
    for endpoint in found:
        if not endpoint.deployed_models:
            rows.append((endpoint.display_name, endpoint.id, "", "(nothing deployed)", "", ""))
        for deployed in endpoint.deployed_models:
            rows.append(
                (
                    endpoint.display_name,
                    endpoint.id,
                    deployed.id,
                    f"{deployed.model_display_name or deployed.model} v{deployed.model_version}",
                    f"{deployed.mlflow_model} v{deployed.mlflow_version}" if deployed.mlflow_model else "",
                    f"{endpoint.traffic_split.get(deployed.id, 0)}%",
                )
            )
    render.emit_table(("ENDPOINT", "ID", "DEPLOYED", "MODEL", "MLFLOW", "TRAFFIC"), rows)


@endpoints.command("show", short_help="One endpoint, its deployed models and traffic.")
@click.argument("endpoint")
@_common
@_with_hub
async def endpoints_show(hub: Hub, endpoint: str, as_json: bool) -> None:
    """One endpoint (by id or display name): its deployed models and traffic split."""
    found = await hub.endpoint(endpoint)
    if as_json:
        render.emit_json({"environment": hub.env_name, "endpoint": render.endpoint_json(found)})
        return
    render.emit_table(
        ("FIELD", "VALUE"),
        render.kv_table(
            {
                "endpoint": f"{found.display_name} ({found.id})",
                "resource": found.name,
                "traffic": found.split_text or "none",
                "created": humanize.timestamp(found.created),
                "updated": humanize.timestamp(found.updated),
                "url": found.web_url,
            }
        ),
    )
    _deployed_table([found])


@endpoints.command("traffic", short_help="Set the endpoint's traffic split.")
@click.argument("endpoint")
@click.option(
    "--split",
    "splits",
    multiple=True,
    required=True,
    metavar="DEPLOYED_MODEL_ID=PERCENT",
    help="Percent of the traffic for a deployed model; repeat for each; must sum to 100.",
)
@_write_options
@_common
@_with_hub
async def endpoints_traffic(
    hub: Hub,
    endpoint: str,
    splits: tuple[str, ...],
    yes: bool,
    confirm: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Set the endpoint's traffic split (deployed models not named get 0%), e.g. a 90/10 canary."""
    split = parse_split_args(splits)
    action = await plan_traffic(hub, endpoint, split)
    await _apply(hub, action, yes=yes, confirm=confirm, dry_run=dry_run, as_json=as_json)


@endpoints.command("rollback", short_help="Return traffic to the split before its last change.")
@click.argument("endpoint")
@_write_options
@_common
@_with_hub
async def endpoints_rollback(
    hub: Hub, endpoint: str, yes: bool, confirm: str | None, dry_run: bool, as_json: bool
) -> None:
    """Return the endpoint's traffic to the split before its last change (from the audit journal)."""
    journal = open_journal(hub.settings)
    try:
        action = await plan_traffic_rollback(hub, journal, endpoint)
    finally:
        journal.close()
    await _apply(hub, action, yes=yes, confirm=confirm, dry_run=dry_run, as_json=as_json)


@endpoints.command("undeploy", short_help="Undeploy a model; its traffic goes to the others.")
@click.argument("endpoint")
@click.argument("deployed_model_id")
@_write_options
@_common
@_with_hub
async def endpoints_undeploy(
    hub: Hub,
    endpoint: str,
    deployed_model_id: str,
    yes: bool,
    confirm: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Undeploy a model from the endpoint; its traffic goes to the others in proportion."""
    action = await plan_undeploy(hub, endpoint, deployed_model_id)
    await _apply(hub, action, yes=yes, confirm=confirm, dry_run=dry_run, as_json=as_json)


@root.group()
def vertex() -> None:
    """Vertex AI pipeline jobs and model monitoring jobs."""


@vertex.command("jobs", short_help="Vertex pipeline jobs and model monitoring jobs.")
@click.option("--limit", default=30, show_default=True, type=click.IntRange(1, 1000))
@_common
@_with_hub
async def vertex_jobs(hub: Hub, limit: int, as_json: bool) -> None:
    """Recent Vertex pipeline jobs and the model deployment monitoring jobs, with their state."""
    pipelines = await hub.vertex_pipelines(limit=limit)
    monitoring = await hub.monitoring_jobs()
    if as_json:
        data: dict[str, Any] = {
            "environment": hub.env_name,
            "pipeline_jobs": [render.pipeline_json(p) for p in pipelines],
            "monitoring_jobs": [render.monitoring_job_json(m) for m in monitoring],
        }
        render.emit_json(data)
        return
    now = utcnow()
    render.emit_table(
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
        title="Pipeline jobs",
    )
    render.emit_table(
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
    )
