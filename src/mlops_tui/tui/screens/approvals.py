"""The approval requests of the environment (four eyes): pending first, then the recently closed;
`y` approves the selected one (its write planned again and confirmed), `n` rejects it."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from mlops_tui.domain import ApprovalRequest
from mlops_tui.hub import Hub
from mlops_tui.ops.journal import Journal
from mlops_tui.text import humanize
from mlops_tui.tui.bindings import APPROVAL_ACTIONS, BindingList
from mlops_tui.tui.footer import KeyBar
from mlops_tui.tui.requests import ApprovalRequests, write_possible
from mlops_tui.tui.screens.base import DetailScreen, detail_table

__all__ = ["ApprovalsScreen"]

SHOWN = 50
"""Requests listed: every pending one, then closed ones up to this many in all."""
_STATUS_STYLES = {"pending": "bold yellow", "performed": "green", "failed": "bold red"}


class ApprovalsScreen(DetailScreen, ApprovalRequests):
    """Approval requests of one environment from the shared journal."""

    BINDINGS: ClassVar[BindingList] = APPROVAL_ACTIONS

    @property
    def subject(self) -> object:
        return self.hub.env_name

    def __init__(self, hub: Hub, journal: Journal) -> None:
        super().__init__(hub)
        self.journal = journal
        self.requests: list[tuple[ApprovalRequest, str]] = []

    def body(self) -> ComposeResult:
        yield Static(f"Approvals in {self.hub.env_name}: loading…", classes="detail-title")
        yield detail_table(
            "Id",
            "Status",
            "Requested",
            "By",
            "Action",
            "Target",
            "Change",
            "Approvals",
            "Expires",
            id="approvals",
        )
        yield KeyBar()

    async def show(self) -> None:
        found = self.journal.approval_requests(environment=self.hub.env_name, limit=-1)
        now = self.hub.clock()
        with_status = [(r, r.status(now)) for r in found]
        pending = [(r, s) for r, s in with_status if s == "pending"]
        closed = [(r, s) for r, s in with_status if s != "pending"]
        self.requests = (pending + closed)[: max(SHOWN, len(pending))]
        needed = self.hub.policy.approvals.get("promote", 0)
        rule = f"promotions need {humanize.count(needed, 'approval')}" if needed else "no approvals required"
        self.query_one(".detail-title", Static).update(
            Text.assemble(
                (f"Approvals in {self.hub.env_name}", "bold"),
                f"  {len(pending)} pending · {rule} · y approves, n rejects",
            )
        )
        table = self.query_one("#approvals", DataTable)
        table.clear()
        for request, status in self.requests:
            closing = request.closing()
            table.add_row(
                f"#{request.id}",
                Text(status, style=_STATUS_STYLES.get(status, "dim")),
                humanize.age(request.time, now),
                request.requester,
                request.action,
                request.target,
                request.change_text(),
                f"{len(request.approvers)}/{request.needed}"
                + (f" {closing.operator}" if closing and status != "performed" else ""),
                humanize.timestamp(request.expires),
                key=str(request.id),
            )
        self.refresh_bindings()

    def selected(self) -> ApprovalRequest | None:
        row = self.query_one("#approvals", DataTable).cursor_row
        if 0 <= row < len(self.requests) and self.requests[row][1] == "pending":
            return self.requests[row][0]
        return None

    def action_approve(self) -> None:
        if request := self.selected():
            self.post_message(self.ApproveRequested(self.hub, request.id))

    def action_reject(self) -> None:
        if request := self.selected():
            self.post_message(self.RejectRequested(self.hub, request.id))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("approve", "reject"):
            return write_possible(self.hub, chosen=self.selected() is not None)
        return True
