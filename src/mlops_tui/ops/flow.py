"""The one write flow both front ends run: plan (with its gates evaluated) -> already done? ->
policy -> approval or typed confirmation -> gates (failed ones refuse unless the approval overrides
them with a reason) -> four-eyes (an environment that wants other operators' approval gets a
request in the shared journal instead of the write) -> perform (lock, re-read, journal, write,
verify) -> deploy markers (a promotion, rollback or traffic change made is marked on the team's
dashboards; a marker that fails is journaled and reported, never fails the write). A front end
supplies only how it asks for approval: a modal in the TUI,
`--yes`/`--confirm`/`--override-gates`/`--dry-run` headless. An approved request comes back through
the same flow (`request=`), planned again by its approver's mlops-tui."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from msgspec import structs

from mlops_tui.domain import ApprovalRequest, Change, MarkerResult, utcnow
from mlops_tui.errors import Refused
from mlops_tui.ops.gates import overridden, refusal
from mlops_tui.ops.journal import Journal
from mlops_tui.ops.markers import Markers
from mlops_tui.ops.policy import Approval, Policy, WriteAction, perform

__all__ = ["AskApproval", "Written", "run_write"]

AskApproval = Callable[[Change, str | None], Awaitable[Approval | None]]
"""Asks the operator to approve a change, given what a protected environment wants typed;
None: not asked to go on (cancelled, or only a dry run)."""


@dataclass(frozen=True)
class Written:
    """How a write ended when it raised nothing."""

    change: Change
    result: Literal["ok", "unchanged", "cancelled", "requested"]
    request: int | None = None
    """`requested`: the approval request's id in the journal."""
    markers: tuple[MarkerResult, ...] = ()
    """`ok`: how each destination of the environment's deploy markers took the change's marker
    (none when the action is not marked or no destination is configured)."""

    @property
    def failed_markers(self) -> tuple[MarkerResult, ...]:
        """The deploy markers that failed (the write itself was made)."""
        return tuple(m for m in self.markers if not m.ok)


async def run_write(
    action: WriteAction,
    *,
    policy: Policy,
    journal: Journal,
    operator: str,
    ask: AskApproval,
    expected: str | None = None,
    request: ApprovalRequest | None = None,
    now: Callable[[], datetime] | None = None,
    markers: Markers | None = None,
) -> Written:
    """Run a planned `action` through the flow.

    `request`: the approval request this write performs, approved by `operator` (its gates'
    override is the requester's, and no new request is made). `markers`: the environment's deploy
    markers, posted once the write is made.

    Raises:
        GatesFailed: a promotion gate failed and the approval did not override it.
        Refused: the policy, the approval, or a conflict refuses (nothing written).
        JournalError, MlopsError: as `perform` says.
    """
    change = action.change
    if change.before == change.after:
        return Written(change, "unchanged")
    policy.check(change)
    approval = await ask(change, policy.confirmation(change))
    if approval is None:
        return Written(change, "cancelled")
    if request is not None:
        override = request.arguments.override
        approval = dataclasses.replace(approval, override=override)
        note = f"approval #{request.id}: requested by {request.requester}, approved by " + ", ".join(
            (*request.approvers, operator)
        )
        action.change = change = structs.replace(change, details=(*change.details, note))
    if change.failed_checks:
        if approval.override is None:
            raise refusal(change)
        action.change = overridden(change, approval.override, operator)
    needed = policy.approvals_needed(change)
    if needed and request is None:
        return _request(action, policy, journal, operator, approval, needed, now)
    done = await perform(
        action, policy=policy, approval=approval, journal=journal, operator=operator, expected=expected
    )
    marked = await markers.post(done, operator=operator, journal=journal, now=now) if markers else ()
    return Written(done, "ok", markers=marked)


def _request(
    action: WriteAction,
    policy: Policy,
    journal: Journal,
    operator: str,
    approval: Approval,
    needed: int,
    now: Callable[[], datetime] | None,
) -> Written:
    """Record `action` as a request for `needed` other operators' approval, in place of the write."""
    change = action.change
    policy.check_approval(change, approval, doing="requested")
    if action.arguments is None:
        raise Refused(f"{change.action} in {change.environment} needs approval, which it cannot be asked for")
    arguments = structs.replace(action.arguments, override=approval.override)
    expires = (now or utcnow)() + policy.approval_expiry
    request_id = journal.request(change, operator, arguments, needed=needed, expires=expires)
    return Written(change, "requested", request=request_id)
