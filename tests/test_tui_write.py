"""Write actions in the TUI: promote and roll back through the confirmation modal and the journal."""

from __future__ import annotations

from pathlib import Path

import msgspec
from textual.widgets import Input

from mlops_tui.config import EnvironmentSettings, MlflowSettings, Settings
from mlops_tui.ops.journal import Journal
from mlops_tui.tui import MlopsApp
from mlops_tui.tui.screens.details import HistoryScreen, ModelScreen
from mlops_tui.tui.screens.dialogs import ConfirmDialog, PromoteDialog
from tests.helpers.tui import SIZE, click, demo_app, idle, loaded, notified, pane, shown, until


def settings_for(store: MlflowSettings, journal: Path, **env: bool) -> Settings:
    return Settings({"dev": EnvironmentSettings(mlflow=store, **env)}, "dev", journal=journal)


async def aliases(app: MlopsApp, model: str) -> dict[str, str]:
    return dict((await app.hub.tracking.get_model(model)).aliases)


async def test_promote_from_the_models_pane_is_confirmed_and_journaled(
    demo_store: MlflowSettings, tmp_path: Path
) -> None:
    app = demo_app(settings_for(demo_store, tmp_path / "journal.db"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, loaded(app))
        pane(app, "models").table.focus()  # churn, the first model
        await pilot.press("p")
        await shown(pilot, PromoteDialog)
        await click(pilot, "#plan")  # the latest version, v4, to alias champion
        dialog = await shown(pilot, ConfirmDialog)
        assert (dialog.change.target, dialog.change.before, dialog.change.after) == (
            "churn@champion",
            "v3",
            "v4",
        )
        assert await aliases(app, "churn") == {"champion": "3", "challenger": "4"}  # nothing yet
        await click(pilot, "#confirm")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmDialog) and idle(app))
        assert (await aliases(app, "churn"))["champion"] == "4"
        entries = Journal(tmp_path / "journal.db").entries(subject="churn")
        assert [(e.action, e.before, e.after, e.result) for e in entries] == [("promote", "v3", "v4", "ok")]

        await pilot.press("b")  # roll back: v4 -> v3, from the history tag
        await shown(pilot, ConfirmDialog)
        assert isinstance(app.screen, ConfirmDialog)
        assert (app.screen.change.before, app.screen.change.after) == ("v4", "v3")
        await click(pilot, "#confirm")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmDialog) and idle(app))
        assert (await aliases(app, "churn"))["champion"] == "3"

        await pilot.press("h")
        await shown(pilot, HistoryScreen)
        await until(pilot, lambda: app.screen.query_one("#history").row_count == 2)


async def test_cancel_changes_nothing(demo_store: MlflowSettings, tmp_path: Path) -> None:
    app = demo_app(settings_for(demo_store, tmp_path / "journal.db"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, loaded(app))
        pane(app, "models").table.focus()
        await pilot.press("p")
        await shown(pilot, PromoteDialog)
        await click(pilot, "#plan")
        await shown(pilot, ConfirmDialog)
        assert pane(app, "models").paused  # no polling behind a modal
        await pilot.press("escape")
        await until(pilot, lambda: idle(app))
        assert await aliases(app, "churn") == {"champion": "3", "challenger": "4"}
        assert Journal(tmp_path / "journal.db").entries() == []


async def test_protected_environment_needs_the_model_name_typed(
    demo_store: MlflowSettings, tmp_path: Path
) -> None:
    app = demo_app(settings_for(demo_store, tmp_path / "journal.db", protected=True))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, loaded(app))
        pane(app, "models").table.focus()
        await pilot.press("p")
        await shown(pilot, PromoteDialog)
        await click(pilot, "#plan")
        await shown(pilot, ConfirmDialog)
        typed = app.screen.query_one("#confirm-typed", Input)
        typed.value = "chur"
        await click(pilot, "#confirm")
        await until(pilot, lambda: notified(app, "Type churn exactly to confirm"))
        assert isinstance(app.screen, ConfirmDialog)  # a wrong name does not confirm
        assert await aliases(app, "churn") == {"champion": "3", "challenger": "4"}
        typed.value = "churn"
        typed.focus()
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmDialog) and idle(app))
        assert (await aliases(app, "churn"))["champion"] == "4"


async def test_read_only_greys_out_write_keys_and_refuses(demo_store: MlflowSettings, tmp_path: Path) -> None:
    app = demo_app(settings_for(demo_store, tmp_path / "journal.db", read_only=True))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, loaded(app))
        models = pane(app, "models")
        models.table.focus()
        await pilot.pause()
        assert models.check_action("promote", ()) is None
        assert models.check_action("rollback", ()) is None
        assert models.check_action("history", ()) is True
        footer = {b.binding.action: b.enabled for b in app.screen.active_bindings.values()}
        assert footer["promote"] is False and footer["rollback"] is False
        await pilot.press("p", "b")
        await pilot.pause()
        assert not isinstance(app.screen, PromoteDialog | ConfirmDialog)
        models.table.move_cursor(row=0)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ModelScreen) and bool(app.screen.versions))
        assert app.screen.check_action("promote", ()) is None
        assert await aliases(app, "churn") == {"champion": "3", "challenger": "4"}


async def test_promote_to_another_environment_from_the_dialog(
    demo_store: MlflowSettings, tmp_path: Path
) -> None:
    prd = msgspec.structs.replace(demo_store, registered_model="prod.{name}")
    settings = Settings(
        {"dev": EnvironmentSettings(mlflow=demo_store), "prd": EnvironmentSettings(mlflow=prd)},
        "dev",
        journal=tmp_path / "journal.db",
    )
    app = demo_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, loaded(app))
        pane(app, "models").table.focus()
        await pilot.press("p")
        await shown(pilot, PromoteDialog)
        app.screen.query_one("#promote-env").value = "prd"
        await click(pilot, "#plan")
        await shown(pilot, ConfirmDialog)
        assert isinstance(app.screen, ConfirmDialog)
        assert app.screen.change.target == "prod.churn@challenger"
        await click(pilot, "#confirm")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmDialog) and idle(app))
        copied = await app.hub.tracking.get_model("prod.churn")
        assert copied.aliases == {"challenger": "1"}
        version = await app.hub.tracking.get_version("prod.churn", "1")
        assert version.tags["mlops_tui.source"] == "dev/churn/4"
