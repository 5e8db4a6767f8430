"""`maturity`: the MLOps maturity level of each model in an environment (or all of them), each
criterion met, not met or unknown with its evidence, and the next steps (the view is
`mlops_tui.views.maturity`, shared with the TUI)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable
from typing import Any

import click

from mlops_tui.cli import render
from mlops_tui.cli.helpers import Table, emit, environments_chosen
from mlops_tui.config import Settings
from mlops_tui.hub import Hub
from mlops_tui.ops.journal import open_journal
from mlops_tui.views.maturity import PHASES, Assessment, Judgement, Maturity, read_maturity

__all__ = ["assessment_json", "maturity", "maturity_json", "status_word"]

STATUS_WORDS = {"met": "met", "not_met": "not met", "unknown": "unknown"}


def status_word(status: str) -> str:
    """A criterion's status as a person reads it: `not met` for `not_met`."""
    return STATUS_WORDS[status]


@click.command("maturity", short_help="MLOps maturity level (0-4) of each model, with evidence.")
@click.option("--all", "every", is_flag=True, help="Every configured environment.")
@click.option("--model", metavar="NAME", help="Only this model.")
@click.option("--env", "env", metavar="NAME", help="Environment to assess (default: the default one).")
@click.option("--config", "config", type=click.Path(dir_okay=False), help="Config file to use.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
@click.pass_context
def maturity(
    ctx: click.Context, every: bool, model: str | None, env: str | None, config: str | None, as_json: bool
) -> None:
    """The MLOps maturity level (0-4, Microsoft's model) each model reaches in an environment (or
    --all), judged from the systems it runs on: every criterion met, not met or unknown (its source
    is not configured) with its evidence, and the next steps. The criteria of each model follow the
    summary with --model (or when the environment holds one model). Exit 1 when a
    source could not be read (what could be is printed)."""
    settings, names = environments_chosen(ctx, every, env, config)
    found = asyncio.run(_read(settings, names, model))
    data = maturity_json(found)
    details = found.assessments if model is not None or len(found.assessments) == 1 else []
    emit(
        data,
        ("MODEL", "ENV", "LEVEL", "NEXT STEP"),
        (
            (
                a.model,
                a.environment,
                f"{a.level} {a.level_name}",
                a.next_steps[0].criterion.step if a.next_steps else "",
            )
            for a in found.assessments
        ),
        as_json,
        more=(_criteria_table(a) for a in details),
    )
    problems = [f"{env}: {message}" for env, message in found.problems.items()]
    problems.extend(f"{a.environment}: {a.model}: {p}" for a in found.assessments for p in a.problems)
    for problem in problems:
        render.say(f"mlops-tui: {problem}", err=True)
    if problems:
        sys.exit(1)


async def _read(settings: Settings, names: list[str], model: str | None) -> Maturity:
    hubs = {name: Hub(settings, name) for name in names}
    journal = open_journal(settings)
    try:
        return await read_maturity(hubs, journal, model=model)
    finally:
        journal.close()
        for hub in hubs.values():
            await hub.aclose()


def _criteria_table(assessment: Assessment) -> Table:
    rows: Iterable[tuple[str, ...]] = (
        (str(j.criterion.level), j.criterion.title, status_word(j.status), j.evidence)
        for j in assessment.judgements
    )
    title = (
        f"{assessment.model} in {assessment.environment}: level {assessment.level} ({assessment.level_name})"
    )
    return Table(("LEVEL", "CRITERION", "STATUS", "EVIDENCE"), rows, title=title)


def _step_json(judgement: Judgement) -> dict[str, Any]:
    criterion = judgement.criterion
    return {
        "id": criterion.id,
        "level": criterion.level,
        "phase": PHASES[criterion.level],
        "status": judgement.status,
        "step": criterion.step,
    }


def assessment_json(assessment: Assessment) -> dict[str, Any]:
    """One model's assessment as `maturity --json` prints it."""
    return {
        "model": assessment.model,
        "environment": assessment.environment,
        "level": assessment.level,
        "level_name": assessment.level_name,
        "criteria": [
            {
                "id": j.criterion.id,
                "level": j.criterion.level,
                "title": j.criterion.title,
                "status": j.status,
                "evidence": j.evidence,
            }
            for j in assessment.judgements
        ],
        "next_steps": [_step_json(j) for j in assessment.next_steps],
        "problems": list(assessment.problems),
    }


def maturity_json(found: Maturity) -> dict[str, Any]:
    """The JSON of `maturity` (documented in docs/maturity.md)."""
    return {
        "models": [assessment_json(a) for a in found.assessments],
        "problems": dict(found.problems),
    }
