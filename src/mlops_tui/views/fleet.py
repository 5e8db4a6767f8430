"""The fleet: every configured environment at once, one row per model of interest.

Each environment is read through its own hub, all of them concurrently; an environment that fails
marks its own cells and leaves the others filled.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from mlops_tui.domain import Pipeline, Series
from mlops_tui.errors import BackendUnreachable, MlopsError
from mlops_tui.hub import Hub
from mlops_tui.ops.registry import serving_slot, slot_for
from mlops_tui.sources.registry import Role
from mlops_tui.views.metrics import headlines

__all__ = ["FleetRow", "ServedVersion", "read_fleet"]


@dataclass(frozen=True)
class ServedVersion:
    """What one environment serves of one model."""

    version: str | None = None
    """`v3`, or None when nothing holds the slot (or the environment could not be read)."""
    slot: str = ""
    """The environment's serving slot: `champion` (alias mode) or `Production` (stage mode)."""
    registered: bool = False
    """The environment's registry holds the model."""
    problem: str | None = None
    """`unreachable` or `error` when the environment could not be read."""
    headline: Series | None = None
    """The headline serving series of the model there (`metrics.headline`), where the environment
    has a metrics source that answered for it."""


@dataclass(frozen=True)
class FleetRow:
    """One model across the environments."""

    model: str
    serving: Mapping[str, ServedVersion]
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
    serving: dict[str, ServedVersion]
    pipelines: list[Pipeline]
    firing: Counter[str] | None
    """Unmuted firing alerts per model; None: the environment watches no alerts."""
    problem: MlopsError | None


async def _read(hub: Hub, with_headlines: bool) -> _Reading:
    configured = list(hub.env.models)
    pipelines, firing = await asyncio.gather(_pipelines(hub), _firing(hub))
    if hub.env.mlflow is None:
        return _Reading(configured, {}, pipelines, firing, None)
    try:
        page = await hub.models()
    except MlopsError as exc:
        return _Reading(configured, {}, pipelines, firing, exc)
    serving = {
        hub.model_name(m.name): ServedVersion(version=slot.read(m), slot=slot.name, registered=True)
        for m in page.items
        for slot in (serving_slot(hub, m),)
    }
    if with_headlines and hub.backends_for(Role.METRICS):
        serving = await _with_headlines(hub, serving)
    return _Reading(configured or list(serving), serving, pipelines, firing, None)


async def _with_headlines(hub: Hub, serving: dict[str, ServedVersion]) -> dict[str, ServedVersion]:
    """Each served model's headline series beside it; a metrics source that fails leaves them out
    (the header shows its status)."""
    served = {m: s.version.removeprefix("v") for m, s in serving.items() if s.version is not None}
    try:
        found = await headlines(hub, served, now=hub.clock())
    except MlopsError:
        return serving
    return {
        model: replace(s, headline=h) if isinstance(h := found.get(model), Series) else s
        for model, s in serving.items()
    }


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


async def read_fleet(hubs: Mapping[str, Hub], *, with_headlines: bool = True) -> Fleet:
    """Read every environment concurrently and line their models up; with each served model's
    headline serving series where an environment has a metrics source (unless `with_headlines`
    is false: they are read at the metrics source's own pace)."""
    readings = dict(
        zip(hubs, await asyncio.gather(*(_read(h, with_headlines) for h in hubs.values())), strict=True)
    )
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


def _absent(reading: _Reading, hub: Hub) -> ServedVersion:
    """A model the environment did not list: not registered there, or unknown (it failed)."""
    slot = slot_for(hub, None, None).name
    if reading.problem is None:
        return ServedVersion(slot=slot)
    return ServedVersion(
        slot=slot, problem="unreachable" if isinstance(reading.problem, BackendUnreachable) else "error"
    )
