"""Run comparison: parameters and metrics of two or more runs side by side, what differs marked, and
the highlighted metric's histories drawn together."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import DataTable, Static

from mlops_tui.hub import Hub, RunDetail
from mlops_tui.text import humanize
from mlops_tui.tui.bindings import BindingList, bindings
from mlops_tui.tui.chart import MetricChart, Series, legend
from mlops_tui.tui.footer import KeyBar
from mlops_tui.tui.screens.base import DetailScreen
from mlops_tui.tui.terminal_safe import SafeTable

__all__ = ["CompareScreen", "Compared", "side_by_side"]

DIFFERS = "≠ "
"""Marks a row whose values differ (as well as its colour, for NO_COLOR)."""


@dataclass(frozen=True)
class Compared:
    """One key (a parameter, a metric) and its value in each run; None where a run lacks it."""

    key: str
    values: tuple[str | None, ...]

    @property
    def differs(self) -> bool:
        return len(set(self.values)) > 1


def side_by_side(per_run: Sequence[Mapping[str, str]]) -> list[Compared]:
    """Every key of any run, sorted, with each run's value."""
    keys = sorted({key for values in per_run for key in values})
    return [Compared(key, tuple(values.get(key) for values in per_run)) for key in keys]


class CompareScreen(DetailScreen):
    """Two or more runs side by side."""

    BINDINGS: ClassVar[BindingList] = bindings("differences")

    def __init__(self, hub: Hub, run_ids: Sequence[str]) -> None:
        super().__init__(hub)
        self.run_ids = list(run_ids)
        self.details: list[RunDetail] = []
        self.only_differences = False

    def body(self) -> ComposeResult:
        yield Static(f"Comparing {len(self.run_ids)} runs: loading…", classes="detail-title")
        with Horizontal(id="compare-tables"):
            yield SafeTable(cursor_type="row", zebra_stripes=True, id="compare-params")
            yield SafeTable(cursor_type="row", zebra_stripes=True, id="compare-metrics")
        yield Static("", id="compare-legend")
        yield MetricChart(id="compare-chart")
        yield KeyBar()

    async def show(self) -> None:
        self.details = list(await asyncio.gather(*(self.hub.run_detail(r) for r in self.run_ids)))
        self.query_one(".detail-title", Static).update(
            Text.assemble(
                (f"Comparing {len(self.details)} runs", "bold"),
                "  ",
                (DIFFERS, "bold yellow"),
                "differs · d: only what differs",
            )
        )
        self._fill()
        metrics = self.query_one("#compare-metrics", DataTable)
        if metrics.row_count:
            self._plot(str(metrics.coordinate_to_cell_key(metrics.cursor_coordinate).row_key.value))

    def params(self) -> list[Compared]:
        return side_by_side([d.run.params for d in self.details])

    def metrics(self) -> list[Compared]:
        return side_by_side([{k: humanize.metric(v) for k, v in d.run.metrics.items()} for d in self.details])

    def _fill(self) -> None:
        for selector, label, compared in (
            ("#compare-params", "Parameter", self.params()),
            ("#compare-metrics", "Metric", self.metrics()),
        ):
            table = self.query_one(selector, DataTable)
            table.clear(columns=True)
            table.add_column(label, key="key")
            for index, detail in enumerate(self.details):
                table.add_column(f"{index + 1} {detail.run.name}", key=detail.run.id)
            for row in compared:
                if self.only_differences and not row.differs:
                    continue
                table.add_row(*_cells(row), key=row.key)

    def action_toggle_differences(self) -> None:
        self.only_differences = not self.only_differences
        self._fill()

    def _plot(self, metric: str) -> None:
        series = [Series(d.run.name, d.history.get(metric, ())) for d in self.details]
        self.query_one("#compare-chart", MetricChart).plot(series)
        self.query_one("#compare-legend", Static).update(
            Text.assemble((metric, "bold"), "  ", legend(series))
        )

    @on(DataTable.RowHighlighted, "#compare-metrics")
    def _metric_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value:
            self._plot(event.row_key.value)


def _cells(row: Compared) -> list[Text]:
    if not row.differs:
        return [Text(row.key), *(Text(v or "") for v in row.values)]
    return [
        Text.assemble((DIFFERS, "bold yellow"), (row.key, "bold yellow")),
        *(Text(v, style="bold") if v is not None else Text("(none)", style="dim") for v in row.values),
    ]
