"""Airflow in the TUI, against a real Airflow 3 (tests/helpers/airflow.py): a DAG paused and
unpaused from the Pipelines pane (`P`, `U`), a whole run cleared (`X`), and a task's log stepped
from try to try (`[`, `]`) while its running try is still followed live. Every write is checked in
what Airflow holds afterwards, read through its own API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, RichLog, Static

from mlops_tui.config import AirflowSettings, EnvironmentSettings, Settings
from mlops_tui.ops.journal import Journal
from mlops_tui.sources.airflow import AirflowSource
from mlops_tui.tui import MlopsApp, make_app
from mlops_tui.tui.screens.details import PipelineScreen, TraceScreen
from mlops_tui.tui.screens.dialogs import ConfirmDialog
from tests.helpers.airflow import ADMIN_PASSWORD_ENV, AirflowServer
from tests.helpers.tui import SIZE, click, idle, pane, shown, until
from tests.test_airflow import held_paused, held_tries, wait_for

pytestmark = pytest.mark.airflow

WAIT_SECONDS = 120


@pytest.fixture
def airflow(airflow_server: AirflowServer, monkeypatch: pytest.MonkeyPatch) -> AirflowSettings:
    monkeypatch.setenv(ADMIN_PASSWORD_ENV, airflow_server.passwords["admin"])
    return AirflowSettings(
        url=airflow_server.url,
        dags=["slow", "flaky"],
        username="admin",
        password_env=ADMIN_PASSWORD_ENV,
        timeout_seconds=30,
        refresh_seconds=1,
    )


@pytest.fixture
async def source(airflow: AirflowSettings) -> AsyncIterator[AirflowSource]:
    opened = AirflowSource(airflow, dag_template="{model}")
    yield opened
    await opened.aclose()


def app_on(airflow: AirflowSettings, tmp_path: Path) -> MlopsApp:
    env = EnvironmentSettings(airflow=airflow)
    return make_app(Settings({"af": env}, "af", journal=tmp_path / "journal.db"))


async def trigger(source: AirflowSource, dag: str, **conf: Any) -> str:
    started = await source.start({key: str(value) for key, value in conf.items()}, model=dag)
    return started.id


async def select_run(pilot: Any, app: MlopsApp, run: str) -> None:
    """Focus the Pipelines pane with its cursor on `run`, once a poll has listed it."""
    pipelines = pane(app, "pipelines")
    await until(pilot, lambda: pipelines.item(run) is not None, f"{run} listed", timeout=WAIT_SECONDS)
    pipelines.table.focus()
    pipelines.table.move_cursor(row=[key for key, _ in pipelines.shown()].index(run))
    await until(pilot, lambda: pipelines.selected() == run, f"{run} selected")


async def confirm(pilot: Any, app: MlopsApp, target: str) -> None:
    dialog = await shown(pilot, ConfirmDialog)
    assert dialog.change.target == target
    await click(pilot, "#confirm")
    await until(pilot, lambda: idle(app) and not isinstance(app.screen, ConfirmDialog), "the write done")


async def test_p_and_u_pause_and_unpause_the_dag_of_the_selected_run(
    airflow: AirflowSettings,
    airflow_server: AirflowServer,
    source: AirflowSource,
    tmp_path: Path,
) -> None:
    run = await trigger(source, "slow", lines=1)
    await wait_for(source, run, "success")
    app = app_on(airflow, tmp_path)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await select_run(pilot, app, run)
            await pilot.press("P")
            await confirm(pilot, app, "airflow DAG slow")
            assert held_paused(airflow_server, "slow") is True
            await pilot.press("U")
            await confirm(pilot, app, "airflow DAG slow")
            assert held_paused(airflow_server, "slow") is False
    finally:
        await source.set_paused("slow", False)
    entries = [(e.action, e.before, e.after, e.result) for e in Journal(tmp_path / "journal.db").entries()]
    assert entries == [("unpause", "paused", "active", "ok"), ("pause", "active", "paused", "ok")]


async def test_x_runs_a_whole_ended_run_again(
    airflow: AirflowSettings,
    airflow_server: AirflowServer,
    source: AirflowSource,
    tmp_path: Path,
) -> None:
    run = await trigger(source, "slow", lines=1)
    await wait_for(source, run, "success")
    assert held_tries(airflow_server, run) == {"count": ("success", 1)}
    app = app_on(airflow, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await select_run(pilot, app, run)
        await pilot.press("X")
        dialog = await shown(pilot, ConfirmDialog)
        assert dialog.change.details == ("every job runs again, not only the failed ones",)
        await confirm(pilot, app, f"airflow pipeline {run}")
    assert await wait_for(source, run, "success", "failed") == "success"
    assert held_tries(airflow_server, run) == {"count": ("success", 2)}
    (entry,) = Journal(tmp_path / "journal.db").entries()
    assert (entry.action, entry.before, entry.result) == ("retry", "success", "ok")


def heading(app: MlopsApp) -> str:
    return str(app.screen.query_one(".detail-title", Static).render())


def log_text(app: MlopsApp) -> str:
    return "\n".join(line.text for line in app.screen.query_one(RichLog).lines)


async def test_the_log_steps_from_try_to_try_and_the_running_one_is_followed_live(
    airflow: AirflowSettings, source: AirflowSource, tmp_path: Path
) -> None:
    run = await trigger(source, "slow", lines=90)
    job = f"{run}/count"
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while (await source.get_job(job)).status != "running":
            assert time.monotonic() < deadline, "the task never ran"
            await asyncio.sleep(1)
        await source.cancel_job(job)  # try 1 ends failed...
        await wait_for(source, run, "failed")
        await source.retry_job(job)  # ...and try 2 runs, a line a second
        while (again := await source.get_job(job)).attempt != 2 or again.status != "running":
            assert time.monotonic() < deadline + WAIT_SECONDS, f"try 2 never ran: {again}"
            await asyncio.sleep(1)

        app = app_on(airflow, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await select_run(pilot, app, run)
            await pilot.press("enter")
            await shown(pilot, PipelineScreen)
            await until(pilot, lambda: app.screen.query_one("#jobs", DataTable).row_count == 1, "the job")
            app.screen.query_one("#jobs", DataTable).focus()
            await pilot.press("enter")
            trace = await shown(pilot, TraceScreen)
            await until(
                pilot,
                lambda: (
                    "try 2 of 2" in heading(app) and "following" in heading(app) and "line 1" in log_text(app)
                ),
                "the running try 2, followed",
                timeout=WAIT_SECONDS,
            )
            assert trace.check_action("step_try", (1,)) is None  # no try after the latest

            await pilot.press("left_square_bracket")
            await until(
                pilot,
                lambda: "try 1 of 2" in heading(app) and "finished" in heading(app),
                "try 1, ended",
                timeout=WAIT_SECONDS,
            )
            await until(pilot, lambda: "line 1" in log_text(app), "try 1's log")
            first = log_text(app)
            assert trace.check_action("step_try", (-1,)) is None
            assert log_text(app) == first  # an ended try is not followed

            await pilot.press("right_square_bracket")
            await until(pilot, lambda: "try 2 of 2" in heading(app), "back on try 2")
            await until(pilot, lambda: "line 1" in log_text(app), "try 2's log read again")
            grown = len(log_text(app).splitlines())
            await until(
                pilot,
                lambda: len(log_text(app).splitlines()) > grown and "following" in heading(app),
                "try 2 followed live again",
                timeout=WAIT_SECONDS,
            )
            text = log_text(app)
            ones = [line for line in text.splitlines() if line.rstrip().endswith("line 1")]
            assert len(ones) == 1, text  # read from its start once, nothing repeated
    finally:
        await source.cancel_pipeline(run)


@pytest.mark.parametrize("key", ["X", "P", "U"])
async def test_protected_the_airflow_keys_ask_for_the_name_and_read_only_greys_them(
    key: str,
    airflow: AirflowSettings,
    airflow_server: AirflowServer,
    source: AirflowSource,
    tmp_path: Path,
) -> None:
    """The policy of tests/test_tui_policy.py for the keys only an Airflow run answers."""
    run = await trigger(source, "slow", lines=1)
    await wait_for(source, run, "success")
    if key == "U":
        await source.set_paused("slow", True)  # something to unpause
    paused = held_paused(airflow_server, "slow")
    tries = held_tries(airflow_server, run)
    try:
        await _refused_in_protected_and_read_only(key, run, airflow, tmp_path)
        assert held_paused(airflow_server, "slow") == paused  # nothing written
    finally:
        await source.set_paused("slow", False)
    assert held_tries(airflow_server, run) == tries
    assert Journal(tmp_path / "journal.db").entries() == []


async def _refused_in_protected_and_read_only(
    key: str, run: str, airflow: AirflowSettings, tmp_path: Path
) -> None:
    settings = Settings(
        {
            "prd": EnvironmentSettings(airflow=airflow, protected=True),
            "ro": EnvironmentSettings(airflow=airflow, read_only=True),
        },
        "prd",
        journal=tmp_path / "journal.db",
    )
    protected = make_app(settings)
    async with protected.run_test(size=SIZE) as pilot:
        await select_run(pilot, protected, run)
        await pilot.press(key)
        dialog = await shown(pilot, ConfirmDialog)
        assert dialog.expected == dialog.change.subject  # the name to type
        assert protected.screen.query_one("#confirm-typed").has_focus
        await click(pilot, "#confirm")  # nothing typed: refused
        await pilot.press("escape")
        await until(pilot, lambda: idle(protected), "the write given up")
    read_only = make_app(settings, "ro")
    async with read_only.run_test(size=SIZE) as pilot:
        await select_run(pilot, read_only, run)
        action = {"X": "retry_all", "P": "pause_dag", "U": "unpause_dag"}[key]
        assert pane(read_only, "pipelines").check_action(action, ()) is None  # greyed out
        await pilot.press(key)
        await pilot.pause(0.5)
        assert not isinstance(read_only.screen, ConfirmDialog)
