"""Four-eyes approvals: an environment with `approvals = N` turns a promotion (and, with
`rollback_approvals`, a rollback) into a request in the shared journal, which N operators other
than the requester approve before it is made.

```
request   the one write flow, up to its gates, records the request (who, what, before -> after,
          how it was planned, until when) instead of writing
approve   refused for the requester, a second time by the same operator, or once the request is
          closed or expired; short of N, the approval is recorded; the N-th plans the write again
          on the state of the moment: a target changed since the request closes it as stale, a
          gate failing now refuses (unless the requester overrode them with a reason), and the
          write runs through the same flow, under the slot's lock, expecting the request's state
reject    closes the request, with a reason (the requester rejecting withdraws it)
```
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from mlops_tui.domain import ApprovalRequest
from mlops_tui.errors import Conflict, MlopsError, NotFound, Refused, UsageError
from mlops_tui.ops.flow import AskApproval, Written, run_write
from mlops_tui.ops.gates import refusal
from mlops_tui.ops.journal import Journal
from mlops_tui.ops.markers import Markers
from mlops_tui.ops.policy import Policy, WriteAction
from mlops_tui.ops.registry import Scope, plan_cross_env_promotion, plan_promotion, plan_rollback

__all__ = ["approve", "find_request", "pending", "reject"]


@dataclass(frozen=True)
class Approved:
    """How an approval ended when it raised nothing."""

    request: ApprovalRequest
    result: Literal["approved", "performed", "cancelled"]
    """`approved`: recorded, more approvals needed; `performed`: the write was made."""
    written: Written | None = None
    remaining: int = 0
    """Approvals still needed after this one."""


def find_request(journal: Journal, request_id: int) -> ApprovalRequest:
    """Raises: NotFound, when the journal holds no such request."""
    found = journal.approval_requests(request_id=request_id)
    if not found:
        raise NotFound("journal", f"no approval request #{request_id} in {journal.where}")
    return found[0]


def pending(journal: Journal, now: datetime, environment: str | None = None) -> list[ApprovalRequest]:
    """Requests still waiting for approval, newest first."""
    return [
        r for r in journal.approval_requests(environment=environment, limit=-1) if r.status(now) == "pending"
    ]


def _open(request: ApprovalRequest, now: datetime) -> None:
    """Raises: Refused, when the request is no longer open to decisions."""
    status = request.status(now)
    if status == "pending":
        return
    closing = request.closing()
    by = f" by {closing.operator}" if closing else ""
    why = f": {closing.reason}" if closing and closing.reason else ""
    raise Refused(f"approval request #{request.id} is {status}{by}{why}; nothing changed")


async def approve(
    request: ApprovalRequest,
    *,
    hub: Scope,
    policy: Policy,
    journal: Journal,
    operator: str,
    ask: AskApproval,
    markers: Markers | None = None,
) -> Approved:
    """Approve `request` as `operator`; the last approval needed makes the write.

    `hub`: the request's environment; `markers`: its deploy markers, posted once the write is made.

    Raises:
        Refused: self-approval, a second approval by the same operator, a closed or expired
            request, a target changed since the request (closed as stale), the policy.
        GatesFailed: a gate fails now and the requester did not override the gates.
        JournalError, MlopsError: as the write flow says (a failed write closes the request).
    """
    now = hub.clock()
    _open(request, now)
    if operator == request.requester:
        raise Refused(
            f"approval request #{request.id} is yours: another operator must approve it (four eyes); "
            "nothing changed"
        )
    if operator in request.approvers:
        raise Refused(f"you already approved request #{request.id}; it needs another operator")
    remaining = request.needed - len(request.approvers) - 1
    async with _planned_again(request, hub, journal, operator) as action:
        planned = action.change
        if (planned.before, planned.after) != (request.before, request.after):
            message = (
                f"{request.target} changed since the request: {planned.change_text()} now, not "
                f"{request.change_text()}; request again"
            )
            journal.decide(request.id, operator, "stale", message)
            raise Conflict(f"approval request #{request.id} is stale: {message}; nothing was written")
        if remaining > 0:
            return await _approve_only(request, action, policy, journal, operator, ask, remaining)
        try:
            written = await run_write(
                action,
                policy=policy,
                journal=journal,
                operator=operator,
                ask=ask,
                expected=request.before,
                request=request,
                markers=markers,
            )
        except Conflict as exc:
            again = find_request(journal, request.id)
            if again.status(hub.clock()) == "performed":
                raise Refused(
                    f"approval request #{request.id} was performed meanwhile by {again.approvers[-1]}; "
                    "nothing written"
                ) from None
            journal.decide(request.id, operator, "stale", exc.message)
            raise
        except Refused:
            raise
        except MlopsError as exc:
            journal.decide(request.id, operator, "failed", exc.message)
            raise
    if written.result == "cancelled":
        return Approved(request, "cancelled", remaining=1)
    journal.decide(request.id, operator, "performed")
    return Approved(find_request(journal, request.id), "performed", written)


async def _approve_only(
    request: ApprovalRequest,
    action: WriteAction,
    policy: Policy,
    journal: Journal,
    operator: str,
    ask: AskApproval,
    remaining: int,
) -> Approved:
    """Record an approval that is not yet the last one, once the approver saw the plan of now."""
    change = action.change
    policy.check(change)
    approval = await ask(change, policy.confirmation(change))
    if approval is None:
        return Approved(request, "cancelled", remaining=remaining + 1)
    policy.check_approval(change, approval)
    if change.failed_checks and request.arguments.override is None:
        raise refusal(change)
    journal.decide(request.id, operator, "approved")
    return Approved(find_request(journal, request.id), "approved", remaining=remaining)


def reject(
    request: ApprovalRequest, *, policy: Policy, journal: Journal, operator: str, reason: str, now: datetime
) -> ApprovalRequest:
    """Close `request` as rejected by `operator` (withdrawn, when the requester rejects it).

    Raises:
        UsageError: no reason given.
        Refused: a read-only environment, or the request is closed or expired.
    """
    if policy.read_only:
        raise Refused(f"{policy.environment} is read-only: reject refused, nothing changed")
    reason = reason.strip()
    if not reason:
        raise UsageError("a rejection needs a reason (--reason TEXT): the journal records it")
    _open(request, now)
    journal.decide(request.id, operator, "rejected", reason)
    return find_request(journal, request.id)


@asynccontextmanager
async def _planned_again(
    request: ApprovalRequest, hub: Scope, journal: Journal, operator: str
) -> AsyncIterator[WriteAction]:
    """The request's write, planned again now from its arguments in `hub`'s environment."""
    arguments = request.arguments
    if arguments.kind == "rollback":
        yield await plan_rollback(
            hub, journal, arguments.model, alias=arguments.alias, stage=arguments.stage, operator=operator
        )
        return
    if arguments.version is None:
        raise MlopsError(f"approval request #{request.id} names no version to promote")
    if arguments.kind == "promote":
        yield await plan_promotion(
            hub,
            arguments.model,
            arguments.version,
            alias=arguments.alias,
            stage=arguments.stage,
            archive_existing=arguments.archive_existing,
            operator=operator,
        )
        return
    source = hub.sibling(arguments.from_env or "")
    try:
        yield await plan_cross_env_promotion(
            source, hub, arguments.model, arguments.version, alias=arguments.alias, operator=operator
        )
    finally:
        await source.aclose()
