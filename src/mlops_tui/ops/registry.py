"""Registry write actions: promote within an environment, promote across environments, roll back.

Alias mode moves an alias (`champion`, `challenger`, ...); stage mode moves a version to a legacy
stage. MLflow keeps no history of where an alias pointed, so every move also appends the version it
replaced to a tag on the registered model (`mlops_tui.history.alias.champion`: a JSON list). Rollback
reads that tag first, so it sees teammates' promotions too, and falls back to the audit journal.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from msgspec.structs import replace

from mlops_tui.config import EnvironmentSettings, Settings
from mlops_tui.config.naming import ModelNames
from mlops_tui.domain import (
    Alert,
    Change,
    GateCheck,
    MetricComparison,
    ModelVersion,
    PlanArguments,
    RegisteredModel,
    Run,
)
from mlops_tui.errors import MlopsError, NotFound, Refused, UsageError
from mlops_tui.ops.gates import (
    alert_check,
    check_error,
    compare_metrics,
    metric_checks,
    tag_checks,
)
from mlops_tui.ops.journal import Journal, state_to_roll_back_to
from mlops_tui.ops.lease import RegistryLease
from mlops_tui.ops.policy import WriteAction
from mlops_tui.sources.base import TrackingSource
from mlops_tui.text.rfc3339 import format_rfc3339

__all__ = [
    "rollback_target",
    "SlotMove",
    "Slot",
    "plan_cross_env_promotion",
    "plan_promotion",
    "plan_rollback",
    "recover_interrupted",
    "serving_slot",
    "slot_for",
    "HISTORY_LIMIT",
    "Scope",
]


class Scope(Protocol):
    """One environment as the actions need it (the hub is one)."""

    env_name: str
    env: EnvironmentSettings
    settings: Settings

    @property
    def tracking(self) -> TrackingSource: ...

    def clock(self) -> datetime: ...

    def registered_name(self, model: str) -> str: ...

    def model_name(self, registered: str) -> str: ...

    def key_metrics(self, runs: Sequence[Run]) -> tuple[str, ...]: ...

    def sibling(self, env_name: str) -> Scope:
        """Another environment of the same settings (close it with `aclose`)."""
        ...

    async def unmuted_alerts(self) -> list[Alert]: ...

    def alert_model(self, alert: Alert) -> str | None: ...

    async def aclose(self) -> None: ...


HISTORY_LIMIT = 20
LINEAGE_TAG = "mlops_tui.source"


@dataclass(frozen=True)
class Slot:
    """Where a registered model says its serving version is: an alias, or a legacy stage."""

    kind: Literal["alias", "stage"]
    name: str

    def target(self, model: str) -> str:
        return f"{model}@{self.name}" if self.kind == "alias" else f"{model}:{self.name}"

    @classmethod
    def parse_target(cls, target: str) -> tuple[str, Slot] | None:
        for separator, kind in (("@", "alias"), (":", "stage")):
            if separator in target:
                model, name = target.rsplit(separator, 1)
                return model, cls(kind, name)  # type: ignore[arg-type]
        return None

    def read(self, model: RegisteredModel) -> str | None:
        version = model.aliases.get(self.name) if self.kind == "alias" else model.stages().get(self.name)
        return f"v{version}" if version else None

    @property
    def history_tag(self) -> str:
        return f"mlops_tui.history.{self.kind}.{self.name}"

    def history(self, model: RegisteredModel) -> list[dict[str, str]]:
        try:
            entries = json.loads(model.tags.get(self.history_tag, "[]"))
        except ValueError:
            return []
        return [e for e in entries if isinstance(e, dict) and "version" in e]


def slot_for(hub: Scope, alias: str | None, stage: str | None) -> Slot:
    """The slot a command names, or the environment's default (`champion` or `Production`)."""
    if alias and stage:
        raise UsageError("give --alias or --stage, not both")
    if alias:
        return Slot("alias", alias)
    if stage:
        return Slot("stage", _stage(stage))
    mode = hub.env.mlflow.promotion if hub.env.mlflow else "alias"
    return Slot("alias", "champion") if mode == "alias" else Slot("stage", "Production")


def serving_slot(hub: Scope, model: RegisteredModel) -> Slot:
    """The slot that says which version of `model` serves: the environment's default, but for a
    model still kept in stages (a version in a stage, no alias at all) in an alias-mode
    environment, whose serving version is its Production stage."""
    slot = slot_for(hub, None, None)
    if slot.kind == "alias" and not model.aliases and model.stages():
        return Slot("stage", "Production")
    return slot


def _stage(text: str) -> str:
    stages = {s.lower(): s for s in ("Staging", "Production", "Archived", "None")}
    try:
        return stages[text.lower()]
    except KeyError:
        raise UsageError(f"unknown stage {text!r}; one of {', '.join(stages.values())}") from None


def _number(version: str) -> str:
    return version.removeprefix("v")


class SlotMove(WriteAction):
    """Point a slot of one registered model at a version, keeping the shared history tag."""

    def __init__(
        self,
        source: TrackingSource,
        change: Change,
        *,
        model: str,
        slot: Slot,
        version: str,
        operator: str,
        clock: Callable[[], datetime],
        archive_existing: bool = False,
        lease_seconds: float = 30.0,
    ) -> None:
        self.source = source
        self.change = change
        self.model = model
        self.slot = slot
        self.version = version
        self.operator = operator
        self.clock = clock
        self.archive_existing = archive_existing
        self.lease_seconds = lease_seconds

    async def changed_by(self, state: str) -> str | None:
        try:
            tags = (await self.source.get_version(self.model, _number(state))).tags
        except MlopsError:
            return None
        by, at = tags.get("mlops_tui.promoted_by"), tags.get("mlops_tui.promoted_at")
        into_this_slot = tags.get("mlops_tui.promoted_to", "").endswith(
            f" to {self.slot.name} in {self.change.environment}"
        )
        return f"{by} at {at}" if by and at and into_this_slot else None

    def lease(self, operator: str) -> RegistryLease:
        return RegistryLease(
            self.source,
            self.change.target,
            holder=operator,
            lease_seconds=self.lease_seconds,
            clock=self.clock,
        )

    async def current(self) -> str | None:
        return self.slot.read(await self.source.get_model(self.model))

    async def apply(self) -> None:
        # The write's time, not the plan's: a dialog may sit open a while.
        at = format_rfc3339(self.clock(), "seconds")
        model = await self.source.get_model(self.model)
        if self.slot.kind == "alias":
            await self.source.set_alias(self.model, self.slot.name, self.version)
        else:
            await self.source.transition_stage(
                self.model, self.version, self.slot.name, archive_existing=self.archive_existing
            )
        history = self.slot.history(model)
        if self.change.action == "rollback":
            history = history[:-1]
        elif self.change.before:
            history.append({"version": _number(self.change.before), "by": self.operator, "at": at})
        await self.source.set_model_tag(
            self.model, self.slot.history_tag, json.dumps(history[-HISTORY_LIMIT:])
        )
        stamp = f"{self.change.action} to {self.slot.name} in {self.change.environment}"
        for key, value in (
            ("mlops_tui.promoted_by", self.operator),
            ("mlops_tui.promoted_at", at),
            ("mlops_tui.promoted_to", stamp),
        ):
            await self.source.set_version_tag(self.model, self.version, key, value)


def _lease_seconds(hub: Scope) -> float:
    return hub.env.mlflow.lock_lease_seconds if hub.env.mlflow else 30.0


async def plan_promotion(
    hub: Scope,
    name: str,
    version: str,
    *,
    alias: str | None = None,
    stage: str | None = None,
    archive_existing: bool = False,
    operator: str,
) -> SlotMove:
    """Decide to point `name`'s alias (or stage) at `version` in the hub's environment.

    Raises:
        NotFound: no such model or version.
        UsageError: both or a bad stage given.
    """
    slot = slot_for(hub, alias, stage)
    number = _number(version)
    registered = hub.registered_name(name)
    name = hub.model_name(registered)
    candidate = await hub.tracking.get_version(registered, number)
    model = await hub.tracking.get_model(registered)
    held = slot.read(model)
    if slot.kind == "stage" and held and not archive_existing and int(_number(held)) > int(number):
        raise UsageError(
            f"{held} is in {slot.name} and is newer than v{number}; pass --archive-existing to "
            f"replace it (a stage shows its newest version)"
        )
    details = ("archive the versions already in the stage",) if archive_existing else ()
    holder = await hub.tracking.get_version(registered, _number(held)) if held else None
    metrics, checks = await _promotion_checks(hub, name, slot, candidate, held=held, holder=holder)
    change = Change(
        action="promote",
        environment=hub.env_name,
        target=slot.target(registered),
        subject=name,
        before=held,
        after=f"v{number}",
        details=details,
        checks=checks,
        metrics=metrics,
    )
    move = SlotMove(
        hub.tracking,
        change,
        model=registered,
        slot=slot,
        version=number,
        operator=operator,
        clock=hub.clock,
        archive_existing=archive_existing,
        lease_seconds=_lease_seconds(hub),
    )
    move.arguments = PlanArguments(
        "promote", name, number, alias=alias, stage=stage, archive_existing=archive_existing
    )
    return move


async def _promotion_checks(
    hub: Scope,
    name: str,
    slot: Slot,
    candidate: ModelVersion,
    *,
    held: str | None,
    holder: ModelVersion | None,
    candidate_from: Scope | None = None,
) -> tuple[tuple[MetricComparison, ...], tuple[GateCheck, ...]]:
    """The candidate's key metrics beside the current holder's, and `hub`'s gates.

    `candidate_from`: the environment the candidate is copied from (else it is `hub`'s own)."""
    origin = candidate_from or hub
    gates = hub.env.gates
    run = await origin.tracking.producing_run(candidate)
    holder_run = await hub.tracking.producing_run(holder) if holder else None
    value = dict(run.metrics) if run else {}
    current = dict(holder_run.metrics) if holder_run else {}
    names = hub.key_metrics([r for r in (run, holder_run) if r is not None])
    metrics = compare_metrics(names, value, current, gates)
    if gates is None:
        return metrics, ()
    checks = [*tag_checks(gates, candidate), *metric_checks(gates, value, current, held)]
    if gates.promoted_in is not None:
        checks.append(await _promoted_in(hub, gates.promoted_in, name, slot, candidate, origin))
    if gates.no_critical_alerts:
        try:
            alerts = await hub.unmuted_alerts()
        except MlopsError as exc:
            checks.append(check_error("no_critical_alerts", exc))
        else:
            checks.append(alert_check(alerts, {a.fingerprint: hub.alert_model(a) for a in alerts}, name))
    return metrics, tuple(checks)


async def _promoted_in(
    hub: Scope, env_name: str, name: str, slot: Slot, candidate: ModelVersion, origin: Scope
) -> GateCheck:
    """Whether `candidate` (a version of `origin`'s registered model) holds, or held per the slot's
    history, `slot` in `env_name`: as that environment's own version (both share the registered
    model), as the version it was copied from (its lineage tag), or as a copy of it."""
    other = hub.sibling(env_name)
    try:
        registered = other.registered_name(name)
        where = f"{slot.target(registered)} in {env_name}"
        try:
            model = await other.tracking.get_model(registered)
        except NotFound:
            return GateCheck(
                "promoted_in", False, f"v{candidate.version} never held {where} (no {registered} there)"
            )
        except MlopsError as exc:
            return check_error("promoted_in", exc)
        try:
            held = {_number(v) for v in (slot.read(model),) if v} | {
                e["version"] for e in slot.history(model)
            }
            lineages = {v: await _lineage(other, registered, v) for v in sorted(held)}
        except MlopsError as exc:
            return check_error("promoted_in", exc)
        same = origin.env_name == env_name or (_same_server(origin, other) and registered == candidate.name)
        copied_from = candidate.tags.get(LINEAGE_TAG, "").rpartition("/")
        homes = {
            e for e in origin.settings.environments if _holds_same_model(origin, e, name, candidate.name)
        }
        for version, lineage in lineages.items():
            source_env, source_version = lineage.partition("/")[0], lineage.rpartition("/")[2]
            if (
                (same and version == candidate.version)
                or (copied_from[0] == f"{env_name}/{name}" and copied_from[2] == version)
                or (source_env in homes and source_version == candidate.version and lineage)
            ):
                return GateCheck("promoted_in", True, f"v{version} held {where}")
        return GateCheck("promoted_in", False, f"v{candidate.version} never held {where}")
    finally:
        await other.aclose()


async def _lineage(scope: Scope, registered: str, version: str) -> str:
    """`ENV/MODEL/VERSION` a version was copied from, or empty."""
    try:
        return (await scope.tracking.get_version(registered, version)).tags.get(LINEAGE_TAG, "")
    except NotFound:
        return ""


def _holds_same_model(origin: Scope, env_name: str, name: str, registered: str) -> bool:
    """Whether `env_name` keeps `name` in the registered model `registered` of `origin`'s server."""
    env = origin.settings.environments[env_name]
    if env_name == origin.env_name:
        return True
    if (
        env.mlflow is None
        or origin.env.mlflow is None
        or env.mlflow.tracking_uri != origin.env.mlflow.tracking_uri
    ):
        return False
    return ModelNames.of(origin.settings, env).registered(name) == registered


@dataclass(frozen=True)
class RollbackTarget:
    """What a rollback of one slot returns to, and from which history."""

    version: str | None
    """`v2`; None: nothing to roll back to."""
    source: str
    """`shared journal`, `registry tag` or `audit journal`."""

    @property
    def reason(self) -> str:
        """Why there is nothing to roll back to (when `version` is None)."""
        return f"no history in the {self.source}: nothing to roll back to"


def rollback_target(model: RegisteredModel, slot: Slot, journal: Journal, environment: str) -> RollbackTarget:
    """The one answer to "what does a rollback of `slot` return to", whoever asks (rollback,
    triage): the shared journal when there is one, else the registry's history tag (present is
    authoritative, even empty), else this operator's journal. Never the state the slot holds now,
    so a rollback never moves forward."""
    current = slot.read(model)
    target = slot.target(model.name)
    if journal.shared:
        version, source = _previous_from_journal(journal, environment, target), "shared journal"
    elif slot.history_tag in model.tags:
        history = slot.history(model)
        version, source = (f"v{history[-1]['version']}" if history else None), "registry tag"
    else:
        version, source = _previous_from_journal(journal, environment, target), "audit journal"
    return RollbackTarget(None if version == current else version, source)


async def plan_rollback(
    hub: Scope,
    journal: Journal,
    name: str,
    *,
    alias: str | None = None,
    stage: str | None = None,
    operator: str,
) -> SlotMove:
    """Decide to move a slot back to the version it held before its last change.

    Raises:
        Refused: no history to return to; nothing changed.
    """
    slot = slot_for(hub, alias, stage)
    registered = hub.registered_name(name)
    name = hub.model_name(registered)
    model = await hub.tracking.get_model(registered)
    current = slot.read(model)
    target = slot.target(registered)
    journal.note_external(hub.env_name, target, name, current)
    previous = rollback_target(model, slot, journal, hub.env_name)
    if previous.version is None:
        raise Refused(
            f"no history for {target} in {hub.env_name} (none in the {previous.source}): nothing to "
            "roll back to, nothing changed (history is kept from the first promotion made with mlops-tui)"
        )
    change = Change(
        action="rollback",
        environment=hub.env_name,
        target=target,
        subject=name,
        before=current,
        after=previous.version,
        details=(f"source of history: {previous.source}",),
    )
    move = SlotMove(
        hub.tracking,
        change,
        model=registered,
        slot=slot,
        version=_number(previous.version),
        operator=operator,
        clock=hub.clock,
        archive_existing=slot.kind == "stage",
        lease_seconds=_lease_seconds(hub),
    )
    move.arguments = PlanArguments("rollback", name, alias=alias, stage=stage)
    return move


def _previous_from_journal(journal: Journal, env: str, target: str) -> str | None:
    """Replay the journal's completed moves of `target` as the history tag would hold them."""
    entries = reversed(journal.entries(environment=env, target=target, limit=-1))
    return state_to_roll_back_to(entries, rollback="rollback")


class CrossEnvironmentPromotion(WriteAction):
    """Copy a version into another environment's registered model and point an alias at it."""

    def __init__(
        self,
        source_hub: Scope,
        target_hub: Scope,
        change: Change,
        *,
        model: str,
        version: str,
        alias: str,
        operator: str,
    ) -> None:
        self.source_hub = source_hub
        self.target_hub = target_hub
        self.change = change
        self.model = model
        self.version = version
        self.alias = alias
        self.operator = operator
        self.source_model = source_hub.registered_name(model)
        self.target_model = target_hub.registered_name(model)
        self.lineage = f"{source_hub.env_name}/{model}/{version}"
        self.created: str | None = None

    def lease(self, operator: str) -> RegistryLease:
        return RegistryLease(
            self.target_hub.tracking,
            self.change.target,
            holder=operator,
            lease_seconds=_lease_seconds(self.target_hub),
            clock=self.target_hub.clock,
        )

    async def current(self) -> str | None:
        try:
            model = await self.target_hub.tracking.get_model(self.target_model)
        except NotFound:
            return None
        return Slot("alias", self.alias).read(model)

    async def apply(self) -> None:
        source, target = self.source_hub.tracking, self.target_hub.tracking
        version = await source.get_version(self.source_model, self.version)
        model = await source.get_model(self.source_model)
        if _same_server(self.source_hub, self.target_hub):
            uri, run_id = f"models:/{self.source_model}/{self.version}", version.run_id
        else:
            uri, run_id = await source.download_uri(self.source_model, self.version), None
            self._check_readable(uri)
        await target.ensure_model(self.target_model, description=model.description)
        tags = {
            **version.tags,
            LINEAGE_TAG: self.lineage,
            "mlops_tui.source_run_id": version.run_id or "",
            "mlops_tui.source_uri": version.source or uri,
        }
        created = await target.create_version(
            self.target_model, uri, run_id=run_id, tags=tags, description=version.description
        )
        self.created = created.version
        self.change = replace(self.change, after=f"v{created.version}")
        move = SlotMove(
            target,
            self.change,
            model=self.target_model,
            slot=Slot("alias", self.alias),
            version=created.version,
            operator=self.operator,
            clock=self.target_hub.clock,
        )
        await move.apply()

    def _check_readable(self, uri: str) -> None:
        """Refuse, before writing anything, a source the target tracking server cannot register."""
        scheme = uri.split(":", 1)[0] if ":" in uri else "file"
        target_uri = self.target_hub.env.mlflow.tracking_uri if self.target_hub.env.mlflow else ""
        stored_behind_server = scheme in ("mlflow-artifacts", "models", "runs")
        local_for_remote = scheme == "file" and target_uri.startswith(("http://", "https://"))
        if stored_behind_server or local_for_remote:
            raise Refused(
                f"{self.model} v{self.version} is stored at {uri}, which the "
                f"{self.target_hub.env_name} tracking server cannot register; cross-server "
                "promotion needs an artifact store both servers read (s3://, gs://, wasbs://, ...). "
                "Nothing changed."
            )

    async def verify(self) -> str | None:
        now = await self.current()
        if self.created is None or now != f"v{self.created}":
            return f"{self.change.target} is {now}, expected the new copy v{self.created}"
        copied = await self.target_hub.tracking.get_version(self.target_model, self.created)
        if copied.tags.get(LINEAGE_TAG) != self.lineage:
            return f"v{self.created} lacks its lineage tag {LINEAGE_TAG}={self.lineage}"
        return None


def _same_server(a: Scope, b: Scope) -> bool:
    return bool(a.env.mlflow and b.env.mlflow and a.env.mlflow.tracking_uri == b.env.mlflow.tracking_uri)


async def plan_cross_env_promotion(
    source_hub: Scope, target_hub: Scope, name: str, version: str, *, alias: str | None, operator: str
) -> CrossEnvironmentPromotion:
    """Decide to copy `name` v`version` into the target environment under `alias` (default
    the target's `incoming_alias`, `challenger` unless configured)."""
    number = _number(version)
    name = source_hub.model_name(source_hub.registered_name(name))
    candidate = await source_hub.tracking.get_version(source_hub.registered_name(name), number)
    incoming = alias or (target_hub.env.mlflow.incoming_alias if target_hub.env.mlflow else "challenger")
    target_model = target_hub.registered_name(name)
    if _same_server(source_hub, target_hub) and target_model == source_hub.registered_name(name):
        raise UsageError(
            f"{source_hub.env_name} and {target_hub.env_name} share the registered model {name!r}; "
            "promote within the environment instead (without --to-env)"
        )
    action = CrossEnvironmentPromotion(
        source_hub,
        target_hub,
        Change(
            action="promote",
            environment=target_hub.env_name,
            target=Slot("alias", incoming).target(target_model),
            subject=name,
            before=None,
            after=f"copy of {source_hub.env_name} {name} v{number}",
            details=(f"copy {source_hub.env_name}:{name} v{number} into {target_model}",),
        ),
        model=name,
        version=number,
        alias=incoming,
        operator=operator,
    )
    held = await action.current()
    holder = await target_hub.tracking.get_version(target_model, _number(held)) if held else None
    metrics, checks = await _promotion_checks(
        target_hub,
        name,
        Slot("alias", incoming),
        candidate,
        held=held,
        holder=holder,
        candidate_from=source_hub,
    )
    action.change = replace(action.change, before=held, checks=checks, metrics=metrics)
    action.arguments = PlanArguments("copy", name, number, alias=alias, from_env=source_hub.env_name)
    return action


async def recover_interrupted(hub: Scope, journal: Journal) -> int:
    """Close the intents of processes that died mid-action as `unknown`, saying what the registry
    holds now where this hub can read it. Returns: how many were closed."""
    dangling = journal.dangling()
    for entry in dangling:
        message = "the process ended before recording the outcome"
        parsed = Slot.parse_target(entry.target)
        if entry.environment == hub.env_name and parsed is not None:
            model, slot = parsed
            try:
                now = slot.read(await hub.tracking.get_model(model))
                message += f"; re-read: {entry.target} is {now or '(unset)'}"
            except MlopsError as exc:
                message += f"; could not re-read: {exc.message}"
        journal.outcome(entry.id, "unknown", message)
    return len(dangling)
