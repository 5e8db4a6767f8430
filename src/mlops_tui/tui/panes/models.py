"""The Models pane: registered models with their aliases or stages, and the keys that act on one."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from mlops_tui.domain import Page, RegisteredModel
from mlops_tui.text import humanize
from mlops_tui.tui.bindings import MODEL_ACTIONS, WRITE_ACTIONS
from mlops_tui.tui.panes.base import ResourcePane, Row
from mlops_tui.tui.requests import ModelRequests, write_possible

__all__ = ["ModelsPane"]


class ModelsPane(ResourcePane[RegisteredModel], ModelRequests):
    """Registered models with their aliases (or stages) and latest version."""

    title = "Models"
    filter_placeholder = "part of a model name, or name LIKE 'ch%'"
    BINDINGS = MODEL_ACTIONS

    def action_promote(self) -> None:
        if name := self.selected():
            self.post_message(self.PromoteRequested(self.hub, name))

    def action_rollback(self) -> None:
        if name := self.selected():
            self.post_message(self.RollbackRequested(self.hub, name))

    def action_history(self) -> None:
        if name := self.selected():
            self.post_message(self.HistoryRequested(self.hub, name))

    def action_retrain(self) -> None:
        if name := self.selected():
            self.post_message(self.RetrainRequested(self.hub, name))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "retrain" and self.hub.env.retrain is None:
            return False
        if action in WRITE_ACTIONS:
            return write_possible(self.hub, chosen=self.selected() is not None)
        if action == "history":
            return None if self.selected() is None else True
        return super().check_action(action, parameters)

    async def fetch(self, filter_text: str, page_token: str | None) -> Page[RegisteredModel]:
        return await self.hub.models(filter_text, page_token=page_token)

    def columns_for(self, items: Sequence[RegisteredModel]) -> tuple[str, ...]:
        return ("Model", "Aliases / stages", "Latest", "Updated")

    def row(self, item: RegisteredModel) -> Row:
        labels = Text()
        for alias, version in sorted(item.aliases.items()):
            labels.append(f"{alias}", style="bold green" if alias == "champion" else "cyan")
            labels.append(f" v{version}  ")
        for stage, version in item.stages().items():
            if stage == "Archived":
                continue  # serves nothing; the model's screen lists it
            labels.append(stage, style="bold green" if stage == "Production" else "yellow")
            labels.append(f" v{version}  ")
        labels.rstrip()
        return Row(
            item.name,
            (
                item.name,
                labels,
                f"v{item.latest_version}" if item.latest_version else "",
                humanize.age(item.updated, self.hub.clock()),
            ),
        )
