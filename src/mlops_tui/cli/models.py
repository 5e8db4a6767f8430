"""`models ...`: registered models and their versions; promote and roll back aliases or stages."""

from __future__ import annotations

import click

from mlops_tui.cli import render
from mlops_tui.cli.helpers import (
    apply,
    common_options,
    emit,
    override_reason,
    with_hub,
    write_options,
)
from mlops_tui.domain import tags_in_order, utcnow
from mlops_tui.errors import UsageError
from mlops_tui.hub import Hub
from mlops_tui.ops.journal import open_journal
from mlops_tui.ops.policy import WriteAction
from mlops_tui.ops.registry import plan_cross_env_promotion, plan_promotion, plan_rollback
from mlops_tui.text import humanize

__all__ = ["models"]


@click.group()
def models() -> None:
    """Registered models."""


@models.command("list", short_help="Registered models, their aliases or stages.")
@click.option(
    "--filter",
    "name_filter",
    default="",
    metavar="TEXT",
    help="Part of the name, or a registry filter such as \"name LIKE 'ch%'\".",
)
@common_options
@with_hub
async def models_list(hub: Hub, name_filter: str, as_json: bool) -> None:
    """Registered models with their aliases or stages and latest version."""
    page = await hub.models(name_filter)
    now = utcnow()
    emit(
        {
            "environment": hub.env_name,
            "models": [render.model_json(m) for m in page.items],
            "next_page_token": page.next_token,
        },
        ("NAME", "ALIASES", "STAGES", "LATEST", "UPDATED"),
        (
            (
                m.name,
                " ".join(f"{a}=v{v}" for a, v in sorted(m.aliases.items())),
                " ".join(f"{s}=v{v}" for s, v in m.stages().items()),
                f"v{m.latest_version}" if m.latest_version else "",
                humanize.age(m.updated, now),
            )
            for m in page.items
        ),
        as_json,
    )


@models.command("show")
@click.argument("name")
@common_options
@with_hub
async def models_show(hub: Hub, name: str, as_json: bool) -> None:
    """A registered model and its versions."""
    model, versions = await hub.model(name)
    now = utcnow()
    emit(
        {
            "environment": hub.env_name,
            "model": render.model_json(model),
            "versions": [render.version_json(v) for v in versions],
        },
        ("VERSION", "ALIASES", "STAGE", "STATUS", "RUN ID", "CREATED", "TAGS"),
        (
            (
                v.version,
                ", ".join(v.aliases),
                v.stage,
                v.status.lower(),
                v.run_id or "",
                humanize.age(v.created, now),
                " ".join(f"{k}={val}" for k, val in tags_in_order(v.tags)),
            )
            for v in versions
        ),
        as_json,
        title=f"{model.name}: {model.description}" if model.description else model.name,
    )


@models.command("promote", short_help="Point an alias or stage at VERSION, or copy it across.")
@click.argument("name")
@click.argument("version")
@click.option("--alias", metavar="ALIAS", help="Alias to move (alias mode; default champion).")
@click.option("--stage", metavar="STAGE", help="Stage to move to (stage mode; default Production).")
@click.option("--archive-existing", is_flag=True, help="Stage mode: archive versions already there.")
@click.option("--to-env", metavar="ENV", help="Copy the version into another environment's registry.")
@click.option("--override-gates", is_flag=True, help="Go through failed promotion gates (needs --reason).")
@click.option("--reason", metavar="TEXT", help="Why the gates are overridden; the journal records it.")
@write_options
@common_options
@with_hub
async def models_promote(
    hub: Hub,
    name: str,
    version: str,
    alias: str | None,
    stage: str | None,
    archive_existing: bool,
    to_env: str | None,
    override_gates: bool,
    reason: str | None,
    yes: bool,
    confirm: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Point an alias (or stage) at VERSION, or copy VERSION into another environment.

    The target environment's promotion gates are checked in the plan; a failed one refuses
    (exit 4) unless `--override-gates --reason TEXT`."""
    operator = hub.settings.operator_name
    override = override_reason(override_gates, reason)
    action: WriteAction
    if to_env:
        if stage:
            raise UsageError("--to-env sets an alias in the target environment; --stage does not apply")
        target = Hub(hub.settings, to_env, clock=hub.clock)
        try:
            action = await plan_cross_env_promotion(
                hub, target, name, version, alias=alias, operator=operator
            )
            await apply(
                target, action, yes=yes, confirm=confirm, dry_run=dry_run, as_json=as_json, override=override
            )
        finally:
            await target.aclose()
        return
    action = await plan_promotion(
        hub,
        name,
        version,
        alias=alias,
        stage=stage,
        archive_existing=archive_existing,
        operator=operator,
    )
    await apply(hub, action, yes=yes, confirm=confirm, dry_run=dry_run, as_json=as_json, override=override)


@models.command("rollback", short_help="Move an alias or stage back to its previous version.")
@click.argument("name")
@click.option("--alias", metavar="ALIAS", help="Alias to move back (alias mode; default champion).")
@click.option("--stage", metavar="STAGE", help="Stage to restore (stage mode; default Production).")
@write_options
@common_options
@with_hub
async def models_rollback(
    hub: Hub,
    name: str,
    alias: str | None,
    stage: str | None,
    yes: bool,
    confirm: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Move an alias (or stage) back to the version it held before its last change."""
    journal = open_journal(hub.settings)
    try:
        action = await plan_rollback(
            hub, journal, name, alias=alias, stage=stage, operator=hub.settings.operator_name
        )
    finally:
        journal.close()
    await apply(hub, action, yes=yes, confirm=confirm, dry_run=dry_run, as_json=as_json)
