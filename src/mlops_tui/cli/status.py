"""`status`: the health of an environment (or all of them) in one exit code, for cron and CI."""

from __future__ import annotations

import asyncio
import sys

import click

from mlops_tui.cli import render
from mlops_tui.cli.helpers import emit, environments_chosen
from mlops_tui.config import Settings
from mlops_tui.hub import Hub
from mlops_tui.views.health import (
    STATE_NAMES,
    EnvironmentHealth,
    check_health,
    overall_code,
    source_state_word,
)

__all__ = ["status"]


@click.command("status", short_help="Health of an environment (or --all), for cron and CI.")
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
    settings, names = environments_chosen(ctx, every, env, config)
    reports = asyncio.run(_check_all(settings, names))
    code = overall_code(reports)
    emit(
        {
            "state": STATE_NAMES[code],
            "exit_code": int(code),
            "environments": [render.health_json(r) for r in reports],
        },
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
        as_json,
    )
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
