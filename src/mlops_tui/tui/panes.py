"""The dashboard's panes: Runs and Models over MLflow, Pipelines, Vertex AI Endpoints, and the panes
of sources not yet configured."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from mlops_tui.domain import Alert, DeployedModel, Endpoint, Page, Pipeline, RegisteredModel, Run
from mlops_tui.domain.matchers import parse_matchers
from mlops_tui.hub import Hub
from mlops_tui.text import humanize
from mlops_tui.tui.bindings import (
    ALERT_ACTIONS,
    ENDPOINT_ACTIONS,
    MODEL_ACTIONS,
    PIPELINE_ACTIONS,
    WRITE_ACTIONS,
    bindings,
)
from mlops_tui.tui.pane import Cell, PaneTable, ResourcePane, Row
from mlops_tui.tui.styles import (
    alert_state_text,
    pipeline_status_text,
    severity_text,
    status_text,
    traffic_bar,
)

__all__ = ["AlertsPane", "EndpointsPane", "ModelsPane", "NotConfiguredPane", "PipelinesPane", "RunsPane"]


RUN_NAME_WIDTH = 28
"""The widest a run's name is shown in the Runs pane."""


class RunsPane(ResourcePane[Run]):
    """Recent runs of the experiments of interest, newest first, one server page at a time."""

    title = "Runs"
    _metric_keys: tuple[str, ...] = ()
    filter_placeholder = "MLflow filter, e.g. metrics.val_auc > 0.8 and params.algorithm = 'xgb'"
    BINDINGS = bindings("mark", "compare", "unmark", "sort")

    def __init__(self, hub: Hub, *, interval: float, id: str | None = None) -> None:
        super().__init__(hub, interval=interval, id=id)
        self.marked: dict[str, str] = {}
        """Run id -> name of the runs marked for comparison, in the order marked (kept across pages
        and filters)."""
        self.order: tuple[str, bool] | None = None
        """The metric the runs are ordered by and whether highest first; None: newest first."""

    def orders(self) -> list[tuple[str, bool] | None]:
        """What `o` steps through: newest first, then each key metric highest first and lowest first."""
        return [None, *((key, high) for key in self._metric_keys for high in (True, False))]

    def action_sort(self) -> None:
        orders = self.orders()
        at = orders.index(self.order) if self.order in orders else 0
        self.order = orders[(at + 1) % len(orders)]
        self.restart()
        self.update_status()

    def action_mark(self) -> None:
        key = self.selected()
        run = self.item(key) if key else None
        if run is None:
            return
        if self.marked.pop(run.id, None) is None:
            self.marked[run.id] = run.name
        self.redraw_row(run.id)
        self.table.action_cursor_down()
        self.update_status()
        self.refresh_bindings()

    def action_unmark(self) -> None:
        marked, self.marked = self.marked, {}
        for key in marked:
            self.redraw_row(key)
        self.update_status()
        self.refresh_bindings()

    def action_compare(self) -> None:
        from mlops_tui.tui.compare import CompareScreen

        if len(self.marked) >= 2:
            self.app.push_screen(CompareScreen(self.hub, list(self.marked)))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "compare":
            return len(self.marked) >= 2
        if action == "unmark":
            return bool(self.marked)
        return super().check_action(action, parameters)

    def status_parts(self) -> list[str]:
        parts = []
        if self.order is not None:
            key, high = self.order
            parts.append(f"by {key}, {'highest' if high else 'lowest'} first")
        if marked := len(self.marked):
            parts.append(
                f"{marked} marked" + (" · c compare" if marked >= 2 else " · mark another to compare")
            )
        return parts

    async def fetch(self, filter_text: str, page_token: str | None) -> Page[Run]:
        order_by = None
        if self.order is not None:
            key, high = self.order
            order_by = f"metrics.`{key}` {'DESC' if high else 'ASC'}"
        return await self.hub.runs(filter_text, page_token=page_token, order_by=order_by)

    def metric_columns(self, items: Sequence[Run]) -> tuple[str, ...]:
        return self.hub.key_metrics(items)

    def columns_for(self, items: Sequence[Run]) -> tuple[str, ...]:
        self._metric_keys = self.metric_columns(items)
        # The key metrics right after the name and status: what a narrow pane must keep in view.
        return ("Run", "Status", *self._metric_keys, "Started", "Duration", "Experiment", "User")

    def row(self, item: Run) -> Row:
        metrics = self._metric_keys
        # A long name (a local retrain's) is cut, keeping the key metrics in view: Enter shows it whole.
        short = humanize.shorten(item.name, RUN_NAME_WIDTH)
        name: Cell = Text.assemble(("● ", "bold"), short) if item.id in self.marked else short
        return Row(
            item.id,
            (
                name,
                status_text(item.status),
                *(humanize.metric(item.metrics.get(key)) for key in metrics),
                humanize.age(item.start_time, self.hub.clock()),
                humanize.duration(item.duration),
                self.hub.experiment_name(item.experiment_id),
                item.user or "",
            ),
        )


class ModelsPane(ResourcePane[RegisteredModel]):
    """Registered models with their aliases (or stages) and latest version."""

    title = "Models"
    filter_placeholder = "part of a model name, or name LIKE 'ch%'"
    BINDINGS = MODEL_ACTIONS

    def action_promote(self) -> None:
        if name := self.selected():
            app: Any = self.app
            app.promote(self.hub, name, None, None)

    def action_rollback(self) -> None:
        if name := self.selected():
            app: Any = self.app
            app.rollback(self.hub, name)

    def action_history(self) -> None:
        from mlops_tui.tui.screens import HistoryScreen

        if name := self.selected():
            app: Any = self.app
            app.push_screen(HistoryScreen(self.hub, app.journal, name))

    def action_retrain(self) -> None:
        if name := self.selected():
            app: Any = self.app
            app.retrain(self.hub, name)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "retrain" and self.hub.env.retrain is None:
            return False
        if action in WRITE_ACTIONS:
            return None if self.hub.policy.read_only or self.selected() is None else True
        if action == "history":
            return None if self.selected() is None else True
        return super().check_action(action, parameters)

    async def fetch(self, filter_text: str, page_token: str | None) -> Page[RegisteredModel]:
        return await self.hub.models(filter_text, page_token=page_token)

    def columns_for(self, items: Sequence[RegisteredModel]) -> tuple[str, ...]:
        return ("Model", "Aliases / stages", "Latest", "Updated")

    def row(self, item: RegisteredModel) -> Row:
        labels = Text()
        for alias, version in sorted(item.aliases.items()):
            labels.append(f"{alias}", style="bold green" if alias == "champion" else "cyan")
            labels.append(f" v{version}  ")
        for stage, version in item.stages().items():
            if stage == "Archived":
                continue  # serves nothing; the model's screen lists it
            labels.append(stage, style="bold green" if stage == "Production" else "yellow")
            labels.append(f" v{version}  ")
        labels.rstrip()
        return Row(
            item.name,
            (
                item.name,
                labels,
                f"v{item.latest_version}" if item.latest_version else "",
                humanize.age(item.updated, self.hub.clock()),
            ),
        )


class PipelinesPane(ResourcePane[Pipeline]):
    """Recent pipelines of the environment's runners (GitLab, local), newest first."""

    title = "Pipelines"
    filter_placeholder = "a ref, or ref=main status=failed"
    BINDINGS = PIPELINE_ACTIONS

    async def fetch(self, filter_text: str, page_token: str | None) -> Page[Pipeline]:
        terms: dict[str, str] = {}
        for term in filter_text.split():
            key, sep, value = term.partition("=")
            terms[key if sep else "ref"] = value if sep else key
        answer = await self.hub.pipelines(ref=terms.get("ref"), status=terms.get("status"))
        return Page(tuple(answer.items), problem=answer.problem(self.hub.clock()))

    def columns_for(self, items: Sequence[Pipeline]) -> tuple[str, ...]:
        return ("Pipeline", "Status", "Ref", "Started by", "Created", "Duration")

    def row(self, item: Pipeline) -> Row:
        return Row(
            item.id,
            (
                f"{item.source} {item.id}",
                pipeline_status_text(item.status),
                item.ref,
                item.user or item.trigger,
                humanize.age(item.created, self.hub.clock()),
                humanize.duration(item.duration),
            ),
        )

    def action_cancel(self) -> None:
        if item := self.selected():
            app: Any = self.app
            app.change_pipeline(self.hub, item, "cancel")

    def action_retry(self) -> None:
        if item := self.selected():
            app: Any = self.app
            app.change_pipeline(self.hub, item, "retry")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in WRITE_ACTIONS:
            return None if self.hub.policy.read_only or self.selected() is None else True
        return super().check_action(action, parameters)


class AlertsTable(PaneTable):
    """The Alerts pane's table, whose Enter the footer names: it opens triage."""

    BINDINGS = bindings("open_triage")


class AlertsPane(ResourcePane[Alert]):
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

    def __init__(self, hub: Any, *, interval: float, id: str | None = None) -> None:
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
        return ("Severity", "Alert", "Model", "State", "Started", "Summary", "Source")

    def row(self, item: Alert) -> Row:
        return Row(
            item.fingerprint,
            (
                severity_text(item.severity),
                item.name,
                self.hub.alert_model(item) or "",
                alert_state_text(item.state, stale=self.stale),
                humanize.age(item.starts_at, self.hub.clock()),
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
            app: Any = self.app
            app.silence(self.hub, alert)

    def action_open_model(self) -> None:
        if alert := self.selected_alert():
            app: Any = self.app
            app.open_alert_model(self.hub, alert)

    def action_silences(self) -> None:
        from mlops_tui.tui.alert_screens import SilencesScreen

        self.app.push_screen(SilencesScreen(self.hub))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        alert = self.selected_alert()
        if action in WRITE_ACTIONS:
            return True if alert is not None and self.hub.can_silence(alert) else None
        if action == "open_model":
            return None if alert is None or self.hub.alert_model(alert) is None else True
        return super().check_action(action, parameters)


Serving = tuple[Endpoint, DeployedModel | None]
"""One row of the Endpoints pane: a deployed model on its endpoint (None: nothing deployed)."""


class EndpointsPane(ResourcePane[Serving]):
    """Vertex AI endpoints of interest: each deployed model, what it serves, and its traffic."""

    title = "Endpoints"
    BINDINGS = ENDPOINT_ACTIONS

    async def fetch(self, filter_text: str, page_token: str | None) -> Page[Serving]:
        rows: list[Serving] = []
        for endpoint in await self.hub.endpoints():
            if filter_text and filter_text.lower() not in endpoint.display_name.lower():
                continue
            rows.extend((endpoint, d) for d in endpoint.deployed_models or (None,))
        return Page(tuple(rows))

    def columns_for(self, items: Sequence[Serving]) -> tuple[str, ...]:
        return ("Endpoint", "Deployed", "Model", "MLflow", "Traffic")

    def row(self, item: Serving) -> Row:
        endpoint, deployed = item
        if deployed is None:
            return Row(endpoint.id, (endpoint.display_name, "", "(nothing deployed)", "", ""))
        model = deployed.model_display_name or deployed.model.rsplit("/", 1)[-1]
        return Row(
            f"{endpoint.id}/{deployed.id}",
            (
                endpoint.display_name,
                deployed.id,
                f"{model} v{deployed.model_version}",
                f"{deployed.mlflow_model} v{deployed.mlflow_version}" if deployed.mlflow_model else "",
                traffic_bar(endpoint.traffic_split.get(deployed.id, 0)),
            ),
        )

    def web_item(self, item: Serving) -> object:
        return item[0]  # the endpoint

    def serving(self) -> tuple[str, str | None] | None:
        """The endpoint id and deployed model id of the row under the cursor."""
        key = self.selected()
        if key is None:
            return None
        endpoint, _, deployed = key.partition("/")
        return endpoint, deployed or None

    def action_shift_traffic(self) -> None:
        if chosen := self.serving():
            app: Any = self.app
            app.shift_traffic(self.hub, chosen[0])

    def action_rollback_traffic(self) -> None:
        if chosen := self.serving():
            app: Any = self.app
            app.rollback_traffic(self.hub, chosen[0])

    def action_undeploy(self) -> None:
        chosen = self.serving()
        if chosen and chosen[1]:
            app: Any = self.app
            app.undeploy(self.hub, chosen[0], chosen[1])

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in WRITE_ACTIONS:
            chosen = self.serving()
            possible = chosen is not None and (action != "undeploy" or chosen[1] is not None)
            return None if self.hub.policy.read_only or not possible else True
        return super().check_action(action, parameters)


class NotConfiguredPane(Vertical):
    """A pane whose source this environment does not configure, with the hint to configure it."""

    def __init__(self, title: str, hint: str, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="not-configured")
        self.pane_title = title
        self.hint = hint

    def compose(self) -> ComposeResult:
        yield Static(f"[b]{self.pane_title}: not configured[/b]\n\n{self.hint}", markup=True)

    def on_mount(self) -> None:
        self.border_title = self.pane_title
