"""`metrics MODEL`: a model's serving metrics over a window, the changes of its serving slot and the
before/after summary around the last one (the view is `mlops_tui.views.metrics`, shared with the
TUI and `status`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import click

from mlops_tui.cli import render
from mlops_tui.cli.helpers import Table, common_options, emit, with_hub
from mlops_tui.domain import Series, SlotChange
from mlops_tui.errors import PartlyAnswered
from mlops_tui.hub import Hub
from mlops_tui.ops.journal import open_journal
from mlops_tui.text import humanize
from mlops_tui.text.rfc3339 import parse_rfc3339
from mlops_tui.views.metrics import (
    BEFORE_AFTER_WINDOW,
    ModelMetrics,
    before_after_line,
    gather_metrics,
    value_text,
)

__all__ = ["before_after_line", "metrics", "metrics_json", "value_text"]


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> timedelta | None:
    if value is None:
        return None
    try:
        return humanize.parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _moment(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = parse_rfc3339(value)
    except ValueError:
        moment = None
    if moment is None:
        raise click.BadParameter(f"{value!r} is not an RFC 3339 time, e.g. 2026-11-26T12:00:00Z")
    return moment


@click.command("metrics", short_help="A model's serving metrics, its slot's changes, before/after.")
@click.argument("model")
@click.option(
    "--series",
    "names",
    multiple=True,
    metavar="NAME",
    help="Only this series (repeatable); default: every one.",
)
@click.option(
    "--since", default="6h", show_default=True, callback=_duration, help="How far back: 30m, 6h, 7d."
)
@click.option("--step", default=None, callback=_duration, help="Between two points (default: step_seconds).")
@click.option(
    "--until",
    default=None,
    callback=_moment,
    metavar="TIME",
    help="End of the window, RFC 3339 (default: now).",
)
@click.option(
    "--window",
    default="1h",
    show_default=True,
    callback=_duration,
    help="Longest window either side of the last change the before/after compares.",
)
@common_options
@with_hub
async def metrics(
    hub: Hub,
    model: str,
    names: tuple[str, ...],
    since: timedelta,
    step: timedelta | None,
    until: datetime | None,
    window: timedelta | None,
    as_json: bool,
) -> None:
    """MODEL's serving metrics in the environment over the last --since, every change of the slot
    serving it (promotions, rollbacks, external changes, new versions, traffic shifts) and each
    series' mean over equal windows before and after the last change.

    Exit 0; 2 when the metrics source refuses a series' query (its words on stderr) or names an
    unknown series; 3 when it cannot be reached; 1 for other failures (the registry or endpoints
    not read: the series are still printed). When some series answer and others fail, those that
    answered are printed and the exit code is the worst failure's.
    """
    if until is not None:
        fixed = until
        hub.clock = lambda: fixed
    journal = open_journal(hub.settings)
    try:
        found = await gather_metrics(
            hub, journal, model, since=since, step=step, names=names, window=window or BEFORE_AFTER_WINDOW
        )
    finally:
        journal.close()
    if found.failures and not found.series:
        raise next(iter(found.failures.values()))
    data = metrics_json(found)
    emit(
        data,
        ("SERIES", "NOW", "LEVEL", "WARN", "CRITICAL", "POINTS"),
        (_series_row(s) for s in found.series),
        as_json,
        title=f"{found.model} in {found.environment}"
        + (f", serving v{found.version}" if found.version else ""),
        more=(
            Table(
                ("AT", "ACTION", "FROM", "TO", "OPERATOR"),
                (
                    (
                        humanize.timestamp(c.at),
                        c.action,
                        c.before or "-",
                        c.after or "-",
                        c.operator or f"({c.origin})",
                    )
                    for c in found.changes
                ),
                title="Changes",
            ),
            Table(("BEFORE/AFTER",), ((before_after_line(b),) for b in found.before_after), title=None),
        ),
    )
    for problem in found.problems:
        render.say(f"mlops-tui: {problem}", err=True)
    if found.failures:
        raise PartlyAnswered(list(found.failures.values()))
    if found.problems:
        raise SystemExit(1)


def _series_row(series: Series) -> tuple[str, ...]:
    threshold = series.threshold
    return (
        series.name,
        value_text(series.latest, series.unit),
        series.level,
        value_text(threshold.warn, series.unit) if threshold.warn is not None else "-",
        value_text(threshold.critical, series.unit) if threshold.critical is not None else "-",
        str(len(series.points)),
    )


def _time(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _change_json(change: SlotChange) -> dict[str, Any]:
    return {
        "at": _time(change.at),
        "from": change.before,
        "to": change.after,
        "action": change.action,
        "operator": change.operator,
        "origin": change.origin,
    }


def _rounded(value: float | None) -> float | None:
    """A mean as JSON carries it: six decimals are more than any serving metric means."""
    return None if value is None else round(value, 6)


def metrics_json(found: ModelMetrics) -> dict[str, Any]:
    """The documented JSON of `metrics` (docs/headless.md)."""
    return {
        "model": found.model,
        "environment": found.environment,
        "version": found.version,
        "slot": found.slot,
        "start": _time(found.start),
        "end": _time(found.end),
        "step_seconds": found.step.total_seconds(),
        "series": [
            {
                "name": s.name,
                "unit": s.unit,
                "latest": s.latest,
                "level": s.level,
                "points": [[_time(p.time), p.value] for p in s.points],
                "threshold": {
                    "worse": s.threshold.worse,
                    "warn": s.threshold.warn,
                    "critical": s.threshold.critical,
                },
            }
            for s in found.series
        ],
        "changes": [_change_json(c) for c in found.changes],
        "before_after": [
            {
                "series": b.series,
                "unit": b.unit,
                "before": _rounded(b.before),
                "after": _rounded(b.after),
                "change": _rounded(b.ratio),
                "worse": b.worse,
                "window_seconds": b.window.total_seconds(),
                "around": _change_json(b.change),
            }
            for b in found.before_after
        ],
        "failures": {name: error.message for name, error in found.failures.items()},
        "problems": found.problems,
    }
