"""The maturity screen: `L` from the dashboard and from the fleet view, one row per model and
environment at its level, the highlighted row's criteria with their evidence below; and the fleet
view's Maturity column."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.widgets import Static

from mlops_tui.config import LOCAL_RULES, EnvironmentSettings, GateSettings, MlflowSettings, Settings
from mlops_tui.tui import MlopsApp
from mlops_tui.tui.screens.fleet import FleetPane, FleetScreen
from mlops_tui.tui.screens.maturity import MaturityPane, MaturityScreen
from tests.helpers.tui import demo_app, loaded, until


def settings_on(store: MlflowSettings, tmp_path: Path) -> Settings:
    """dev on the demo store with the shipped rules; prd (the same store) gating churn and fraud."""
    return Settings(
        {
            "dev": EnvironmentSettings(mlflow=store, rules=list(LOCAL_RULES)),
            "prd": EnvironmentSettings(
                mlflow=store,
                protected=True,
                models=["churn", "fraud"],
                gates=GateSettings(required_tags={"validation_status": "passed"}),
            ),
        },
        "dev",
        journal=tmp_path / "journal.db",
    )


def maturity_rows(app: MlopsApp) -> list[list[str]]:
    table = app.screen.query_one(MaturityPane).table
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def criteria(app: MlopsApp) -> str:
    shown = app.screen.query_one("#criteria", Static).render()
    return shown.plain if isinstance(shown, Text) else str(shown)


def assessed(app: MlopsApp) -> bool:
    return isinstance(app.screen, MaturityScreen) and len(maturity_rows(app)) == 5 and "Next" in criteria(app)


async def test_the_maturity_screen_shows_each_models_level_and_the_highlighted_ones_evidence(
    demo_store: MlflowSettings, tmp_path: Path
) -> None:
    app = demo_app(settings_on(demo_store, tmp_path))
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, loaded(app))
        await pilot.press("L")
        await until(pilot, lambda: assessed(app), "the maturity screen filled")
        rows = {(r[1], r[0]): r[2] for r in maturity_rows(app)}
        assert rows == {
            ("dev", "churn"): "L3 Automated model deployment",
            ("dev", "demand"): "L1 DevOps but no MLOps",
            ("dev", "fraud"): "L2 Automated training",
            ("prd", "churn"): "L3 Automated model deployment",
            ("prd", "fraud"): "L2 Automated training",
        }
        first = maturity_rows(app)[0]
        shown = criteria(app)
        assert shown.startswith(f"{first[0]} in {first[1]}: ")
        assert "L1 met      Code versioned: " in shown
        assert "L4 unknown  Serving metrics: no metrics source configured" in shown
        # The cursor moves: the criteria follow it.
        await pilot.press("down")
        second = maturity_rows(app)[1]
        await until(pilot, lambda: criteria(app).startswith(f"{second[0]} in {second[1]}: "))
        demand = maturity_rows(app).index(next(r for r in maturity_rows(app) if r[0] == "demand"))
        app.screen.query_one(MaturityPane).table.move_cursor(row=demand)
        await until(pilot, lambda: "L2 not met  Automated training: 1/3 (33 %)" in criteria(app))
        assert "Next: \n- train every registered version in a pipeline" in criteria(app)
        # Once only: L again on the maturity screen opens no second one.
        await pilot.press("L")
        await pilot.pause()
        assert len(app.screen_stack) == 2
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, MaturityScreen))


async def test_the_fleet_view_has_a_maturity_column_and_opens_the_maturity_screen(
    demo_store: MlflowSettings, tmp_path: Path
) -> None:
    app = demo_app(settings_on(demo_store, tmp_path))
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, loaded(app))
        await pilot.press("f")

        def fleet_levels() -> dict[str, str]:
            if not isinstance(app.screen, FleetScreen):
                return {}
            table = app.screen.query_one(FleetPane).table
            rows = [table.get_row_at(i) for i in range(table.row_count)]
            return {str(r[0]): str(r[-1]) for r in rows}

        await until(pilot, lambda: fleet_levels().get("demand") == "L1", "the fleet's maturity column")
        table = app.screen.query_one(FleetPane).table
        assert str(list(table.columns.values())[-1].label) == "Maturity"
        assert fleet_levels() == {"churn": "L3", "demand": "L1", "fraud": "L2"}
        await pilot.press("L")
        await until(pilot, lambda: assessed(app), "the maturity screen over the fleet view")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, FleetScreen))
