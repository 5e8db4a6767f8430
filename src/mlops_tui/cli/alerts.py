"""`alerts ...` and `status`: what is firing, silences, and a health summary for cron and CI."""

from __future__ import annotations

import asyncio
import sys

import click

from mlops_tui.cli import render
from mlops_tui.cli.commands import _apply, _common, _with_hub, _write_options, load_and_warn, root
from mlops_tui.config import Settings
from mlops_tui.domain import utcnow
from mlops_tui.domain.matchers import parse_matchers
from mlops_tui.errors import UsageError
from mlops_tui.hub import Hub
from mlops_tui.ops.alerts import plan_expiry, plan_silence
from mlops_tui.text import humanize
from mlops_tui.views.health import (
    STATE_NAMES,
    EnvironmentHealth,
    check_health,
    overall_code,
    source_state_word,
)

__all__ = ["alerts", "status"]


@root.group(short_help="Firing alerts and their silences.")
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
@_common
@_with_hub
async def alerts_list(hub: Hub, filters: tuple[str, ...], silenced: bool, as_json: bool) -> None:
    """Firing alerts, most severe first."""
    answer = await hub.alerts(parse_matchers(filters), muted=silenced)
    found = answer.items
    if as_json:
        render.emit_json(
            {
                "environment": hub.env_name,
                "alerts": [render.alert_json(a, hub.alert_model(a)) for a in found],
            }
        )
        answer.raise_failures()
        return
    now = utcnow()
    render.emit_table(
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
    )
    answer.raise_failures()


@alerts.command("silences")
@click.option("--all", "show_all", is_flag=True, help="Include expired silences.")
@_common
@_with_hub
async def alerts_silences(hub: Hub, show_all: bool, as_json: bool) -> None:
    """Silences, active and pending first."""
    answer = await hub.silences()
    found = [s for s in answer.items if show_all or s.state != "expired"]
    if as_json:
        render.emit_json({"environment": hub.env_name, "silences": [render.silence_json(s) for s in found]})
        answer.raise_failures()
        return
    render.emit_table(
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
@_write_options
@_common
@_with_hub
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
    await _apply(hub, action, yes=yes, confirm=confirm, dry_run=dry_run, as_json=as_json)


@alerts.command("expire")
@click.argument("silence_id")
@_write_options
@_common
@_with_hub
async def alerts_expire(
    hub: Hub, silence_id: str, yes: bool, confirm: str | None, dry_run: bool, as_json: bool
) -> None:
    """End a silence now."""
    action = await plan_expiry(hub, silence_id)
    await _apply(hub, action, yes=yes, confirm=confirm, dry_run=dry_run, as_json=as_json)


# -- status -------------------------------------------------------------------------------------


@root.command("status", short_help="Health of an environment (or --all), for cron and CI.")
@click.option("--all", "every", is_flag=True, help="Every configured environment.")
@click.option("--env", "env", metavar="NAME", help="Environment to check (default: the default one).")
@click.option("--config", "config", type=click.Path(dir_okay=False), help="Config file to use.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@click.pass_context
def status(ctx: click.Context, every: bool, env: str | None, config: str | None, as_json: bool) -> None:
    """Health of an environment (or --all): sources, firing alerts, failed pipelines, serving versions.

    Exit 0 healthy; 1 degraded (a critical alert firing, a pipeline failed in the last 24 hours,
    a source answering errors); 3 a backend unreachable.
    """
    root_options = ctx.find_root().params
    if every and (env or root_options.get("env")):
        raise UsageError("give --env or --all, not both")
    settings = load_and_warn(config or root_options.get("config"))
    names = (
        list(settings.environments) if every else [settings.environment(env or root_options.get("env"))[0]]
    )
    reports = asyncio.run(_check_all(settings, names))
    code = overall_code(reports)
    if as_json:
        render.emit_json(
            {
                "state": STATE_NAMES[code],
                "exit_code": int(code),
                "environments": [render.health_json(r) for r in reports],
            }
        )
    else:
        _print_health(reports)
    for report in reports:
        for problem in report.problems:
            render.say(f"mlops-tui: {report.environment}: {problem}", err=True)
    sys.exit(code)


async def _check_all(settings: Settings, names: list[str]) -> list[EnvironmentHealth]:
    hubs = [Hub(settings, name) for name in names]
    try:
        return list(await asyncio.gather(*(check_health(h) for h in hubs)))
    finally:
        for hub in hubs:
            await hub.aclose()


def _print_health(reports: list[EnvironmentHealth]) -> None:
    render.emit_table(
        ("ENV", "STATE", "SOURCES", "FIRING", "FAILED 24H", "SERVING"),
        (
            (
                r.environment,
                r.state,
                ", ".join(f"{s.name} {source_state_word(s.state)}" for s in r.sources),
                ", ".join(f"{n} {sev}" for sev, n in sorted(r.firing.items())) or "none",
                str(len(r.failed_pipelines)),
                ", ".join(f"{m} {v or '-'}" for m, v in r.champions.items()),
            )
            for r in reports
        ),
    )
