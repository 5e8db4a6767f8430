"""`MetricChart`: one or more metric histories drawn together over their steps, in braille dots.

The run screen draws one history, the comparison screen several on one shared scale. Each series has
its own colour and ends in its number (1, 2, ...), which the legend names, so the chart reads
without colour too (NO_COLOR).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.widget import Widget

from mlops_tui.domain import MetricPoint
from mlops_tui.text import humanize

__all__ = ["SERIES_STYLES", "MetricChart", "Series", "legend"]

SERIES_STYLES = ("cyan", "magenta", "yellow", "green", "blue", "red")
"""Series colours, in order (cycled beyond six)."""

# Braille: each character is a 2x4 grid of dots; bit of the dot at (column, row).
_DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
_BRAILLE = 0x2800
_AXIS_WIDTH = 8


@dataclass(frozen=True)
class Series:
    """One history to draw: its label and its points in step order."""

    label: str
    points: Sequence[MetricPoint]


class MetricChart(Widget):
    """Histories as lines over a shared step axis and value scale, with the scale on the left."""

    DEFAULT_CSS = """
    MetricChart {
        height: 6;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.series: tuple[Series, ...] = ()

    def plot(self, series: Sequence[Series]) -> None:
        """Draw these histories instead of the ones shown."""
        self.series = tuple(series)
        self.refresh()

    @property
    def values(self) -> list[list[float]]:
        """The values drawn, per series."""
        return [[p.value for p in s.points] for s in self.series]

    def render(self) -> Text:
        width, height = self.content_size
        # Each series keeps its number and colour (its place among all), drawn or not: a run
        # without the metric leaves a gap in the numbers, never shifts the others' labels.
        plotted = [(index, s) for index, s in enumerate(self.series) if s.points]
        plot_width = width - _AXIS_WIDTH
        if not plotted or plot_width < 2 or height < 1:
            return Text("no history" if width >= 10 else "", style="dim")
        steps = [p.step for _, s in plotted for p in s.points]
        values = [p.value for _, s in plotted for p in s.points]
        low_step, high_step = min(steps), max(steps)
        low, high = min(values), max(values)
        dots_x, dots_y = plot_width * 2, height * 4
        cells: dict[tuple[int, int], int] = {}
        owner: dict[tuple[int, int], int] = {}

        def to_dot(point: MetricPoint) -> tuple[int, int]:
            x = (
                0
                if high_step == low_step
                else (point.step - low_step) * (dots_x - 1) / (high_step - low_step)
            )
            y = dots_y / 2 if high == low else (high - point.value) * (dots_y - 1) / (high - low)
            return round(x), round(y)

        ends: dict[tuple[int, int], int] = {}
        for index, s in plotted:
            dots = [to_dot(p) for p in s.points]
            for (x0, y0), (x1, y1) in zip(dots, dots[1:] or dots, strict=False):
                for x, y in _line(x0, y0, x1, y1):
                    cell = (x // 2, min(y // 4, height - 1))
                    cells[cell] = cells.get(cell, 0) | _DOTS[y % 4][x % 2]
                    owner[cell] = index
            last_x, last_y = dots[-1]
            ends[(min(last_x // 2 + 1, plot_width - 1), min(last_y // 4, height - 1))] = index
        text = Text(no_wrap=True, overflow="crop")
        for row in range(height):
            label = humanize.metric(high) if row == 0 else humanize.metric(low) if row == height - 1 else ""
            text.append(f"{label[: _AXIS_WIDTH - 1]:>{_AXIS_WIDTH - 1}} ", style="dim")
            for column in range(plot_width):
                if (column, row) in ends and len(plotted) > 1:
                    index = ends[(column, row)]
                    text.append(str(index + 1)[-1], style=f"bold {SERIES_STYLES[index % len(SERIES_STYLES)]}")
                elif (column, row) in cells:
                    style = SERIES_STYLES[owner[(column, row)] % len(SERIES_STYLES)]
                    text.append(chr(_BRAILLE + cells[(column, row)]), style=style)
                else:
                    text.append(" ")
            if row < height - 1:
                text.append("\n")
        return text


def _line(x0: int, y0: int, x1: int, y1: int) -> list[tuple[int, int]]:
    """The dots of a straight line between two dots (Bresenham)."""
    dots = []
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    error = dx + dy
    while True:
        dots.append((x0, y0))
        if x0 == x1 and y0 == y1:
            return dots
        double = 2 * error
        if double >= dy:
            error += dy
            x0 += sx
        if double <= dx:
            error += dx
            y0 += sy


def legend(series: Sequence[Series]) -> Text:
    """`1 name  2 name ...` in the series' colours; a series with no points says so."""
    text = Text()
    for index, s in enumerate(series):
        style = SERIES_STYLES[index % len(SERIES_STYLES)] if s.points else "dim"
        text.append(f"{index + 1} ", style=f"bold {style}")
        text.append(s.label, style=style)
        if not s.points:
            text.append(" (not logged)", style="dim italic")
        text.append("  ")
    text.rstrip()
    return text
