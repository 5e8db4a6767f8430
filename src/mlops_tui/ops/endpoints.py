"""Serving write actions on endpoints (Vertex AI): shift traffic, roll traffic back, undeploy a model.

Each is a `WriteAction` performed by `ops.policy.perform`: the state it is decided on is the
endpoint's traffic split as read (`11=90 12=10`), re-read right before writing, so a split someone
else changed meanwhile is a Conflict. Vertex keeps no history of traffic splits; the audit journal
does: a traffic rollback returns to the split before the last change recorded for that endpoint,
and repeated rollbacks walk further back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from mlops_tui.domain import Change, Endpoint, format_split, parse_split
from mlops_tui.errors import Refused, UsageError
from mlops_tui.ops.journal import Journal, state_to_roll_back_to
from mlops_tui.ops.policy import WriteAction
from mlops_tui.sources.base import ServingSource

__all__ = [
    "ENDPOINT_ACTIONS",
    "parse_split_args",
    "plan_traffic",
    "plan_traffic_rollback",
    "plan_undeploy",
    "target_of",
]

ENDPOINT_ACTIONS = ("traffic", "traffic-rollback", "undeploy")
"""The journal's action names for endpoint changes: the history a traffic rollback replays."""
NO_TRAFFIC = "none"
"""How a split with no deployed model reads in a Change and the journal."""
_TARGET_ID = re.compile(r"\(([^()]+)\)$")


class EndpointScope(Protocol):
    """One environment as endpoint actions need it (the hub is one)."""

    env_name: str

    @property
    def serving(self) -> ServingSource: ...


def target_of(endpoint: Endpoint) -> str:
    """What the journal records as the target: the endpoint's name and its id."""
    return f"endpoint {endpoint.display_name} ({endpoint.id})"


def _state(split: Mapping[str, int]) -> str:
    return format_split(split) or NO_TRAFFIC


@dataclass
class _Write:
    kind: Literal["traffic", "undeploy"]
    split: dict[str, int]
    deployed_model_id: str = ""


class TrafficChange(WriteAction):
    """Set an endpoint's traffic split, or undeploy one model and give its share to the others."""

    def __init__(self, source: ServingSource, change: Change, endpoint: Endpoint, write: _Write) -> None:
        self.source = source
        self.change = change
        self.endpoint = endpoint
        self.write = write

    async def current(self) -> str | None:
        return _state((await self.source.get_endpoint(self.endpoint.name)).traffic_split)

    async def apply(self) -> None:
        if self.write.kind == "undeploy":
            await self.source.undeploy(self.endpoint, self.write.deployed_model_id, self.write.split)
        else:
            await self.source.set_traffic(self.endpoint, self.write.split)

    async def verify(self) -> str | None:
        now = await self.source.get_endpoint(self.endpoint.name)
        if self.write.kind == "undeploy" and now.deployed(self.write.deployed_model_id) is not None:
            return f"deployed model {self.write.deployed_model_id} is still on {self.change.target}"
        if _state(now.traffic_split) != self.change.after:
            return f"{self.change.target} splits {_state(now.traffic_split)}, expected {self.change.after}"
        return None


def parse_split_args(values: Iterable[str]) -> dict[str, int]:
    """`--split 11=90 --split 12=10` (or `11=90,12=10`) as {deployed model id: percent}.

    Raises:
        UsageError: not ID=PERCENT, a percent outside 0-100, or a sum other than 100.
    """
    split: dict[str, int] = {}
    for value in values:
        for item in filter(None, re.split(r"[,\s]+", value)):
            key, sep, percent = item.partition("=")
            if not sep or not key or not percent.isdigit() or int(percent) > 100:
                raise UsageError(f"--split takes DEPLOYED_MODEL_ID=PERCENT (0-100), not {item!r}")
            split[key] = int(percent)
    total = sum(split.values())
    if total != 100:
        raise UsageError(f"the traffic split must sum to 100, not {total} ({format_split(split) or 'empty'})")
    return split


def _details(endpoint: Endpoint, split: Mapping[str, int]) -> tuple[str, ...]:
    lines = []
    for deployed in endpoint.deployed_models:
        was, will = endpoint.traffic_split.get(deployed.id, 0), split.get(deployed.id, 0)
        serves = (
            f" = MLflow {deployed.mlflow_model} v{deployed.mlflow_version}" if deployed.mlflow_model else ""
        )
        model = deployed.model_display_name or deployed.model.rsplit("/", 1)[-1]
        lines.append(
            f"{deployed.id} {deployed.display_name} ({model} version {deployed.model_version}{serves}): "
            f"{was}% -> {will}%"
        )
    return tuple(lines)


def _checked(endpoint: Endpoint, split: Mapping[str, int]) -> dict[str, int]:
    deployed = {d.id for d in endpoint.deployed_models}
    unknown = sorted(set(split) - deployed)
    if unknown:
        known = ", ".join(sorted(deployed)) or "none"
        raise UsageError(
            f"{', '.join(unknown)} is not deployed on {endpoint.display_name} (deployed models: {known})"
        )
    return {key: split.get(key, 0) for key in sorted(deployed)}


def _action(
    scope: EndpointScope, endpoint: Endpoint, action: str, split: dict[str, int], write: _Write, *extra: str
) -> TrafficChange:
    change = Change(
        action=action,
        environment=scope.env_name,
        target=target_of(endpoint),
        subject=endpoint.display_name,
        before=_state(endpoint.traffic_split),
        after=_state(split),
        details=(*extra, *_details(endpoint, split)),
    )
    return TrafficChange(scope.serving, change, endpoint, write)


async def plan_traffic(scope: EndpointScope, ref: str, split: Mapping[str, int]) -> TrafficChange:
    """Decide to set `ref`'s traffic split to `split` (deployed models not named get 0%).

    Raises:
        NotFound: no such endpoint. UsageError: a deployed model id not on the endpoint.
    """
    endpoint = await scope.serving.get_endpoint(ref)
    full = _checked(endpoint, split)
    return _action(scope, endpoint, "traffic", full, _Write("traffic", full))


async def plan_traffic_rollback(scope: EndpointScope, journal: Journal, ref: str) -> TrafficChange:
    """Decide to return `ref`'s traffic to the split before its last change in the journal.

    Raises:
        Refused: no history, or the split names a model no longer deployed; nothing changed.
    """
    endpoint = await scope.serving.get_endpoint(ref)
    previous = _previous_split(journal, scope.env_name, endpoint.id)
    if previous is None or previous == _state(endpoint.traffic_split):
        raise Refused(
            f"no traffic history for {target_of(endpoint)} in {scope.env_name}: nothing to roll back to, "
            "nothing changed (history is kept from the first traffic change made with mlops-tui)"
        )
    split = parse_split(previous) if previous != NO_TRAFFIC else {}
    gone = sorted(set(split) - {d.id for d in endpoint.deployed_models})
    if gone:
        raise Refused(
            f"the split before the last change ({previous}) sends traffic to deployed model "
            f"{', '.join(gone)}, no longer on {endpoint.display_name}: nothing changed"
        )
    full = _checked(endpoint, split)
    return _action(
        scope, endpoint, "traffic-rollback", full, _Write("traffic", full), "source of history: audit journal"
    )


async def plan_undeploy(scope: EndpointScope, ref: str, deployed_model_id: str) -> TrafficChange:
    """Decide to undeploy one model from `ref`; its traffic goes to the others in proportion to
    what they have (evenly when they have none).

    Raises:
        UsageError: the model is not deployed there.
    """
    endpoint = await scope.serving.get_endpoint(ref)
    if endpoint.deployed(deployed_model_id) is None:
        _checked(endpoint, {deployed_model_id: 0})
    remaining = [d.id for d in endpoint.deployed_models if d.id != deployed_model_id]
    split = _redistributed(endpoint.traffic_split, remaining)
    freed = endpoint.traffic_split.get(deployed_model_id, 0)
    note = f"undeploy {deployed_model_id}" + (
        f"; its {freed}% goes to the others" if freed and remaining else ""
    )
    return _action(scope, endpoint, "undeploy", split, _Write("undeploy", split, deployed_model_id), note)


def _redistributed(split: Mapping[str, int], remaining: list[str]) -> dict[str, int]:
    """`split` over `remaining` only, scaled back to 100 (largest remainders get the rounding)."""
    if not remaining:
        return {}
    weights = {key: split.get(key, 0) for key in remaining}
    total = sum(weights.values())
    if total == 0:
        weights, total = dict.fromkeys(remaining, 1), len(remaining)
    exact = {key: 100 * weight / total for key, weight in weights.items()}
    result = {key: int(value) for key, value in exact.items()}
    by_remainder = sorted(remaining, key=lambda key: (result[key] - exact[key], key))
    for key in by_remainder[: 100 - sum(result.values())]:
        result[key] += 1
    return result


def _previous_split(journal: Journal, env: str, endpoint_id: str) -> str | None:
    """Replay the journal's completed traffic changes of an endpoint; the split before the last."""
    changes = (
        entry
        for entry in reversed(journal.entries(environment=env, limit=-1))
        if entry.action in ENDPOINT_ACTIONS
        and entry.target.startswith("endpoint ")
        and (found := _TARGET_ID.search(entry.target))
        and found.group(1) == endpoint_id
    )
    return state_to_roll_back_to(changes, rollback="traffic-rollback")
