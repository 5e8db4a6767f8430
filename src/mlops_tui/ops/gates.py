"""Promotion gates and the metrics a promotion plan shows.

A promotion's plan carries the version's key metrics beside the slot's current holder's (always,
with a warning on each regression) and, where the environment has `[gates]`, one check per gate:
required tags, metric comparisons, the environment it must have been promoted in first, and no
critical alert firing on the model. The write flow refuses a plan with a failed check unless the
operator overrides the gates with a reason, which the journal records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from msgspec.structs import replace

from mlops_tui.config import GateSettings, MetricGate, parse_metric_gate
from mlops_tui.domain import Alert, Change, GateCheck, MetricComparison, ModelVersion
from mlops_tui.errors import GatesFailed, MlopsError

__all__ = [
    "alert_check",
    "check_error",
    "compare_metrics",
    "metric_checks",
    "overridden",
    "plan_notes",
    "refusal",
    "tag_checks",
]

LOWER_IS_BETTER = ("loss", "error", "rmse", "mae", "mse", "mape", "latency", "drift", "psi")
"""Parts of metric names that are better lower; any other metric is better higher (unless a
gate's comparison says otherwise)."""


def tag_checks(gates: GateSettings, version: ModelVersion) -> list[GateCheck]:
    """One check per required tag of the version."""
    checks = []
    for key, wanted in gates.required_tags.items():
        found = version.tags.get(key)
        seen = "missing" if found is None else f"is {found}"
        checks.append(GateCheck("required_tags", found == wanted, f"tag {key} = {wanted} ({seen})"))
    return checks


def metric_checks(
    gates: GateSettings, value: Mapping[str, float], current: Mapping[str, float], holder: str | None
) -> list[GateCheck]:
    """One check per `metrics` comparison of the version's run metrics (`value`) with the current
    holder's (`current`); a metric the version's run did not log fails."""
    checks = []
    for gate in map(parse_metric_gate, gates.metrics):
        mine, theirs = value.get(gate.metric), current.get(gate.metric)
        if mine is None:
            checks.append(GateCheck("metrics", False, f"{gate}: the version's run logged no {gate.metric}"))
            continue
        if gate.relative and theirs is None:
            found = f"{mine:g}; no current value to compare" if holder else f"{mine:g}; the slot is empty"
        elif gate.relative:
            found = f"{mine:g} against {holder}'s {theirs:g}"
        else:
            found = f"{mine:g}"
        checks.append(GateCheck("metrics", gate.holds(mine, theirs), f"{gate} ({found})"))
    return checks


def compare_metrics(
    names: Sequence[str], value: Mapping[str, float], current: Mapping[str, float], gates: GateSettings | None
) -> tuple[MetricComparison, ...]:
    """The version's `names` metrics beside the current holder's, each marked when it regresses."""
    directions = {g.metric: g.op.startswith("<") for g in _metric_gates(gates)}
    comparisons = []
    for name in names:
        mine, theirs = value.get(name), current.get(name)
        lower_better = directions.get(name, any(part in name.lower() for part in LOWER_IS_BETTER))
        regressed = (
            mine is not None and theirs is not None and (mine > theirs if lower_better else mine < theirs)
        )
        comparisons.append(MetricComparison(name, mine, theirs, regressed))
    return tuple(comparisons)


def _metric_gates(gates: GateSettings | None) -> list[MetricGate]:
    return [parse_metric_gate(text) for text in gates.metrics] if gates else []


def alert_check(alerts: Sequence[Alert], model_of: Mapping[str, str | None], model: str) -> GateCheck:
    """No firing, unsilenced critical alert names `model` (`model_of`: each alert's model by
    fingerprint, as the environment names models)."""
    firing = sorted(
        {
            a.name or a.fingerprint
            for a in alerts
            if a.severity == "critical" and model_of.get(a.fingerprint) == model
        }
    )
    detail = (
        f"critical alerts firing on {model}: {', '.join(firing)}"
        if firing
        else f"no critical alert on {model}"
    )
    return GateCheck("no_critical_alerts", not firing, detail)


def refusal(change: Change) -> GatesFailed:
    """The refusal of `change` for its failed checks, all on one line."""
    failed = "; ".join(c.detail for c in change.failed_checks)
    return GatesFailed(
        f"promotion gates of {change.environment} failed: {failed}. Nothing changed "
        "(--override-gates --reason TEXT to go through, journaled)"
    )


def overridden(change: Change, reason: str, operator: str) -> Change:
    """`change` noting, for the journal, that `operator` overrode its failed gates and why."""
    failed = "; ".join(c.detail for c in change.failed_checks)
    return replace(
        change, details=(*change.details, f"gates overridden by {operator}: {reason} (failed: {failed})")
    )


def check_error(gate: str, exc: MlopsError) -> GateCheck:
    """A gate that could not be evaluated fails, saying why."""
    return GateCheck(gate, False, f"{gate}: could not check: {exc.message}")


NoteKind = Literal["metric", "warning", "passed", "failed"]


def plan_notes(change: Change) -> list[tuple[NoteKind, str]]:
    """What a plan says beyond its summary, as both front ends show it: each key metric beside
    the current holder's, each regression, each gate's verdict."""
    notes: list[tuple[NoteKind, str]] = []
    for m in change.metrics:
        value = "(not logged)" if m.value is None else f"{m.value:g}"
        beside = f" ({change.before}: {'(not logged)' if m.current is None else f'{m.current:g}'})"
        notes.append(("metric", f"{m.metric} {value}{beside if change.before else ''}"))
    notes += [("warning", w) for w in change.warnings]
    notes += [("passed" if c.passed else "failed", c.detail) for c in change.checks]
    return notes
