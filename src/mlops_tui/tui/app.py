"""The Textual app: the dashboard of one environment, its detail screens, and switching environments."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from functools import partial
from typing import Any, ClassVar

from textual import actions, on, work
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
from textual.widgets import Footer

from mlops_tui.config import Settings
from mlops_tui.domain import Alert, Change, ModelVersion, Pipeline, Run, utcnow
from mlops_tui.errors import MlopsError
from mlops_tui.hub import Hub
from mlops_tui.ops.alerts import plan_expiry, plan_silence
from mlops_tui.ops.endpoints import plan_traffic, plan_traffic_rollback, plan_undeploy
from mlops_tui.ops.flow import run_write
from mlops_tui.ops.journal import open_journal
from mlops_tui.ops.pipelines import plan_pipeline_change, plan_retrain
from mlops_tui.ops.policy import Approval, WriteAction
from mlops_tui.ops.registry import (
    plan_cross_env_promotion,
    plan_promotion,
    plan_rollback,
    recover_interrupted,
)
from mlops_tui.sources.registry import pane_hint
from mlops_tui.text.sanitize import web_link
from mlops_tui.tui.bindings import KEYS, BindingList, bindings, check_keymap, check_theme
from mlops_tui.tui.header import EnvBar, EnvScreen
from mlops_tui.tui.pane import ResourcePane
from mlops_tui.tui.panes import (
    AlertsPane,
    EndpointsPane,
    ModelsPane,
    NotConfiguredPane,
    PipelinesPane,
    RunsPane,
)
from mlops_tui.tui.terminal_safe import TerminalSafe

__all__ = ["MlopsApp", "make_app"]

# Detail screens and dialogs are imported where first used: their widgets (~30 ms of imports) are
# not needed for the first frame.

FOLLOW_SECONDS = 2.0
"""How often a pipeline started from the TUI is looked at until it ends."""
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
    BINDINGS: ClassVar[BindingList] = bindings(
        "quit", "help", "switch_env", "fleet", "focus_alerts", "refresh", "pause"
    )

    polling_paused: reactive[bool] = reactive(False, init=False)

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
        yield Footer()

    def on_mount(self) -> None:
        if self.keymap:
            self.set_keymap(self.keymap)
        self.sub_title = self.hub.env_name
        self.show_sources()
        # Ages in the header drift; redraw them now and then (the bar skips unchanged text).
        self.set_interval(15, self.show_sources)
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
        # A poll that ends while the app closes finds no screen, or no header, left.
        for screen in self.screen_stack:
            for bar in screen.query(EnvBar):
                bar.show(statuses, now, paused=self.polling_paused)

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
        from mlops_tui.tui.screens import DetailScreen

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
        from mlops_tui.tui.screens import ModelScreen, PipelineScreen, RunScreen

        if self.screen is not self.screen_stack[0]:
            return  # a click on the dashboard that another screen opened over meanwhile
        if isinstance(pane, RunsPane):
            self.push_screen(RunScreen(self.hub, key))
        elif isinstance(pane, ModelsPane):
            self.push_screen(ModelScreen(self.hub, key))
        elif isinstance(pane, PipelinesPane):
            self.push_screen(PipelineScreen(self.hub, key))
        elif isinstance(pane, AlertsPane) and (alert := pane.alerts.get(key)):
            from mlops_tui.tui.alert_screens import TriageScreen

            self.push_screen(TriageScreen(self.hub, alert))

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
        from mlops_tui.tui.keys import KeysScreen, key_groups

        self.push_screen(KeysScreen(key_groups(self.screen)))

    def action_switch_env(self) -> None:
        from mlops_tui.tui.screens import EnvironmentPicker

        choices = {name: (env.protected, env.read_only) for name, env in self.settings.environments.items()}
        self.push_screen(EnvironmentPicker(choices, self.hub.env_name), self._switch_to_chosen)

    def _switch_to_chosen(self, name: str | None) -> None:
        if name:
            self.switch_environment(name)

    def action_fleet(self) -> None:
        from mlops_tui.tui.fleet import FleetScreen

        if isinstance(self.screen, FleetScreen):
            return
        hubs = {name: self.hub_for(name) for name in self.settings.environments}
        intervals = [env.mlflow.refresh_seconds for env in self.settings.environments.values() if env.mlflow]
        self.push_screen(FleetScreen(self.hub, hubs, interval=min(intervals, default=30.0)))

    @work(exclusive=True, group="switch-env")
    async def switch_environment(self, name: str, model: str | None = None) -> None:
        """Show environment `name` instead of the current one; with `model`, open that model there."""
        from mlops_tui.tui.screens import ModelScreen

        self.back_to_dashboard()
        if name != self.hub.env_name:
            self.hub = self.hub_for(name)
            self.sub_title = name
            await self.recompose()
            self.show_sources()
        if model is not None:
            self.push_screen(ModelScreen(self.hub, self.hub.registered_name(model)))

    # -- write actions: plan, confirm in a modal, then the one policy ----------------------------

    @work(group="write", exclusive=True, exit_on_error=False)
    async def promote(
        self, hub: Hub, model: str, versions: list[ModelVersion] | None, selected: str | None
    ) -> None:
        """Ask what to promote, then plan, confirm and perform it."""
        from mlops_tui.tui.dialogs import PromoteDialog

        try:
            if versions is None:
                _, versions = await hub.model(model)
        except MlopsError as exc:
            self.notify(exc.message, title=exc.title, severity="error")
            return
        mode = hub.env.mlflow.promotion if hub.env.mlflow else "alias"
        choice = await self.push_screen_wait(
            PromoteDialog(
                model,
                versions,
                selected=selected,
                mode=mode,
                environment=hub.env_name,
                environments=list(self.settings.environments),
            )
        )
        if choice is None:
            return
        name, operator = hub.model_name(model), self.settings.operator_name
        if choice.to_env:
            target = self.hub_for(choice.to_env)
            await self._write(
                target,
                lambda: plan_cross_env_promotion(
                    hub, target, name, choice.version, alias=None, operator=operator
                ),
            )
            return
        alias, stage = (choice.slot, None) if mode == "alias" else (None, choice.slot)
        await self._write(
            hub,
            lambda: plan_promotion(hub, name, choice.version, alias=alias, stage=stage, operator=operator),
        )

    @work(group="write", exclusive=True, exit_on_error=False)
    async def rollback(self, hub: Hub, model: str) -> None:
        """Plan the rollback of the environment's default slot, confirm it, perform it."""
        name = hub.model_name(model)
        await self._write(
            hub,
            lambda: plan_rollback(hub, self.journal, name, operator=self.settings.operator_name),
        )

    @work(group="write", exclusive=True, exit_on_error=False)
    async def retrain(self, hub: Hub, model: str) -> None:
        """Plan the environment's retraining of `model`, confirm it, start it."""
        name = hub.model_name(model)
        await self._write(hub, lambda: _ready(plan_retrain(hub, name, {})))

    @work(group="write", exclusive=True, exit_on_error=False)
    async def change_pipeline(self, hub: Hub, item_id: str, verb: str, job: bool = False) -> None:
        """Cancel or retry a pipeline (or one of its jobs), confirmed first."""
        await self._write(
            hub,
            lambda: plan_pipeline_change(hub, item_id, verb=verb, job=job),  # type: ignore[arg-type]
        )

    @work(group="write", exclusive=True, exit_on_error=False)
    async def silence(self, hub: Hub, alert: Alert) -> None:
        """Ask for the silence's matchers, duration and comment, then plan, confirm and create it."""
        from mlops_tui.tui.dialogs import SilenceDialog

        operator = self.settings.operator_name
        request = await self.push_screen_wait(SilenceDialog(alert, author=operator))
        if request is None:
            return
        await self._write(
            hub,
            lambda: _ready(
                plan_silence(
                    hub,
                    alert.source,
                    request.matchers,
                    duration=request.duration,
                    comment=request.comment,
                    operator=operator,
                )
            ),
        )

    @work(group="write", exclusive=True, exit_on_error=False)
    async def expire_silence(self, hub: Hub, silence_id: str) -> None:
        """End a silence now, confirmed first."""
        await self._write(hub, lambda: plan_expiry(hub, silence_id))

    def open_alert_model(self, hub: Hub, alert: Alert) -> None:
        """The versions of the model an alert concerns: the first step of triage."""
        from mlops_tui.tui.screens import ModelScreen

        model = hub.alert_model(alert)
        if model is None:
            self.notify(f"{alert.name} names no model", severity="warning")
            return
        self.push_screen(ModelScreen(hub, hub.registered_name(model)))

    @work(group="write", exclusive=True, exit_on_error=False)
    async def shift_traffic(self, hub: Hub, endpoint_id: str) -> None:
        """Ask for the new traffic split of an endpoint, then plan, confirm and perform it."""
        from mlops_tui.tui.dialogs import TrafficDialog

        try:
            endpoint = await hub.endpoint(endpoint_id)
        except MlopsError as exc:
            self.notify(exc.message, title=exc.title, severity="error")
            return
        split = await self.push_screen_wait(TrafficDialog(endpoint))
        if split is not None:
            await self._write(hub, lambda: plan_traffic(hub, endpoint_id, split))

    @work(group="write", exclusive=True, exit_on_error=False)
    async def rollback_traffic(self, hub: Hub, endpoint_id: str) -> None:
        """Plan the return to the split before the endpoint's last change, confirm it, perform it."""
        await self._write(hub, lambda: plan_traffic_rollback(hub, self.journal, endpoint_id))

    @work(group="write", exclusive=True, exit_on_error=False)
    async def undeploy(self, hub: Hub, endpoint_id: str, deployed_model_id: str) -> None:
        """Plan undeploying one model from an endpoint, confirm it, perform it."""
        await self._write(hub, lambda: plan_undeploy(hub, endpoint_id, deployed_model_id))

    @work(group="follow", exit_on_error=False)
    async def follow_pipeline(self, hub: Hub, pipeline: Pipeline) -> None:
        """Watch a pipeline this app started and say how it ended."""
        while not pipeline.done:
            await asyncio.sleep(FOLLOW_SECONDS)
            try:
                pipeline, _ = await hub.pipeline(pipeline.id)
            except MlopsError:
                continue  # the pane shows the outage; keep following
        self.notify(
            f"{pipeline.source} pipeline {pipeline.id} ended {pipeline.status}"
            + (f" ({pipeline.model})" if pipeline.model else ""),
            severity="information" if pipeline.status == "success" else "error",
            timeout=15,
        )
        self.action_refresh()

    @work(group="open-log", exclusive=True, exit_on_error=False)
    async def open_log_of(self, hub: Hub, pipeline: Pipeline) -> None:
        """Open the live log of a pipeline just started (its first job's), or the pipeline while
        it has no job yet."""
        from mlops_tui.tui.screens import PipelineScreen, TraceScreen

        try:
            pipeline, jobs = await hub.pipeline(pipeline.id)
        except MlopsError:
            jobs = []
        if jobs:
            self.push_screen(TraceScreen(hub, jobs[0].id, job=jobs[0], pipeline=pipeline))
        else:
            self.push_screen(PipelineScreen(hub, pipeline.id))

    async def _write(self, hub: Hub, plan: Callable[[], Awaitable[WriteAction]]) -> None:
        from mlops_tui.tui.dialogs import ConfirmDialog
        from mlops_tui.tui.screens import DetailScreen

        async def ask(change: Change, typed: str | None) -> Approval | None:
            approval: Approval | None = await self.push_screen_wait(
                ConfirmDialog(change, typed=typed, protected=hub.env.protected)
            )
            return approval

        try:
            action = await plan()
        except MlopsError as exc:
            self.notify(exc.message, title=exc.title, severity="error")
            return
        try:
            written = await run_write(
                action, policy=hub.policy, journal=self.journal, operator=self.settings.operator_name, ask=ask
            )
        except MlopsError as exc:
            self.notify(exc.message, title=exc.title, severity="error", timeout=10)
        else:
            if written.result == "unchanged":
                self.notify(f"{written.change.target} is already {written.change.after}")
                return
            if written.result == "cancelled":
                self.notify("Cancelled: nothing changed", timeout=3)
                return
            started = getattr(action, "started", None)
            if isinstance(started, Pipeline):
                self.notify(
                    f"Started {written.change.after} for {written.change.target}: its live log is open",
                    title="Recorded in the journal",
                )
                self.follow_pipeline(hub, started)
                self.open_log_of(hub, started)
            else:
                self.notify(f"Done: {written.change.summary()}", title="Recorded in the journal")
        self.action_refresh()
        for screen in self.screen_stack[1:]:
            if isinstance(screen, DetailScreen):
                screen.refresh_after_write()

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
        from mlops_tui.tui.alert_screens import AlertScreen
        from mlops_tui.tui.screens import HistoryScreen, ModelScreen, PipelineScreen, RunScreen

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
            yield SystemCommand(
                f"Promote {model}", "Move an alias or stage", partial(self.promote, hub, model, None, None)
            )
            yield SystemCommand(
                f"Roll back {model}", "Back to the previous version", partial(self.rollback, hub, model)
            )
            if hub.env.retrain is not None:
                yield SystemCommand(
                    f"Retrain {model}", "Start the retraining pipeline", partial(self.retrain, hub, model)
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


async def _ready(action: WriteAction) -> WriteAction:
    return action


def make_app(
    settings: Settings, env_name: str | None = None, *, clock: Callable[[], datetime] = utcnow
) -> MlopsApp:
    """The one app factory, shared by the CLI, the tests and the screenshots."""
    return MlopsApp(settings, env_name, clock=clock)
