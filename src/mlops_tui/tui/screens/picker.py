"""The environment picker: `e` chooses the environment to switch to."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from mlops_tui.tui.bindings import BindingList, bindings
from mlops_tui.tui.styles import env_label

__all__ = ["EnvironmentPicker"]


class EnvironmentPicker(ModalScreen[str | None]):
    """Choose the environment to switch to."""

    AUTO_FOCUS = "OptionList"

    BINDINGS: ClassVar[BindingList] = bindings("back", action="dismiss(None)", keys="escape")

    def __init__(self, environments: dict[str, tuple[bool, bool]], current: str) -> None:
        super().__init__()
        self.environments = environments
        self.current = current

    def compose(self) -> ComposeResult:
        options = []
        for name, (protected, read_only) in self.environments.items():
            label = env_label(name, protected=protected, read_only=read_only)
            if name == self.current:
                label.append("  (current)", style="dim")
            options.append(Option(label, id=name))
        with Vertical(id="picker"):
            yield Static("[b]Switch environment[/b]", markup=True)
            yield OptionList(*options)

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = list(self.environments).index(self.current)

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
