"""The Models pane: registered models with their aliases or stages, the headline serving series of
what each serves (where the environment has a metrics source), and the keys that act on one."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import work
from textual.timer import Timer

from mlops_tui.domain import Page, RegisteredModel, Series
from mlops_tui.errors import MlopsError
from mlops_tui.hub import Hub
from mlops_tui.ops.registry import serving_slot
from mlops_tui.sources.registry import Role
from mlops_tui.text import humanize
from mlops_tui.tui.bindings import MODEL_ACTIONS, WRITE_ACTIONS
from mlops_tui.tui.chart import headline_text, span_label
from mlops_tui.tui.panes.base import Cell, ResourcePane, Row
from mlops_tui.tui.requests import ModelRequests, write_possible
from mlops_tui.views.metrics import HEADLINE_WINDOW, Headline, headline_settings, headlines

__all__ = ["ModelsPane"]

SPARK_WIDTH = 8
"""Characters of a headline's sparkline: the pane fits 80 columns with it."""


class ModelsPane(ResourcePane[RegisteredModel], ModelRequests):
    """Registered models with their aliases (or stages), latest version and serving headline."""

    title = "Models"
    filter_placeholder = "part of a model name, or name LIKE 'ch%'"
    BINDINGS = MODEL_ACTIONS

    def __init__(self, hub: Hub, *, interval: float, id: str | None = None) -> None:
        super().__init__(hub, interval=interval, id=id)
        metrics = self.hub.backends_for(Role.METRICS)
        self.metrics_interval = metrics[0].refresh_in(self.hub.env) if metrics else None
        """Seconds between two reads of the headlines (the metrics backend's refresh); None: the
        environment has no metrics source."""
        self.headlines: dict[str, Headline] = {}
        """The newest headline answer per row (registered model name)."""
        self._kept: dict[str, Series] = {}
        self._asked: list[str] = []
        self._metrics_timer: Timer | None = None
        self._metrics_problem: str | None = None

    def action_promote(self) -> None:
        if name := self.selected():
            self.post_message(self.PromoteRequested(self.hub, name))

    def action_rollback(self) -> None:
        if name := self.selected():
            self.post_message(self.RollbackRequested(self.hub, name))

    def action_history(self) -> None:
        if name := self.selected():
            self.post_message(self.HistoryRequested(self.hub, name))

    def action_retrain(self) -> None:
        if name := self.selected():
            self.post_message(self.RetrainRequested(self.hub, name))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "retrain" and self.hub.env.retrain is None:
            return False
        if action in WRITE_ACTIONS:
            return write_possible(self.hub, chosen=self.selected() is not None)
        if action == "history":
            return None if self.selected() is None else True
        return super().check_action(action, parameters)

    async def fetch(self, filter_text: str, page_token: str | None) -> Page[RegisteredModel]:
        return await self.hub.models(filter_text, page_token=page_token)

    def columns_for(self, items: Sequence[RegisteredModel]) -> tuple[str, ...]:
        if self.metrics_interval is None:
            return ("Model", "Aliases / stages", "Latest", "Updated")
        return ("Model", "Aliases / stages", "Serving", "Latest", "Updated")

    def column_label(self, column: str) -> Cell:
        if column == "Serving":
            try:
                name, _ = headline_settings(self.hub)
            except MlopsError:
                return column
            return f"{name} {span_label(HEADLINE_WINDOW)}"
        return column

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
        serving: tuple[Cell, ...] = ()
        if self.metrics_interval is not None:
            serving = (
                headline_text(
                    self.headlines.get(item.name), kept=self._kept.get(item.name), width=SPARK_WIDTH
                ),
            )
        return Row(
            item.name,
            (
                item.name,
                labels,
                *serving,
                f"v{item.latest_version}" if item.latest_version else "",
                humanize.age(item.updated, self.hub.clock()),
            ),
        )

    def status_parts(self) -> list[str]:
        return [f"metrics: {self._metrics_problem}"] if self._metrics_problem else []

    # -- headlines: a second step after the rows, at the metrics source's own pace ------------

    def filled(self) -> None:
        if self.metrics_interval is None:
            return
        if [key for key, _ in self.shown()] != self._asked:
            # New rows (a filter, a page, the first fill): their headlines now, not at the next tick.
            self.poll_headlines()

    def poll_headlines(self) -> None:
        """Read the headlines of the rows shown, now."""
        if self._metrics_timer is not None:
            self._metrics_timer.stop()
            self._metrics_timer = None
        self._read_headlines()

    def _headlines_due(self) -> None:
        self._metrics_timer = None
        if self.paused:
            self._reschedule_headlines()
        else:
            self._read_headlines()

    def _reschedule_headlines(self) -> None:
        if self._metrics_timer is None and self.is_mounted and self.metrics_interval is not None:
            self._metrics_timer = self.set_timer(self.metrics_interval, self._headlines_due)

    @work(exclusive=True, group="headlines", exit_on_error=False)
    async def _read_headlines(self) -> None:
        shown = self.shown()
        self._asked = [key for key, _ in shown]
        models: dict[str, str | None] = {}
        keys: dict[str, str] = {}
        for key, model in shown:
            held = serving_slot(self.hub, model).read(model)
            name = self.hub.model_name(model.name)
            models[name] = held.removeprefix("v") if held else None
            keys[name] = key
        try:
            found = await headlines(self.hub, models, now=self.hub.clock())
        except MlopsError as exc:
            self._metrics_problem = exc.message
            found = {name: exc for name in models}
        else:
            errors = [f for f in found.values() if isinstance(f, MlopsError)]
            self._metrics_problem = errors[0].message if errors else None
        finally:
            self.post_message(self.Polled())
            self._reschedule_headlines()
        for name, answer in found.items():
            key = keys[name]
            self.headlines[key] = answer
            if isinstance(answer, Series):
                self._kept[key] = answer
            # Only the cells whose text changed are drawn again: an unchanged answer draws nothing.
            self.redraw_row(key)
        self.update_status()
