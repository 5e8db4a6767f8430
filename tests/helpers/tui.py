"""Driving the TUI through Textual's Pilot: the demo app, waiting for a condition, and reading panes.

Shared by every test module that runs the app (`from tests.helpers.tui import ...`). Tests wait on
what the app shows, never on the clock: `until` lets the app process messages until a condition
holds, with a generous deadline that only a hung app reaches.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from textual.css.query import NoMatches
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import DataTable, Input, Static

from mlops_tui.config import Settings
from mlops_tui.tui import MlopsApp, make_app
from mlops_tui.tui.header import EnvBar
from mlops_tui.tui.panes.base import ResourcePane
from tests.helpers import DEMO_NOW

__all__ = [
    "SIZE",
    "click",
    "demo_app",
    "idle",
    "loaded",
    "measured",
    "notified",
    "open_filter",
    "pane",
    "row_cells",
    "rows",
    "shown",
    "status_line",
    "until",
]

SIZE = (120, 36)
"""The terminal size (columns, lines) the app tests run at."""

ScreenT = TypeVar("ScreenT", bound=Screen[Any])


def demo_app(settings: Settings, env: str | None = None) -> MlopsApp:
    """The app on `settings`, its clock stopped at the demo's `now`."""
    return make_app(settings, env, clock=lambda: DEMO_NOW)


async def until(
    pilot: Pilot[None], condition: Callable[[], bool], what: str = "the condition", timeout: float = 60
) -> None:
    """Let the app process messages until `condition` holds (workers may be waiting on a modal,
    so this never waits for them to finish). A widget not there yet counts as "not yet"."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not _holds(condition):
        if loop.time() > deadline:
            raise AssertionError(f"not reached in {timeout:g} s: {what}")
        await pilot.pause(0.05)


def _holds(condition: Callable[[], bool]) -> bool:
    try:
        return condition()
    except NoMatches:  # a screen just pushed builds its widgets a moment later
        return False


async def shown(pilot: Pilot[None], kind: type[ScreenT]) -> ScreenT:
    """The current screen once it is a `kind` with its widgets built and mounted."""
    await until(
        pilot,
        lambda: isinstance(pilot.app.screen, kind) and pilot.app.screen.is_mounted,
        f"a {kind.__name__} shown",
    )
    screen = pilot.app.screen
    assert isinstance(screen, kind)
    return screen


async def measured(pilot: Pilot[None]) -> None:
    """Wait for every table on the current screen to have measured its rows: a DataTable sizes its
    columns to new rows when idle, and a screenshot before then shows them as wide as their labels."""
    await until(
        pilot,
        lambda: (
            not any(
                t._require_update_dimensions or t._updated_cells for t in pilot.app.screen.query(DataTable)
            )
        ),
        "every table measured",
    )


async def open_filter(pilot: Pilot[None]) -> None:
    """Open the focused pane's filter box; what is typed next goes into it."""
    await pilot.press("slash")
    await until(pilot, lambda: isinstance(pilot.app.focused, Input), "the filter box focused")


async def click(pilot: Pilot[None], selector: str) -> None:
    """Click a widget of the current screen once it has a place on it: a click before then lands
    on nothing, and the test would wait for an effect that never comes."""
    await until(pilot, lambda: pilot.app.screen.query_one(selector).region.area > 0, f"{selector} placed")
    assert await pilot.click(selector), f"the click on {selector} landed elsewhere"


def pane(app: MlopsApp, name: str) -> ResourcePane[object]:
    """The pane with id `name` (`runs`, `models`, `pipelines`, `alerts`, ...)."""
    return app.query_one(f"#{name}", ResourcePane)


def row_cells(table: DataTable[Any], index: int) -> dict[str, str]:
    """The row at `index` as text, by column label."""
    labels = [str(column.label) for column in table.ordered_columns]
    return dict(zip(labels, map(str, table.get_row_at(index)), strict=True))


def rows(app: MlopsApp, name: str) -> int:
    """How many rows the pane `name` shows."""
    return pane(app, name).table.row_count


def notified(app: MlopsApp, text: str) -> bool:
    """Whether a notification saying `text` is showing."""
    return any(text in notification.message for notification in app._notifications)


def status_line(app: MlopsApp, name: str) -> str:
    """The status line under the pane `name`."""
    return str(pane(app, name).query_one(".pane-status", Static).render())


def loaded(app: MlopsApp) -> Callable[[], bool]:
    """Both panes filled, their status lines written, and the header told."""

    def check() -> bool:
        return (
            rows(app, "runs") > 0
            and rows(app, "models") > 0
            and " row" in status_line(app, "runs")
            and " row" in status_line(app, "models")
            and "mlflow ● ok" in str(app.query_one(EnvBar).render())
        )

    return check


def idle(app: MlopsApp) -> bool:
    """No write action in flight."""
    return not any(w.group == "write" and w.is_running for w in app.workers)
