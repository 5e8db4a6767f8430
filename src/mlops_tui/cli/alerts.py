"""`alerts ...`: what is firing, and the silences: list, create, expire."""

from __future__ import annotations

import click

from mlops_tui.cli import render
from mlops_tui.cli.helpers import apply, common_options, emit, with_hub, write_options
from mlops_tui.domain import utcnow
from mlops_tui.domain.matchers import parse_matchers
from mlops_tui.errors import UsageError
from mlops_tui.hub import Hub
from mlops_tui.ops.alerts import plan_expiry, plan_silence
from mlops_tui.text import humanize

__all__ = ["alerts"]


@click.group(short_help="Firing alerts and their silences.")
def alerts() -> None:
    """Firing alerts (Alertmanager and local rules) and their silences."""


@alerts.command("list")
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="MATCHER",
    help='Alertmanager matcher, e.g. severity="critical" or model=~"ch.*"; repeat to AND them.',
)
@click.option("--silenced", is_flag=True, help="Include silenced and inhibited alerts.")
@common_options
@with_hub
async def alerts_list(hub: Hub, filters: tuple[str, ...], silenced: bool, as_json: bool) -> None:
    """Firing alerts, most severe first."""
    answer = await hub.alerts(parse_matchers(filters), muted=silenced)
    found = answer.items
    now = utcnow()
    emit(
        {"environment": hub.env_name, "alerts": [render.alert_json(a, hub.alert_model(a)) for a in found]},
        ("SEVERITY", "ALERT", "MODEL", "STATE", "SOURCE", "STARTED", "SUMMARY"),
        (
            (
                a.severity,
                a.name,
                hub.alert_model(a) or "",
                a.state,
                a.source,
                humanize.age(a.starts_at, now),
                a.summary,
            )
            for a in found
        ),
        as_json,
    )
    answer.raise_failures()


@alerts.command("silences")
@click.option("--all", "show_all", is_flag=True, help="Include expired silences.")
@common_options
@with_hub
async def alerts_silences(hub: Hub, show_all: bool, as_json: bool) -> None:
    """Silences, active and pending first."""
    answer = await hub.silences()
    found = [s for s in answer.items if show_all or s.state != "expired"]
    emit(
        {"environment": hub.env_name, "silences": [render.silence_json(s) for s in found]},
        ("ID", "STATE", "MATCHERS", "ENDS", "BY", "COMMENT", "SOURCE"),
        (
            (
                s.id,
                s.state,
                ", ".join(str(m) for m in s.matchers),
                humanize.timestamp(s.ends_at),
                s.created_by,
                s.comment,
                s.source,
            )
            for s in found
        ),
        as_json,
    )
    answer.raise_failures()


@alerts.command("silence", short_help="Silence the alerts matching every MATCHER.")
@click.argument("matchers", nargs=-1, required=True, metavar="MATCHER...")
@click.option("--duration", required=True, metavar="DURATION", help="How long: 30m, 2h, 1h30m, 7d.")
@click.option("--comment", required=True, metavar="TEXT", help="Why (required).")
@click.option(
    "--source",
    metavar="NAME",
    help="Where to create it: alertmanager or rules. Default: alertmanager where configured.",
)
@write_options
@common_options
@with_hub
async def alerts_silence(
    hub: Hub,
    matchers: tuple[str, ...],
    duration: str,
    comment: str,
    source: str | None,
    yes: bool,
    confirm: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Silence the alerts matching every MATCHER, from now for --duration."""
    try:
        length = humanize.parse_duration(duration)
    except ValueError as exc:
        raise UsageError(f"--duration: {exc}") from None
    chosen = source or ("alertmanager" if "alertmanager" in hub.alert_sources else "rules")
    action = plan_silence(
        hub,
        chosen,
        parse_matchers(matchers),
        duration=length,
        comment=comment,
        operator=hub.settings.operator_name,
    )
    await apply(hub, action, yes=yes, confirm=confirm, dry_run=dry_run, as_json=as_json)


@alerts.command("expire")
@click.argument("silence_id")
@write_options
@common_options
@with_hub
async def alerts_expire(
    hub: Hub, silence_id: str, yes: bool, confirm: str | None, dry_run: bool, as_json: bool
) -> None:
    """End a silence now."""
    action = await plan_expiry(hub, silence_id)
    await apply(hub, action, yes=yes, confirm=confirm, dry_run=dry_run, as_json=as_json)
