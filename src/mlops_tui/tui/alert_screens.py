"""Screens of the monitoring side: one alert in full, and the silences."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Static

from mlops_tui import humanize
from mlops_tui.domain import Alert, Silence
from mlops_tui.errors import NotFound
from mlops_tui.hub import Hub
from mlops_tui.tui.bindings import ALERT_ACTIONS, SILENCE_ACTIONS, WRITE_ACTIONS
from mlops_tui.tui.screens import DetailScreen, _table
from mlops_tui.tui.styles import alert_state_text, severity_text

__all__ = ["AlertScreen", "SilencesScreen"]


class AlertScreen(DetailScreen):
    """An alert: its labels, summary, description and runbook, and what mutes it."""

    BINDINGS = ALERT_ACTIONS

    def __init__(self, hub: Hub, alert: Alert) -> None:
        super().__init__(hub)
        self.alert = alert

    def compose(self) -> ComposeResult:
        yield Static("", classes="detail-title")
        with VerticalScroll(id="alert-detail"):
            yield Static("", id="alert-text")
        yield _table("Label", "Value", id="alert-labels")
        yield Footer()

    async def show(self) -> None:
        self._draw()
        current = {a.fingerprint: a for a in await self.hub.alerts()}
        if self.alert.fingerprint not in current:
            raise NotFound(self.alert.source, f"{self.alert.name} is no longer firing")
        self.alert = current[self.alert.fingerprint]
        self._draw()

    def _draw(self) -> None:
        alert = self.alert
        model = self.hub.alert_model(alert)
        self.query_one(".detail-title", Static).update(
            Text.assemble(
                severity_text(alert.severity),
                "  ",
                (alert.name, "bold"),
                "  ",
                alert_state_text(alert.state),
                "  ",
                (f"model {model}", "cyan") if model else "",
                "  ",
                (f"since {humanize.age(alert.starts_at, self.hub.clock())}", "dim"),
            )
        )
        lines = [
            Text(alert.summary, style="bold") if alert.summary else None,
            Text(alert.description) if alert.description else None,
            Text.assemble(("runbook  ", "dim"), alert.runbook_url) if alert.runbook_url else None,
            Text.assemble(("source   ", "dim"), alert.source, f"  {alert.generator_url}".rstrip()),
            Text.assemble(("silenced ", "dim"), ", ".join(alert.silenced_by)) if alert.silenced_by else None,
            Text.assemble(("inhibited", "dim"), " by ", ", ".join(alert.inhibited_by))
            if alert.inhibited_by
            else None,
            Text("m: the model's versions  s: silence  S: silences", style="dim") if model else None,
        ]
        self.query_one("#alert-text", Static).update(Text("\n").join(line for line in lines if line))
        table = self.query_one("#alert-labels", DataTable)
        table.clear()
        for key, value in sorted(alert.labels.items()):
            table.add_row(key, value, key=key)
        for key, value in sorted(alert.annotations.items()):
            if key not in ("summary", "description", "runbook_url"):
                table.add_row(Text(key, style="dim"), value, key=f"annotation:{key}")

    def action_silence(self) -> None:
        app: Any = self.app
        app.silence(self.hub, self.alert)

    def action_open_model(self) -> None:
        app: Any = self.app
        app.open_alert_model(self.hub, self.alert)

    def action_silences(self) -> None:
        self.app.push_screen(SilencesScreen(self.hub))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in WRITE_ACTIONS:
            source = self.hub.alert_sources.get(self.alert.source)
            return None if self.hub.policy.read_only or source is None or not source.can_silence else True
        if action == "open_model":
            return None if self.hub.alert_model(self.alert) is None else True
        return True


class SilencesScreen(DetailScreen):
    """Every silence of the environment, active and pending first; `x` expires the selected one."""

    BINDINGS = SILENCE_ACTIONS

    def __init__(self, hub: Hub) -> None:
        super().__init__(hub)
        self.silences: list[Silence] = []

    def compose(self) -> ComposeResult:
        yield Static(f"Silences in {self.hub.env_name}: loading…", classes="detail-title")
        yield _table("State", "Matchers", "Ends", "By", "Comment", "Source", "Id", id="silences")
        yield Footer()

    async def show(self) -> None:
        self.silences = await self.hub.silences()
        active = sum(s.state != "expired" for s in self.silences)
        self.query_one(".detail-title", Static).update(
            Text.assemble((f"Silences in {self.hub.env_name}", "bold"), f"  {active} active or pending")
        )
        table = self.query_one("#silences", DataTable)
        table.clear()
        for s in self.silences:
            table.add_row(
                Text(s.state, style="dim" if s.state == "expired" else "bold"),
                ", ".join(str(m) for m in s.matchers),
                humanize.timestamp(s.ends_at),
                s.created_by,
                s.comment,
                s.source,
                s.id,
                key=s.id,
            )
        self.refresh_bindings()

    def selected(self) -> Silence | None:
        row = self.query_one("#silences", DataTable).cursor_row
        return self.silences[row] if 0 <= row < len(self.silences) else None

    def action_expire(self) -> None:
        if silence := self.selected():
            app: Any = self.app
            app.expire_silence(self.hub, silence.id)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in WRITE_ACTIONS:
            silence = self.selected()
            return (
                None if self.hub.policy.read_only or silence is None or silence.state == "expired" else True
            )
        return True
