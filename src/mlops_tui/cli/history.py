"""`history`: the write actions of the audit journal, newest first."""

from __future__ import annotations

import click

from mlops_tui.cli import render
from mlops_tui.cli.helpers import common_options, emit, with_hub
from mlops_tui.hub import Hub
from mlops_tui.ops.journal import open_journal
from mlops_tui.ops.registry import recover_interrupted
from mlops_tui.text import humanize

__all__ = ["history"]


@click.command("history")
@click.option("--model", metavar="NAME", help="Only actions on this model.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--all-envs", is_flag=True, help="Every environment, not only --env's.")
@common_options
@with_hub
async def history(hub: Hub, model: str | None, limit: int, all_envs: bool, as_json: bool) -> None:
    """Write actions from the audit journal, newest first."""
    journal = open_journal(hub.settings)
    try:
        await recover_interrupted(hub, journal)
        subject = hub.model_name(model) if model else None
        entries = journal.entries(
            environment=None if all_envs else hub.env_name, subject=subject, limit=limit
        )
    finally:
        journal.close()
    emit(
        {"entries": [render.audit_json(e) for e in entries]},
        ("TIME (UTC)", "OPERATOR", "ENV", "ACTION", "TARGET", "FROM", "TO", "RESULT", "MESSAGE"),
        (
            (
                humanize.timestamp(e.time),
                e.operator,
                e.environment,
                e.action,
                e.target,
                e.before or "",
                e.after or "",
                e.result,
                e.message,
            )
            for e in entries
        ),
        as_json,
    )
