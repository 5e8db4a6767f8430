"""The Alerts pane, the alert screen, silences and the jump to the model, on local rules over the
demo store (churn's champion fires a critical alert, fraud's a warning)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Input

from mlops_tui.config import LOCAL_RULES, EnvironmentSettings, MlflowSettings, Settings
from mlops_tui.ops.journal import Journal
from mlops_tui.tui import MlopsApp
from mlops_tui.tui.panes import AlertsPane
from mlops_tui.tui.screens.alerts import AlertScreen, SilencesScreen, TriageScreen
from mlops_tui.tui.screens.details import ModelScreen
from mlops_tui.tui.screens.dialogs import ConfirmDialog, SilenceDialog
from tests.helpers.tui import (
    SIZE,
    click,
    demo_app,
    idle,
    measured,
    notified,
    open_filter,
    pane,
    row_cells,
    shown,
    status_line,
    until,
)


def settings_for(store: MlflowSettings, journal: Path, **env: bool) -> Settings:
    environment = EnvironmentSettings(mlflow=store, rules=list(LOCAL_RULES), **env)
    return Settings({"dev": environment}, "dev", journal=journal, operator="priya")


def alerts_pane(app: MlopsApp) -> AlertsPane:
    return app.query_one("#alerts", AlertsPane)


def alert_rows(app: MlopsApp) -> list[tuple[str, str, str]]:
    """(severity, name, state) of each row, top to bottom."""
    table = alerts_pane(app).table
    return [
        (cells["Severity"], cells["Alert"], cells["State"])
        for cells in (row_cells(table, i) for i in range(table.row_count))
    ]


def firing(app: MlopsApp) -> bool:
    return alerts_pane(app).table.row_count == 2


async def test_alerts_pane_shows_rule_alerts_most_severe_first(
    demo_store: MlflowSettings, tmp_path: Path
) -> None:
    app = demo_app(settings_for(demo_store, tmp_path / "j.db"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: firing(app))
        assert alert_rows(app) == [
            ("critical", "ChampionAucLow", "active"),
            ("warning", "FeatureDrift", "active"),
        ]
        table = alerts_pane(app).table
        assert row_cells(table, 0)["Model"] == "churn"
        # The header hears of the poll by a message of its own, after the rows are in.
        await until(pilot, lambda: "rules ● ok" in str(app.query_one("EnvBar").render()))

        alerts_pane(app).table.focus()
        await pilot.press("G")  # by alert name
        await until(pilot, lambda: alerts_pane(app).group_by == "alertname")
        await until(pilot, lambda: [r[1] for r in alert_rows(app)] == ["ChampionAucLow", "FeatureDrift"])

        await open_filter(pilot)
        await pilot.press(*'model="fraud"', "enter")
        await until(pilot, lambda: alert_rows(app) == [("warning", "FeatureDrift", "active")])
        await open_filter(pilot)
        box = alerts_pane(app).query_one(Input)
        box.value = "model"
        await pilot.press("enter")
        await until(pilot, lambda: "Filter rejected" in status_line(app, "alerts"))
        assert "does not parse" in status_line(app, "alerts")


async def test_silence_from_the_pane_then_expire_it(demo_store: MlflowSettings, tmp_path: Path) -> None:
    app = demo_app(settings_for(demo_store, tmp_path / "j.db"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: firing(app))
        alerts_pane(app).table.focus()
        await pilot.press("s")
        await shown(pilot, SilenceDialog)
        matchers = app.screen.query_one("#silence-matchers", Input)
        # Pre-filled from the alert's labels; narrow it to the alert's name.
        assert 'alertname="ChampionAucLow"' in matchers.value and 'model="churn"' in matchers.value
        matchers.value = 'alertname="ChampionAucLow"'
        await pilot.press("enter")  # no comment yet: refused in the dialog
        await until(pilot, lambda: notified(app, "A silence needs at least one matcher and a comment"))
        assert isinstance(app.screen, SilenceDialog)
        app.screen.query_one("#silence-comment", Input).value = "retraining under way"
        await click(pilot, "#plan")
        await shown(pilot, ConfirmDialog)
        assert isinstance(app.screen, ConfirmDialog)
        change = app.screen.change
        assert (change.action, change.target) == ("silence", 'rules alerts {alertname="ChampionAucLow"}')
        assert "comment: retraining under way" in change.details and "author: priya" in change.details
        await click(pilot, "#confirm")
        await until(pilot, lambda: idle(app) and not isinstance(app.screen, ConfirmDialog))
        await until(pilot, lambda: ("critical", "ChampionAucLow", "silenced") in alert_rows(app))

        await pilot.press("S")
        await until(pilot, lambda: isinstance(app.screen, SilencesScreen) and bool(app.screen.silences))
        screen = app.screen
        assert isinstance(screen, SilencesScreen)
        assert [(s.state, s.comment, s.created_by) for s in screen.silences] == [
            ("active", "retraining under way", "priya")
        ]
        await pilot.press("x")
        await shown(pilot, ConfirmDialog)
        await click(pilot, "#confirm")
        await until(pilot, lambda: isinstance(app.screen, SilencesScreen) and idle(app))
        await until(pilot, lambda: [s.state for s in screen.silences] == ["expired"])
        await pilot.press("escape")
        await until(pilot, lambda: ("critical", "ChampionAucLow", "active") in alert_rows(app))
    entries = Journal(tmp_path / "j.db").entries()
    assert [(e.action, e.result) for e in entries] == [("expire", "ok"), ("silence", "ok")]


async def test_enter_opens_the_alert_and_m_its_model(demo_store: MlflowSettings, tmp_path: Path) -> None:
    app = demo_app(settings_for(demo_store, tmp_path / "j.db"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: firing(app))
        alerts_pane(app).table.focus()
        await pilot.press("enter")  # its triage, then every detail
        await shown(pilot, TriageScreen)
        await pilot.press("i")
        await shown(pilot, AlertScreen)
        await until(pilot, lambda: "churn v3" in str(app.screen.query_one("#alert-text").render()))
        text = str(app.screen.query_one("#alert-text").render())
        assert "churn v3 serves with val_auc 0.8782, below 0.88" in text
        assert "https://runbooks.example.com/models/auc-low" in text
        labels = app.screen.query_one("#alert-labels", DataTable)
        assert ("model", "churn") in [tuple(map(str, labels.get_row_at(i))) for i in range(labels.row_count)]
        await pilot.press("m")
        await until(pilot, lambda: isinstance(app.screen, ModelScreen) and bool(app.screen.versions))
        assert isinstance(app.screen, ModelScreen)
        assert app.screen.model_name == "churn"


async def test_silence_is_greyed_out_in_a_read_only_environment(
    demo_store: MlflowSettings, tmp_path: Path
) -> None:
    app = demo_app(settings_for(demo_store, tmp_path / "j.db", read_only=True))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: firing(app))
        alerts_pane(app).table.focus()
        await pilot.press("s")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, SilenceDialog)
        assert alerts_pane(app).check_action("silence", ()) is None
    assert Journal(tmp_path / "j.db").entries() == []


@pytest.mark.parametrize("size", [(80, 24), (140, 40)])
def test_alerts_snapshot(
    snap_compare, demo_store_template: Path, tmp_path: Path, size: tuple[int, int]
) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import template_settings

    store = template_settings(demo_store_template)
    app = demo_app(settings_for(store, tmp_path / "j.db"))

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await until(pilot, lambda: firing(app) and pane(app, "runs").table.row_count > 0)
        alerts_pane(app).table.focus()
        await pilot.press("enter")
        await shown(pilot, TriageScreen)
        await pilot.press("i")
        await shown(pilot, AlertScreen)
        await until(pilot, lambda: "churn v3" in str(app.screen.query_one("#alert-text").render()))
        await measured(pilot)
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
