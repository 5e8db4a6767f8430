"""`ServingChart`: one serving series of a model over a window, with a marker (`┊`) at each change of
its serving slot, a label above (its current value, marked by threshold) and the changes below.

Shown by the model screen and by triage; what it draws comes from `views.metrics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from mlops_tui.domain import BeforeAfter, Series, SlotChange
from mlops_tui.text import humanize
from mlops_tui.text.sanitize import printable
from mlops_tui.tui.chart import (
    LEVEL_MARKS,
    LEVEL_STYLES,
    MARKER,
    Marker,
    MetricChart,
    span_label,
    time_series,
)
from mlops_tui.views.metrics import before_after_line, value_text

__all__ = ["ServingChart", "before_after_text", "change_text", "marked_changes"]

UNMARKED = frozenset({"register"})
"""Changes that leave the slot as it is (a new version registered): not marked."""


def marked_changes(changes: Sequence[SlotChange], start: datetime, end: datetime) -> list[SlotChange]:
    """The changes of the slot between `start` and `end` a chart marks, oldest first."""
    return [c for c in changes if c.action not in UNMARKED and start <= c.at <= end]


def change_text(change: SlotChange, now: datetime) -> Text:
    """`┊ promote v2 → v3 by gitlab-ci 2d ago`."""
    text = Text(f"{MARKER} ", style="bold yellow")
    text.append(f"{change.action} {printable(change.before or '(unset)')} → {printable(change.after or '')}")
    if change.operator:
        text.append(f" by {printable(change.operator)}")
    text.append(f" {humanize.age(change.at, now)}", style="dim")
    return text


def before_after_text(summary: BeforeAfter) -> Text:
    """`latency_p95 82 ms in the hour before v4, 240 ms since: +193 % (worse)`, in bold red when
    worse and past a threshold now, yellow when only worse."""
    level = summary.threshold.level(summary.after)
    style = "" if not summary.worse else LEVEL_STYLES[level] if level != "ok" else "yellow"
    text = Text(before_after_line(summary), style=style)
    if mark := LEVEL_MARKS[level]:
        text.append(f" {mark}", style=f"bold {LEVEL_STYLES[level]}")
    return text


class ServingChart(Vertical):
    """A serving series over its window, the slot's changes marked on it and listed below."""

    DEFAULT_CSS = """
    ServingChart {
        height: auto;
        padding: 0 1;
    }
    ServingChart > .serving-label {
        height: 1;
    }
    ServingChart > MetricChart {
        height: 5;
    }
    ServingChart > .serving-changes {
        height: auto;
        max-height: 3;
    }
    """

    def compose(self) -> ComposeResult:
        yield Static("", classes="serving-label")
        yield MetricChart()
        yield Static("", classes="serving-changes")

    def show(
        self,
        series: Series,
        start: datetime,
        end: datetime,
        changes: Sequence[SlotChange],
        *,
        now: datetime,
    ) -> None:
        """Chart `series` from `start` to `end`, marking `changes` (those inside the window)."""
        level = series.level
        label = Text(f"{series.name} over {span_label(end - start)}", style="bold")
        label.append(": now ")
        label.append(
            value_text(series.latest, series.unit), style=LEVEL_STYLES[level] if level != "ok" else ""
        )
        if mark := LEVEL_MARKS[level]:
            label.append(f" {mark}", style=f"bold {LEVEL_STYLES[level]}")
        bounds = [
            f"{name} {value_text(bound, series.unit)}"
            for name, bound in (("warn", series.threshold.warn), ("critical", series.threshold.critical))
            if bound is not None
        ]
        if bounds:
            label.append(f"  ({', '.join(bounds)})", style="dim")
        marked = marked_changes(changes, start, end)
        self.query_one(".serving-label", Static).update(label)
        self.query_one(MetricChart).plot(
            [time_series(series.name, series.points)],
            markers=[Marker(int(c.at.timestamp()), c.after or "") for c in marked],
            span=(int(start.timestamp()), int(end.timestamp())),
        )
        lines = [change_text(c, now) for c in marked[-3:]] or [
            Text("no change of the slot in this window", "dim")
        ]
        self.query_one(".serving-changes", Static).update(Text("\n").join(lines))

    def show_problem(self, message: str) -> None:
        """Say why there is no series to chart."""
        self.query_one(".serving-label", Static).update(Text(message, style="red"))
        self.query_one(MetricChart).plot([])
        self.query_one(".serving-changes", Static).update("")
