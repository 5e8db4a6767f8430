"""The fleet: every configured environment at once, one row per model of interest.

Each environment is read through its own hub, all of them concurrently; an environment that fails
marks its own cells and leaves the others filled.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from mlops_tui.domain import Pipeline
from mlops_tui.errors import BackendUnreachable, MlopsError
from mlops_tui.hub import Hub
from mlops_tui.ops.registry import serving_slot, slot_for

__all__ = ["FleetRow", "Serving", "read_fleet"]


@dataclass(frozen=True)
class Serving:
    """What one environment serves of one model."""

    version: str | None = None
    """`v3`, or None when nothing holds the slot (or the environment could not be read)."""
    slot: str = ""
    """The environment's serving slot: `champion` (alias mode) or `Production` (stage mode)."""
    registered: bool = False
    """The environment's registry holds the model."""
    problem: str | None = None
    """`unreachable` or `error` when the environment could not be read."""


@dataclass(frozen=True)
class FleetRow:
    """One model across the environments."""

    model: str
    serving: Mapping[str, Serving]
    """Environment -> what it serves."""
    last_pipeline: tuple[str, Pipeline] | None = None
    """The newest pipeline of the model in any environment, and that environment."""
    firing: int | None = None
    """Firing alerts (not silenced or inhibited) about the model, summed over the environments
    that watch alerts; None: no environment watches alerts (or none could be read)."""


@dataclass(frozen=True)
class Fleet:
    """The rows, and what went wrong per environment (its error message)."""

    rows: list[FleetRow]
    problems: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Reading:
    models: list[str]
    serving: dict[str, Serving]
    pipelines: list[Pipeline]
    firing: Counter[str] | None
    """Unmuted firing alerts per model; None: the environment watches no alerts."""
    problem: MlopsError | None


async def _read(hub: Hub) -> _Reading:
    configured = list(hub.env.models)
    pipelines, firing = await asyncio.gather(_pipelines(hub), _firing(hub))
    if hub.env.mlflow is None:
        return _Reading(configured, {}, pipelines, firing, None)
    try:
        page = await hub.models()
    except MlopsError as exc:
        return _Reading(configured, {}, pipelines, firing, exc)
    serving = {
        hub.model_name(m.name): Serving(version=slot.read(m), slot=slot.name, registered=True)
        for m in page.items
        for slot in (serving_slot(hub, m),)
    }
    return _Reading(configured or list(serving), serving, pipelines, firing, None)


async def _pipelines(hub: Hub) -> list[Pipeline]:
    if not hub.pipeline_sources:
        return []
    try:
        return (await hub.pipelines(limit=50)).items
    except MlopsError:
        return []  # the pipeline column falls back on the other environments


async def _firing(hub: Hub) -> Counter[str] | None:
    if not hub.alert_sources:
        return None
    try:
        alerts = (await hub.alerts(muted=False)).items
    except MlopsError:
        return None  # the header shows the alert source down
    return Counter(model for a in alerts if (model := hub.alert_model(a)) is not None)


async def read_fleet(hubs: Mapping[str, Hub]) -> Fleet:
    """Read every environment concurrently and line their models up."""
    readings = dict(zip(hubs, await asyncio.gather(*(_read(h) for h in hubs.values())), strict=True))
    models: list[str] = []
    for reading in readings.values():
        models.extend(m for m in reading.models if m not in models)
    newest: dict[str, tuple[str, Pipeline]] = {}
    for env, reading in readings.items():
        for pipeline in reading.pipelines:
            if pipeline.model is None or pipeline.created is None:
                continue
            seen = newest.get(pipeline.model)
            if seen is None or (seen[1].created or pipeline.created) < pipeline.created:
                newest[pipeline.model] = (env, pipeline)
    watched = [r.firing for r in readings.values() if r.firing is not None]
    rows = [
        FleetRow(
            model=model,
            serving={
                env: reading.serving.get(model) or _absent(reading, hubs[env])
                for env, reading in readings.items()
            },
            last_pipeline=newest.get(model),
            firing=sum(counts[model] for counts in watched) if watched else None,
        )
        for model in models
    ]
    problems = {env: r.problem.message for env, r in readings.items() if r.problem is not None}
    return Fleet(rows, problems)


def _absent(reading: _Reading, hub: Hub) -> Serving:
    """A model the environment did not list: not registered there, or unknown (it failed)."""
    slot = slot_for(hub, None, None).name
    if reading.problem is None:
        return Serving(slot=slot)
    return Serving(
        slot=slot, problem="unreachable" if isinstance(reading.problem, BackendUnreachable) else "error"
    )
