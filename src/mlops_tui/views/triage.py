"""Everything on-call needs about one alert, gathered at once: the model it concerns, the version
serving beside the one before it with their metrics, the model's recent pipelines and the failing
job, and what the journal says was done lately.

Each part is read on its own: a source that fails leaves its part empty and says why in
`problems`, and the rest is still shown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from mlops_tui.domain import Alert, AuditEntry, Job, ModelVersion, Pipeline, RegisteredModel, Run
from mlops_tui.errors import MlopsError
from mlops_tui.hub import Gathered, Hub
from mlops_tui.ops.journal import Journal
from mlops_tui.ops.registry import Slot, rollback_target, serving_slot, slot_for

__all__ = ["Side", "Triage", "gather_triage"]

T = TypeVar("T")
RECENT_PIPELINES = 5
RECENT_ENTRIES = 8


@dataclass(frozen=True)
class Side:
    """One version of the comparison and the run that produced it."""

    version: ModelVersion
    run: Run | None = None


@dataclass(frozen=True)
class Triage:
    alert: Alert
    model: str | None = None
    """The model the alert concerns (by its label), as the environment names models."""
    registered: str | None = None
    slot: str = "champion"
    target: str | None = None
    """The model's serving slot as write actions name it (`churn@champion`, `demand:Production`)."""
    serving: Side | None = None
    """The version the alert names (its `version` label), else the one the slot serves."""
    previous: Side | None = None
    """The version a rollback (`b`) would bring back, exactly as rollback computes it."""
    pipelines: list[Pipeline] = field(default_factory=list)
    """Recent pipelines of the model, and the one that produced the serving version, newest first."""
    lineage: Pipeline | None = None
    """The pipeline that produced the serving version's run."""
    failing: tuple[Pipeline, Job] | None = None
    """The newest failed pipeline among those, and its first failed job."""
    journal: list[AuditEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    no_rollback: str | None = None
    """Why a rollback has nothing to return to, where it has not."""

    @property
    def key_metrics(self) -> list[str]:
        """The metrics of both runs, in a stable order."""
        keys = {k for side in (self.serving, self.previous) if side and side.run for k in side.run.metrics}
        return sorted(keys)


async def gather_triage(hub: Hub, journal: Journal, alert: Alert) -> Triage:
    """Read what triage shows about `alert`, concurrently, part by part."""
    parts = _Parts()
    part, problems = parts.read, parts.problems
    model = hub.alert_model(alert)
    if model is None:
        return Triage(alert, problems=[f"{alert.name} names no model (no model label)"])
    registered = hub.registered_name(model)
    slot = slot_for(hub, None, None)
    found = await part("registry", lambda: hub.model(registered), None)
    if found is None:
        entries = journal.entries(environment=hub.env_name, subject=model, limit=RECENT_ENTRIES)
        return Triage(alert, model, registered, slot.name, journal=entries, problems=problems)
    registered_model, versions = found
    slot = serving_slot(hub, registered_model)  # a model kept in stages serves its Production one
    by_number = {v.version: v for v in versions}
    serving = by_number.get(alert.labels.get("version", "")) or _in_slot(slot, registered_model, by_number)
    journal.note_external(hub.env_name, slot.target(registered), model, slot.read(registered_model))
    entries = journal.entries(environment=hub.env_name, subject=model, limit=RECENT_ENTRIES)
    back = rollback_target(registered_model, slot, journal, hub.env_name)
    previous = by_number.get(back.version.removeprefix("v")) if back.version else None
    runs = await asyncio.gather(
        *(
            part("run", partial(hub.tracking.get_run, v.run_id), None) if v and v.run_id else _none()
            for v in (serving, previous)
        )
    )
    serving_side = Side(serving, runs[0]) if serving else None
    previous_side = Side(previous, runs[1]) if previous else None
    pipelines, lineage = await _pipelines(hub, model, runs[0], parts)
    failing = await _failing(hub, pipelines, parts)
    return Triage(
        alert,
        model,
        registered,
        slot.name,
        slot.target(registered),
        serving_side,
        previous_side,
        pipelines,
        lineage,
        failing,
        entries,
        problems,
        None if previous else back.reason,
    )


class _Parts:
    """Reads each part on its own: a failure is noted and the part left empty."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    async def read(self, what: str, call: Callable[[], Awaitable[T]], default: T) -> T:
        # A callable, not a coroutine: a triage closed before a part starts leaves nothing unawaited.
        try:
            return await call()
        except MlopsError as exc:
            self.problems.append(f"{what}: {exc.message}")
            return default


async def _none() -> None:
    return None


def _in_slot(slot: Slot, model: RegisteredModel, by_number: dict[str, ModelVersion]) -> ModelVersion | None:
    serving = slot.read(model)
    return by_number.get(serving.removeprefix("v")) if serving else None


async def _pipelines(
    hub: Hub, model: str, run: Run | None, parts: _Parts
) -> tuple[list[Pipeline], Pipeline | None]:
    part = parts.read
    if not hub.pipeline_sources:
        return [], None
    answer = await part("pipelines", lambda: hub.pipelines(limit=50), Gathered[Pipeline]([]))
    parts.problems.extend(f"pipelines: {f.message}" for f in answer.failures.values())
    recent = answer.items
    mine = [p for p in recent if p.model == model][:RECENT_PIPELINES]
    lineage = None
    if run is not None and (made_by := hub.lineage_of(run)):
        known = {(p.source, p.id): p for p in recent}
        lineage = known.get(made_by)
        if lineage is None:
            found = await part("pipeline", partial(hub.pipeline, ":".join(made_by)), None)
            lineage = found[0] if found else None
    if lineage is not None and lineage.qualified_id not in {p.qualified_id for p in mine}:
        mine.append(lineage)
    return sorted(mine, key=lambda p: p.created.timestamp() if p.created else 0, reverse=True), lineage


async def _failing(hub: Hub, pipelines: list[Pipeline], parts: _Parts) -> tuple[Pipeline, Job] | None:
    part = parts.read
    failed = next((p for p in pipelines if p.status == "failed"), None)
    if failed is None:
        return None
    found = await part("jobs", partial(hub.pipeline, failed.qualified_id), None)
    if not found:
        return None
    pipeline, jobs = found
    job = next((j for j in jobs if j.status == "failed"), None)
    return (pipeline, job) if job else None
