"""The maturity screen: every model of every environment at its MLOps maturity level (0-4), and the
criteria of the highlighted one, each met, not met or unknown with its evidence, and its next steps
(the view is `mlops_tui.views.maturity`, shared with `mlops-tui maturity`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from mlops_tui.domain import Page
from mlops_tui.hub import Hub
from mlops_tui.ops.journal import Journal
from mlops_tui.text import humanize
from mlops_tui.tui.bindings import BindingList, bindings
from mlops_tui.tui.footer import KeyBar
from mlops_tui.tui.header import EnvScreen
from mlops_tui.tui.panes.base import ResourcePane, Row
from mlops_tui.views.maturity import PHASES, Assessment, read_maturity

__all__ = ["MATURITY_SECONDS", "MaturityPane", "MaturityScreen", "criteria_text", "level_text"]

MATURITY_SECONDS = 60.0
"""Maturity moves in days, not seconds: the screen reads it again every minute."""
STATUS_LOOK = {
    "met": ("met", "green"),
    "not_met": ("not met", "bold red"),
    "unknown": ("unknown", "yellow"),
}
"""Each status's word (what NO_COLOR leaves) and colour."""


def level_text(level: int) -> Text:
    """A level as a cell: `L3`, coloured by how far it goes."""
    style = ("red", "yellow", "yellow", "green", "bold green")[level]
    return Text(f"L{level}", style=style)


def criteria_text(assessment: Assessment) -> Text:
    """The criteria of one assessment, one per line with its evidence, then the next steps."""
    text = Text.assemble(
        (f"{assessment.model} in {assessment.environment}: ", "bold"),
        level_text(assessment.level),
        f" {assessment.level_name}\n",
    )
    for judgement in assessment.judgements:
        word, style = STATUS_LOOK[judgement.status]
        text.append_text(
            Text.assemble(
                f"L{judgement.criterion.level} ",
                (f"{word:<8}", style),
                (f" {judgement.criterion.title}", "bold"),
                (f": {judgement.evidence}\n", "dim" if judgement.status == "unknown" else ""),
            )
        )
    if assessment.next_steps:
        text.append("Next: ", style="bold")
        for step in assessment.next_steps:
            text.append(f"\n- {step.criterion.step} ({PHASES[step.criterion.level]})")
    else:
        text.append("Every level reached.", style="bold")
    for problem in assessment.problems:
        text.append(f"\n{problem}", style="red")
    return text


class MaturityPane(ResourcePane[Assessment]):
    """One row per model and environment: the level reached and the first next step."""

    title = "Maturity"
    filter_placeholder = "part of a model name"

    def __init__(
        self, hub: Hub, hubs: Mapping[str, Hub], journal: Journal, *, interval: float, id: str | None = None
    ) -> None:
        super().__init__(hub, interval=interval, id=id)
        self.hubs = dict(hubs)
        self.journal = journal
        self.problems: dict[str, str] = {}

    async def fetch(self, filter_text: str, page_token: str | None) -> Page[Assessment]:
        found = await read_maturity(self.hubs, self.journal)
        self.problems = found.problems
        wanted = filter_text.lower()
        return Page(tuple(a for a in found.assessments if wanted in a.model.lower()))

    def columns_for(self, items: Sequence[Assessment]) -> tuple[str, ...]:
        return ("Model", "Env", "Level", "Next step")

    def row(self, item: Assessment) -> Row:
        step = item.next_steps[0].criterion.title if item.next_steps else "—"
        return Row(
            f"{item.environment}/{item.model}",
            (
                item.model,
                item.environment,
                Text.assemble(level_text(item.level), f" {item.level_name}"),
                step,
            ),
        )

    def status_parts(self) -> list[str]:
        return [f"{env}: {problem}" for env, problem in self.problems.items()]

    def highlighted(self) -> Assessment | None:
        """The assessment under the cursor."""
        key = self.selected()
        return self.item(key) if key is not None else None


class MaturityScreen(EnvScreen):
    """The maturity pane over the top of the screen, the highlighted model's criteria below it."""

    BINDINGS: ClassVar[BindingList] = bindings("back", "reload")

    def __init__(self, hub: Hub, hubs: Mapping[str, Hub], journal: Journal) -> None:
        super().__init__()
        self.hub = hub
        self.hubs = hubs
        self.journal = journal

    @property
    def subject(self) -> object:
        return "maturity"

    def body(self) -> ComposeResult:
        yield Static(
            Text.assemble(
                ("MLOps maturity", "bold"),
                f" of {humanize.count(len(self.hubs), 'environment')} · levels 0-4, criteria of the"
                " highlighted model below",
            ),
            classes="detail-title",
        )
        yield MaturityPane(self.hub, self.hubs, self.journal, interval=MATURITY_SECONDS, id="maturity")
        with VerticalScroll(id="maturity-criteria"):
            yield Static("loading…", id="criteria")
        yield KeyBar()

    def action_reload(self) -> None:
        self.query_one(MaturityPane).poll_now()

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_criteria()

    @on(ResourcePane.Polled)
    def _polled(self, event: ResourcePane.Polled) -> None:
        self._show_criteria()

    def _show_criteria(self) -> None:
        assessment = self.query_one(MaturityPane).highlighted()
        shown = criteria_text(assessment) if assessment is not None else Text("No model assessed.")
        self.query_one("#criteria", Static).update(shown)
