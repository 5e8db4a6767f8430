"""The fleet view: every configured environment at once, one row per model, with its MLOps maturity
level; Enter on an environment's cell switches the app there and opens the model."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from mlops_tui.domain import Page, Series
from mlops_tui.hub import Hub
from mlops_tui.ops.journal import Journal
from mlops_tui.sources.registry import Role
from mlops_tui.text import humanize
from mlops_tui.tui.bindings import BindingList, bindings
from mlops_tui.tui.chart import now_text
from mlops_tui.tui.footer import KeyBar
from mlops_tui.tui.header import EnvScreen
from mlops_tui.tui.panes.base import Cell, ResourcePane, Row
from mlops_tui.tui.requests import FleetRequests
from mlops_tui.tui.screens.maturity import MATURITY_SECONDS, level_text
from mlops_tui.tui.styles import env_label, pipeline_status_text
from mlops_tui.views.fleet import FleetRow, ServedVersion, read_fleet
from mlops_tui.views.maturity import read_maturity

__all__ = ["FleetPane", "FleetScreen"]

MODEL_COLUMN, PIPELINE_COLUMN, ALERTS_COLUMN, MATURITY_COLUMN = "Model", "Last pipeline", "Alerts", "Maturity"
NOT_WATCHED = "–"
"""The alerts cell when no environment reports alerts."""


class FleetPane(ResourcePane[FleetRow], FleetRequests):
    """One row per model of interest: what each environment serves, the last pipeline, alerts, and
    its maturity level (the lowest and highest over the environments; `L` opens the details)."""

    title = "Fleet"
    filter_placeholder = "part of a model name"
    cursor_type = "cell"

    def __init__(
        self, hub: Hub, hubs: Mapping[str, Hub], journal: Journal, *, interval: float, id: str | None = None
    ) -> None:
        super().__init__(hub, interval=interval, id=id)
        self.hubs = dict(hubs)
        self.journal = journal
        self.problems: dict[str, str] = {}
        self.levels: dict[str, list[int]] = {}
        """Model -> its maturity level in each environment assessing it."""
        self._levels_at: datetime | None = None
        self._headlines: dict[tuple[str, str], Series | None] = {}
        self._headlines_at: datetime | None = None
        refreshes = [b.refresh_in(h.env) for h in self.hubs.values() for b in h.backends_for(Role.METRICS)]
        self._metrics_seconds = min(refreshes, default=0.0)
        """The headlines are read again once this old (the fastest metrics source's refresh)."""

    async def fetch(self, filter_text: str, page_token: str | None) -> Page[FleetRow]:
        now = self.hub.clock()
        due = (
            self._headlines_at is None or (now - self._headlines_at).total_seconds() >= self._metrics_seconds
        )
        fleet, _ = await asyncio.gather(read_fleet(self.hubs, with_headlines=due), self._read_levels())
        self.problems = fleet.problems
        if due:
            self._headlines_at = now
            self._headlines = {
                (row.model, env): served.headline for row in fleet.rows for env, served in row.serving.items()
            }
        rows = [self._with_kept_headlines(r) for r in fleet.rows]
        wanted = filter_text.lower()
        return Page(tuple(r for r in rows if wanted in r.model.lower()))

    def _with_kept_headlines(self, row: FleetRow) -> FleetRow:
        """The row with the headlines last read (they are read at the metrics sources' pace)."""
        serving = {
            env: served
            if served.headline
            else replace(served, headline=self._headlines.get((row.model, env)))
            for env, served in row.serving.items()
        }
        return replace(row, serving=serving)

    async def _read_levels(self) -> None:
        """The maturity levels, read again once they are a minute old: they move in days."""
        now = self.hub.clock()
        if self._levels_at is not None and (now - self._levels_at).total_seconds() < MATURITY_SECONDS:
            return
        levels: dict[str, list[int]] = {}
        for assessment in (await read_maturity(self.hubs, self.journal)).assessments:
            levels.setdefault(assessment.model, []).append(assessment.level)
        self.levels, self._levels_at = levels, now

    def columns_for(self, items: Sequence[FleetRow]) -> tuple[str, ...]:
        return (MODEL_COLUMN, *self.hubs, PIPELINE_COLUMN, ALERTS_COLUMN, MATURITY_COLUMN)

    def column_label(self, column: str) -> Cell:
        if column in self.hubs:
            env = self.hubs[column].env
            return env_label(column, protected=env.protected, read_only=env.read_only)
        return column

    def row(self, item: FleetRow) -> Row:
        pipeline: Cell = "—"
        if item.last_pipeline is not None:
            env, last = item.last_pipeline
            pipeline = Text.assemble(
                pipeline_status_text(last.status), f" {env} {humanize.age(last.created, self.hub.clock())}"
            )
        alerts: Cell = NOT_WATCHED if item.firing is None else _alerts(item.firing)
        return Row(
            item.model,
            (
                item.model,
                *(_serving(item.serving[env]) for env in self.hubs),
                pipeline,
                alerts,
                _levels(self.levels.get(item.model, [])),
            ),
        )

    def status_parts(self) -> list[str]:
        return [f"{env}: {problem}" for env, problem in self.problems.items()]

    def environment_at(self, column: int) -> str:
        """The environment of a column; other columns stand for the current one (the pane's hub)."""
        names = list(self.hubs)
        if 1 <= column <= len(names):
            return names[column - 1]
        return self.hub.env_name

    @on(DataTable.CellSelected)
    def _cell_selected(self, event: DataTable.CellSelected) -> None:
        event.stop()
        model = event.cell_key.row_key.value
        if model is not None:
            self.post_message(self.ModelRequested(self.environment_at(event.coordinate.column), model))


def _serving(serving: ServedVersion) -> Cell:
    if serving.problem is not None:
        return Text(serving.problem, style="bold red")
    if not serving.registered:
        return Text("—", style="dim")
    if serving.version is None:
        return Text(f"no {serving.slot}", style="yellow")
    cell = Text.assemble((serving.version, "bold"), (f" {serving.slot}", "dim"))
    if serving.headline is not None and serving.headline.points:
        # The environment's headline value beside what it serves: `v3 champion 224 ms !`.
        cell.append(" ")
        cell.append_text(now_text(serving.headline))
    return cell


def _levels(levels: list[int]) -> Cell:
    if not levels:
        return Text("—", style="dim")
    low, high = min(levels), max(levels)
    return level_text(low) if low == high else Text.assemble(level_text(low), "–", level_text(high))


def _alerts(firing: int) -> Cell:
    return Text(f"{firing} firing", style="bold red") if firing else Text("0", style="green")


class FleetScreen(EnvScreen):
    """The fleet pane over the whole screen."""

    BINDINGS: ClassVar[BindingList] = bindings("back", "reload")

    def __init__(self, hub: Hub, hubs: Mapping[str, Hub], journal: Journal, *, interval: float) -> None:
        super().__init__()
        self.hub = hub
        self.hubs = hubs
        self.journal = journal
        self.interval = interval

    def body(self) -> ComposeResult:
        yield Static(
            Text.assemble(
                ("Fleet", "bold"),
                f" of {humanize.count(len(self.hubs), 'environment')} · enter: open the model in the"
                " highlighted one · L: maturity",
            ),
            classes="detail-title",
        )
        yield FleetPane(self.hub, self.hubs, self.journal, interval=self.interval, id="fleet")
        yield KeyBar()

    def action_reload(self) -> None:
        self.query_one(FleetPane).poll_now()
