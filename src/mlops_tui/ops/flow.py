"""The one write flow both front ends run: plan (with its gates evaluated) -> already done? ->
policy -> approval or typed confirmation -> gates (failed ones refuse unless the approval overrides
them with a reason) -> perform (lock, re-read, journal, write, verify). A front end supplies only
how it asks for approval: a modal in the TUI, `--yes`/`--confirm`/`--override-gates`/`--dry-run`
headless."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from mlops_tui.domain import Change
from mlops_tui.ops.gates import overridden, refusal
from mlops_tui.ops.journal import Journal
from mlops_tui.ops.policy import Approval, Policy, WriteAction, perform

__all__ = ["AskApproval", "Written", "run_write"]

AskApproval = Callable[[Change, str | None], Awaitable[Approval | None]]
"""Asks the operator to approve a change, given what a protected environment wants typed;
None: not asked to go on (cancelled, or only a dry run)."""


@dataclass(frozen=True)
class Written:
    """How a write ended when it raised nothing."""

    change: Change
    result: Literal["ok", "unchanged", "cancelled"]


async def run_write(
    action: WriteAction,
    *,
    policy: Policy,
    journal: Journal,
    operator: str,
    ask: AskApproval,
    expected: str | None = None,
) -> Written:
    """Run a planned `action` through the flow.

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
    if change.failed_checks:
        if approval.override is None:
            raise refusal(change)
        action.change = overridden(change, approval.override, operator)
    done = await perform(
        action, policy=policy, approval=approval, journal=journal, operator=operator, expected=expected
    )
    return Written(done, "ok")
