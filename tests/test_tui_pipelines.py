"""Pipelines in the TUI: retrain with the local runner and the shipped trainer, follow the log."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, RichLog, Static

from mlops_tui.config import (
    EnvironmentSettings,
    GitlabSettings,
    MlflowSettings,
    RetrainSettings,
    Settings,
    trainer_command,
)
from mlops_tui.tui.screens.details import PipelineScreen, RunScreen, TraceScreen
from mlops_tui.tui.screens.dialogs import ConfirmDialog
from tests.fakes.gitlab_server import TOKEN, FakeGitlab
from tests.helpers.tui import SIZE, click, demo_app, loaded, notified, pane, shown, until


async def test_retrain_starts_a_local_run_whose_log_is_followed_to_a_new_version(
    demo_store: MlflowSettings, tmp_path: Path
) -> None:
    trainer = trainer_command()
    env = EnvironmentSettings(mlflow=demo_store, retrain=RetrainSettings(kind="local", command=trainer))
    app = demo_app(Settings({"lab": env}, "lab", journal=tmp_path / "journal.db"))
    async with app.run_test(size=SIZE) as pilot:
        await until(
            pilot,
            lambda: (
                loaded(app)() and " row" in str(pane(app, "pipelines").query_one(".pane-status").render())
            ),
        )
        assert pane(app, "pipelines").table.row_count == 0
        pane(app, "models").table.focus()  # churn
        await pilot.press("t")
        dialog = await shown(pilot, ConfirmDialog)
        assert dialog.change.target == "churn (local)"
        assert dialog.change.change_text() == "starts a new local pipeline"  # not "(unset) -> ..."
        await click(pilot, "#confirm")
        # Started: its live log opens by itself, followed to the end.
        await until(
            pilot, lambda: notified(app, "Started local pipeline L1 for churn (local): its live log is open")
        )
        await until(pilot, lambda: isinstance(app.screen, TraceScreen) and app.screen.complete, timeout=90)
        log = "\n".join(line.text for line in app.screen.query_one(RichLog).lines)
        assert "epoch  20/20" in log and "registered churn version 5" in log
        versions = await app.hub.tracking.search_versions("name='churn'")
        assert versions[0].version == "5" and versions[0].tags["trained_by"] == "mlops-tui-local"
        trained = await app.hub.tracking.get_run(versions[0].run_id or "")
        assert trained.tags["mlops_tui.pipeline_id"] == "L1"  # lineage: the run names its pipeline
        assert app.hub.pipeline_of(trained) == "L1"
        # The pipeline is in the pane too, with its one job.
        await pilot.press("escape")
        await until(pilot, lambda: len(app.screen_stack) == 1)
        app.action_refresh()
        await until(pilot, lambda: pane(app, "pipelines").table.row_count == 1)
        pane(app, "pipelines").table.focus()
        await pilot.press("enter")
        await until(
            pilot,
            lambda: isinstance(app.screen, PipelineScreen) and app.screen.query_one(DataTable).row_count == 1,
        )


async def test_lineage_from_a_run_to_its_gitlab_pipeline_and_back(
    demo_store: MlflowSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    with FakeGitlab() as gitlab:
        project = gitlab.add_project("ml/models")
        env = EnvironmentSettings(
            mlflow=demo_store,
            gitlab=GitlabSettings(url=gitlab.url, project="ml/models", token_env="GITLAB_TOKEN"),
        )
        app = demo_app(Settings({"dev": env}, "dev", journal=tmp_path / "journal.db"))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, loaded(app))
            run = (await app.hub.runs()).items[1]
            pipeline_id = int(run.tags["gitlab.pipeline_id"])
            gitlab.add_pipeline(project["id"], status="failed", pipeline_id=pipeline_id)
            screen = RunScreen(app.hub, run.id)
            app.push_screen(screen)

            def lineage() -> str:
                return str(screen.query_one("#lineage", Static).render()) if screen.is_mounted else ""

            await until(pilot, lambda: "failed" in lineage())
            assert f"gitlab pipeline {pipeline_id} failed" in lineage()
            await pilot.press("g")
            await until(
                pilot,
                lambda: (
                    isinstance(app.screen, PipelineScreen)
                    and app.screen.query_one("#pipeline-runs", DataTable).row_count > 0
                ),
            )
            produced = app.screen.query_one("#pipeline-runs", DataTable)
            assert run.id in {
                produced.coordinate_to_cell_key((i, 0)).row_key.value for i in range(produced.row_count)
            }
