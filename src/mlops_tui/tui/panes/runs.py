"""The Runs pane: recent MLflow runs, ordered by a key metric, marked for comparison."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from mlops_tui.domain import Page, Run
from mlops_tui.hub import Hub
from mlops_tui.text import humanize
from mlops_tui.tui.bindings import bindings
from mlops_tui.tui.panes.base import Cell, ResourcePane, Row
from mlops_tui.tui.styles import status_text

__all__ = ["RUN_NAME_WIDTH", "RunsPane"]


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
        from mlops_tui.tui.screens.compare import CompareScreen

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
