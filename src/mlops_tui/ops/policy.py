"""The one path every write action takes: policy, optimistic concurrency, journal, verification.

```
perform(action)
  1. policy        read-only refuses; unapproved refuses (headless: --yes); a protected environment
                   refuses unless the operator typed the subject (the model name)
  2. lock          the write lock of everyone sharing the journal, held until the outcome
  3. re-read       the state the decision was made on; changed meanwhile -> Conflict, nothing written
  4. journal       intent recorded (or JournalError, nothing written)
  5. write
  6. verify        re-read; the journal records ok / overwritten / failed / unknown
```
Front ends only gather approval (a modal, or --yes and --confirm); they cannot skip a step.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from mlops_tui.domain import Change, PlanArguments
from mlops_tui.errors import Conflict, JournalError, MlopsError, Overwritten, Refused
from mlops_tui.ops.journal import Journal
from mlops_tui.ops.lease import RegistryLease
from mlops_tui.text.rfc3339 import format_rfc3339

__all__ = ["Approval", "Policy", "WriteAction", "perform"]


@dataclass(frozen=True)
class Policy:
    """What an environment allows: nothing when read-only, typed confirmation when protected."""

    environment: str
    protected: bool = False
    read_only: bool = False
    approvals: Mapping[str, int] = field(default_factory=dict)
    """Approvals by other operators each action needs (`promote`: 1); absent: none."""
    approval_expiry: timedelta = timedelta(hours=24)
    """How long a request waits for its approvals."""

    def approvals_needed(self, change: Change) -> int:
        """How many other operators must approve `change` before it is made."""
        return self.approvals.get(change.action, 0)

    def check(self, change: Change) -> None:
        """Raises: Refused, when the environment is read-only."""
        if self.read_only:
            raise Refused(f"{self.environment} is read-only: {change.action} refused, nothing changed")

    def check_approval(self, change: Change, approval: Approval, *, doing: str = "approved") -> None:
        """Raises: Refused, when `approval` does not approve `change` (or lacks the typed name a
        protected environment wants)."""
        if not approval.approved:
            verb = "apply" if doing == "approved" else "request approval"
            raise Refused(f"not {doing}: {change.summary()} (pass --yes to {verb})")
        confirmation = self.confirmation(change)
        if confirmation is not None and approval.typed != confirmation:
            raise Refused(
                f"{change.environment} is protected: confirm by typing the model name {confirmation!r}"
                " (headless: --confirm NAME)"
            )

    def confirmation(self, change: Change) -> str | None:
        """What the operator must type to approve `change`, or None where approving is enough."""
        return change.subject if self.protected else None


@dataclass(frozen=True)
class Approval:
    """The operator's approval as a front end gathered it."""

    approved: bool
    """Headless: `--yes`. TUI: the confirmation modal was accepted."""
    typed: str | None = None
    """Headless: `--confirm NAME`. TUI: the name typed in the modal."""
    override: str | None = None
    """Why failed promotion gates are overridden (journaled); None: they are not. Headless:
    `--override-gates --reason TEXT`. TUI: the modal's override with its reason."""


class WriteAction(ABC):
    """One write: the change it makes, how to read the state it changes, and how to make it."""

    change: Change
    arguments: PlanArguments | None = None
    """What the action was planned from, so that an approver can plan it again; None for actions
    that are never approved by others."""

    @abstractmethod
    async def current(self) -> str | None:
        """The state `change.before` and `change.after` describe, read from the backend now."""

    @abstractmethod
    async def apply(self) -> None:
        """Make the change. Raises: MlopsError."""

    async def changed_by(self, state: str) -> str | None:
        """`OPERATOR at TIME` who left the target in `state`, where the backend records it."""
        return None

    def lease(self, operator: str) -> RegistryLease | None:
        """The backend's own lock of what this action writes, for writers sharing no journal;
        None where the backend offers none."""
        return None

    async def verify(self) -> str | None:
        """Re-read after writing. Returns: None if the change took, else what is wrong."""
        now = await self.current()
        return (
            None
            if now == self.change.after
            else f"{self.change.target} is {now}, expected {self.change.after}"
        )


async def perform(
    action: WriteAction,
    *,
    policy: Policy,
    approval: Approval,
    journal: Journal,
    operator: str,
    expected: str | None = None,
) -> Change:
    """Run `action` through the policy, the slot's lock, the concurrency check and the journal.

    `expected`: the state the caller acts on (`--expect-current`); anything else refuses.

    Raises:
        Refused: read-only, not approved, wrong confirmation, or Conflict.
        JournalError: the intent could not be recorded (or the lock taken); nothing was written.
        Overwritten: written, then another write replaced it (recorded as overwritten).
        MlopsError: the write failed (recorded as failed).
    """
    change = action.change
    policy.check(change)
    policy.check_approval(change, approval)
    try:
        lock = journal.slot_lock(change.environment, change.target)
        await asyncio.to_thread(lock.acquire)
    except JournalError as exc:
        raise JournalError(f"{exc.message}; not performed: {change.summary()}") from None
    try:
        # Writers sharing no journal may still share the backend: its own lock serializes them.
        lease = None if journal.shared else action.lease(operator)
        if lease is None:
            return await _perform_locked(action, journal=journal, operator=operator, expected=expected)
        try:
            await lease.acquire()
        except JournalError as exc:
            raise JournalError(f"{exc.message}; not performed: {change.summary()}") from None
        try:
            return await _perform_locked(action, journal=journal, operator=operator, expected=expected)
        finally:
            await lease.release()
    finally:
        lock.release()


async def _perform_locked(
    action: WriteAction, *, journal: Journal, operator: str, expected: str | None
) -> Change:
    change = action.change
    seen = await action.current()
    if seen != change.before or (expected is not None and seen != expected):
        message = await _changed_meanwhile(journal, action, seen, expected)
        journal.refused(change, operator, message)
        raise Conflict(message)
    try:
        journal.note_external(change.environment, change.target, change.subject, seen)
        intent = journal.intent(change, operator)
    except JournalError as exc:
        raise JournalError(f"{exc.message}; not performed: {change.summary()}") from None
    try:
        await action.apply()
    except MlopsError as exc:
        journal.outcome(intent, "failed", exc.message)
        raise
    except (asyncio.CancelledError, KeyboardInterrupt):
        journal.outcome(intent, "unknown", "interrupted while writing")
        raise
    try:
        problem = await action.verify()
        now = await action.current() if problem else None
    except MlopsError as exc:
        journal.outcome(intent, "unknown", f"written, but could not re-read: {exc.message}")
        raise
    if problem and now is not None and now not in (change.before, action.change.after):
        message = f"written, then overwritten: {change.target} is now {now}"
        journal.outcome(intent, "overwritten", message, after=now)
        raise Overwritten(f"{action.change.summary()}: {message}")
    if problem:
        journal.outcome(intent, "failed", f"verification: {problem}")
        raise MlopsError(f"{change.summary()}: written but not verified: {problem}")
    # Some actions learn their result while writing (the version a copy became).
    journal.outcome(intent, "ok", after=action.change.after)
    return action.change


async def _changed_meanwhile(
    journal: Journal, action: WriteAction, seen: str | None, expected: str | None
) -> str:
    """Why a write is refused: what the target holds now, and who left it so if the journal (or,
    for a teammate on another journal, the backend) knows."""
    change = action.change
    basis = expected if expected is not None else change.before
    # A journal of one's own may hold an older move to the same state: the backend's stamp of the
    # latest write is believed first, unless everyone's moves are in this journal.
    stamp = None if journal.shared or seen is None else await action.changed_by(seen)
    last = journal.last_change(change.environment, change.target)
    if stamp is None and last is not None and last.after == seen:
        when = format_rfc3339(last.finished or last.time, "seconds")
        stamp = f"{last.operator} at {when}"
    who = f" (by {stamp})" if stamp else ""
    return (
        f"changed meanwhile: {change.target} is now {seen or '(unset)'}{who}, not "
        f"{basis or '(unset)'} as when this was decided. Nothing was written; look again."
    )
