"""Four-eyes approvals in the TUI, with a real PostgreSQL journal shared by two operators' apps: a
promotion in an environment with `approvals = 1` becomes a request (the dialog says so); the header
counts what waits; the approvals screen approves it (planned again, confirmed) or refuses the
requester's own."""

from __future__ import annotations

from textual.widgets import Button, DataTable, Static

from mlops_tui.config import EnvironmentSettings, MlflowSettings, Settings
from mlops_tui.tui import MlopsApp
from mlops_tui.tui.header import EnvBar
from mlops_tui.tui.screens.approvals import ApprovalsScreen
from mlops_tui.tui.screens.dialogs import ConfirmDialog, PromoteDialog
from tests.helpers.postgres import PASSWORD_ENV
from tests.helpers.tui import SIZE, click, demo_app, idle, loaded, notified, pane, shown, until


def as_operator(operator: str, store: MlflowSettings, journal_url: str) -> Settings:
    return Settings(
        {"dev": EnvironmentSettings(mlflow=store, approvals=1)},
        "dev",
        operator=operator,
        journal_url=journal_url,
        journal_password_env=PASSWORD_ENV,
    )


def header(app: MlopsApp) -> str:
    return str(app.screen.query_one(EnvBar).render())


async def champion(app: MlopsApp) -> str:
    return (await app.hub.tracking.get_model("churn")).aliases["champion"]


async def test_a_promotion_is_requested_then_approved_by_another_operator(
    demo_store: MlflowSettings, shared_journal_url: str
) -> None:
    ana = demo_app(as_operator("ana", demo_store, shared_journal_url))
    async with ana.run_test(size=SIZE) as pilot:
        await until(pilot, loaded(ana))
        pane(ana, "models").table.focus()  # churn
        await pilot.press("p")
        await shown(pilot, PromoteDialog)
        await click(pilot, "#plan")  # v4 to champion
        dialog = await shown(pilot, ConfirmDialog)
        assert "1 other operator must approve" in str(dialog.query_one("#confirm-approvals", Static).render())
        assert str(dialog.query_one("#confirm", Button).label) == "Request approval"
        await click(pilot, "#confirm")
        await until(pilot, lambda: notified(ana, "Approval requested #") and idle(ana))
        assert await champion(ana) == "3"  # nothing written
        await until(pilot, lambda: "1 to approve (A)" in header(ana))

        await pilot.press("A")
        screen = await shown(pilot, ApprovalsScreen)
        await until(pilot, lambda: screen.query_one("#approvals", DataTable).row_count == 1)
        await pilot.press("y")  # her own request
        await until(pilot, lambda: notified(ana, "is yours: another operator must approve it"))
        assert await champion(ana) == "3"

    ben = demo_app(as_operator("ben", demo_store, shared_journal_url))
    async with ben.run_test(size=SIZE) as pilot:
        await until(pilot, loaded(ben))
        await until(pilot, lambda: "1 to approve (A)" in header(ben))
        await pilot.press("A")
        screen = await shown(pilot, ApprovalsScreen)
        table = screen.query_one("#approvals", DataTable)
        await until(pilot, lambda: table.row_count == 1)
        (_, status, _age, requester, action, target, change, approvals, _expires) = map(
            str, table.get_row_at(0)
        )
        assert (status, requester, action, target, change, approvals) == (
            "pending",
            "ana",
            "promote",
            "churn@champion",
            "v3 -> v4",
            "0/1",
        )
        await pilot.press("y")
        dialog = await shown(pilot, ConfirmDialog)
        assert "request #" in str(dialog.query_one("#confirm-approving", Static).render())
        assert str(dialog.query_one("#confirm", Button).label) == "Approve"
        await click(pilot, "#confirm")
        await until(pilot, lambda: notified(ben, "Approved and done #") and idle(ben))
        assert await champion(ben) == "4"
        await until(pilot, lambda: str(table.get_row_at(0)[1]) == "performed")
        await until(pilot, lambda: "to approve" not in header(ben))
