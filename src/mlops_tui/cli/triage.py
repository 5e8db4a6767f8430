"""`triage`: in one call what the triage screen shows about an alert (the view is
`mlops_tui.views.triage`, shared with the TUI), for an on-call engineer without the TUI or a script
paging someone."""

from __future__ import annotations

from typing import Any

import click

from mlops_tui.cli import render
from mlops_tui.cli.helpers import Table, common_options, emit, with_hub
from mlops_tui.domain import Alert
from mlops_tui.errors import MlopsError, NotFound, UsageError
from mlops_tui.hub import Hub
from mlops_tui.ops.journal import open_journal
from mlops_tui.text import humanize
from mlops_tui.text.sanitize import terminal_log
from mlops_tui.views.triage import Side, Triage, gather_triage

__all__ = ["triage"]

NO_ALERT = Alert(fingerprint="", labels={})
"""Stands for "no alert" when `--model` names a model nothing fires about."""


@click.command("triage", short_help="An alert's versions, runs, pipeline and failing job.")
@click.argument("alert", required=False, metavar="ALERT")
@click.option(
    "--model", metavar="NAME", help="The model's most severe firing alert (or, with none, the model)."
)
@click.option(
    "--log-lines",
    default=20,
    show_default=True,
    type=click.IntRange(0, 10_000),
    help="Lines of the job's log.",
)
@common_options
@with_hub
async def triage(hub: Hub, alert: str | None, model: str | None, log_lines: int, as_json: bool) -> None:
    """What the triage screen shows about ALERT (a fingerprint or an alert name, the most severe of
    that name) or about --model NAME: the alert, the serving and previous versions with their key
    metrics and runs, the pipeline that made the serving version, the failing job and the tail of
    its log, and what a rollback would return to. Exit 1 when a part could not be read (the rest
    is printed)."""
    if (alert is None) == (model is None):
        raise UsageError("give an ALERT (fingerprint or name) or --model NAME")
    chosen = await _alert(hub, alert, model)
    if chosen is NO_ALERT:
        chosen = Alert(fingerprint="", labels={hub.model_label("rules"): str(model)}, source="rules")
    journal = open_journal(hub.settings)
    try:
        found = await gather_triage(hub, journal, chosen)
    finally:
        journal.close()
    log = await _log_tail(hub, found, log_lines)
    data = triage_json(hub, found, log)
    sides = (found.serving, found.previous)
    emit(
        data,
        ("FIELD", "VALUE"),
        render.kv_table(_facts(found, data)),
        as_json,
        more=(
            Table(
                ("METRIC", "SERVING", "PREVIOUS"),
                (
                    (key, *(humanize.metric(s.run.metrics.get(key)) if s and s.run else "" for s in sides))
                    for key in found.key_metrics
                ),
                title="Key metrics",
            ),
        ),
    )
    if log and not as_json:
        _print_log(found, log)
    for problem in found.problems:
        render.say(f"mlops-tui: {problem}", err=True)
    if found.problems:
        raise SystemExit(1)


async def _alert(hub: Hub, ref: str | None, model: str | None) -> Alert:
    """The alert named by `ref`, or the most severe one about `model` (NO_ALERT when none fires or
    the environment watches no alerts)."""
    if model is not None and not hub.alert_sources:
        return NO_ALERT
    answer = await hub.alerts()
    for alert in answer.items:  # most severe first
        if ref in (alert.fingerprint, alert.name) or (model is not None and hub.alert_model(alert) == model):
            return alert
    answer.raise_failures()
    if model is not None:
        return NO_ALERT
    raise NotFound("alerts", f"no firing alert {ref!r} in {hub.env_name} (a fingerprint or an alert name)")


async def _log_tail(hub: Hub, found: Triage, lines: int) -> list[str]:
    if found.failing is None or lines == 0:
        return []
    _, job = found.failing
    try:
        chunk = await hub.trace(job.id)
    except MlopsError as exc:
        found.problems.append(f"log of job {job.id}: {exc.message}")
        return []
    return humanize.clean_trace(chunk.text).splitlines()[-lines:]


def _side_json(hub: Hub, side: Side | None) -> dict[str, Any] | None:
    if side is None:
        return None
    run = render.run_json(side.run, hub.experiment_name(side.run.experiment_id)) if side.run else None
    return {"version": render.version_json(side.version), "run": run}


def triage_json(hub: Hub, found: Triage, log: list[str]) -> dict[str, Any]:
    """The JSON of `triage` (documented in the README)."""
    rollback = None
    if found.target and found.serving and found.previous:
        rollback = {
            "target": found.target,
            "from": f"v{found.serving.version.version}",
            "to": f"v{found.previous.version.version}",
        }
    failing = None
    if found.failing is not None:
        pipeline, job = found.failing
        failing = {"pipeline": render.pipeline_json(pipeline), "job": render.job_json(job), "log_tail": log}
    alert = found.alert if found.alert.fingerprint else None
    return {
        "environment": hub.env_name,
        "alert": render.alert_json(alert, found.model) if alert else None,
        "model": found.model,
        "registered_model": found.registered,
        "slot": found.slot,
        "key_metrics": found.key_metrics,
        "serving": _side_json(hub, found.serving),
        "previous": _side_json(hub, found.previous),
        "rollback": rollback,
        "lineage": render.pipeline_json(found.lineage) if found.lineage else None,
        "pipelines": [render.pipeline_json(p) for p in found.pipelines],
        "failing": failing,
        "journal": [render.audit_json(e) for e in found.journal],
        "problems": found.problems,
    }


def _facts(found: Triage, data: dict[str, Any]) -> dict[str, Any]:
    """The FIELD/VALUE lines of the table output: the alert, the model, its versions and pipeline."""
    alert = found.alert
    facts: dict[str, Any] = {
        "alert": f"{alert.name} ({alert.severity}, {alert.state}): {alert.summary}"
        if alert.fingerprint
        else "none",
        "model": f"{found.model} ({found.registered}, {found.slot})" if found.model else "",
    }
    for label, side in (("serving", found.serving), ("previous", found.previous)):
        if side is not None:
            run = f" run {side.run.name} ({side.run.id})" if side.run else ""
            facts[label] = f"v{side.version.version}{run}"
    if rollback := data["rollback"]:
        facts["rollback"] = f"{rollback['target']}: {rollback['from']} -> {rollback['to']}"
    if found.lineage is not None:
        facts["made by"] = f"{found.lineage.source} pipeline {found.lineage.id} {found.lineage.status}"
    if found.failing is not None:
        pipeline, job = found.failing
        facts["failing"] = f"job {job.id} {job.name} ({job.stage}) of pipeline {pipeline.id}, failed"
    return facts


def _print_log(found: Triage, log: list[str]) -> None:
    render.say(f"\nLog of job {found.failing[1].id if found.failing else ''}, last {len(log)} lines:")
    for line in log:
        click.echo(terminal_log(line))
