"""The Pipelines pane: recent pipelines of the environment's runners, cancelled or retried from here."""

from __future__ import annotations

from collections.abc import Sequence

from mlops_tui.domain import Page, Pipeline
from mlops_tui.text import humanize
from mlops_tui.tui.bindings import PIPELINE_ACTIONS, WRITE_ACTIONS
from mlops_tui.tui.panes.base import ResourcePane, Row
from mlops_tui.tui.requests import PipelineRequests, pipeline_action_possible
from mlops_tui.tui.styles import pipeline_status_text

__all__ = ["PipelinesPane"]


class PipelinesPane(ResourcePane[Pipeline], PipelineRequests):
    """Recent pipelines of the environment's runners (GitLab, local), newest first."""

    title = "Pipelines"
    filter_placeholder = "a ref, or ref=main status=failed"
    BINDINGS = PIPELINE_ACTIONS

    async def fetch(self, filter_text: str, page_token: str | None) -> Page[Pipeline]:
        terms: dict[str, str] = {}
        for term in filter_text.split():
            key, sep, value = term.partition("=")
            terms[key if sep else "ref"] = value if sep else key
        answer = await self.hub.pipelines(ref=terms.get("ref"), status=terms.get("status"))
        return Page(tuple(answer.items), problem=answer.problem(self.hub.clock()))

    def columns_for(self, items: Sequence[Pipeline]) -> tuple[str, ...]:
        return ("Pipeline", "Status", "Ref", "Started by", "Created", "Duration")

    def row(self, item: Pipeline) -> Row:
        return Row(
            item.id,
            (
                f"{item.source} {item.id}",
                pipeline_status_text(item.status),
                item.ref,
                item.user or item.trigger,
                humanize.age(item.created, self.hub.clock()),
                humanize.duration(item.duration),
            ),
        )

    def action_cancel(self) -> None:
        if item := self.selected():
            self.post_message(self.ChangeRequested(self.hub, item, "cancel"))

    def action_retry(self) -> None:
        if item := self.selected():
            self.post_message(self.ChangeRequested(self.hub, item, "retry"))

    def action_retry_all(self) -> None:
        if item := self.selected():
            self.post_message(self.ChangeRequested(self.hub, item, "retry", whole=True))

    def action_pause_dag(self) -> None:
        if item := self._chosen():
            self.post_message(self.PauseRequested(self.hub, f"{item.source}:{item.id}", paused=True))

    def action_unpause_dag(self) -> None:
        if item := self._chosen():
            self.post_message(self.PauseRequested(self.hub, f"{item.source}:{item.id}", paused=False))

    def _chosen(self) -> Pipeline | None:
        key = self.selected()
        return self.item(key) if key else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in WRITE_ACTIONS:
            item = self._chosen()
            return pipeline_action_possible(self.hub, action, item.source if item else None)
        return super().check_action(action, parameters)
