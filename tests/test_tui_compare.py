"""Run comparison: mark runs in the Runs pane, compare their params and metrics, histories together."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from mlops_tui.config import Settings
from mlops_tui.tui import MlopsApp
from mlops_tui.tui.chart import MetricChart
from mlops_tui.tui.panes import RunsPane
from mlops_tui.tui.screens.compare import DIFFERS, CompareScreen
from tests.helpers.tui import demo_app, loaded, measured, pane, status_line, until


def compared(app: MlopsApp) -> Callable[[], bool]:
    return lambda: isinstance(app.screen, CompareScreen) and len(app.screen.details) > 1


async def mark_first(pilot: Pilot[None], app: MlopsApp, count: int) -> list[str]:
    """Mark the `count` finished runs at the top of the Runs pane; their ids."""
    table = pane(app, "runs").table
    finished = [i for i in range(table.row_count) if str(table.get_row_at(i)[1]) == "finished"][:count]
    runs = pane(app, "runs")
    assert isinstance(runs, RunsPane)
    for count_marked, row in enumerate(finished, start=1):
        table.move_cursor(row=row)
        await pilot.press("m")
        await until(pilot, lambda count_marked=count_marked: len(runs.marked) == count_marked)
    return list(runs.marked)


def table_rows(app: MlopsApp, selector: str) -> dict[str, list[str]]:
    table = app.screen.query_one(selector, DataTable)
    return {
        str(table.get_row_at(i)[0]): [str(c) for c in table.get_row_at(i)[1:]] for i in range(table.row_count)
    }


async def test_mark_compare_and_plot_histories_together(demo_settings: Settings) -> None:
    app = demo_app(demo_settings)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, loaded(app))
        pane(app, "runs").table.focus()
        assert "c compare" not in status_line(app, "runs")
        marked = await mark_first(pilot, app, 3)
        assert len(marked) == 3 and "3 marked · c compare" in status_line(app, "runs")
        runs = pane(app, "runs").table
        assert str(runs.get_row(marked[0])[0]).startswith("● ")
        # Unmarking one keeps the others; the compare key needs two.
        runs.move_cursor(row=runs.get_row_index(marked[2]))
        await pilot.press("m")
        await until(pilot, lambda: not str(runs.get_row(marked[2])[0]).startswith("● "))
        await pilot.press("c")
        await until(pilot, compared(app))
        screen = app.screen
        assert isinstance(screen, CompareScreen) and screen.run_ids == marked[:2]

        details = {d.run.id: d.run for d in screen.details}
        first, second = (details[i] for i in marked[:2])
        params = table_rows(app, "#compare-params")
        for key in set(first.params) | set(second.params):
            row_key = f"{DIFFERS}{key}" if first.params.get(key) != second.params.get(key) else key
            assert params[row_key] == [first.params.get(key, "(none)"), second.params.get(key, "(none)")]
        assert any(k.startswith(DIFFERS) for k in params)  # two demo runs differ in something
        metrics = table_rows(app, "#compare-metrics")
        assert {k.removeprefix(DIFFERS) for k in metrics} == set(first.metrics) | set(second.metrics)

        # The highlighted metric's histories, both runs, drawn together.
        chart = screen.query_one("#compare-chart", MetricChart)
        metric_table = screen.query_one("#compare-metrics", DataTable)
        metric_table.focus()
        target = next(i for i, k in enumerate(metrics) if k.endswith("train_loss"))
        metric_table.move_cursor(row=target)
        await until(
            pilot,
            lambda: chart.values == [[p.value for p in d.history["train_loss"]] for d in screen.details],
        )
        assert len(chart.values) == 2 and all(len(v) == 20 for v in chart.values)

        # Only what differs, and back.
        await pilot.press("d")
        await until(pilot, lambda: screen.only_differences)
        differing = table_rows(app, "#compare-params")
        assert differing and all(k.startswith(DIFFERS) for k in differing)
        await pilot.press("d")
        await until(pilot, lambda: not screen.only_differences)
        assert table_rows(app, "#compare-params") == params

        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, CompareScreen))
        await pilot.press("M")  # unmark all
        await until(pilot, lambda: "marked" not in status_line(app, "runs"))


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_compare_snapshot(
    snap_compare: Callable[..., bool], demo_settings: Settings, size: tuple[int, int]
) -> None:
    app = demo_app(demo_settings)

    async def open_comparison(pilot: Pilot[None]) -> None:
        await until(pilot, loaded(app))
        pane(app, "runs").table.focus()
        await mark_first(pilot, app, 3)
        await pilot.press("c")
        await until(pilot, compared(app))
        await measured(pilot)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=open_comparison)


async def test_a_run_without_the_metric_keeps_the_others_numbers_and_colours() -> None:
    from textual.app import App, ComposeResult

    from mlops_tui.domain import MetricPoint
    from mlops_tui.tui.chart import _AXIS_WIDTH, SERIES_STYLES, MetricChart, Series, legend

    def points(*values: float) -> list[MetricPoint]:
        return [MetricPoint(step=i, value=v) for i, v in enumerate(values)]

    series = [Series("run-a", points(0.1, 0.2)), Series("run-b", []), Series("run-c", points(0.9, 0.8))]

    class Chart(App[None]):
        def compose(self) -> ComposeResult:
            yield MetricChart(id="chart")

    app = Chart()
    async with app.run_test(size=(60, 10)) as pilot:
        chart = app.query_one(MetricChart)
        chart.plot(series)
        await pilot.pause()
        drawn = chart.render()
        plot = [line[_AXIS_WIDTH:] for line in drawn.plain.split("\n")]  # right of the axis
        ends = {character for line in plot for character in line if character.isdigit()}
        # Run 3's line ends in 3, in run 3's colour; nothing is labelled 2 (run 2 has no points).
        assert "3" in ends and "2" not in ends
        three = next(span for span in drawn.spans if drawn.plain[span.start : span.end] == "3")
        assert SERIES_STYLES[2] in str(three.style)
    text = legend(series)
    assert "2 run-b (not logged)" in text.plain and "3 run-c" in text.plain
