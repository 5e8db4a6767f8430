"""Deploy markers: once a promotion, a rollback or a traffic change is made (an approved one too),
the team's dashboards are told, as a Grafana annotation and/or a Pushgateway series, per the
environment's `[markers]` table.

```
run_write -> perform (the write, journaled ok) -> Markers.post
    every destination at once, each within its timeout
    a failure: the change stays made; one journal entry `marker`, result `failed`, says which
    destination failed and why; the front end shows it (headless: the JSON's `markers` and one
    warning line on stderr; the TUI: a notification)
```
A marker never fails the change it marks, and no secret reaches a message: the destinations' words
pass through `config.redact`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from mlops_tui.config import MarkerSettings, redact
from mlops_tui.domain import Change, DeployMarker, MarkerResult, utcnow
from mlops_tui.errors import BackendError, JournalError, MlopsError
from mlops_tui.ops.journal import Journal
from mlops_tui.sources.markers import MarkerSink

__all__ = ["MARKED_ACTIONS", "Markers", "failure_text"]

MARKED_ACTIONS = frozenset({"promote", "rollback", "traffic", "traffic-rollback", "undeploy"})
"""The actions that change what serves, and so get a deploy marker."""


class Markers:
    """An environment's destinations of deploy markers, as its `[markers]` table names them."""

    def __init__(self, settings: MarkerSettings | None) -> None:
        self.settings = settings

    @property
    def destinations(self) -> tuple[str, ...]:
        """The configured destinations by name: `grafana`, `pushgateway`."""
        if self.settings is None:
            return ()
        found = (("grafana", self.settings.grafana), ("pushgateway", self.settings.pushgateway))
        return tuple(name for name, table in found if table is not None)

    def _factories(self) -> list[tuple[str, Callable[[], MarkerSink]]]:
        """How to build each destination's sink; built when posting, so that a token that cannot
        be resolved fails that marker, not the change. The clients (and httpx) are imported only
        then: a write in an environment without markers never loads them."""
        settings = self.settings
        factories: list[tuple[str, Callable[[], MarkerSink]]] = []
        if settings is not None and (grafana := settings.grafana) is not None:

            def build_grafana() -> MarkerSink:
                from mlops_tui.sources.grafana import GrafanaAnnotations

                return GrafanaAnnotations(grafana)

            factories.append(("grafana", build_grafana))
        if settings is not None and (pushgateway := settings.pushgateway) is not None:

            def build_pushgateway() -> MarkerSink:
                from mlops_tui.sources.pushgateway import Pushgateway

                return Pushgateway(pushgateway)

            factories.append(("pushgateway", build_pushgateway))
        return factories

    async def send(self, marker: DeployMarker) -> tuple[MarkerResult, ...]:
        """Post `marker` to every destination at once. Raises nothing: each result says how its
        destination took it."""
        return tuple(await asyncio.gather(*(_send(name, build, marker) for name, build in self._factories())))

    async def post(
        self,
        change: Change,
        *,
        operator: str,
        journal: Journal,
        now: Callable[[], datetime] | None = None,
    ) -> tuple[MarkerResult, ...]:
        """Mark `change`, just made by `operator`, where the environment says; record in `journal`
        the destinations that failed. Changes of other actions are not marked (no results).

        Raises nothing: the change is made whatever its markers do (a journal that cannot record a
        failure is said in the failed result).
        """
        if change.action not in MARKED_ACTIONS or not self.destinations:
            return ()
        results = await self.send(DeployMarker.of(change, operator, (now or utcnow)()))
        failed = [r for r in results if not r.ok]
        if not failed:
            return results
        try:
            journal.marker_failed(change, operator, failure_text(failed))
        except JournalError as exc:
            note = f"; not journaled: {exc.message}"
            results = tuple(
                r if r.ok else MarkerResult(r.destination, False, r.detail + note) for r in results
            )
        return results


async def _send(name: str, build: Callable[[], MarkerSink], marker: DeployMarker) -> MarkerResult:
    try:
        sink = build()
    except MlopsError as exc:
        return MarkerResult(name, False, _reason(exc))
    try:
        return MarkerResult(name, True, redact(await sink.post(marker)))
    except MlopsError as exc:
        return MarkerResult(name, False, _reason(exc))
    finally:
        await sink.aclose()


def _reason(exc: MlopsError) -> str:
    """Why a destination failed, without its name (the result carries it) nor any secret."""
    return redact(exc.reason if isinstance(exc, BackendError) else exc.message)


def failure_text(failed: list[MarkerResult]) -> str:
    """`deploy marker failed: grafana: WHY; pushgateway: WHY` (the change itself was made)."""
    return "deploy marker failed: " + "; ".join(f"{r.destination}: {r.detail}" for r in failed)
