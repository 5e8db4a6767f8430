"""The fleet view: every environment at once, read concurrently, an unreachable one marked in its cells."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from mlops_tui.config import LOCAL_RULES, EnvironmentSettings, MlflowSettings, RetrainSettings, Settings
from mlops_tui.hub import Hub
from mlops_tui.tui import MlopsApp
from mlops_tui.tui.screens.details import ModelScreen
from mlops_tui.tui.screens.fleet import FleetPane, FleetScreen
from tests.conftest import template_settings
from tests.helpers import closed_port
from tests.helpers.tui import demo_app, loaded, measured, open_filter, until


def store_copy(template: Path, directory: Path) -> MlflowSettings:
    directory.mkdir()
    shutil.copyfile(template / "mlflow.db", directory / "mlflow.db")
    return template_settings(directory)


def fleet_settings(
    dev: MlflowSettings, qa: MlflowSettings, prd: MlflowSettings, **dev_extra: object
) -> Settings:
    """dev and prd in alias mode, qa in stage mode; prd protected."""
    return Settings(
        {
            "dev": EnvironmentSettings(mlflow=dev, **dev_extra),  # type: ignore[arg-type]
            "qa": EnvironmentSettings(mlflow=MlflowSettings(tracking_uri=qa.tracking_uri, promotion="stage")),
            "prd": EnvironmentSettings(mlflow=prd, protected=True, models=["churn", "fraud"]),
        },
        "dev",
    )


def fleet_pane(app: MlopsApp) -> FleetPane:
    return app.screen.query_one(FleetPane)


def cells(app: MlopsApp) -> dict[str, list[str]]:
    table = fleet_pane(app).table
    return {
        str(table.get_row_at(i)[0]): [str(c) for c in table.get_row_at(i)[1:]] for i in range(table.row_count)
    }


def filled(app: MlopsApp) -> Callable[[], bool]:
    return lambda: (
        isinstance(app.screen, FleetScreen)
        and " row" in str(fleet_pane(app).query_one(".pane-status").render())
    )


async def test_fleet_lines_up_every_environment_and_marks_the_unreachable_one(
    demo_store: MlflowSettings, demo_store_template: Path, tmp_path: Path
) -> None:
    qa = store_copy(demo_store_template, tmp_path / "qa")
    prd = MlflowSettings(tracking_uri=f"http://127.0.0.1:{closed_port()}", timeout_seconds=2)
    # dev retrains locally; one retraining of churn that failed gives the pipeline column.
    failing = RetrainSettings(kind="local", command=[sys.executable, "-c", "raise SystemExit(3)"])
    # dev watches the shipped local alert rules: the alerts column counts what fires there.
    settings = fleet_settings(demo_store, qa, prd, retrain=failing, rules=list(LOCAL_RULES))
    runner_hub = Hub(settings, "dev")
    pipeline = await runner_hub.pipeline_sources["local"].start({"model": "churn"})
    while not pipeline.done:
        await asyncio.sleep(0.05)
        pipeline = await runner_hub.pipeline_sources["local"].get_pipeline(pipeline.id)
    await runner_hub.aclose()

    app = demo_app(settings)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, loaded(app))
        await pilot.press("f")
        await until(pilot, filled(app))
        pane = fleet_pane(app)
        assert [str(c.label) for c in pane.table.columns.values()] == [
            "Model",
            "dev",
            "qa",
            "prd protected",
            "Last pipeline",
            "Alerts",
            "Maturity",
        ]
        rows = cells(app)
        # dev: aliases; qa: the same registry read in stage mode; prd: cannot be reached.
        assert rows["churn"][:3] == ["v3 champion", "no Production", "unreachable"]
        assert rows["fraud"][:3] == ["v2 champion", "no Production", "unreachable"]
        # demand is kept in stages even where the others have aliases: Production serves it.
        assert rows["demand"][:3] == ["v2 Production", "v2 Production", "unreachable"]
        assert rows["churn"][3].startswith("failed dev")
        assert rows["fraud"][3] == "—"
        dev = app.hub_for("dev")
        firing = Counter(dev.alert_model(a) for a in (await dev.alerts(muted=False)).items)
        assert sum(firing.values()) > 0
        assert {m: r[4] for m, r in rows.items()} == {
            m: f"{firing[m]} firing" if firing[m] else "0" for m in rows
        }
        status = str(pane.query_one(".pane-status").render())
        assert "3 rows" in status and "prd: mlflow: cannot reach" in status
        assert app.hub_for("prd").statuses["mlflow"].state == "down"
        assert app.hub_for("dev").statuses["mlflow"].state == "ok"

        # Enter on qa's cell of demand: the app switches to qa and opens demand there.
        pane.table.move_cursor(row=list(rows).index("demand"), column=2)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ModelScreen) and bool(app.screen.versions))
        assert app.hub.env_name == "qa" and app.screen.model_name == "demand"
        await pilot.press("escape")
        await until(pilot, loaded(app))
        assert app.hub.env_name == "qa"


async def test_fleet_filter_and_the_fleet_key_once(
    demo_store: MlflowSettings, demo_store_template: Path, tmp_path: Path
) -> None:
    qa = store_copy(demo_store_template, tmp_path / "qa")
    app = demo_app(fleet_settings(demo_store, qa, demo_store))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, loaded(app))
        await pilot.press("f")
        await until(pilot, filled(app))
        await pilot.press("f")  # already there: no second fleet screen
        await open_filter(pilot)
        await pilot.press(*"fra", "enter")
        await until(pilot, lambda: list(cells(app)) == ["fraud"])
        # Keys are handled in order: the filter applied, the second "f" has been handled too.
        assert sum(isinstance(s, FleetScreen) for s in app.screen_stack) == 1
        assert cells(app)["fraud"][:3] == ["v2 champion", "no Production", "v2 champion"]
        assert cells(app)["fraud"][4] == "–"  # no environment watches alerts


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_fleet_snapshot(
    snap_compare: Callable[..., bool],
    demo_store: MlflowSettings,
    demo_store_template: Path,
    tmp_path: Path,
    size: tuple[int, int],
) -> None:
    qa = store_copy(demo_store_template, tmp_path / "qa")
    app = demo_app(fleet_settings(demo_store, qa, demo_store))

    async def open_fleet(pilot: Pilot[None]) -> None:
        await until(pilot, loaded(app))
        await pilot.press("f")
        await until(pilot, filled(app))
        await measured(pilot)

    assert snap_compare(app, terminal_size=size, run_before=open_fleet)
