"""The TUI driven through Textual's Pilot against a real MLflow (sqlite store and real server)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from urllib.parse import urlparse

import msgspec
import pytest
from textual._compositor import LayoutUpdate
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import DataTable, OptionList
from textual.widgets._toast import Toast

from mlops_tui.config import EnvironmentSettings, MlflowSettings, Settings
from mlops_tui.tui.chart import MetricChart
from mlops_tui.tui.header import EnvBar
from mlops_tui.tui.panes.base import PaneTable, ResourcePane
from mlops_tui.tui.screens.details import ModelScreen, RunScreen
from mlops_tui.tui.screens.picker import EnvironmentPicker
from tests.helpers.tcp_proxy import TcpProxy
from tests.helpers.tui import (
    SIZE,
    demo_app,
    loaded,
    measured,
    open_filter,
    pane,
    rows,
    shown,
    status_line,
    until,
)


async def test_dashboard_shows_runs_models_and_source_health(demo_settings: Settings) -> None:
    app = demo_app(demo_settings)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, loaded(app))
        assert rows(app, "runs") == 44
        assert rows(app, "models") == 3
        runs = pane(app, "runs").table
        newest_first = (await app.hub.runs()).items
        assert [runs.get_row_at(i)[0] for i in range(runs.row_count)] == [r.name for r in newest_first]
        starts = [r.start_time for r in newest_first]
        assert starts == sorted(starts, reverse=True)  # type: ignore[type-var]
        running = runs.get_row(next(r.id for r in newest_first if r.name == "churn-logreg-018"))
        assert str(running[1]) == "running"
        header = str(app.query_one(EnvBar).render())
        assert "LOCAL" in header and "mlflow ● ok" in header
        models = pane(app, "models").table
        churn = models.get_row_at(0)
        assert churn[0] == "churn" and "champion v3" in str(churn[1])
        assert "not configured" in str(app.query_one("#pipelines Static").render())
        assert "not configured" in str(app.query_one("#alerts Static").render())


async def test_a_poll_that_ends_while_the_app_closes_is_let_go(demo_settings: Settings) -> None:
    app = demo_app(demo_settings)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, loaded(app))
        # A pane's poll that has just ended: its message is on its way up when the app closes.
        app.screen.post_message(ResourcePane.Polled())
    assert app.return_code is None  # no error ended it (an error sets 1)


async def test_enter_opens_a_run_with_history_and_back(demo_settings: Settings) -> None:
    app = demo_app(demo_settings)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, loaded(app))
        table = pane(app, "runs").table
        finished = next(i for i in range(table.row_count) if str(table.get_row_at(i)[1]) == "finished")
        table.move_cursor(row=finished)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.detail is not None)
        screen = app.screen
        assert isinstance(screen, RunScreen)
        assert screen.detail is not None and screen.detail.run.name == table.get_row_at(finished)[0]
        assert screen.detail.run.status == "FINISHED"
        params = screen.query_one("#params", DataTable)
        assert {params.get_row_at(i)[0] for i in range(params.row_count)} >= {"algorithm", "learning_rate"}
        chart = screen.query_one("#chart", MetricChart)
        assert chart.values == [[p.value for p in screen.detail.history["drift_psi"]]]
        metrics = screen.query_one("#metrics", DataTable)
        metrics.focus()
        metrics.move_cursor(
            row=[metrics.get_row_at(i)[0] for i in range(metrics.row_count)].index("train_loss")
        )
        # The highlighted metric: train_loss over 20 steps.
        await until(pilot, lambda: [len(v) for v in chart.values] == [20])
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, RunScreen))


async def test_model_versions_show_aliases_and_jump_to_the_run(demo_settings: Settings) -> None:
    app = demo_app(demo_settings)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, loaded(app))
        pane(app, "models").table.focus()
        await pilot.press("enter")  # churn
        await until(pilot, lambda: isinstance(app.screen, ModelScreen) and bool(app.screen.versions))
        screen = app.screen
        assert isinstance(screen, ModelScreen)
        table = screen.query_one("#model-versions", DataTable)
        cells = {table.get_row_at(i)[0]: str(table.get_row_at(i)[1]) for i in range(table.row_count)}
        assert cells == {"v4": "challenger", "v3": "champion", "v2": "", "v1": ""}
        champion_run = next(v.run_id for v in screen.versions if v.version == "3")
        await pilot.press("down", "enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.detail is not None)
        assert isinstance(app.screen, RunScreen) and app.screen.run_id == champion_run


async def test_filter_runs_on_the_server_and_reject_bad_syntax(demo_settings: Settings) -> None:
    app = demo_app(demo_settings)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, loaded(app))
        expected = await app.hub.runs("params.algorithm = 'xgb'")
        await open_filter(pilot)
        await pilot.press(*"params.algorithm = 'xgb'", "enter")
        await until(pilot, lambda: rows(app, "runs") == len(expected.items))
        names = {pane(app, "runs").table.get_row_at(i)[0] for i in range(rows(app, "runs"))}
        assert names == {r.name for r in expected.items} and all("-xgb-" in n for n in names)
        assert "filter: params.algorithm = 'xgb'" in status_line(app, "runs")

        await open_filter(pilot)
        await pilot.press("ctrl+u", *"metrics.val_auc >>> 1", "enter")
        await until(pilot, lambda: "Filter rejected" in status_line(app, "runs"))
        assert rows(app, "runs") == len(expected.items)  # the last good rows stay
        assert "mlflow ● ok" in str(app.query_one(EnvBar).render())  # a bad query is no outage


async def test_unreachable_server_keeps_last_data_and_recovers(
    mlflow_server: str, demo_store: MlflowSettings
) -> None:
    target = urlparse(mlflow_server)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 80)
    await proxy.start()
    fast = MlflowSettings(tracking_uri=proxy.url, refresh_seconds=0.2, timeout_seconds=2)
    settings = Settings({"remote": EnvironmentSettings(mlflow=fast)}, "remote")
    app = demo_app(settings)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, loaded(app))
            before = rows(app, "runs")
            await proxy.stop()
            await until(pilot, lambda: "cannot reach" in status_line(app, "runs"))
            assert "showing data from" in status_line(app, "runs")
            assert rows(app, "runs") == before
            # The header learns of it from the same poll's message, handled just after.
            await until(pilot, lambda: "mlflow ● down" in str(app.query_one(EnvBar).render()))
            await pilot.press("down")  # the keyboard still answers
            await until(pilot, lambda: pane(app, "runs").table.cursor_row == 1)
            await proxy.start()
            await until(pilot, lambda: "mlflow ● ok" in str(app.query_one(EnvBar).render()))
            await until(pilot, lambda: "cannot reach" not in status_line(app, "runs"))
    finally:
        await proxy.stop()


async def test_switch_environment_marks_a_protected_one(demo_store: MlflowSettings) -> None:
    settings = Settings(
        {
            "dev": EnvironmentSettings(mlflow=demo_store),
            "prd": EnvironmentSettings(mlflow=demo_store, protected=True),
        },
        "dev",
    )
    app = demo_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, loaded(app))
        dev_bar = app.query_one(EnvBar)
        assert not dev_bar.has_class("-protected")
        dev = app.hub
        await pilot.press("e")
        options = (await shown(pilot, EnvironmentPicker)).query_one(OptionList)
        assert options.option_count == 2
        await pilot.press("down", "enter")
        # The dashboard is built anew for the other environment: wait for the new one, loaded.
        await until(pilot, lambda: app.query_one(EnvBar) is not dev_bar and loaded(app)())
        assert app.hub.env_name == "prd"
        bar = app.query_one(EnvBar)
        assert bar.has_class("-protected")
        assert "PRD · PROTECTED" in str(bar.render())
        # The environment left keeps its hub (a local training run there goes on).
        assert app.hub_for("dev") is dev and app.hub is not dev


async def test_pause_refresh_and_keys(demo_settings: Settings) -> None:
    app = demo_app(demo_settings)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, loaded(app))
        await pilot.press("space")
        await until(pilot, lambda: app.polling_paused)
        assert "polling paused" in str(app.query_one(EnvBar).render())
        assert pane(app, "runs").paused
        await pilot.press("space")
        await until(pilot, lambda: not app.polling_paused)
        await pilot.press("question_mark")
        await until(pilot, lambda: type(app.screen).__name__ == "KeysScreen")
        await pilot.press("question_mark")
        await until(pilot, lambda: len(app.screen_stack) == 1)


async def test_runs_are_paged_on_the_server(demo_store: MlflowSettings) -> None:
    small = msgspec.structs.replace(demo_store, page_size=10)
    app = demo_app(Settings({"local": EnvironmentSettings(mlflow=small)}, "local"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, loaded(app))
        assert rows(app, "runs") == 10  # one page held, not the whole experiment
        first_page = pane(app, "runs").table.get_row_at(0)[0]
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: pane(app, "runs").table.get_row_at(0)[0] != first_page)
        assert rows(app, "runs") == 10
        assert "page 2" in status_line(app, "runs")
        await pilot.press("left_square_bracket")
        await until(pilot, lambda: pane(app, "runs").table.get_row_at(0)[0] == first_page)


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["120x36", "80x24"])
def test_dashboard_snapshot(
    snap_compare: Callable[..., bool], demo_settings: Settings, size: tuple[int, int]
) -> None:
    app = demo_app(demo_settings)

    async def filled(pilot: Pilot[None]) -> None:
        await until(pilot, loaded(app))
        await measured(pilot)

    assert snap_compare(app, terminal_size=size, run_before=filled)


class _TableApp(App[None]):
    def compose(self) -> ComposeResult:
        table = PaneTable()
        table.add_columns(("Run", "Run"), ("Started", "Started"))
        for n in range(20):
            table.add_row(f"run-{n}", "4m ago", key=f"r{n}")
        yield table


async def test_a_changed_cell_repaints_that_cell_alone() -> None:
    """A refresh where one age ticks writes that cell to the terminal, not the whole table (what a
    plain `DataTable.update_cell` does): an idle dashboard stays quiet over a slow link."""
    app = _TableApp()
    async with app.run_test(size=(60, 30)) as pilot:
        table = app.query_one(PaneTable)
        await pilot.pause()
        # Textual's pending repaints (private, but the only place they are visible); checked with
        # no await in between, so nothing paints meanwhile.
        table._repaint_regions.clear()
        table.update_cell_alone("r3", "Started", "5m ago")
        assert table.get_cell("r3", "Started") == "5m ago"
        assert len(table._repaint_regions) == 1
        (region,) = table._repaint_regions
        assert region.height == 1 and region.width < table.size.width // 2
        table._repaint_regions.clear()
        table.update_cell("r4", "Started", "5m ago")  # the DataTable way: everything
        assert {r.height for r in table._repaint_regions} == {table.outer_size.height}
        await pilot.pause()
        assert "5m ago" in str(table.render_line(3 + table.header_height))


async def test_a_frame_textual_drops_in_a_batch_is_drawn_again_whole(demo_store: MlflowSettings) -> None:
    """Textual sends nothing while a batch of updates is open, yet counts that frame as drawn. On a
    loaded machine, frames landing in a footer's recompose left alert names cut and toasts on
    screen; the app draws the whole screen again once the batch closes."""
    app = demo_app(Settings({"dev": EnvironmentSettings(mlflow=demo_store)}, "dev"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: rows(app, "models") > 0, "the models listed")
        await pilot.pause()
        frames = frames_sent(app)
        table = pane(app, "models").table
        with app.batch_update():
            # A frame drawn while a batch is open, as Textual's layout refresh can.
            table.refresh()
            app.screen._compositor.update_widgets({table})
            app.screen._compositor_refresh()
        assert frames == []
        await until(
            pilot,
            lambda: any(isinstance(f, LayoutUpdate) and f.region == app.screen.region for f in frames),
            "the whole screen sent once the batch closed",
            timeout=20,
        )


async def test_rows_drawn_before_they_were_measured_are_drawn_again_at_their_width() -> None:
    """A table measures new rows when idle; on a loaded machine a frame can be drawn before that,
    with every column as wide as its label, and Textual kept those lines cached: alert names stayed
    cut to `Champ` until a cell of theirs changed. Once measured, rows are drawn at their width."""

    class TwoTables(App[None]):
        CSS = "PaneTable { width: 1fr; height: 5; }"

        def compose(self) -> ComposeResult:
            yield PaneTable(id="focused")  # as the Runs pane holds the focus over the Alerts pane
            yield PaneTable(id="alerts")

    app = TwoTables()
    async with app.run_test(size=(60, 12)) as pilot:
        await until(pilot, lambda: app.focused is app.query_one("#focused"), "the first table focused")
        table = app.query_one("#alerts", PaneTable)
        table.add_columns(("Alert", "alert"), ("Model", "model"))
        table.add_row("ChampionAucLow", "churn", key="a")
        early = table.render_line(1).text  # a frame drawn before the table went idle
        assert "ChampionAucLow" not in early
        await until(pilot, lambda: not table._require_update_dimensions, "the new row measured")
        assert "ChampionAucLow" in table.render_line(1).text


async def test_an_update_a_screen_skips_in_a_batch_is_made_once_it_closes(demo_store: MlflowSettings) -> None:
    """A screen whose update comes due while a batch is open skips it and waits for its next
    message. Over tmux on a loaded machine a toast that expired in a batch stayed drawn over a
    dialog's buttons for a minute, the screen having nothing else to do; the app prompts the
    screen once the batch closes. (A pilot's pause updates the screen itself: not used here.)"""
    app = demo_app(Settings({"dev": EnvironmentSettings(mlflow=demo_store)}, "dev"))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: rows(app, "models") > 0, "the models listed")
        app.notify("Cancelled: nothing changed", timeout=600)
        await until(pilot, lambda: shows_a_toast(app), "the toast drawn")
        await pilot.pause()
        frames = frames_sent(app)
        with app.batch_update():
            app.query_one(Toast)._expire()
            while app.query(Toast):  # the toast leaves the screen's widgets...
                await asyncio.sleep(0.01)
            app.screen._on_timer_update()  # ...and the screen's update comes due in the batch
        assert shows_a_toast(app) and frames == []  # skipped: the toast is still drawn
        deadline = asyncio.get_running_loop().time() + 10
        while shows_a_toast(app):
            assert asyncio.get_running_loop().time() < deadline, "the toast is still drawn"
            await asyncio.sleep(0.05)
        assert frames  # and what replaced it was sent to the terminal


def shows_a_toast(app: App[object]) -> bool:
    return any(isinstance(widget, Toast) for widget in app.screen._compositor.visible_widgets)


def frames_sent(app: App[None]) -> list[object]:
    """What `app` sends to the terminal from now on, outside batches of updates (filled as it goes)."""
    frames: list[object] = []
    display = app._display

    def sent(screen: object, renderable: object) -> None:
        if renderable is not None and not app._batch_count:
            frames.append(renderable)
        display(screen, renderable)  # type: ignore[arg-type]

    app._display = sent  # type: ignore[method-assign]
    return frames
