"""`endpoints ...`: Vertex AI serving endpoints (list, show, traffic, rollback, undeploy). The
Vertex SDK is imported only when one of them runs (by the source's first call)."""

from __future__ import annotations

import click

from mlops_tui.cli import render
from mlops_tui.cli.helpers import Table, apply, common_options, emit, with_hub, write_options
from mlops_tui.domain import Endpoint
from mlops_tui.hub import Hub
from mlops_tui.ops.endpoints import parse_split_args, plan_traffic, plan_traffic_rollback, plan_undeploy
from mlops_tui.ops.journal import open_journal
from mlops_tui.text import humanize

__all__ = ["endpoints"]


@click.group()
def endpoints() -> None:
    """Vertex AI serving endpoints and their traffic split."""


@endpoints.command("list", short_help="Endpoints, their deployed models and traffic.")
@common_options
@with_hub
async def endpoints_list(hub: Hub, as_json: bool) -> None:
    """The endpoints of interest, their deployed models and traffic split."""
    found = await hub.endpoints()
    deployed = _deployed_table(found)
    emit(
        {"environment": hub.env_name, "endpoints": [render.endpoint_json(e) for e in found]},
        deployed.columns,
        deployed.rows,
        as_json,
    )


def _deployed_table(found: list[Endpoint]) -> Table:
    """One row per deployed model of each endpoint (one for an endpoint with none)."""
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
    return Table(("ENDPOINT", "ID", "DEPLOYED", "MODEL", "MLFLOW", "TRAFFIC"), rows)


@endpoints.command("show", short_help="One endpoint, its deployed models and traffic.")
@click.argument("endpoint")
@common_options
@with_hub
async def endpoints_show(hub: Hub, endpoint: str, as_json: bool) -> None:
    """One endpoint (by id or display name): its deployed models and traffic split."""
    found = await hub.endpoint(endpoint)
    emit(
        {"environment": hub.env_name, "endpoint": render.endpoint_json(found)},
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
        as_json,
        more=(_deployed_table([found]),),
    )


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
@write_options
@common_options
@with_hub
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
    await apply(hub, action, yes=yes, confirm=confirm, dry_run=dry_run, as_json=as_json)


@endpoints.command("rollback", short_help="Return traffic to the split before its last change.")
@click.argument("endpoint")
@write_options
@common_options
@with_hub
async def endpoints_rollback(
    hub: Hub, endpoint: str, yes: bool, confirm: str | None, dry_run: bool, as_json: bool
) -> None:
    """Return the endpoint's traffic to the split before its last change (from the audit journal)."""
    journal = open_journal(hub.settings)
    try:
        action = await plan_traffic_rollback(hub, journal, endpoint)
    finally:
        journal.close()
    await apply(hub, action, yes=yes, confirm=confirm, dry_run=dry_run, as_json=as_json)


@endpoints.command("undeploy", short_help="Undeploy a model; its traffic goes to the others.")
@click.argument("endpoint")
@click.argument("deployed_model_id")
@write_options
@common_options
@with_hub
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
    await apply(hub, action, yes=yes, confirm=confirm, dry_run=dry_run, as_json=as_json)
