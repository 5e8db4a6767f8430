"""The top bar: which environment is active (a protected one unmistakably), and each source's health."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Static

from mlops_tui.domain import SourceState, SourceStatus
from mlops_tui.text import humanize
from mlops_tui.text.sanitize import printable
from mlops_tui.tui.styles import env_badge

if TYPE_CHECKING:
    from mlops_tui.hub import Hub

__all__ = ["EnvBar", "EnvScreen"]

STATE_STYLES = {
    SourceState.OK: ("●", "green"),
    SourceState.DEGRADED: ("●", "yellow"),
    SourceState.DOWN: ("●", "bold red"),
    SourceState.UNKNOWN: ("○", "dim"),
}


COMPACT_MARKS = {
    SourceState.OK: "●",
    SourceState.DEGRADED: "◐!",
    SourceState.DOWN: "✗!",
    SourceState.UNKNOWN: "○?",
}
"""A source's state in one mark where the header has no room for its word (distinct without colour)."""


@dataclass(frozen=True)
class _Form:
    gap: int
    """Spaces between two sources."""
    marked: frozenset[SourceState]
    """States drawn as a mark alone (`COMPACT_MARKS`), not in words."""
    ages: bool = True
    """Whether a source not ok says the age of its last good data."""


_FORMS = (
    _Form(3, frozenset()),
    _Form(1, frozenset()),
    _Form(1, frozenset({SourceState.OK})),
    _Form(1, frozenset({SourceState.OK}), ages=False),
    _Form(1, frozenset(SourceState)),
)
"""The header's forms, from the fullest to the most compact; the first that fits is drawn."""


def _sources(statuses: Iterable[SourceStatus], now: datetime, form: _Form) -> Text:
    """`mlflow ● ok   gitlab ● down (data 4m ago)`, or as compact as `form` says:
    `mlflow ● gitlab ✗!`."""
    text = Text()
    for status in statuses:
        symbol, style = STATE_STYLES[status.state]
        text.append(f"{status.name} ")
        if status.state in form.marked:
            text.append(COMPACT_MARKS[status.state], style=style)
            text.append(" " * form.gap)
            continue
        text.append(symbol, style=style)
        text.append(f" {status.state.value}")
        if form.ages and status.last_success is not None and status.state is not SourceState.OK:
            text.append(f" (data {humanize.age(status.last_success, now)})", style="dim")
        text.append(" " * form.gap)
    return text


class EnvBar(Static):
    """`mlops-tui  PRD · protected │ mlflow ● ok 2m  gitlab ○ …`; the protected badge is red."""

    def __init__(
        self, env_name: str, *, protected: bool, read_only: bool, operator: str | None = None
    ) -> None:
        super().__init__(id="env-bar")
        self.env_name = env_name
        self.operator = operator
        self.protected = protected
        self.read_only = read_only
        self.set_class(protected, "-protected")
        self._shown = Text()
        self._last: tuple[list[SourceStatus], datetime, bool, int | None, bool] | None = None

    def on_resize(self) -> None:
        # The room changed: the sources may fit in full again, or need their compact form.
        if self._last is not None:
            statuses, now, paused, approvals, unshared = self._last
            self.show(statuses, now, paused=paused, approvals=approvals, unshared=unshared)

    def on_mount(self) -> None:
        # Drawn at once on a screen just pushed, not at the next poll.
        show_sources = getattr(self.app, "show_sources", None)
        if show_sources is not None:
            show_sources()

    def show(
        self,
        statuses: Iterable[SourceStatus],
        now: datetime,
        *,
        paused: bool,
        approvals: int | None = None,
        unshared: bool = False,
    ) -> None:
        """Draw the header. `approvals`: requests waiting for approval (None: not counted);
        `unshared`: a protected environment whose journal teammates do not share."""
        text = env_badge(self.env_name, protected=self.protected, read_only=self.read_only)
        if self.operator:
            text.append(f" as {printable(self.operator)}", style="bold")
        if unshared:
            text.append(" · journal not shared", style="yellow")
        if approvals:
            text.append(f" · {approvals} to approve (A)", style="bold reverse")
        text.append("  ")
        listed = list(statuses)
        room = self.content_size.width
        for form in _FORMS:
            # Where the line has no room: the sources closer together, then the healthy ones as
            # their name and a mark, then without the age of the last good data, then every one
            # as its name and a mark, so that it still fits (a source in trouble keeps its word
            # longest).
            sources = _sources(listed, now, form)
            if not room or text.cell_len + sources.cell_len + (16 if paused else 0) <= room:
                break
        text.append_text(sources)
        if paused:
            text.append("⏸ polling paused", style="bold yellow")
        self._last = (listed, now, paused, approvals, unshared)
        if text != self._shown:
            # Unchanged health redraws nothing: little output over a slow link.
            self._shown = text
            self.update(text)


class EnvScreen(Screen[None]):
    """A screen under the environment's header: where you are, and how its sources are, on every
    screen (an on-call engineer on triage sees `PRD · PROTECTED` and that Alertmanager is down)."""

    hub: Hub

    @property
    def subject(self) -> object:
        """What the screen shows (a run id, an alert's fingerprint): a screen is not opened on top
        of one of the same kind showing the same subject. None: any number may stack."""
        return None

    def compose(self) -> ComposeResult:
        env = self.hub.env
        yield EnvBar(self.hub.env_name, protected=env.protected, read_only=env.read_only)
        yield from self.body()

    def body(self) -> ComposeResult:
        """What the screen shows under the header."""
        raise NotImplementedError
