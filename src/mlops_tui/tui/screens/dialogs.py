"""Modals of write actions: choosing what to promote or silence, and confirming exactly what will change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar, TypeVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static
from textual.widgets.button import ButtonVariant

from mlops_tui.domain import Alert, Change, Endpoint, ModelVersion
from mlops_tui.domain.matchers import Matcher, parse_matchers
from mlops_tui.errors import MlopsError
from mlops_tui.hub import Hub
from mlops_tui.ops.gates import plan_notes
from mlops_tui.ops.policy import Approval
from mlops_tui.ops.registry import serving_slot
from mlops_tui.sources.registry import Role
from mlops_tui.text import humanize
from mlops_tui.text.sanitize import printable
from mlops_tui.tui.bindings import BindingList, bindings
from mlops_tui.tui.chart import headline_text
from mlops_tui.tui.styles import env_badge
from mlops_tui.views.metrics import headlines

__all__ = [
    "ReasonDialog",
    "ConfirmDialog",
    "PromoteChoice",
    "PromoteDialog",
    "SilenceDialog",
    "SilenceRequest",
    "TrafficDialog",
]


DialogResult = TypeVar("DialogResult")
_NOTE_LABELS = {"metric": "metric", "warning": "warning", "passed": "gate ok", "failed": "FAILED"}
_NOTE_STYLES = {"metric": "dim", "warning": "bold yellow", "passed": "green", "failed": "bold red"}


class DialogFrame(VerticalScroll, can_focus=False):
    """A dialog's scrolling frame: Tab moves between its fields and buttons, never to the frame
    (a field that takes focus scrolls into view)."""


class Dialog(ModalScreen[DialogResult]):
    """A modal that Escape or its Cancel button closes, changing nothing.

    Its title and buttons are docked: on a terminal too small for every field, the fields scroll
    between them and the buttons stay in view.
    """

    BINDINGS: ClassVar[BindingList] = bindings("back", action="dismiss(None)", keys="escape")

    def compose(self) -> ComposeResult:
        with DialogFrame(classes=self.frame_classes()):
            yield Static(self.heading(), classes="dialog-title")
            yield from self.fields()
            yield self.buttons()

    def frame_classes(self) -> str:
        """The CSS classes of the dialog's frame."""
        return "dialog"

    def heading(self) -> Text:
        """The dialog's first line."""
        raise NotImplementedError

    def fields(self) -> ComposeResult:
        """What the dialog asks or shows, between its title and its buttons."""
        raise NotImplementedError

    def buttons(self) -> Horizontal:
        """Plan (the primary action: show what would change) and Cancel."""
        return self.button_row(Button("Plan", variant="primary", id="plan"))

    @staticmethod
    def button_row(primary: Button) -> Horizontal:
        return Horizontal(primary, Button("Cancel", id="cancel"), classes="dialog-buttons")

    @staticmethod
    def hint(text: str) -> Static:
        """A line that explains the field above it."""
        return Static(text, classes="dialog-hint")

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


class TrafficDialog(Dialog[dict[str, int] | None]):
    """Enter an endpoint's new traffic split: a percent for each deployed model, summing to 100."""

    def __init__(self, endpoint: Endpoint) -> None:
        super().__init__()
        self.endpoint = endpoint

    def heading(self) -> Text:
        return Text.assemble("Shift traffic of ", (self.endpoint.display_name, "bold"))

    def fields(self) -> ComposeResult:
        for deployed in self.endpoint.deployed_models:
            serves = f" = {deployed.mlflow_model} v{deployed.mlflow_version}" if deployed.mlflow_model else ""
            yield Label(Text(f"{deployed.id}  {deployed.display_name}{serves} (%)"))
            yield Input(
                str(self.endpoint.traffic_split.get(deployed.id, 0)),
                type="integer",
                id=f"percent-{deployed.id}",
                classes="traffic-percent",
            )
        yield Static("", id="traffic-sum")

    def on_mount(self) -> None:
        self._show_sum()
        inputs = self.query(".traffic-percent")
        if inputs:
            inputs.first().focus()

    def _split(self) -> dict[str, int] | None:
        split = {}
        for deployed in self.endpoint.deployed_models:
            text = self.query_one(f"#percent-{deployed.id}", Input).value.strip() or "0"
            if not text.isdigit() or int(text) > 100:
                return None
            split[deployed.id] = int(text)
        return split

    @on(Input.Changed)
    def _show_sum(self) -> None:
        split = self._split()
        total = sum(split.values()) if split is not None else None
        line = "each percent is a whole number 0-100" if total is None else f"total {total}%"
        self.query_one("#traffic-sum", Static).update(line if total == 100 else f"{line} (must be 100)")

    @on(Button.Pressed, "#plan")
    @on(Input.Submitted)
    def _plan(self) -> None:
        split = self._split()
        if split is None or sum(split.values()) != 100:
            self.notify("The percents must be whole numbers that sum to 100", severity="warning")
            return
        self.dismiss(split)


@dataclass(frozen=True)
class PromoteChoice:
    version: str
    slot: str
    """An alias in alias mode, a stage in stage mode."""
    to_env: str | None
    """Another environment to copy the version into, or None."""


class PromoteDialog(Dialog[PromoteChoice | None]):
    """Pick the version, the alias (or stage) and, optionally, another environment."""

    AUTO_FOCUS = "#promote-version"

    def __init__(
        self,
        model: str,
        versions: list[ModelVersion],
        *,
        selected: str | None,
        mode: str,
        environment: str,
        environments: list[str],
        hub: Hub | None = None,
    ) -> None:
        """`hub`: the environment's, to show the live headline series of what the slot serves now
        (what the promotion replaces), where it has a metrics source."""
        super().__init__()
        self.model = model
        self.versions = versions
        self.selected = selected or (versions[0].version if versions else None)
        self.mode = mode
        self.environment = environment
        self.environments = environments
        self.hub = hub if hub is not None and hub.backends_for(Role.METRICS) else None

    def heading(self) -> Text:
        return Text.assemble("Promote ", (self.model, "bold"))

    def fields(self) -> ComposeResult:
        yield Label("Version")
        yield Select(
            [(f"v{v.version}  {', '.join(v.aliases) or v.stage}", v.version) for v in self.versions],
            value=self.selected or Select.BLANK,
            allow_blank=False,
            id="promote-version",
        )
        if self.mode == "alias":
            yield Label("Alias")
            yield Input("champion", id="promote-slot")
        else:
            yield Label("Stage")
            yield Select(
                [(s, s) for s in ("Production", "Staging", "Archived")],
                value="Production",
                allow_blank=False,
                id="promote-slot",
            )
        yield Label("Environment")
        yield Select(
            [(e, e) for e in self.environments],
            value=self.environment,
            allow_blank=False,
            id="promote-env",
        )
        yield self.hint("Another environment gets a copy of the version, as its incoming alias.")
        if self.hub is not None:
            yield Static(Text("serving now: reading its metrics…", style="dim"), id="promote-replaced")

    def on_mount(self) -> None:
        if self.hub is not None:
            self._read_replaced(self.hub)

    @work(exclusive=True, group="replaced", exit_on_error=False)
    async def _read_replaced(self, hub: Hub) -> None:
        """What the slot serves now, and its headline serving series: what would be replaced."""
        shown = self.query_one("#promote-replaced", Static)
        try:
            registered, _ = await hub.model(self.model)
            slot = serving_slot(hub, registered)
            held = slot.read(registered)
            if held is None:
                shown.update(Text(f"nothing serves as {slot.name} yet", style="dim"))
                return
            name = hub.model_name(registered.name)
            found = (await headlines(hub, {name: held.removeprefix("v")}, now=hub.clock()))[name]
        except MlopsError as exc:
            shown.update(Text(f"serving metrics: {exc.message}", style="red"))
            return
        line = Text.assemble("replacing ", (held, "bold"), f" ({slot.name}): ")
        line.append_text(headline_text(found, width=12))
        shown.update(line)

    @on(Button.Pressed, "#plan")
    @on(Input.Submitted)
    def _plan(self) -> None:
        version = self.query_one("#promote-version", Select).value
        slot_widget = self.query_one("#promote-slot")
        slot = slot_widget.value if isinstance(slot_widget, Input | Select) else ""
        env = self.query_one("#promote-env", Select).value
        if not isinstance(version, str) or not str(slot).strip():
            self.notify("Choose a version and an alias", severity="warning")
            return
        self.dismiss(
            PromoteChoice(
                version=version,
                slot=str(slot).strip(),
                to_env=None if env == self.environment else str(env),
            )
        )


class ConfirmDialog(Dialog[Approval | None]):
    """Show exactly what will change; in a protected environment, ask for the model name typed."""

    AUTO_FOCUS = "#confirm-typed, #confirm"

    def __init__(
        self,
        change: Change,
        *,
        typed: str | None,
        protected: bool,
        approvals: int = 0,
        approving: int | None = None,
    ) -> None:
        super().__init__()
        self.change = change
        self.expected = typed
        self.protected = protected
        self.approvals = approvals
        """Other operators who must approve: confirming records a request, not the write."""
        self.approving = approving
        """The approval request this confirms, if any."""

    def frame_classes(self) -> str:
        return "dialog -protected" if self.protected else "dialog"

    def heading(self) -> Text:
        env = env_badge(self.change.environment, protected=self.protected)
        return Text.assemble(env, "  ", (self.change.action.capitalize(), "bold"))

    def fields(self) -> ComposeResult:
        change = self.change
        yield Static(
            Text.assemble(
                ("model   ", "dim"),
                (change.subject, "bold"),
                "\n",
                ("target  ", "dim"),
                change.target,
                "\n",
                ("change  ", "dim"),
                *(
                    (("starts ", "bold"), (change.after, "bold green"))
                    if change.starts
                    else ((change.before or "(unset)", "bold"), "  →  ", (change.after, "bold green"))
                ),
                *(Text.assemble("\n", ("note    ", "dim"), d) for d in change.details),
            ),
            id="confirm-change",
        )
        if notes := plan_notes(change):
            yield Static(
                Text("\n").join(
                    Text.assemble((f"{_NOTE_LABELS[kind]:<8}", _NOTE_STYLES[kind]), printable(text))
                    for kind, text in notes
                ),
                id="confirm-checks",
            )
        if self.approvals:
            who = "1 other operator" if self.approvals == 1 else f"{self.approvals} other operators"
            yield Static(
                Text.assemble(
                    ("four eyes ", "bold"), f"{who} must approve: this records a request, not the change"
                ),
                id="confirm-approvals",
            )
        if self.approving is not None:
            yield Static(
                Text.assemble(("approving ", "bold"), f"request #{self.approving}, planned again now"),
                id="confirm-approving",
            )
        if change.failed_checks and self.approving is None:
            yield Label("Promotion gates failed: to override them, say why (journaled)")
            yield Input(placeholder="why: the reason for overriding the gates", id="confirm-override")
        if self.expected is not None:
            yield Label(Text.assemble("Protected environment: type ", (self.expected, "bold"), " to confirm"))
            yield Input(placeholder=f"type {self.expected}", id="confirm-typed")

    def buttons(self) -> Horizontal:
        change = self.change
        failed = bool(change.failed_checks)
        variant: ButtonVariant = "error" if self.protected or failed else "primary"
        label = f"Override gates and {change.action}" if failed else change.action.capitalize()
        if self.approving is not None:
            label = "Approve"
        elif self.approvals:
            label = "Request approval"
        return self.button_row(Button(label, variant=variant, id="confirm"))

    @on(Button.Pressed, "#confirm")
    @on(Input.Submitted, "#confirm-typed")
    @on(Input.Submitted, "#confirm-override")
    def _confirm(self) -> None:
        typed = override = None
        if self.expected is not None:
            typed = self.query_one("#confirm-typed", Input).value.strip()
            if typed != self.expected:
                self.notify(f"Type {self.expected} exactly to confirm", severity="warning")
                return
        if self.change.failed_checks and self.approving is None:
            override = self.query_one("#confirm-override", Input).value.strip()
            if not override:
                self.notify("Gates failed: give a reason to override them", severity="warning")
                return
        self.dismiss(Approval(approved=True, typed=typed, override=override))


@dataclass(frozen=True)
class SilenceRequest:
    matchers: list[Matcher]
    duration: timedelta
    comment: str


class SilenceDialog(Dialog[SilenceRequest | None]):
    """Matchers pre-filled from an alert's labels (editable), a duration and a required comment."""

    AUTO_FOCUS = "#silence-comment"

    def __init__(self, alert: Alert, *, author: str) -> None:
        super().__init__()
        self.alert = alert
        self.author = author

    def heading(self) -> Text:
        return Text.assemble("Silence ", (self.alert.name or "alerts", "bold"), f"  (author: {self.author})")

    def fields(self) -> ComposeResult:
        prefilled = ", ".join(str(Matcher.equal(k, v)) for k, v in sorted(self.alert.labels.items()))
        yield Label("Matchers")
        yield Input(prefilled, id="silence-matchers")
        yield self.hint("Every one must match: = != =~ !~")
        yield Label("Duration")
        yield Input("2h", id="silence-duration")
        yield self.hint("30m, 2h, 1d")
        yield Label("Comment (required)")
        yield Input(placeholder="why: e.g. known drift, retraining under way", id="silence-comment")

    @on(Button.Pressed, "#plan")
    @on(Input.Submitted)
    def _plan(self) -> None:
        try:
            matchers = parse_matchers([self.query_one("#silence-matchers", Input).value])
            duration = humanize.parse_duration(self.query_one("#silence-duration", Input).value)
        except (MlopsError, ValueError) as exc:
            self.notify(str(exc), severity="warning")
            return
        comment = self.query_one("#silence-comment", Input).value.strip()
        if not matchers or not comment:
            self.notify("A silence needs at least one matcher and a comment", severity="warning")
            return
        self.dismiss(SilenceRequest(matchers, duration, comment))


class ReasonDialog(Dialog[str | None]):
    """Ask why (a rejection): the journal records the reason; an empty one is not accepted."""

    AUTO_FOCUS = "#reason"

    def __init__(self, title: str, *, action: str) -> None:
        super().__init__()
        self.title_text = title
        self.action_label = action

    def heading(self) -> Text:
        return Text(self.title_text, style="bold")

    def fields(self) -> ComposeResult:
        yield Label("Reason (journaled)")
        yield Input(placeholder="why: the reason", id="reason")

    def buttons(self) -> Horizontal:
        return self.button_row(Button(self.action_label, variant="error", id="give-reason"))

    @on(Button.Pressed, "#give-reason")
    @on(Input.Submitted, "#reason")
    def _given(self) -> None:
        reason = self.query_one("#reason", Input).value.strip()
        if not reason:
            self.notify("Give a reason: the journal records it", severity="warning")
            return
        self.dismiss(reason)
