"""`DetailScreen`: a screen over the dashboard that loads once on open (and on `r`), and the table
its screens are made of."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.widgets import DataTable, Static

from mlops_tui.errors import MlopsError
from mlops_tui.hub import Hub
from mlops_tui.tui.bindings import BindingList, bindings
from mlops_tui.tui.header import EnvScreen
from mlops_tui.tui.requests import WebRequests
from mlops_tui.tui.terminal_safe import SafeTable

__all__ = ["DetailScreen", "detail_table"]


def detail_table(*columns: str, id: str | None = None) -> DataTable[Any]:
    """A table of a detail screen: whole rows selected, striped, its columns named."""
    table: DataTable[Any] = SafeTable(cursor_type="row", zebra_stripes=True, id=id)
    table.add_columns(*columns)
    return table


class DetailScreen(EnvScreen, WebRequests):
    """A screen that loads once on open (and on `r`), shows a failure in its title line."""

    BINDINGS: ClassVar[BindingList] = bindings("back", "reload", "open_web")

    def __init__(self, hub: Hub) -> None:
        super().__init__()
        self.hub = hub
        self.loaded = False
        """The first load ended (well or not)."""
        self._typed_ahead: list[str] = []

    def on_mount(self) -> None:
        self.load()

    def web_item(self) -> object | None:
        """What this screen shows that has a page in a web UI (None: nothing)."""
        return None

    def action_open_web(self) -> None:
        self.post_message(self.WebPageRequested(self.hub.web_url(self.web_item())))

    def waits_for_load(self, action: str) -> bool:
        """Whether `action` (run from a key typed before the first load ended: `l` right after the
        Enter that opened triage) is kept until the load ends; it is then run."""
        if self.loaded:
            return False
        own = {
            b.action
            for found in self._bindings.key_to_bindings.values()
            for b in found
            if b.id not in ("back", "reload")
        }
        if action in own:
            self._typed_ahead.append(action)
            return True
        return False

    def action_reload(self) -> None:
        self.load()

    def refresh_after_write(self) -> None:
        """A write action just ended: show what it changed."""
        self.load()

    @work(exclusive=True, group="detail", exit_on_error=False)
    async def load(self) -> None:
        try:
            await self.show()
        except MlopsError as exc:
            self.show_error(exc)
        if not self.loaded:
            self.loaded = True
            self.refresh_bindings()
            typed, self._typed_ahead = self._typed_ahead, []
            for action in typed:
                await self.app.run_action(action, self)

    async def show(self) -> None:
        """Fetch through the hub and fill the screen. Raises: MlopsError."""
        raise NotImplementedError

    def show_error(self, exc: MlopsError) -> None:
        self.query_one(".detail-title", Static).update(Text(exc.message, style="bold red"))
