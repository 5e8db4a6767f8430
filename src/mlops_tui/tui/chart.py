"""`MetricChart`: one or more metric histories drawn together over their steps, in braille dots.

The run screen draws one history, the comparison screen several on one shared scale; the model
screen and triage a serving series over time (`time_series`), with a marker at each change of the
serving slot. Each series has its own colour and ends in its number (1, 2, ...), which the legend
names, and markers are drawn as their own character, so the chart reads without colour too
(NO_COLOR). `sparkline` and `headline_text` draw a serving series in one table cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from rich.text import Text
from textual.widget import Widget

from mlops_tui.domain import MetricPoint, SeriesPoint
from mlops_tui.domain import Series as ServingSeries
from mlops_tui.errors import MlopsError
from mlops_tui.text import humanize
from mlops_tui.views.metrics import value_text

__all__ = [
    "LEVEL_MARKS",
    "LEVEL_STYLES",
    "MARKER",
    "SERIES_STYLES",
    "Marker",
    "MetricChart",
    "Series",
    "headline_text",
    "legend",
    "span_label",
    "sparkline",
    "time_series",
]

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


@dataclass(frozen=True)
class Marker:
    """A vertical mark at `at` on the step axis (a change of the serving slot)."""

    at: int
    label: str = ""


MARKER = "┊"
"""The character a marker is drawn with, where no series passes."""
LEVEL_STYLES: dict[str, str] = {"ok": "green", "warn": "yellow", "critical": "bold red"}
"""How a value looks by where it stands against its thresholds."""
LEVEL_MARKS: dict[str, str] = {"ok": "", "warn": "!", "critical": "!!"}
"""What marks a value past a threshold without colour (NO_COLOR): `240 ms !!`."""
_BARS = "▁▂▃▄▅▆▇█"
VALUE_WIDTH = 10
"""A headline's value and mark are padded to this: the sparklines of a column line up."""


def span_label(window: timedelta) -> str:
    """`1h`, `6h`, `24h`, `7d`: a window as its tabs and headers name it."""
    hours = window.total_seconds() / 3600
    if hours >= 48 and hours % 24 == 0:
        return f"{hours / 24:g}d"
    return f"{hours:g}h" if hours >= 1 else f"{window.total_seconds() / 60:g}m"


def time_series(label: str, points: Sequence[SeriesPoint]) -> Series:
    """A serving series as a history to chart: its step axis is time, in seconds."""
    return Series(label, [MetricPoint(int(p.time.timestamp()), p.value, p.time) for p in points])


def sparkline(values: Sequence[float], width: int) -> str:
    """`values` as a line of bars at most `width` wide (neighbours averaged where there are more)."""
    if not values or width < 1:
        return ""
    if len(values) > width:
        size = len(values) / width
        values = [
            sum(chunk) / len(chunk)
            for i in range(width)
            if (chunk := values[round(i * size) : round((i + 1) * size)])
        ]
    low, high = min(values), max(values)
    if high == low:
        return _BARS[len(_BARS) // 2 - 1] * len(values)
    top = len(_BARS) - 1
    return "".join(_BARS[round((v - low) / (high - low) * top)] for v in values)


def headline_text(
    found: ServingSeries | MlopsError | None, *, kept: ServingSeries | None = None, width: int = 12
) -> Text:
    """A headline series in a cell: `240 ms !! ▁▂▁▃▇█`, coloured and marked by threshold.

    `found`: the newest answer (None: none yet); `kept`: the last series read, shown marked
    `stale` when the newest answer is an error.
    """
    series = found if isinstance(found, ServingSeries) else kept
    if series is None:
        if isinstance(found, MlopsError):
            return Text("? unavailable", style="red")
        return Text("…", style="dim")
    if not series.points:
        text = Text("no data", style="dim")
    else:
        # The value and its mark first: a narrow pane still shows them.
        text = now_text(series)
        text.append(" " * max(1, VALUE_WIDTH - text.cell_len))
        text.append(sparkline([p.value for p in series.points], width), style=LEVEL_STYLES[series.level])
    if isinstance(found, MlopsError):
        text.append(" stale", style="dim italic")
    return text


def now_text(series: ServingSeries) -> Text:
    """A series' newest value, coloured and marked by threshold: `240 ms !!`; `no data`."""
    if series.latest is None:
        return Text("no data", style="dim")
    level = series.level
    style = LEVEL_STYLES[level]
    text = Text(value_text(series.latest, series.unit), style=style if level != "ok" else "")
    if mark := LEVEL_MARKS[level]:
        text.append(f" {mark}", style=f"bold {style}")
    return text


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
        self.markers: tuple[Marker, ...] = ()
        self.span: tuple[int, int] | None = None

    def plot(
        self,
        series: Sequence[Series],
        *,
        markers: Sequence[Marker] = (),
        span: tuple[int, int] | None = None,
    ) -> None:
        """Draw these histories instead of the ones shown, with `markers`, over `span` of the step
        axis (None: from the first step drawn to the last). The same again redraws nothing."""
        shown = (tuple(series), tuple(markers), span)
        if shown == (self.series, self.markers, self.span):
            return
        self.series, self.markers, self.span = shown
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
        low_step, high_step = self.span or (min(steps), max(steps))
        low, high = min(values), max(values)
        dots_x, dots_y = plot_width * 2, height * 4
        cells: dict[tuple[int, int], int] = {}
        owner: dict[tuple[int, int], int] = {}
        marked = {
            round((m.at - low_step) * (dots_x - 1) / (high_step - low_step)) // 2
            for m in self.markers
            if high_step > low_step and low_step <= m.at <= high_step
        }

        def to_dot(point: MetricPoint) -> tuple[int, int]:
            x = (
                0
                if high_step == low_step
                else (min(max(point.step, low_step), high_step) - low_step)
                * (dots_x - 1)
                / (high_step - low_step)
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
                elif column in marked and (row == 0 or (column, row) not in cells):
                    # The top row always shows the marker, where a line would hide it otherwise.
                    text.append(MARKER, style="bold yellow")
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
