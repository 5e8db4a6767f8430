"""The last step before the terminal: every line the TUI draws, on every screen and dialog, passes
through `TerminalSafe`, so no backend string can send the terminal a control character or a link
that is not http(s), whichever widget shows it and however it was built.

Tables get their cells escaped before that (`SafeTable`, which every table of the TUI is), so a
column is measured with its escapes, and a cell or a column label is never read as markup: a run
named `[@click=app.quit]x` shows those characters.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from rich.markup import escape
from rich.segment import Segment
from rich.style import Style
from rich.text import Text, TextType
from textual.color import Color
from textual.filter import LineFilter
from textual.widgets import DataTable
from textual.widgets.data_table import CellType, ColumnKey, RowKey

from mlops_tui.text.sanitize import UNSAFE, printable, web_link

__all__ = ["SafeTable", "TerminalSafe", "cell", "url_text"]


class TerminalSafe(LineFilter):
    """A line filter showing unsafe characters as escapes and keeping only http(s) links.

    A control character takes no cell where the line was laid out; its escape takes four, so a
    line that grows is cut back to its width (its trailing padding goes first). Textual caches each
    filtered line, so a line is looked at once, not at every frame.
    """

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        if not any(_unsafe(segment) for segment in segments):
            return segments
        safe = [_safe(segment) for segment in segments]
        return Segment.adjust_line_length(safe, Segment.get_line_length(segments))


def _unsafe(segment: Segment) -> bool:
    if segment.control:
        return False  # Textual's own cursor moves, not text
    link = segment.style.link if segment.style else None
    return bool(UNSAFE.search(segment.text)) or (link is not None and web_link(link) is None)


def _safe(segment: Segment) -> Segment:
    if segment.control:
        return segment
    style = segment.style
    if style is not None and style.link is not None and web_link(style.link) is None:
        style = _without_link(style)
    return Segment(printable(segment.text), style)


@lru_cache(maxsize=256)
def _without_link(style: Style) -> Style:
    return Style(
        color=style.color,
        bgcolor=style.bgcolor,
        bold=style.bold,
        dim=style.dim,
        italic=style.italic,
        underline=style.underline,
        blink=style.blink,
        blink2=style.blink2,
        reverse=style.reverse,
        conceal=style.conceal,
        strike=style.strike,
        underline2=style.underline2,
        frame=style.frame,
        encircle=style.encircle,
        overline=style.overline,
        meta=style.meta,
    )


def cell(value: Any) -> Any:
    """What a table shows for `value`: a string escaped (unsafe characters and markup), a `Text`
    as it is unless it holds an unsafe character (then it loses its style), anything else as is."""
    if isinstance(value, str):
        return escape(printable(value))
    if isinstance(value, Text) and UNSAFE.search(value.plain):
        return Text(printable(value.plain))
    return value


class SafeTable(DataTable[CellType]):
    """A DataTable whose cells and column labels are text, escaped, never markup, and whose rows
    are drawn at the width they were measured at."""

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        # Textual measures new rows when the table is idle, and caches drawn lines under keys that
        # leave the columns' widths out. A frame drawn before that measurement (a loaded machine)
        # stayed cached with every column as wide as its label: alert names cut to `Champ` until
        # one of their cells changed.
        widths = [column.get_render_width(self) for column in self.ordered_columns]
        super()._update_dimensions(new_rows)
        if widths != [column.get_render_width(self) for column in self.ordered_columns]:
            self._clear_caches()
            self.refresh()

    def add_column(
        self,
        label: TextType,
        *,
        width: int | None = None,
        key: str | None = None,
        default: CellType | None = None,
    ) -> ColumnKey:
        return super().add_column(cell(label), width=width, key=key, default=default)

    def add_row(
        self,
        *cells: CellType,
        height: int | None = 1,
        key: str | None = None,
        label: TextType | None = None,
    ) -> RowKey:
        return super().add_row(
            *(cell(value) for value in cells),
            height=height,
            key=key,
            label=None if label is None else cell(label),
        )

    def update_cell(
        self,
        row_key: RowKey | str,
        column_key: ColumnKey | str,
        value: CellType,
        *,
        update_width: bool = False,
    ) -> None:
        super().update_cell(row_key, column_key, cell(value), update_width=update_width)


def url_text(url: str) -> Text:
    """A URL from a backend: a link the terminal can open when it is http(s), else plain text
    that says it is not one (a `javascript:` runbook is shown, never offered)."""
    if web_link(url):
        return Text(url, Style(link=url, underline=True))
    return Text.assemble(printable(url), ("  (not an http(s) link)", "dim"))
