"""The Alerts pane: firing alerts, grouped, muted ones shown or hidden; Enter opens triage."""

from __future__ import annotations

from collections.abc import Sequence

from textual.binding import Binding

from mlops_tui.domain import Alert, Page
from mlops_tui.domain.matchers import parse_matchers
from mlops_tui.hub import Hub
from mlops_tui.text import humanize
from mlops_tui.tui.bindings import ALERT_ACTIONS, WRITE_ACTIONS, bindings
from mlops_tui.tui.panes.base import PaneTable, ResourcePane, Row
from mlops_tui.tui.requests import AlertRequests
from mlops_tui.tui.styles import alert_state_text, severity_text

__all__ = ["AlertsPane", "AlertsTable"]


class AlertsTable(PaneTable):
    """The Alerts pane's table, whose Enter the footer names: it opens triage."""

    BINDINGS = bindings("open_triage")


class AlertsPane(ResourcePane[Alert], AlertRequests):
    """Firing alerts of the environment (Alertmanager, local rules), grouped by severity or name."""

    table_class = AlertsTable

    title = "Alerts"
    filter_placeholder = 'Alertmanager matchers, e.g. severity="critical", model=~"ch.*"'
    BINDINGS = [
        *ALERT_ACTIONS,
        Binding("G", "group", "Group", id="group_alerts", show=False, tooltip="By severity or by name"),
        Binding("u", "toggle_muted", "Muted", id="toggle_muted", show=False, tooltip="Show or hide muted"),
    ]
    GROUPS = ("severity", "alertname")

    def __init__(self, hub: Hub, *, interval: float, id: str | None = None) -> None:
        super().__init__(hub, interval=interval, id=id)
        self.group_by = "severity"
        self.show_muted = True
        self.alerts: dict[str, Alert] = {}

    async def fetch(self, filter_text: str, page_token: str | None) -> Page[Alert]:
        answer = await self.hub.alerts(parse_matchers([filter_text]), muted=self.show_muted)
        found = answer.items
        if self.group_by == "alertname":
            found = sorted(found, key=lambda a: a.name)
        self.alerts = {a.fingerprint: a for a in found}
        return Page(tuple(found), problem=answer.problem(self.hub.clock()))

    def columns_for(self, items: Sequence[Alert]) -> tuple[str, ...]:
        # The age comes second: what an on-call reads first, never cut off in a narrow pane.
        return ("Severity", "Started", "Alert", "Model", "State", "Summary", "Source")

    def row(self, item: Alert) -> Row:
        return Row(
            item.fingerprint,
            (
                severity_text(item.severity),
                humanize.age(item.starts_at, self.hub.clock()),
                item.name,
                self.hub.alert_model(item) or "",
                alert_state_text(item.state, stale=self.stale),
                item.summary,
                item.source,
            ),
        )

    def selected_alert(self) -> Alert | None:
        key = self.selected()
        return self.alerts.get(key) if key else None

    def action_group(self) -> None:
        self.group_by = self.GROUPS[(self.GROUPS.index(self.group_by) + 1) % len(self.GROUPS)]
        self.notify(f"Alerts grouped by {self.group_by}", timeout=2)
        self.poll_now()

    def action_toggle_muted(self) -> None:
        self.show_muted = not self.show_muted
        self.notify(
            "Showing silenced and inhibited alerts" if self.show_muted else "Hiding muted alerts", timeout=2
        )
        self.poll_now()

    def action_silence(self) -> None:
        if alert := self.selected_alert():
            self.post_message(self.SilenceRequested(self.hub, alert))

    def action_open_model(self) -> None:
        if alert := self.selected_alert():
            self.post_message(self.ModelRequested(self.hub, alert))

    def action_silences(self) -> None:
        from mlops_tui.tui.screens.alerts import SilencesScreen

        self.app.push_screen(SilencesScreen(self.hub))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        alert = self.selected_alert()
        if action in WRITE_ACTIONS:
            return True if alert is not None and self.hub.can_silence(alert) else None
        if action == "open_model":
            return None if alert is None or self.hub.alert_model(alert) is None else True
        return super().check_action(action, parameters)
