"""`ResourcePane`: a titled table fed by one hub query, polled then rescheduled, filterable, paged.

Subclasses say what to fetch and how a row looks; this class owns everything else: the poll loop
(the next poll is scheduled when the previous one ends, so a slow backend never piles polls up),
pausing, the filter box, server-side paging, updating only the rows that changed, and showing a
failure beside the last good data and its age.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.geometry import Region
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Input, Static
from textual.widgets.data_table import ColumnKey

from mlops_tui.domain import Page
from mlops_tui.errors import InvalidQuery, MlopsError
from mlops_tui.hub import Hub
from mlops_tui.text import humanize
from mlops_tui.tui.bindings import BindingList, bindings
from mlops_tui.tui.requests import WebRequests
from mlops_tui.tui.terminal_safe import SafeTable

__all__ = ["Cell", "PaneTable", "ResourcePane", "Row"]

T = TypeVar("T")
Cell = str | Text


@dataclass(frozen=True)
class Row:
    key: str
    cells: tuple[Cell, ...]


class PaneTable(SafeTable[Cell]):
    """A DataTable whose changed cells are redrawn alone.

    `DataTable.update_cell` repaints the whole table, so every visible line went to the terminal
    again when one age ticked from `4m ago` to `5m ago` (~1.7 KB for a pane of 20 lines; a few
    dozen bytes for the cell).
    """

    _cell_update = False

    def action_select_cursor(self) -> None:
        """Enter on a row opens it at once, not after a message's round trip: the keys typed
        right after the Enter (`l` for the log) reach the screen it opens."""
        pane = self.parent
        if self.cursor_type == "row" and isinstance(pane, ResourcePane) and pane.open_selected():
            return
        super().action_select_cursor()

    def update_cell_alone(self, row_key: str, column_key: str, value: Cell) -> None:
        """Change one cell and redraw that cell only (its column keeps its width, unless the new
        value is wider: then the column widens and the table is drawn again)."""
        width = value.cell_len if isinstance(value, Text) else len(value)
        if width > self.columns[ColumnKey(column_key)].content_width:
            self.update_cell(row_key, column_key, value, update_width=True)
            return
        self._cell_update = True
        try:
            self.update_cell(row_key, column_key, value)
        finally:
            self._cell_update = False
        self.refresh_coordinate(self.get_cell_coordinate(row_key, column_key))

    def refresh(
        self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False
    ) -> PaneTable:
        if self._cell_update and not (regions or layout or recompose):
            return self  # update_cell's repaint of everything; the cell's own region follows
        super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)
        return self


class ResourcePane(Vertical, WebRequests, Generic[T], can_focus=False):
    """A pane listing one kind of resource from the hub."""

    BINDINGS: ClassVar[BindingList] = bindings("filter", "next_page", "prev_page", "open_web")

    title: ClassVar[str] = ""
    cursor_type: ClassVar[Literal["row", "cell"]] = "row"
    filter_placeholder: ClassVar[str] = "filter"
    table_class: ClassVar[type[PaneTable]] = PaneTable

    class Opened(Message):
        """The user chose a row (Enter)."""

        def __init__(self, pane: ResourcePane[Any], key: str) -> None:
            super().__init__()
            self.pane = pane
            self.key = key

    class Polled(Message):
        """A poll ended, well or not: the header refreshes the sources' status."""

    def __init__(self, hub: Hub, *, interval: float, id: str | None = None) -> None:
        super().__init__(id=id)
        self.hub = hub
        self.interval = interval
        self.filter_text = ""
        self._tokens: list[str | None] = [None]
        self._next_token: str | None = None
        self._keys: list[str] = []
        self._cells: dict[str, tuple[Cell, ...]] = {}
        self._items: dict[str, T] = {}
        self._columns: tuple[str, ...] = ()
        self._timer: Timer | None = None
        self._loaded_at: datetime | None = None
        self._status_line = ""
        self._problem: str | None = None
        self.stale = False
        """The source failed: the rows shown are the last good ones, marked so."""

    # -- what subclasses provide ------------------------------------------------------------

    async def fetch(self, filter_text: str, page_token: str | None) -> Page[T]:
        raise NotImplementedError

    def columns_for(self, items: Sequence[T]) -> tuple[str, ...]:
        raise NotImplementedError

    def row(self, item: T) -> Row:
        raise NotImplementedError

    def column_label(self, column: str) -> Cell:
        """How a column's header looks (its key is `column`)."""
        return column

    def status_parts(self) -> list[str]:
        """More to say in the status line below the table."""
        return []

    def filled(self) -> None:
        """A poll just filled the table: a second step may start here (what the rows show beside
        their items), so that it never delays the rows."""

    # -- layout -----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Input(placeholder=self.filter_placeholder, classes="pane-filter")
        yield self.table_class(cursor_type=self.cursor_type, zebra_stripes=True)
        yield Static("loading…", classes="pane-status")

    @property
    def table(self) -> PaneTable:
        return self.query_one(PaneTable)

    def selected(self) -> str | None:
        """The key of the row under the cursor."""
        row = self.table.cursor_row
        return self._keys[row] if 0 <= row < len(self._keys) else None

    def on_mount(self) -> None:
        self.border_title = self.title
        # Let the first frame paint before the first poll starts importing and fetching.
        self.call_after_refresh(self.poll_now)

    # -- polling ----------------------------------------------------------------------------

    @property
    def paused(self) -> bool:
        return bool(getattr(self.app, "polling_paused", False)) or self.screen is not self.app.screen

    def poll_now(self) -> None:
        """Fetch at once (manual refresh, a new filter, another page)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._poll()

    def _scheduled(self) -> None:
        self._timer = None
        if self.paused:
            self._reschedule()
        else:
            self._poll()

    def _reschedule(self) -> None:
        if self._timer is None and self.is_mounted:
            self._timer = self.set_timer(self.interval, self._scheduled)

    @work(exclusive=True, group="poll", exit_on_error=False)
    async def _poll(self) -> None:
        try:
            page = await self.fetch(self.filter_text, self._tokens[-1])
        except MlopsError as exc:
            self._show_failure(exc)
        else:
            self._loaded_at = self.hub.clock()
            self._next_token = page.next_token
            self._mark_stale(False)
            self._apply(page.items)
            self._show_status(page.problem)
            self.filled()
        finally:
            self.post_message(self.Polled())
            self._reschedule()

    # -- rendering --------------------------------------------------------------------------

    def _apply(self, items: Sequence[T]) -> None:
        table = self.table
        columns = self.columns_for(items)
        rows = [self.row(item) for item in items]
        keys = [r.key for r in rows]
        if columns != self._columns or keys != self._keys:
            # Another set or order of rows: rebuild, keeping the cursor on the same row if it stays.
            current = self._keys[table.cursor_row] if 0 <= table.cursor_row < len(self._keys) else None
            table.clear(columns=columns != self._columns)
            if columns != self._columns:
                # Keyed by their labels, so that a changed cell can be updated in place.
                table.add_columns(*((self.column_label(c), c) for c in columns))
            for r in rows:
                table.add_row(*r.cells, key=r.key)
            if current in keys:
                table.move_cursor(row=keys.index(current))
        else:
            # The same rows: touch only the cells that changed, so an idle refresh draws nothing.
            for r in rows:
                self._update_cells(r)
        self._columns, self._keys = columns, keys
        self._cells = {r.key: r.cells for r in rows}
        self._items = {r.key: item for r, item in zip(rows, items, strict=True)}

    def _update_cells(self, r: Row) -> None:
        for index, (before, after) in enumerate(zip(self._cells.get(r.key, ()), r.cells, strict=True)):
            if before != after:
                self.table.update_cell_alone(r.key, self._columns[index], after)
        self._cells[r.key] = r.cells

    def redraw_row(self, key: str) -> None:
        """Draw one row again from its item (its look depends on more than the item: a mark)."""
        if key in self._items:
            self._update_cells(self.row(self._items[key]))

    def shown(self) -> list[tuple[str, T]]:
        """The rows shown: key and item, in order."""
        return [(key, self._items[key]) for key in self._keys]

    def item(self, key: str) -> T | None:
        """The item of a row shown."""
        return self._items.get(key)

    def update_status(self) -> None:
        """Write the status line again (what it counts changed), keeping a problem shown."""
        self._show_status(self._problem)

    def _show_status(self, problem: str | None) -> None:
        self._problem = problem
        status = self.query_one(".pane-status", Static)
        page = len(self._tokens)
        count = len(self._keys)
        parts = [f"{count} row" if count == 1 else f"{count} rows"]
        if page > 1 or self._next_token:
            parts.append(f"page {page}" + (" · ] next" if self._next_token else ""))
        if self.filter_text:
            parts.append(f"filter: {self.filter_text}")
        parts.extend(self.status_parts())
        line = problem or " · ".join(parts)
        if line != self._status_line:
            self._status_line = line
            status.set_class(problem is not None, "-error")
            status.update(line)
            self.border_subtitle = f"filter: {self.filter_text}" if self.filter_text else ""

    def _show_failure(self, exc: MlopsError) -> None:
        if isinstance(exc, InvalidQuery):
            message = f"Filter rejected: {exc.reason}"
        else:
            age = humanize.age(self._loaded_at, self.hub.clock()) if self._loaded_at else None
            kept = f" · showing data from {age}" if age else " · no data yet"
            message = f"{exc.message}{kept}"
            if self._items:
                # The kept rows, marked stale, with their ages still counting.
                self._mark_stale(True)
                self._apply(list(self._items.values()))
        self._show_status(message)

    def _mark_stale(self, stale: bool) -> None:
        if stale != self.stale:
            self.stale = stale
            self.table.set_class(stale, "-stale")
            self.border_title = f"{self.title} · stale" if stale else self.title

    # -- actions ----------------------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one(Input)
        box.value = self.filter_text
        box.add_class("-open")
        box.focus()

    @on(Input.Submitted, ".pane-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.filter_text = event.value.strip()
        event.input.remove_class("-open")
        self.table.focus()
        self.restart()

    def key_escape(self) -> None:
        box = self.query_one(Input)
        if box.has_class("-open"):
            box.remove_class("-open")
            self.table.focus()

    def restart(self) -> None:
        """The first page again, now: what is asked for changed (a filter, an order)."""
        self._tokens = [None]
        self.poll_now()

    def action_page(self, step: int) -> None:
        if step > 0 and self._next_token:
            self._tokens.append(self._next_token)
        elif step < 0 and len(self._tokens) > 1:
            self._tokens.pop()
        else:
            return
        self.poll_now()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "page":
            step = parameters[0] if parameters else 1
            possible = bool(self._next_token) if step == 1 else len(self._tokens) > 1
            return True if possible else None
        return True

    def web_item(self, item: T) -> object:
        """What of a row has a page in a web UI (the row's item itself, unless said otherwise)."""
        return item

    def action_open_web(self) -> None:
        key = self.selected()
        item = self.item(key) if key is not None else None
        if item is not None:
            self.post_message(self.WebPageRequested(self.hub.web_url(self.web_item(item))))

    def open_selected(self) -> bool:
        """Open the row under the cursor through the app's `open_row(pane, key)`, if it has one.
        Returns whether it did."""
        key = self.selected()
        open_row = getattr(self.app, "open_row", None)
        if key is None or open_row is None:
            return False
        open_row(self, key)
        return True

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.Opened(self, event.row_key.value))
