"""What a user looks for and now finds: runs ordered by a metric on the server, the page of what is
selected in its web UI, the reason a filter was refused, and no stray scrollbar glyphs."""

from __future__ import annotations

import math
from pathlib import Path

from mlops_tui.config import LOCAL_RULES, EnvironmentSettings, MlflowSettings, Settings
from mlops_tui.domain import Run
from mlops_tui.tui.panes import AlertsPane, RunsPane
from mlops_tui.tui.screens.details import RunScreen
from tests.helpers.hostile import terminal_output
from tests.helpers.tui import demo_app, loaded, notified, open_filter, pane, shown, status_line, until

SIZE = (120, 36)


def metric_values(runs: RunsPane, key: str) -> list[float]:
    items: list[Run] = [item for _, item in runs.shown()]  # type: ignore[misc]
    return [run.metrics[key] for run in items if key in run.metrics and not math.isnan(run.metrics[key])]


async def test_o_orders_the_runs_by_each_key_metric_on_the_server(demo_settings: Settings) -> None:
    app = demo_app(demo_settings)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, loaded(app))
        runs = pane(app, "runs")
        assert isinstance(runs, RunsPane)
        runs.table.focus()
        first = runs.orders()[1]
        assert first is not None
        key = first[0]
        newest = [run_id for run_id, _ in runs.shown()]
        await pilot.press("o")
        await until(pilot, lambda: f"by {key}, highest first" in status_line(app, "runs"))
        await until(pilot, lambda: [run_id for run_id, _ in runs.shown()] != newest)
        highest = metric_values(runs, key)
        assert highest == sorted(highest, reverse=True) and len(highest) > 3
        await pilot.press("o")
        await until(pilot, lambda: f"by {key}, lowest first" in status_line(app, "runs"))
        await until(pilot, lambda: metric_values(runs, key) == sorted(highest))
        for _ in range(len(runs.orders()) - 2):  # every other order, then newest first again
            await pilot.press("o")
        await until(
            pilot,
            lambda: "highest" not in status_line(app, "runs") and "lowest" not in status_line(app, "runs"),
        )
        await until(pilot, lambda: [run_id for run_id, _ in runs.shown()] == newest)


async def test_w_copies_the_web_page_of_what_is_selected(mlflow_server: str) -> None:
    settings = Settings(
        {"remote": EnvironmentSettings(mlflow=MlflowSettings(tracking_uri=mlflow_server))}, "remote"
    )
    app = demo_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, loaded(app))
        runs = pane(app, "runs")
        runs.table.focus()
        key = runs.selected()
        run = runs.item(key) if key else None
        assert isinstance(run, Run)
        await pilot.press("w")
        page = f"{mlflow_server}/#/experiments/{run.experiment_id}/runs/{run.id}"
        await until(pilot, lambda: notified(app, page))
        assert app.clipboard == page
        pane(app, "models").table.focus()
        await pilot.press("w")
        await until(pilot, lambda: app.clipboard.startswith(f"{mlflow_server}/#/models/"))
        runs.table.focus()
        await pilot.press("enter")
        screen = await shown(pilot, RunScreen)
        await until(pilot, lambda: screen.detail is not None)
        app.copy_to_clipboard("")
        await pilot.press("w")
        await until(pilot, lambda: app.clipboard == page)


async def test_a_store_without_a_web_ui_says_so(demo_settings: Settings) -> None:
    app = demo_app(demo_settings)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, loaded(app))
        pane(app, "runs").table.focus()
        await pilot.press("w")
        await until(pilot, lambda: notified(app, "No web page to open for this"))


async def test_a_refused_alert_filter_says_why_at_80_columns(
    demo_store: MlflowSettings, tmp_path: Path
) -> None:
    environment = EnvironmentSettings(mlflow=demo_store, rules=list(LOCAL_RULES))
    app = demo_app(Settings({"dev": environment}, "dev", journal=tmp_path / "journal.db"))
    async with app.run_test(size=(80, 24)) as pilot:
        alerts = app.query_one("#alerts", AlertsPane)
        await until(pilot, lambda: alerts.table.row_count == 2)
        alerts.table.focus()
        await open_filter(pilot)
        await pilot.press(*"metrics.val_auc > 0.8", "enter")
        await until(pilot, lambda: "does not parse" in status_line(app, "alerts"))
        shown_text = terminal_output(app)
        for part in ("does not parse", 'name="value"'):
            assert part in shown_text


async def test_unfocused_panes_draw_no_horizontal_scrollbar(
    demo_store: MlflowSettings, tmp_path: Path
) -> None:
    environment = EnvironmentSettings(mlflow=demo_store, rules=list(LOCAL_RULES))
    app = demo_app(Settings({"dev": environment}, "dev", journal=tmp_path / "journal.db"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, loaded(app))
        pane(app, "runs").table.focus()
        await until(pilot, lambda: pane(app, "runs").table.styles.scrollbar_size_horizontal == 1)
        for name in ("models", "alerts"):
            assert pane(app, name).table.styles.scrollbar_size_horizontal == 0, name
