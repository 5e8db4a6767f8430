"""Serving metrics in the TUI, on the demo's monitoring runs (the `mlflow` kind): the Models pane's
headline sparklines with their threshold marks, the model screen's series with a marker at each
change of the slot, triage's before/after around the last change, the fleet's headline values and
the header's metrics source."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import DataTable, Static

from mlops_tui.config import (
    LOCAL_ENV,
    LOCAL_RULES,
    EnvironmentSettings,
    MetricsSettings,
    MlflowSettings,
    RetrainSettings,
    SeriesSettings,
    Settings,
)
from mlops_tui.domain import Series, SeriesPoint, Threshold
from mlops_tui.errors import BackendUnreachable
from mlops_tui.tui import MlopsApp
from mlops_tui.tui.chart import MARKER, MetricChart, headline_text, sparkline
from mlops_tui.tui.header import EnvBar
from mlops_tui.tui.panes.base import ResourcePane
from mlops_tui.tui.panes.models import ModelsPane
from mlops_tui.tui.screens.alerts import TriageScreen
from mlops_tui.tui.screens.details import ModelScreen
from mlops_tui.tui.serving import ServingChart
from tests.conftest import template_settings
from tests.helpers import DEMO_NOW
from tests.helpers.tui import demo_app, loaded, measured, until


def monitored_settings(store: Path, tmp_path: Path, **metrics: object) -> Settings:
    """`local` on a copy of the demo store holding the monitoring runs, read as the `mlflow` kind."""
    return Settings(
        environments={
            LOCAL_ENV: EnvironmentSettings(
                mlflow=template_settings(store),
                metrics=MetricsSettings(kind="mlflow", step_seconds=3600, **metrics),  # type: ignore[arg-type]
            )
        },
        default_env=LOCAL_ENV,
        journal=tmp_path / "journal.db",
    )


def serving_cells(app: MlopsApp) -> dict[str, str]:
    """Model -> the Models pane's serving cell, as plain text (what NO_COLOR shows)."""
    models = app.query_one(ModelsPane)
    table = models.table
    cells = {}
    for index in range(table.row_count):
        row = table.get_row_at(index)
        serving = row[list(table.columns).index("Serving")]
        cells[str(row[0])] = serving.plain if isinstance(serving, Text) else str(serving)
    return cells


def headlines_in(app: MlopsApp) -> bool:
    cells = serving_cells(app)
    return bool(cells) and all(c != "…" for c in cells.values())


def test_a_sparkline_spans_low_to_high_and_averages_to_fit() -> None:
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8], 8) == "▁▂▃▄▅▆▇█"
    assert sparkline([1, 1, 8, 8], 2) == "▁█"
    assert sparkline([5, 5, 5], 10) == "▄▄▄"
    assert sparkline([], 10) == ""


async def test_the_models_pane_shows_each_models_headline_marked_by_threshold(
    monitored_store: Path, tmp_path: Path
) -> None:
    app = demo_app(monitored_settings(monitored_store, tmp_path))
    async with app.run_test(size=(160, 36)) as pilot:
        await until(pilot, loaded(app))
        await until(pilot, lambda: headlines_in(app), "the headlines drawn")
        cells = serving_cells(app)
        # churn regressed after v3's promotion: ~240 ms, past the 200 ms warning (marked `!`).
        churn = cells["churn"]
        value = float(churn.split()[0])
        assert 200 < value < 300 and " ms ! " in churn, churn
        assert "!" not in cells["fraud"] and " ms " in cells["fraud"]
        label = app.query_one(ModelsPane).table.columns["Serving"].label.plain
        assert label == "latency_p95 24h"
        # Polling the metrics source for the headlines tells the header how it is.
        await until(pilot, lambda: "mlflow-metrics ● ok" in str(app.query_one(EnvBar).render()))


async def test_a_critical_threshold_is_marked_twice(monitored_store: Path, tmp_path: Path) -> None:
    series = {"latency_p95": SeriesSettings(query="latency_p95_ms", unit="ms", warn=100.0, critical=150.0)}
    app = demo_app(monitored_settings(monitored_store, tmp_path, series=series))
    async with app.run_test(size=(160, 36)) as pilot:
        await until(pilot, lambda: headlines_in(app), "the headlines drawn")
        assert " ms !! " in serving_cells(app)["churn"]


async def test_a_failing_metrics_source_marks_the_headlines_and_leaves_the_rows(
    monitored_store: Path, tmp_path: Path
) -> None:
    app = demo_app(monitored_settings(monitored_store, tmp_path, experiment="no-such-experiment"))
    async with app.run_test(size=(160, 36)) as pilot:
        await until(pilot, loaded(app))
        await until(pilot, lambda: headlines_in(app), "the headlines answered")
        models = app.query_one(ModelsPane)
        assert set(serving_cells(app).values()) == {"? unavailable"}
        status = str(models.query_one(".pane-status").render())
        assert "metrics: no experiment 'no-such-experiment'" in status
        assert models.table.row_count > 0 and not models.stale


def test_a_headline_kept_from_before_a_failure_is_marked_stale() -> None:
    points = tuple(SeriesPoint(DEMO_NOW - timedelta(hours=h), v) for h, v in ((2, 80.0), (1, 600.0)))
    series = Series("latency_p95", "ms", points, Threshold(warn=200.0, critical=500.0))
    failure = BackendUnreachable("mlflow-metrics", "connection refused")
    assert headline_text(series).plain == "600 ms !! ▁█"
    assert headline_text(failure, kept=series).plain == "600 ms !! ▁█ stale"
    assert headline_text(failure).plain == "? unavailable"
    assert headline_text(None).plain == "…"


def rendered(widget: Widget) -> str:
    shown = widget.render()
    return shown.plain if isinstance(shown, Text) else str(shown)


async def open_churn(pilot: Pilot[None]) -> ModelScreen:
    app = pilot.app
    assert isinstance(app, MlopsApp)
    await until(pilot, loaded(app))
    app.query_one(ModelsPane).table.focus()
    await pilot.press("enter")  # churn
    await until(
        pilot,
        lambda: isinstance(app.screen, ModelScreen) and app.screen.serving is not None,
        "churn's serving series read",
    )
    assert isinstance(app.screen, ModelScreen)
    return app.screen


async def test_the_model_screen_charts_each_series_with_a_marker_at_each_change(
    monitored_store: Path, tmp_path: Path
) -> None:
    app = demo_app(monitored_settings(monitored_store, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_churn(pilot)
        table = screen.query_one("#model-series", DataTable)
        cells = {str(table.get_row_at(i)[0]): table.get_row_at(i)[2].plain for i in range(table.row_count)}
        assert set(cells) == {"latency_p95", "error_rate", "requests", "drift"}
        assert cells["latency_p95"].endswith(" ms !") and cells["error_rate"].endswith(" % !")
        chart = screen.query_one("#model-chart", ServingChart)
        label = rendered(chart.query_one(".serving-label", Static))
        assert label.startswith("latency_p95 over 24h: now ") and "(warn 200 ms, critical 500 ms)" in label
        # Over 24h the promotion two days ago is out of view; over 7d it is marked.
        assert MARKER not in rendered(chart.query_one(MetricChart))
        assert rendered(chart.query_one(".serving-changes", Static)) == "no change of the slot in this window"
        await pilot.press("v")  # 24h -> 7d
        await until(pilot, lambda: "over 7d" in rendered(chart.query_one(".serving-label", Static)))
        await until(pilot, lambda: MARKER in rendered(chart.query_one(MetricChart)), "the promotion marked")
        changes = rendered(chart.query_one(".serving-changes", Static))
        assert changes == f"{MARKER} promote v2 → v3 by gitlab-ci 2d ago"
        # The window cycles on: 1h next.
        await pilot.press("v")
        await until(pilot, lambda: "over 1h" in rendered(chart.query_one(".serving-label", Static)))
        # Another series, charted once highlighted.
        table.focus()
        await pilot.press("down")
        label_of = chart.query_one(".serving-label", Static)
        await until(pilot, lambda: "error_rate over 1h" in rendered(label_of))


def triage_settings(store: Path, tmp_path: Path) -> Settings:
    """`local` on the monitored demo store with the shipped alert rules, as on a fresh machine."""
    settings = monitored_settings(store, tmp_path)
    env = settings.environments[LOCAL_ENV]
    return Settings(
        {LOCAL_ENV: msgspec.structs.replace(env, rules=list(LOCAL_RULES))},
        LOCAL_ENV,
        journal=tmp_path / "journal.db",
        operator="priya",
    )


async def open_triage(pilot: Pilot[None]) -> TriageScreen:
    app = pilot.app
    await until(pilot, lambda: app.query_one("#alerts", ResourcePane).table.row_count > 0, "alerts shown")
    await pilot.press("a", "enter")
    await until(
        pilot,
        lambda: isinstance(app.screen, TriageScreen) and app.screen.serving is not None,
        "triage's serving metrics read",
    )
    assert isinstance(app.screen, TriageScreen)
    return app.screen


async def test_triage_shows_the_series_around_the_last_change_and_before_and_after(
    monitored_store: Path, tmp_path: Path
) -> None:
    app = demo_app(triage_settings(monitored_store, tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_triage(pilot)
        assert screen.triage is not None and screen.triage.model == "churn"
        lines = rendered(screen.query_one("#triage-before-after", Static)).splitlines()
        latency = lines[0]
        assert latency.startswith("latency_p95 ") and " in the hour before v3, " in latency
        assert latency.endswith(" since: +198 % (worse) !"), latency
        assert lines[1].startswith("error_rate ") and lines[1].endswith("(worse) !")
        assert not lines[2].endswith("(worse)")  # requests barely moved
        chart = screen.query_one("#triage-chart", ServingChart)
        # The series the change made worst, charted from before the change, marked where it happened.
        assert rendered(chart.query_one(".serving-label", Static)).startswith("error_rate over ")
        assert MARKER in rendered(chart.query_one(MetricChart))
        changes = rendered(chart.query_one(".serving-changes", Static))
        assert changes == f"{MARKER} promote v2 → v3 by gitlab-ci 2d ago"
        # Roll back stays a key away.
        assert screen.check_action("rollback", ()) is True


SNAPSHOT_SIZES = [(80, 24), (120, 36)]
# The model screen has no snapshot: its versions table shows run ids, new at every seeding of the
# demo store; its tests assert on what it draws instead.


@pytest.mark.parametrize("size", SNAPSHOT_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_models_pane_headlines_snapshot(
    snap_compare: Callable[..., bool],
    monitored_store: Path,
    demo_store: MlflowSettings,
    tmp_path: Path,
    size: tuple[int, int],
) -> None:
    # The monitoring runs read from a store of their own, as the built-in `local` does: the Runs
    # pane keeps to the demo's training runs (monitoring runs share start times: no stable order).
    settings = monitored_settings(monitored_store, tmp_path)
    env = settings.environments[LOCAL_ENV]
    metrics = msgspec.structs.replace(
        env.metrics, tracking_uri=template_settings(monitored_store).tracking_uri
    )
    app = demo_app(
        Settings(
            {LOCAL_ENV: msgspec.structs.replace(env, mlflow=demo_store, metrics=metrics)},
            LOCAL_ENV,
            journal=tmp_path / "journal.db",
        )
    )

    async def filled(pilot: Pilot[None]) -> None:
        await until(pilot, loaded(app))
        await until(pilot, lambda: headlines_in(app), "the headlines drawn")
        await until(pilot, lambda: "mlflow-metrics ● ok" in str(app.query_one(EnvBar).render()))
        await measured(pilot)

    assert snap_compare(app, terminal_size=size, run_before=filled)


@pytest.mark.parametrize("size", SNAPSHOT_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_triage_before_after_snapshot(
    snap_compare: Callable[..., bool], monitored_store: Path, tmp_path: Path, size: tuple[int, int]
) -> None:
    app = demo_app(triage_settings(monitored_store, tmp_path))

    async def opened(pilot: Pilot[None]) -> None:
        screen = await open_triage(pilot)
        chart = screen.query_one("#triage-chart", ServingChart)
        await until(pilot, lambda: MARKER in rendered(chart.query_one(MetricChart)), "the change marked")
        await measured(pilot)

    assert snap_compare(app, terminal_size=size, run_before=opened)


@pytest.mark.parametrize("width", [80, 60])
async def test_the_header_fits_in_one_line(monitored_store: Path, tmp_path: Path, width: int) -> None:
    """Four sources (the built-in `local` has as many): in full at 80 columns where they fit, each
    as its name and a mark without colour at 60."""
    settings = triage_settings(monitored_store, tmp_path)
    env = settings.environments[LOCAL_ENV]
    settings = Settings(
        {LOCAL_ENV: msgspec.structs.replace(env, retrain=RetrainSettings(kind="local", command=["true"]))},
        LOCAL_ENV,
        journal=tmp_path / "journal.db",
    )
    app = demo_app(settings)
    async with app.run_test(size=(width, 24)) as pilot:
        bar = app.query_one(EnvBar)
        await until(
            pilot,
            lambda: "mlflow-metrics ●" in rendered(bar) and "○" not in rendered(bar),
            "every source polled",
        )
        shown = rendered(bar)
        assert "\n" not in shown and len(shown) <= bar.content_size.width, shown
        if width == 60:
            assert shown.split() == [
                "LOCAL",
                "mlflow",
                "●",
                "local",
                "●",
                "rules",
                "●",
                "mlflow-metrics",
                "●",
            ]


async def test_the_fleet_shows_each_environments_headline_and_the_promote_dialog_what_it_replaces(
    monitored_store: Path, tmp_path: Path
) -> None:
    from mlops_tui.tui.screens.dialogs import PromoteDialog
    from mlops_tui.tui.screens.fleet import FleetPane

    app = demo_app(monitored_settings(monitored_store, tmp_path))
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, loaded(app))
        await until(pilot, lambda: headlines_in(app), "the headlines drawn")
        await pilot.press("f")

        def churn_in_fleet() -> str:
            table = app.screen.query_one(FleetPane).table
            row = next(
                table.get_row_at(i) for i in range(table.row_count) if table.get_row_at(i)[0] == "churn"
            )
            return row[1].plain if isinstance(row[1], Text) else str(row[1])

        await until(pilot, lambda: " ms" in churn_in_fleet(), "churn's headline in the fleet")
        assert churn_in_fleet().startswith("v3 champion 2") and churn_in_fleet().endswith(" ms !")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, PromoteDialog) and loaded(app)())
        app.query_one(ModelsPane).table.focus()
        await pilot.press("p")  # churn
        await until(pilot, lambda: isinstance(app.screen, PromoteDialog), "the promote dialog")
        replaced = app.screen.query_one("#promote-replaced", Static)
        await until(pilot, lambda: rendered(replaced).startswith("replacing v3 (champion): "))
        assert " ms ! " in rendered(replaced), rendered(replaced)
