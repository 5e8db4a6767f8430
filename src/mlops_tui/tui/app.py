"""The Textual app: the dashboard of one environment, its detail screens, and switching environments."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from functools import partial
from typing import Any, ClassVar

from rich.console import RenderableType
from textual import actions, on, work
from textual._compositor import CompositorUpdate
from textual.actions import ActionParseResult
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Grid
from textual.dom import DOMNode
from textual.filter import LineFilter
from textual.keys import format_key
from textual.notifications import SeverityLevel
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import AwaitMount

from mlops_tui.config import Settings
from mlops_tui.domain import Alert, Pipeline, Run, utcnow
from mlops_tui.errors import MlopsError
from mlops_tui.hub import Hub
from mlops_tui.ops.approvals import pending
from mlops_tui.ops.journal import open_journal
from mlops_tui.ops.registry import recover_interrupted
from mlops_tui.sources.registry import pane_hint
from mlops_tui.text.sanitize import web_link
from mlops_tui.tui.bindings import KEYS, BindingList, bindings, check_keymap, check_theme
from mlops_tui.tui.footer import KeyBar
from mlops_tui.tui.header import EnvBar, EnvScreen
from mlops_tui.tui.output import CompactUpdate
from mlops_tui.tui.panes import (
    AlertsPane,
    EndpointsPane,
    ModelsPane,
    NotConfiguredPane,
    PipelinesPane,
    RunsPane,
)
from mlops_tui.tui.panes.base import ResourcePane
from mlops_tui.tui.requests import (
    AlertRequests,
    ApprovalRequests,
    EndpointRequests,
    FleetRequests,
    ModelRequests,
    PipelineRequests,
    SilenceRequests,
    WebRequests,
)
from mlops_tui.tui.terminal_safe import TerminalSafe
from mlops_tui.tui.writes import WriteActions

__all__ = ["MlopsApp", "make_app"]

# Detail screens and dialogs are imported where first used: their widgets (~30 ms of imports) are
# not needed for the first frame.

APPROVALS_SECONDS = 30.0
"""How often the header counts the requests waiting for approval (where approvals are asked)."""

PIPELINES_HINT = f"Pipelines and retraining appear here once the environment names {pane_hint('pipelines')}."
ALERTS_HINT = f"Firing alerts appear here once the environment names {pane_hint('alerts')}."
_PANES: tuple[tuple[str, str, type[ResourcePane[Any]], str], ...] = (
    ("runs", "Runs", RunsPane, f"Runs appear here once the environment names {pane_hint('runs')}."),
    ("models", "Models", ModelsPane, f"Models appear here once the environment names {pane_hint('models')}."),
    ("pipelines", "Pipelines", PipelinesPane, PIPELINES_HINT),
    ("alerts", "Alerts", AlertsPane, ALERTS_HINT),
    ("endpoints", "Endpoints", EndpointsPane, ""),
)
"""The dashboard's panes in order: id, title, class, and the hint shown where no backend feeds it
(none: the pane takes no room)."""


class MlopsApp(App[None]):
    """mlops-tui's terminal UI on one environment at a time."""

    CSS_PATH = "app.tcss"
    TITLE = "mlops-tui"
    AUTO_FOCUS = "DataTable"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]
    BINDINGS: ClassVar[BindingList] = bindings(
        "quit", "help", "switch_env", "fleet", "maturity", "focus_alerts", "approvals", "refresh", "pause"
    )

    polling_paused: reactive[bool] = reactive(False, init=False)
    _frame_dropped = False

    def __init__(
        self,
        settings: Settings,
        env_name: str | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.clock = clock
        self.hub = Hub(settings, env_name, clock=clock)
        # One hub per environment for the app's life: switching away must not stop a local
        # training run, and switching back finds the last good data.
        self._hubs = {self.hub.env_name: self.hub}
        self.journal = open_journal(settings)
        self.keymap = check_keymap(settings.keymap or {}, settings.path)
        if theme := check_theme(settings.theme, settings.path):
            self.theme = theme
        self._terminal_safe = TerminalSafe()
        self.writes = WriteActions(self)
        self._pending_approvals: dict[str, int] = {}
        """Requests waiting for approval, by environment, as last counted."""

    def open_web(self, url: str | None) -> None:
        """Offer `url`, when it is http(s): copied to the clipboard (through the terminal, so over
        SSH too), opened in a browser where this machine has a display, and shown."""
        link = web_link(url)
        if link is None:
            self.notify("No web page to open for this", severity="warning", timeout=3)
            return
        self.copy_to_clipboard(link)
        # Without a display, Python's webbrowser would start a text browser in this terminal.
        if sys.platform == "darwin" or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
            self.open_url(link)
        self.notify(f"{link} (copied)", title="Web page", timeout=8)

    def _display(self, screen: Screen[Any], renderable: RenderableType | None) -> None:
        # Textual sends nothing to the terminal while a batch of updates is open (a footer being
        # recomposed, screens being popped), yet its compositor counts what it would have sent as
        # drawn. On a loaded machine a frame landed in such a batch now and then, and what it held
        # stayed off screen until those cells changed again: alert names cut to the width of their
        # column's label, a notification's place never cleared, a footer naming another pane's keys.
        if renderable is not None and self._batch_count:
            self._frame_dropped = True
        if isinstance(renderable, CompositorUpdate):
            renderable = CompactUpdate(renderable)
        super()._display(screen, renderable)

    def _end_batch(self) -> None:
        super()._end_batch()
        if self._batch_count or not self.screen_stack:  # no screen left: the app is closing
            return
        if self._frame_dropped:
            self._frame_dropped = False
            self.screen.refresh()  # the whole screen, drawn again as it is now
        # A screen whose update came due in the batch skipped it and waits for its next message:
        # a toast that expired then stayed drawn over a dialog's buttons while nothing else moved.
        self.screen.check_idle()

    def get_line_filters(self) -> list[LineFilter]:
        """Textual's filters (NO_COLOR among them), then the one that keeps backend text from
        driving the terminal: every line of every screen passes it."""
        return [*super().get_line_filters(), self._terminal_safe]

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """As Textual's, but a message is always text, never markup (`markup` is not used, and
        widgets' `notify` pass True): most messages hold a backend's words, an error or a name."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    # -- layout -----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        env = self.hub.env
        # With a shared journal, teammates' actions are everyone's: the header says whose these are.
        operator = self.settings.operator_name if self.journal.shared else None
        yield EnvBar(self.hub.env_name, protected=env.protected, read_only=env.read_only, operator=operator)
        # A pane refreshes as often as the first configured backend feeding it asks.
        feeders = {pane: next((b for b in self.hub.backends if b.feeds(pane)), None) for pane, *_ in _PANES}
        # The Endpoints pane exists only where a serving backend is configured: elsewhere it takes no room.
        with Grid(id="dashboard", classes="-vertex" if feeders["endpoints"] else ""):
            for pane, title, kind, hint in _PANES:
                feeder = feeders[pane]
                if feeder is not None:
                    yield kind(self.hub, interval=feeder.refresh_in(env), id=pane)
                elif hint:
                    yield NotConfiguredPane(title, hint, id=pane)
        yield KeyBar()

    def on_mount(self) -> None:
        if self.keymap:
            self.set_keymap(self.keymap)
        self.sub_title = self.hub.env_name
        self.show_sources()
        # Ages in the header drift; redraw them now and then (the bar skips unchanged text).
        self.set_interval(15, self.show_sources)
        self.refresh_approvals()
        self.set_interval(APPROVALS_SECONDS, self.refresh_approvals)
        for warning in self.settings.warnings:
            self.notify(warning, title="Config file", severity="warning", timeout=15)
        self._recover()

    @work(group="recover", exit_on_error=False)
    async def _recover(self) -> None:
        try:
            closed = await recover_interrupted(self.hub, self.journal)
        except MlopsError as exc:
            self.notify(exc.message, title=exc.title, severity="error")
            return
        if closed:
            self.notify(
                f"{closed} interrupted action(s) closed as unknown: see the history (h)",
                severity="warning",
            )

    def show_sources(self) -> None:
        """Draw the sources' health in the header of every screen open."""
        statuses, now = self.hub.status_list(), self.clock()
        waiting = self._pending_approvals.get(self.hub.env_name)
        unshared = self.settings.unshared_protection(self.hub.env_name) is not None
        # A poll that ends while the app closes finds no screen, or no header, left.
        for screen in self.screen_stack:
            for bar in screen.query(EnvBar):
                bar.show(statuses, now, paused=self.polling_paused, approvals=waiting, unshared=unshared)

    def refresh_approvals(self) -> None:
        """Count the requests waiting for approval in this environment, for the header (where it
        asks for approvals at all)."""
        env_name = self.hub.env_name
        if not any(self.hub.policy.approvals.values()):
            return
        try:
            # Read on the loop, as every screen reads the journal (SQLite's connection belongs to
            # the thread that opened it).
            waiting = pending(self.journal, self.clock(), env_name)
        except MlopsError:
            return  # the journal's failure is told when a write needs it
        self._pending_approvals[env_name] = len(waiting)
        self.show_sources()

    # -- messages from panes ----------------------------------------------------------------

    @on(ResourcePane.Polled)
    def _polled(self) -> None:
        self.show_sources()

    def push_screen(self, screen: Any, *args: Any, **kwargs: Any) -> Any:
        """Open a screen, unless the one on top is of its kind and shows the same (keys typed
        ahead, `Enter Enter`, never stack two copies of a screen)."""
        top = self.screen_stack[-1] if self.screen_stack else None
        if (
            isinstance(screen, EnvScreen)
            and isinstance(top, EnvScreen)
            and type(top) is type(screen)
            and screen.subject is not None
            and screen.subject == top.subject
        ):
            return AwaitMount(self.screen, [])
        return super().push_screen(screen, *args, **kwargs)

    async def run_action(
        self,
        action: str | ActionParseResult,
        default_namespace: DOMNode | None = None,
        namespaces: Mapping[str, DOMNode] | None = None,
    ) -> bool:
        """Run an action; one of a screen still loading waits for it (see `waits_for_load`)."""
        from mlops_tui.tui.screens.base import DetailScreen

        if (
            isinstance(default_namespace, DetailScreen)
            and isinstance(action, str)
            and default_namespace.waits_for_load(action)
        ):
            return True
        return await super().run_action(action, default_namespace, namespaces)

    @on(ResourcePane.Opened)
    def _opened(self, event: ResourcePane.Opened) -> None:
        self.open_row(event.pane, event.key)

    def open_row(self, pane: ResourcePane[Any], key: str) -> None:
        """Open the screen of a dashboard pane's row: a run, a model, a pipeline, an alert's triage."""
        from mlops_tui.tui.screens.details import ModelScreen, PipelineScreen, RunScreen

        if self.screen is not self.screen_stack[0]:
            return  # a click on the dashboard that another screen opened over meanwhile
        if isinstance(pane, RunsPane):
            self.push_screen(RunScreen(self.hub, key))
        elif isinstance(pane, ModelsPane):
            self.push_screen(ModelScreen(self.hub, key))
        elif isinstance(pane, PipelinesPane):
            self.push_screen(PipelineScreen(self.hub, key))
        elif isinstance(pane, AlertsPane) and (alert := pane.alerts.get(key)):
            from mlops_tui.tui.screens.alerts import TriageScreen

            self.push_screen(TriageScreen(self.hub, self.journal, alert))

    # -- actions ----------------------------------------------------------------------------

    def _panes(self) -> list[ResourcePane[object]]:
        return list(self.screen_stack[0].query(ResourcePane))

    def action_refresh(self) -> None:
        for pane in self._panes():
            pane.poll_now()

    def action_focus_alerts(self) -> None:
        """Put the cursor on the most severe alert: Enter from there opens its triage."""
        for pane in self.screen_stack[0].query(AlertsPane):
            self.back_to_dashboard()
            # Focused now, not after a refresh: the next key (Enter) is already on its way.
            self.screen_stack[0].set_focus(pane.table)
            pane.table.move_cursor(row=0)

    def back_to_dashboard(self) -> None:
        while len(self.screen_stack) > 1:
            self.pop_screen()

    def action_toggle_pause(self) -> None:
        self.polling_paused = not self.polling_paused

    def watch_polling_paused(self, paused: bool) -> None:
        self.show_sources()
        self.notify("Polling paused" if paused else "Polling resumed", timeout=2)

    def action_keys(self) -> None:
        """The keys of the screen shown, its own first."""
        from mlops_tui.tui.screens.keys import KeysScreen, key_groups

        self.push_screen(KeysScreen(key_groups(self.screen)))

    def action_switch_env(self) -> None:
        from mlops_tui.tui.screens.picker import EnvironmentPicker

        choices = {name: (env.protected, env.read_only) for name, env in self.settings.environments.items()}
        self.push_screen(EnvironmentPicker(choices, self.hub.env_name), self._switch_to_chosen)

    def _switch_to_chosen(self, name: str | None) -> None:
        if name:
            self.switch_environment(name)

    def action_fleet(self) -> None:
        from mlops_tui.tui.screens.fleet import FleetScreen

        if isinstance(self.screen, FleetScreen):
            return
        hubs = {name: self.hub_for(name) for name in self.settings.environments}
        intervals = [env.mlflow.refresh_seconds for env in self.settings.environments.values() if env.mlflow]
        self.push_screen(FleetScreen(self.hub, hubs, self.journal, interval=min(intervals, default=30.0)))

    def action_maturity(self) -> None:
        from mlops_tui.tui.screens.maturity import MaturityScreen

        if isinstance(self.screen, MaturityScreen):
            return
        hubs = {name: self.hub_for(name) for name in self.settings.environments}
        self.push_screen(MaturityScreen(self.hub, hubs, self.journal))

    @work(exclusive=True, group="switch-env")
    async def switch_environment(self, name: str, model: str | None = None) -> None:
        """Show environment `name` instead of the current one; with `model`, open that model there."""
        from mlops_tui.tui.screens.details import ModelScreen

        self.back_to_dashboard()
        if name != self.hub.env_name:
            self.hub = self.hub_for(name)
            self.sub_title = name
            await self.recompose()
            self.show_sources()
            self.refresh_approvals()
        if model is not None:
            self.push_screen(ModelScreen(self.hub, self.hub.registered_name(model)))

    # -- requests from panes and screens: write actions (see `writes`), and where to go -------

    def action_approvals(self) -> None:
        from mlops_tui.tui.screens.approvals import ApprovalsScreen

        self.push_screen(ApprovalsScreen(self.hub, self.journal))

    @on(ApprovalRequests.ApproveRequested)
    def _approve(self, request: ApprovalRequests.ApproveRequested) -> None:
        self.writes.approve(request.hub, request.request_id)

    @on(ApprovalRequests.RejectRequested)
    def _reject(self, request: ApprovalRequests.RejectRequested) -> None:
        self.writes.reject(request.hub, request.request_id)

    @on(ModelRequests.PromoteRequested)
    def _promote(self, request: ModelRequests.PromoteRequested) -> None:
        self.writes.promote(request.hub, request.model, request.versions, request.selected)

    @on(ModelRequests.RollbackRequested)
    def _rollback(self, request: ModelRequests.RollbackRequested) -> None:
        self.writes.rollback(request.hub, request.model)

    @on(ModelRequests.RetrainRequested)
    def _retrain(self, request: ModelRequests.RetrainRequested) -> None:
        self.writes.retrain(request.hub, request.model)

    @on(PipelineRequests.ChangeRequested)
    def _change_pipeline(self, request: PipelineRequests.ChangeRequested) -> None:
        self.writes.change_pipeline(request.hub, request.item_id, request.verb, request.job, request.whole)

    @on(PipelineRequests.PauseRequested)
    def _pause_pipelines(self, request: PipelineRequests.PauseRequested) -> None:
        self.writes.pause(request.hub, request.item_id, request.paused)

    @on(AlertRequests.SilenceRequested)
    def _silence(self, request: AlertRequests.SilenceRequested) -> None:
        self.writes.silence(request.hub, request.alert)

    @on(SilenceRequests.ExpireRequested)
    def _expire_silence(self, request: SilenceRequests.ExpireRequested) -> None:
        self.writes.expire_silence(request.hub, request.silence_id)

    @on(EndpointRequests.ShiftTrafficRequested)
    def _shift_traffic(self, request: EndpointRequests.ShiftTrafficRequested) -> None:
        self.writes.shift_traffic(request.hub, request.endpoint_id)

    @on(EndpointRequests.RollbackTrafficRequested)
    def _rollback_traffic(self, request: EndpointRequests.RollbackTrafficRequested) -> None:
        self.writes.rollback_traffic(request.hub, request.endpoint_id)

    @on(EndpointRequests.UndeployRequested)
    def _undeploy(self, request: EndpointRequests.UndeployRequested) -> None:
        self.writes.undeploy(request.hub, request.endpoint_id, request.deployed_model_id)

    @on(ModelRequests.HistoryRequested)
    def _history(self, request: ModelRequests.HistoryRequested) -> None:
        from mlops_tui.tui.screens.details import HistoryScreen

        self.push_screen(HistoryScreen(request.hub, self.journal, request.model))

    @on(AlertRequests.ModelRequested)
    def _alert_model(self, request: AlertRequests.ModelRequested) -> None:
        """The versions of the model an alert concerns: the first step of triage."""
        from mlops_tui.tui.screens.details import ModelScreen

        hub, alert = request.hub, request.alert
        model = hub.alert_model(alert)
        if model is None:
            self.notify(f"{alert.name} names no model", severity="warning")
            return
        self.push_screen(ModelScreen(hub, hub.registered_name(model)))

    @on(FleetRequests.ModelRequested)
    def _fleet_model(self, request: FleetRequests.ModelRequested) -> None:
        self.switch_environment(request.environment, request.model)

    @on(WebRequests.WebPageRequested)
    def _web_page(self, request: WebRequests.WebPageRequested) -> None:
        self.open_web(request.url)

    def hub_for(self, env_name: str) -> Hub:
        """The hub of an environment, made on first use and kept for the app's life."""
        if env_name not in self._hubs:
            self._hubs[env_name] = Hub(self.settings, env_name, clock=self.clock)
        return self._hubs[env_name]

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The command palette: Textual's own commands (theme, keys, screenshot), every key of the
        screen and its panes, and every navigation target: environments, models (with their
        actions), the runs, pipelines and alerts shown."""
        yield from super().get_system_commands(screen)
        yield from self._key_commands(screen)
        yield from self._navigation_commands()

    def _key_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        seen: set[tuple[int, str]] = set()
        for node in (self, screen, *screen.walk_children()):
            owner = getattr(node, "title", "") if isinstance(node, ResourcePane) else ""
            for cls in type(node).__mro__:
                for binding in cls.__dict__.get("BINDINGS", []):
                    if (
                        not isinstance(binding, Binding)
                        or binding.id not in KEYS
                        or binding.id in ("quit", "help")
                    ):
                        continue
                    if (id(node), binding.id) in seen or not self._enabled(node, binding.action):
                        continue
                    seen.add((id(node), binding.id))
                    keys = self.keymap.get(binding.id, binding.key).split(",")[0]
                    yield SystemCommand(
                        f"{binding.description} ({owner})" if owner else binding.description,
                        f"{binding.tooltip} · key {format_key(keys)}",
                        partial(self.run_action, binding.action, node),
                    )

    def _enabled(self, node: DOMNode, action: str) -> bool:
        target, name, parameters = actions.parse(action)
        if target == "app":
            node = self
        return bool(node.check_action(name, parameters))

    def _navigation_commands(self) -> Iterable[SystemCommand]:
        from mlops_tui.tui.screens.alerts import AlertScreen
        from mlops_tui.tui.screens.details import HistoryScreen, ModelScreen, PipelineScreen, RunScreen

        hub, read_only = self.hub, self.hub.policy.read_only
        for name, env in self.settings.environments.items():
            if name != hub.env_name:
                kind = " (protected)" if env.protected else ""
                yield SystemCommand(
                    f"Switch to environment {name}",
                    f"Show {name}{kind}",
                    partial(self.switch_environment, name),
                )
        for model in self._known_models():
            yield SystemCommand(
                f"Open model {model}",
                "Versions, aliases and stages",
                partial(self._open, ModelScreen, hub, model),
            )
            yield SystemCommand(
                f"History of {model}",
                "The model's audit journal here",
                partial(self._open, HistoryScreen, hub, self.journal, model),
            )
            if read_only:
                continue
            writes = self.writes
            yield SystemCommand(
                f"Promote {model}", "Move an alias or stage", partial(writes.promote, hub, model, None, None)
            )
            yield SystemCommand(
                f"Roll back {model}", "Back to the previous version", partial(writes.rollback, hub, model)
            )
            if hub.env.retrain is not None:
                yield SystemCommand(
                    f"Retrain {model}", "Start the retraining pipeline", partial(writes.retrain, hub, model)
                )
        for pane in self.screen_stack[0].query(ResourcePane):
            for key, item in pane.shown():
                if isinstance(item, Run):
                    yield SystemCommand(
                        f"Open run {item.name}",
                        f"{item.status.lower()} · {key}",
                        partial(self._open, RunScreen, hub, key),
                    )
                elif isinstance(item, Alert):
                    yield SystemCommand(
                        f"Open alert {item.name}",
                        f"{item.severity} · {hub.alert_model(item) or 'no model'} · {item.state}",
                        partial(self._open, AlertScreen, hub, item),
                    )
                elif isinstance(item, Pipeline):
                    yield SystemCommand(
                        f"Open pipeline {item.source} {key}",
                        f"{item.status} · {item.ref}",
                        partial(self._open, PipelineScreen, hub, key),
                    )

    def _open(self, screen: Callable[..., Screen[Any]], *args: object) -> None:
        """Push a screen made only now: the palette lists many and opens one."""
        self.push_screen(screen(*args))

    def _known_models(self) -> list[str]:
        """Registered models of this environment: those of interest, else those the Models pane shows."""
        if self.hub.env.models:
            return [self.hub.registered_name(m) for m in self.hub.env.models]
        panes = self.screen_stack[0].query(ModelsPane)
        return [key for pane in panes for key, _ in pane.shown()]

    async def action_quit(self) -> None:
        for hub in self._hubs.values():
            await hub.aclose()
        self.journal.close()
        self.exit()


def make_app(
    settings: Settings, env_name: str | None = None, *, clock: Callable[[], datetime] = utcnow
) -> MlopsApp:
    """The one app factory, shared by the CLI, the tests and the screenshots."""
    return MlopsApp(settings, env_name, clock=clock)
