"""One environment's health at a glance, for `mlops-tui status` in cron and CI.

Healthy (exit 0): every configured source answers, no critical alert fires, no pipeline failed in
the last 24 hours. Degraded (exit 1): a critical alert is firing, a pipeline failed, or a source
answers with errors. Unreachable (exit 3): a source cannot be reached at all.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from mlops_tui.domain import Pipeline, SourceState, SourceStatus
from mlops_tui.errors import ExitCode, MlopsError
from mlops_tui.hub import Hub
from mlops_tui.ops.registry import serving_slot, slot_for
from mlops_tui.sources.registry import Role
from mlops_tui.views.metrics import SeriesBreach, breaches

__all__ = [
    "STATE_NAMES",
    "EnvironmentHealth",
    "check_health",
    "overall_code",
    "source_state_word",
]

STATE_NAMES = {ExitCode.OK: "healthy", ExitCode.FAILED: "degraded", ExitCode.UNREACHABLE: "unreachable"}
FAILED_WITHIN = timedelta(hours=24)
"""How far back a failed pipeline makes an environment degraded."""


def source_state_word(state: SourceState) -> str:
    """A source's state as a person reads it: a source that does not answer is `unreachable`."""
    return "unreachable" if state == SourceState.DOWN else state.value


@dataclass(frozen=True)
class EnvironmentHealth:
    environment: str
    sources: Sequence[SourceStatus]
    firing: dict[str, int] = field(default_factory=dict)
    """Active (not silenced or inhibited) alerts by severity."""
    muted: int = 0
    """Silenced or inhibited alerts."""
    failed_pipelines: Sequence[Pipeline] = ()
    """Pipelines that failed in the last 24 hours."""
    champions: dict[str, str | None] = field(default_factory=dict)
    """Model -> its serving version (`v3`), None where nothing serves."""
    slot: str = "champion"
    breaches: Sequence[SeriesBreach] = ()
    """Serving series past a threshold (`warn` or `critical`) now; a critical one degrades."""

    @property
    def problems(self) -> list[str]:
        """Why the environment is not healthy, one line each; empty when it is."""
        found = [
            f"{s.name} {source_state_word(s.state)}: {s.last_error}"
            for s in self.sources
            if s.state in (SourceState.DOWN, SourceState.DEGRADED)
        ]
        if critical := self.firing.get("critical"):
            found.append(f"{critical} critical alert(s) firing")
        found.extend(
            f"{p.source} pipeline {p.id} failed ({p.ref or 'no ref'})" for p in self.failed_pipelines
        )
        found.extend(
            f"{b.model} {b.series} {b.value:g}{' ' + b.unit if b.unit else ''} is past its critical "
            f"threshold {b.bound:g}"
            for b in self.breaches
            if b.level == "critical"
        )
        return found

    @property
    def exit_code(self) -> ExitCode:
        if any(s.state == SourceState.DOWN for s in self.sources):
            return ExitCode.UNREACHABLE
        return ExitCode.FAILED if self.problems else ExitCode.OK

    @property
    def state(self) -> str:
        return STATE_NAMES[self.exit_code]


def overall_code(reports: Sequence[EnvironmentHealth]) -> ExitCode:
    """The worst of several environments: unreachable over degraded over healthy."""
    codes = {r.exit_code for r in reports}
    for code in (ExitCode.UNREACHABLE, ExitCode.FAILED):
        if code in codes:
            return code
    return ExitCode.OK


async def check_health(hub: Hub) -> EnvironmentHealth:
    """Ask every configured source at once; a failing one is recorded in its status, not raised."""
    slot = slot_for(hub, None, None)
    champions: dict[str, str | None] = {}
    firing: Counter[str] = Counter()
    muted = 0
    failed: list[Pipeline] = []
    breached: list[SeriesBreach] = []

    async def read_champions() -> None:
        page = await hub.models()
        for model in page.items:
            champions[hub.model_name(model.name)] = serving_slot(hub, model).read(model)

    async def read_series() -> None:
        if "mlflow" in configured:
            # A registry that does not answer is its source's status; the environment's models of
            # interest stand in for those it would have said serve.
            with contextlib.suppress(MlopsError):
                await read_champions()
        models = [m for m, v in champions.items() if v] or list(hub.env.models)
        breached.extend(await breaches(hub, models))

    async def read_alerts() -> None:
        nonlocal muted
        for alert in (await hub.alerts()).items:
            if alert.state == "active":
                firing[alert.severity] += 1
            else:
                muted += 1

    async def read_pipelines() -> None:
        since = hub.clock() - FAILED_WITHIN
        for pipeline in (await hub.pipelines(status="failed", limit=50)).items:
            if (pipeline.finished or pipeline.created or since) >= since:
                failed.append(pipeline)

    # Which sources there are comes from the config, not from building them: building one may
    # fail (a token variable not set), and that is the source's status, not the command's end.
    configured = set(hub.statuses)
    reads: list[Callable[[], Awaitable[None]]] = []
    if hub.backends_for(Role.METRICS):
        reads.append(read_series)  # the serving versions first: which models serve
    elif "mlflow" in configured:
        reads.append(read_champions)
    if configured & {"alertmanager", "rules", "vertex"}:
        reads.append(read_alerts)
    if configured & {"gitlab", "local", "vertex"}:
        reads.append(read_pipelines)
    for outcome in await asyncio.gather(*(read() for read in reads), return_exceptions=True):
        # The hub recorded the failure in the source's status; anything else is a bug to surface.
        if isinstance(outcome, BaseException) and not isinstance(outcome, MlopsError):
            raise outcome
    return EnvironmentHealth(
        environment=hub.env_name,
        sources=hub.status_list(),
        firing=dict(firing),
        muted=muted,
        failed_pipelines=failed,
        champions=champions,
        slot=slot.name,
        breaches=breached,
    )
