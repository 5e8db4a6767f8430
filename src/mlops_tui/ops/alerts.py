"""Alert write actions: silence alerts, expire a silence, through the one policy."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from msgspec.structs import replace

from mlops_tui.domain import Change, Silence
from mlops_tui.domain.matchers import Matcher
from mlops_tui.errors import Refused, UsageError
from mlops_tui.ops.policy import WriteAction
from mlops_tui.sources.base import AlertSource
from mlops_tui.text import humanize

__all__ = ["plan_expiry", "plan_silence"]


class AlertScope(Protocol):
    """One environment as alert actions need it (the hub is one)."""

    env_name: str

    def clock(self) -> datetime: ...

    def alert_source(self, name: str) -> AlertSource: ...

    def model_label(self, source: str) -> str: ...

    async def silence(self, silence_id: str) -> tuple[AlertSource, Silence]: ...


def silence_subject(matchers: Sequence[Matcher], model_label: str = "model") -> str:
    """What a protected environment asks the operator to type to silence: the model the matchers
    name, else the alert name, else the first matcher's value."""
    for label in (model_label, "alertname"):
        for matcher in matchers:
            if matcher.name == label and matcher.op == "=" and matcher.value:
                return matcher.value
    return next((m.value for m in matchers if m.value), "silence")


class CreateSilence(WriteAction):
    """Create a silence. There is no earlier state to race on: `current()` is the silence made."""

    def __init__(self, source: AlertSource, change: Change, silence: Silence) -> None:
        self.source = source
        self.change = change
        self.silence = silence
        self.created: str | None = None

    async def current(self) -> str | None:
        if self.created is None:
            return None
        return (await self.source.get_silence(self.created)).state

    async def apply(self) -> None:
        self.created = await self.source.create_silence(
            self.silence.matchers,
            starts_at=self.silence.starts_at,
            ends_at=self.silence.ends_at,
            created_by=self.silence.created_by,
            comment=self.silence.comment,
        )
        self.change = replace(self.change, after=f"silence {self.created}")

    async def verify(self) -> str | None:
        state = await self.current()
        return None if state in ("active", "pending") else f"silence {self.created} is {state}"


def plan_silence(
    scope: AlertScope,
    source: str,
    matchers: Sequence[Matcher],
    *,
    duration: timedelta,
    comment: str,
    operator: str,
) -> CreateSilence:
    """Decide to silence the alerts matching `matchers` for `duration`, from now.

    Raises:
        UsageError: no matcher, no comment, or the source cannot silence.
    """
    alert_source = scope.alert_source(source)
    if not alert_source.can_silence:
        raise UsageError(f"{source} alerts cannot be silenced here; silence them where they are raised")
    if not matchers:
        raise UsageError('a silence needs at least one matcher, e.g. alertname="ModelDrift"')
    if not comment.strip():
        raise UsageError("a silence needs a comment saying why (--comment)")
    starts = scope.clock()
    silence = Silence(
        id="",
        matchers=tuple(matchers),
        starts_at=starts,
        ends_at=starts + duration,
        created_by=operator,
        comment=comment.strip(),
        source=source,
    )
    change = Change(
        action="silence",
        environment=scope.env_name,
        target=f"{source} alerts {{{', '.join(str(m) for m in matchers)}}}",
        subject=silence_subject(matchers, scope.model_label(source)),
        before=None,
        after="a new silence",
        details=(
            f"until {silence.ends_at:%Y-%m-%d %H:%M} UTC ({humanize.duration(duration)})",
            f"comment: {silence.comment}",
            f"author: {operator}",
        ),
    )
    return CreateSilence(alert_source, change, silence)


class ExpireSilence(WriteAction):
    """End a silence now; refused if it ended or changed since it was decided."""

    def __init__(self, source: AlertSource, change: Change, silence_id: str) -> None:
        self.source = source
        self.change = change
        self.silence_id = silence_id

    async def current(self) -> str | None:
        return (await self.source.get_silence(self.silence_id)).state

    async def apply(self) -> None:
        await self.source.expire_silence(self.silence_id)


async def plan_expiry(scope: AlertScope, silence_id: str) -> ExpireSilence:
    """Decide to expire a silence, on the state it has now.

    Raises:
        NotFound: no such silence. Refused: it has already expired.
    """
    source, silence = await scope.silence(silence_id)
    if silence.state == "expired":
        raise Refused(f"silence {silence_id} has already expired: nothing to do")
    change = Change(
        action="expire",
        environment=scope.env_name,
        target=f"{source.name} silence {silence_id}",
        subject=silence_subject(silence.matchers, scope.model_label(source.name)),
        before=silence.state,
        after="expired",
        details=(
            "matchers: " + ", ".join(str(m) for m in silence.matchers),
            f"comment: {silence.comment} ({silence.created_by})",
        ),
    )
    return ExpireSilence(source, change, silence_id)
