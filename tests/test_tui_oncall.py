"""On call at 80x24 and smaller: dialogs that fit, meaning without colour, the header on every
screen, keys typed ahead, and the incident's context kept, on local rules over the demo store in a
protected environment (churn's champion fires a critical alert, fraud's a warning)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Button, Label, Static

from mlops_tui.config import LOCAL_RULES, EnvironmentSettings, MlflowSettings, Settings
from mlops_tui.tui import MlopsApp
from mlops_tui.tui.dialogs import ConfirmDialog, PromoteDialog, SilenceDialog
from mlops_tui.tui.panes import AlertsPane
from tests.test_tui import click, demo_app, pane, shown, until


def oncall_settings(store: MlflowSettings, journal: Path, **env: bool) -> Settings:
    """PRD, protected, with the local rules firing on the demo store."""
    environment = EnvironmentSettings(mlflow=store, rules=list(LOCAL_RULES), protected=True, **env)
    return Settings({"prd": environment}, "prd", journal=journal, operator="priya")


def firing(app: MlopsApp) -> bool:
    return app.query_one("#alerts", AlertsPane).table.row_count == 2


def frame(app: MlopsApp) -> list[str]:
    """The text of every line of the screen as the terminal gets it."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def in_view(app: MlopsApp, widget: Widget) -> bool:
    """Every corner of the widget is on the screen and shows the widget (nothing covers or cuts it)."""
    region = widget.region
    if region.area == 0 or not app.screen.region.contains_region(region):
        return False
    corners = [
        (region.x, region.y),
        (region.right - 1, region.y),
        (region.x, region.bottom - 1),
        (region.right - 1, region.bottom - 1),
    ]
    return all(app.screen.get_widget_at(x, y)[0] is widget for x, y in corners)


def shown_text(app: MlopsApp, widget: Widget) -> str:
    """The words the screen shows inside the widget's region (its wrapped lines joined)."""
    region = widget.region
    lines = frame(app)[region.y : region.bottom]
    return " ".join(" ".join(line[region.x : region.right] for line in lines).split())


def assert_fits(app: MlopsApp) -> None:
    """The dialog's buttons are in view with their whole labels, and no label in view is cut."""
    text = "\n".join(frame(app))
    for button in app.screen.query(Button):
        assert in_view(app, button), f"button {button.id} is not in view:\n{text}"
        assert str(button.label) in shown_text(app, button), f"button {button.label} is cut:\n{text}"
    for label in app.screen.query(".dialog Label, .dialog-hint").results(Static):
        if not in_view(app, label):
            continue  # scrolled away: the dialog scrolls
        words = " ".join(str(label.render()).split())
        assert shown_text(app, label) == words, f"label {words!r} is cut:\n{text}"


@pytest.mark.parametrize("size", [(80, 24), (60, 20)], ids=["80x24", "60x20"])
async def test_dialogs_keep_their_buttons_and_labels_in_view(
    demo_store: MlflowSettings, tmp_path: Path, size: tuple[int, int]
) -> None:
    app = demo_app(oncall_settings(demo_store, tmp_path / "j.db"))
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: firing(app) and pane(app, "models").table.row_count > 0)
        pane(app, "models").table.focus()
        await pilot.press("p")
        await shown(pilot, PromoteDialog)
        await until(pilot, lambda: in_view(app, app.screen.query_one("#plan")))
        assert_fits(app)
        assert any(isinstance(w, Label) and "Environment" in str(w.render()) for w in app.screen.query(Label))
        await click(pilot, "#plan")
        dialog = await shown(pilot, ConfirmDialog)
        await until(pilot, lambda: in_view(app, dialog.query_one("#cancel")))
        assert_fits(app)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmDialog))

        app.query_one("#alerts", AlertsPane).table.focus()
        await pilot.press("s")
        await shown(pilot, SilenceDialog)
        await until(pilot, lambda: in_view(app, app.screen.query_one("#plan")))
        assert_fits(app)
        await _scrolls_to_each_field(pilot, app)


async def _scrolls_to_each_field(pilot: Pilot[None], app: MlopsApp) -> None:
    """Tab through the dialog: whatever gets focus is in view, and the buttons stay in view."""
    for _ in range(5):
        await pilot.press("tab")
        await until(pilot, lambda: app.focused is not None and in_view(app, app.focused))
        assert in_view(app, app.screen.query_one("#cancel"))
