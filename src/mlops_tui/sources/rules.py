"""Local alert rules: thresholds on the MLflow metrics of each model's serving version.

For teams with no Prometheus, and for the demo. At each refresh every rule reads, for each model it
watches, the version the environment serves (the `champion` alias, or the `Production` stage), the
run that produced it, and that run's latest value of the rule's metric; a value past the threshold
is a firing alert with the same fields an Alertmanager alert has. Silences of these alerts, and the
time each alert started firing, are kept in a small JSON file in the state directory.
"""

from __future__ import annotations

import asyncio
import json
import operator
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from msgspec.structs import replace

from mlops_tui.config import AlertRule, locations
from mlops_tui.domain import Alert, RegisteredModel, Run, Silence, label_fingerprint, utcnow
from mlops_tui.domain.matchers import Matcher, matches_all
from mlops_tui.errors import InvalidQuery, NotFound
from mlops_tui.sources.base import AlertSource, TrackingSource

__all__ = ["RulesSource", "SilenceStore"]

_COMPARE: Mapping[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_STAGES = frozenset({"Staging", "Production", "Archived"})
_KEEP_EXPIRED = timedelta(days=7)


class SilenceStore:
    """Silences kept in a JSON file, for alert sources with no silences of their own.

    The file also remembers when each alert started firing, so its age survives restarts. Writes
    replace the file atomically; a file that cannot be parsed is set aside, not lost.
    """

    def __init__(self, path: Path, source: str, clock: Callable[[], datetime] = utcnow) -> None:
        self.path = path
        self.source = source
        self.clock = clock

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"silences": [], "firing": {}}
        except (OSError, ValueError):
            self.path.replace(self.path.with_suffix(".unreadable"))
            return {"silences": [], "firing": {}}
        if not isinstance(data, dict):
            return {"silences": [], "firing": {}}
        data.setdefault("silences", [])
        data.setdefault("firing", {})
        return data

    def _save(self, data: dict[str, Any]) -> None:
        locations.write_atomic(self.path, json.dumps(data, indent=1, sort_keys=True))

    def silences(self) -> list[Silence]:
        """Every silence, newest first, expired ones of the last week included."""
        now = self.clock()
        found = [self._silence(entry, now) for entry in self._load()["silences"]]
        return sorted(found, key=lambda s: s.starts_at, reverse=True)

    def _silence(self, entry: Mapping[str, Any], now: datetime) -> Silence:
        starts, ends = datetime.fromisoformat(entry["starts_at"]), datetime.fromisoformat(entry["ends_at"])
        state = "expired" if ends <= now else "pending" if starts > now else "active"
        return Silence(
            id=entry["id"],
            matchers=tuple(Matcher.from_api(m) for m in entry["matchers"]),
            starts_at=starts,
            ends_at=ends,
            created_by=entry["created_by"],
            comment=entry["comment"],
            state=state,
            source=self.source,
        )

    def create(
        self,
        matchers: Sequence[Matcher],
        *,
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
    ) -> str:
        data = self._load()
        now = self.clock()
        data["silences"] = [
            entry
            for entry in data["silences"]
            if datetime.fromisoformat(entry["ends_at"]) > now - _KEEP_EXPIRED
        ]
        silence_id = str(uuid.uuid4())
        data["silences"].append(
            {
                "id": silence_id,
                "matchers": [m.to_api() for m in matchers],
                "starts_at": starts_at.isoformat(),
                "ends_at": ends_at.isoformat(),
                "created_by": created_by,
                "comment": comment,
            }
        )
        self._save(data)
        return silence_id

    def expire(self, silence_id: str) -> None:
        """Raises: NotFound."""
        data = self._load()
        for entry in data["silences"]:
            if entry["id"] == silence_id:
                now = self.clock()
                if datetime.fromisoformat(entry["ends_at"]) > now:
                    entry["ends_at"] = now.isoformat()
                    self._save(data)
                return
        raise NotFound(self.source, f"no silence {silence_id!r}")

    def mark(self, alerts: list[Alert]) -> list[Alert]:
        """The alerts with their firing start remembered and their active silences filled in."""
        data = self._load()
        now = self.clock()
        firing: dict[str, str] = data["firing"]
        started = {a.fingerprint: firing.get(a.fingerprint, now.isoformat()) for a in alerts}
        if started != firing:
            data["firing"] = started
            self._save(data)
        active = [s for s in (self._silence(e, now) for e in data["silences"]) if s.state == "active"]
        return [
            replace(
                alert,
                starts_at=datetime.fromisoformat(started[alert.fingerprint]),
                silenced_by=tuple(s.id for s in active if matches_all(s.matchers, alert.labels)),
            )
            for alert in alerts
        ]


class RulesSource(AlertSource):
    """The environment's `[[rules]]`, evaluated on its MLflow registry at each refresh."""

    name = "rules"

    def __init__(
        self,
        rules: Sequence[AlertRule],
        *,
        environment: str,
        models: Sequence[str],
        tracking: Callable[[], TrackingSource],
        registered_name: Callable[[str], str],
        model_name: Callable[[str], str],
        owns: Callable[[str], bool] = lambda registered: True,
        serving: str,
        store: SilenceStore,
    ) -> None:
        self.rules = list(rules)
        self.environment = environment
        self.models = list(models)
        self._tracking = tracking
        self.registered_name = registered_name
        self.model_name = model_name
        self.owns = owns
        self.serving = serving
        self.store = store

    async def list_alerts(self, matchers: Sequence[Matcher] = (), *, muted: bool = True) -> list[Alert]:
        alerts = self.store.mark(await self._evaluate())
        return [a for a in alerts if matches_all(matchers, a.labels) and (muted or a.state == "active")]

    async def _evaluate(self) -> list[Alert]:
        watched = await self._watched()
        checks = [
            (rule, name, model)
            for rule in self.rules
            for name, model in watched.items()
            if not (rule.models or self.models) or name in (rule.models or self.models)
        ]
        # Every rule on one version reads its run once a refresh, however many rules there are.
        reads: dict[tuple[str, str], asyncio.Future[Run | None]] = {}

        def run_of(registered: RegisteredModel, version: str) -> Awaitable[Run | None]:
            key = (registered.name, version)
            if key not in reads:
                reads[key] = asyncio.ensure_future(self._run_of(registered.name, version))
            return reads[key]

        results = await asyncio.gather(
            *(self._check(rule, name, model, run_of) for rule, name, model in checks)
        )
        return [alert for alert in results if alert is not None]

    async def _run_of(self, registered_name: str, version: str) -> Run | None:
        """The run that produced a version, if it has one the store still holds."""
        tracking = self._tracking()
        return await tracking.producing_run(await tracking.get_version(registered_name, version))

    async def _watched(self) -> dict[str, RegisteredModel]:
        """The models the rules watch, by model name: those named, else the first page of the registry."""
        tracking = self._tracking()
        watched: dict[str, RegisteredModel] = {}
        if not self.models and any(not rule.models for rule in self.rules):
            page = await tracking.search_models(max_results=100)
            watched.update({self.model_name(m.name): m for m in page.items if self.owns(m.name)})
        names = sorted({m for rule in self.rules for m in rule.models} | set(self.models) - watched.keys())
        found = await asyncio.gather(
            *(tracking.get_model(self.registered_name(n)) for n in names), return_exceptions=True
        )
        for name, model in zip(names, found, strict=True):
            if isinstance(model, RegisteredModel):
                watched[name] = model
            elif not isinstance(model, NotFound):
                raise model
        return watched

    async def _check(
        self,
        rule: AlertRule,
        model: str,
        registered: RegisteredModel,
        run_of: Callable[[RegisteredModel, str], Awaitable[Run | None]],
    ) -> Alert | None:
        selector = rule.version or self.serving
        version = (registered.stages() if selector in _STAGES else registered.aliases).get(selector)
        if version is None:
            return None
        run = await run_of(registered, version)
        if run is None:
            return None
        value = run.metrics.get(rule.metric)
        if value is None or not _COMPARE[rule.op](value, rule.threshold):
            return None
        fields = {
            "model": model,
            "version": version,
            "metric": rule.metric,
            "value": f"{value:.4g}",
            "threshold": f"{rule.threshold:g}",
        }
        labels = {
            **rule.labels,
            "alertname": rule.name,
            "severity": rule.severity,
            "model": model,
            "version": version,
            "environment": self.environment,
        }
        summary = rule.summary or "{metric} of {model} v{version} is {value} (threshold {threshold})"
        annotations = {
            "summary": _fill(summary, fields),
            "description": _fill(rule.description, fields),
            "runbook_url": rule.runbook_url,
            "value": fields["value"],
        }
        return Alert(
            fingerprint=label_fingerprint(labels),
            labels=labels,
            annotations={k: v for k, v in annotations.items() if v},
            source=self.name,
        )

    async def list_silences(self) -> list[Silence]:
        return self.store.silences()

    async def create_silence(
        self,
        matchers: Sequence[Matcher],
        *,
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
    ) -> str:
        _validate_silence(matchers, starts_at, ends_at, comment)
        return self.store.create(
            matchers, starts_at=starts_at, ends_at=ends_at, created_by=created_by, comment=comment
        )

    async def expire_silence(self, silence_id: str) -> None:
        self.store.expire(silence_id)


def _fill(template: str, fields: Mapping[str, str]) -> str:
    for key, value in fields.items():
        template = template.replace("{" + key + "}", value)
    return template


def _validate_silence(
    matchers: Iterable[Matcher], starts_at: datetime, ends_at: datetime, comment: str
) -> None:
    """The checks Alertmanager makes of a silence, worded as plainly."""
    matchers = list(matchers)
    if not matchers:
        raise InvalidQuery("rules", "a silence needs at least one matcher")
    if all(m.matches({}) for m in matchers):
        raise InvalidQuery("rules", "at least one matcher must not match the empty string")
    if ends_at <= starts_at:
        raise InvalidQuery("rules", "the silence must end after it starts")
    if not comment.strip():
        raise InvalidQuery("rules", "a silence needs a comment")
