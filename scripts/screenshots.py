"""Regenerate screenshots/*.svg from the real app on demo data (fixed clock, so they are stable).

Airflow's two (its runs in the Pipelines pane, a task's live log) come from a real Airflow 3, the
tests' (tests/helpers/airflow.py, `.venv-airflow`, which ./scripts/test installs; without it they
are left as they are): finished runs seeded at fixed times before the fixed clock, so the pane's
shot is stable, and one real run of the tests' `slow` DAG whose log is followed while it runs, so
that shot shows the real run's id and times, which change each time.

Run: ./scripts/screenshots            (every screenshot)
     ./scripts/screenshots fleet maturity   (only those named)
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import tempfile
import warnings
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
from textual.pilot import Pilot

from mlops_tui.config import (
    LOCAL_RULES,
    AirflowSettings,
    EnvironmentSettings,
    GateSettings,
    MetricsSettings,
    MlflowSettings,
    RetrainSettings,
    Settings,
    trainer_command,
)
from mlops_tui.demo import seed as demo
from mlops_tui.errors import MlopsError
from mlops_tui.hub import Hub
from mlops_tui.sources.airflow import AirflowSource
from mlops_tui.tui import MlopsApp, make_app
from mlops_tui.tui.panes.base import ResourcePane

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
WANTED = set(sys.argv[1:])
"""The screenshots to make; none named: every one."""
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "screenshots"


async def filled(pilot: Pilot[None]) -> None:
    app = pilot.app
    for _ in range(400):
        panes = list(app.query(ResourcePane))
        if panes and all(p.table.row_count for p in panes):
            break
        await app.workers.wait_for_complete()
        await pilot.pause(0.05)
    await pilot.pause()


async def shoot(
    settings: Settings, name: str, size: tuple[int, int], steps: Callable[[Pilot[None]], Awaitable[None]]
) -> None:
    if WANTED and name not in WANTED:
        return
    app: MlopsApp = make_app(settings, clock=lambda: NOW)
    async with app.run_test(size=size) as pilot:
        await filled(pilot)
        await steps(pilot)
        # Not waiting for workers: a write action's worker waits on its modal, which is the shot.
        await pilot.pause(0.5)
        app.save_screenshot(str(OUT / f"{name}.svg"))
    print(f"screenshots/{name}.svg", file=sys.stderr)


async def train_once(settings: Settings) -> None:
    """One real local training run, so the Pipelines pane has something to show."""
    hub = Hub(settings)
    try:
        runner = hub.pipeline_sources["local"]
        pipeline = await runner.start({"model": "churn"})
        while not pipeline.done:
            await asyncio.sleep(0.2)
            pipeline = await runner.get_pipeline(pipeline.id)
    finally:
        await hub.aclose()


async def main() -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        store = MlflowSettings(
            tracking_uri=f"sqlite:///{scratch}/mlflow.db", artifact_root=f"{scratch}/artifacts"
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            demo.seed(store, now=NOW)
        os.environ["XDG_STATE_HOME"] = f"{scratch}/state"  # the local runner's runs and logs
        retrain = RetrainSettings(kind="local", command=trainer_command("--seed", "11"))
        prd = msgspec.structs.replace(store)
        settings = Settings(
            {
                # The built-in local environment's alert rules: the Alerts pane and the fleet's
                # alerts column have something to show.
                "local": EnvironmentSettings(mlflow=store, retrain=retrain, rules=list(LOCAL_RULES)),
                "prd": EnvironmentSettings(mlflow=prd, protected=True),
            },
            "local",
            journal=Path(scratch) / "journal.db",
        )
        await train_once(settings)

        async def nothing(pilot: Pilot[None]) -> None:
            pass

        async def open_run(pilot: Pilot[None]) -> None:
            await pilot.press("down", "enter")

        async def open_model(pilot: Pilot[None]) -> None:
            pilot.app.query_one("#models", ResourcePane).table.focus()
            await pilot.press("enter")

        async def confirm_promotion(pilot: Pilot[None]) -> None:
            await pilot.press("e")
            await pilot.press("down", "enter")
            while pilot.app.hub.env_name != "prd":
                await pilot.pause(0.05)
            await filled(pilot)
            pilot.app.query_one("#models", ResourcePane).table.focus()
            await pilot.press("p")
            await pilot.pause(0.3)
            await pilot.click("#plan")

        await shoot(settings, "dashboard", (120, 36), nothing)
        await shoot(settings, "dashboard-80x24", (80, 24), nothing)
        await shoot(settings, "run", (120, 36), open_run)
        await shoot(settings, "model", (120, 36), open_model)
        await shoot(settings, "promote-protected", (120, 36), confirm_promotion)

        async def open_trace(pilot: Pilot[None]) -> None:
            pilot.app.query_one("#pipelines", ResourcePane).table.focus()
            await pilot.press("enter")
            await pilot.pause(1.0)
            await pilot.press("enter")
            await pilot.pause(1.5)

        await shoot(settings, "pipeline-log", (120, 36), open_trace)

        async def open_fleet(pilot: Pilot[None]) -> None:
            await pilot.press("f")
            await filled(pilot)

        async def compare_runs(pilot: Pilot[None]) -> None:
            table = pilot.app.query_one("#runs", ResourcePane).table
            table.focus()
            finished = [i for i in range(table.row_count) if str(table.get_row_at(i)[1]) == "finished"]
            # Runs of one experiment: comparing different models' runs means nothing.
            experiment = table.get_column_index("Experiment")
            first = str(table.get_row_at(finished[0])[experiment])
            alike = [i for i in finished if str(table.get_row_at(i)[experiment]) == first]
            for row in alike[:3]:
                table.move_cursor(row=row)
                await pilot.press("m")
            await pilot.press("c")
            await pilot.pause(1.0)
            await pilot.app.workers.wait_for_complete()

        async def triage(pilot: Pilot[None]) -> None:
            await pilot.press("a")
            await pilot.pause(0.2)
            await pilot.press("enter")
            await pilot.pause(1.0)
            await pilot.app.workers.wait_for_complete()

        await shoot_airflow(store)

        await shoot(settings, "triage", (120, 36), triage)
        await shoot(settings, "triage-80x24", (80, 24), triage)
        await shoot(settings, "fleet", (120, 36), open_fleet)
        await shoot(settings, "compare", (120, 36), compare_runs)
        await shoot(settings, "compare-80x24", (80, 24), compare_runs)

        async def open_maturity(pilot: Pilot[None]) -> None:
            await pilot.press("L")
            await filled(pilot)

        # prd as the built-in local-prd is: it takes validated versions only (a promotion gate).
        gated = msgspec.structs.replace(
            settings.environments["prd"], gates=GateSettings(required_tags={"validation_status": "passed"})
        )
        await shoot(
            dataclasses.replace(settings, environments={**settings.environments, "prd": gated}),
            "maturity",
            (120, 36),
            open_maturity,
        )

        # Serving metrics as the built-in local environment reads them: a monitoring job's runs in
        # a store of their own (churn regressed after its latest promotion).
        monitoring = MlflowSettings(
            tracking_uri=f"sqlite:///{scratch}/monitoring.db", artifact_root=f"{scratch}/monitoring"
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            demo.seed_monitoring(monitoring, now=NOW, registry=store)
        metrics = MetricsSettings(kind="mlflow", tracking_uri=monitoring.tracking_uri, step_seconds=3600.0)
        served = msgspec.structs.replace(settings.environments["local"], metrics=metrics)
        serving = dataclasses.replace(settings, environments={**settings.environments, "local": served})

        async def model_series(pilot: Pilot[None]) -> None:
            await open_model(pilot)
            await pilot.pause(1.0)
            await pilot.app.workers.wait_for_complete()
            await pilot.press("v")  # 7d: the promotion marked
            await pilot.pause(1.0)
            await pilot.app.workers.wait_for_complete()

        async def triage_serving(pilot: Pilot[None]) -> None:
            await triage(pilot)
            await pilot.pause(1.0)
            await pilot.app.workers.wait_for_complete()

        await shoot(serving, "dashboard-serving", (120, 36), nothing)
        await shoot(serving, "model-serving", (120, 36), model_series)
        await shoot(serving, "triage-serving", (120, 36), triage_serving)
        await shoot(serving, "triage-serving-80x24", (80, 24), triage_serving)


async def shoot_airflow(store: MlflowSettings) -> None:
    """The Pipelines pane with Airflow's runs, and a running task's log followed live."""
    if WANTED and not WANTED & {"pipelines-airflow", "airflow-task-log"}:
        return
    sys.path.insert(0, str(ROOT))  # the tests' Airflow helpers
    from tests.helpers.airflow import ADMIN_PASSWORD_ENV, AIRFLOW_VENV, running_airflow, seed_runs

    if not (AIRFLOW_VENV / "bin" / "airflow").exists():
        print(
            f"screenshots: no {AIRFLOW_VENV.name} (./scripts/test installs it): Airflow's kept",
            file=sys.stderr,
        )
        return
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch) / "airflow"
        home.mkdir()
        with running_airflow(home, mlflow_uri=store.tracking_uri, trainer_python=sys.executable) as server:
            seed_runs(server, 14, "mlops_tui_retrain", oldest=NOW - timedelta(hours=40), step_minutes=170)
            os.environ[ADMIN_PASSWORD_ENV] = server.passwords["admin"]
            airflow = AirflowSettings(
                url=server.url,
                dag_tags=["mlops-tui"],
                username="admin",
                password_env=ADMIN_PASSWORD_ENV,
                timeout_seconds=30,
            )
            env = EnvironmentSettings(mlflow=store, airflow=airflow, rules=list(LOCAL_RULES))
            settings = Settings({"dev": env}, "dev", journal=Path(scratch) / "journal.db")

            async def focus_pipelines(pilot: Pilot[None]) -> None:
                pilot.app.query_one("#pipelines", ResourcePane).table.focus()

            await shoot(settings, "pipelines-airflow", (120, 36), focus_pipelines)

            source = AirflowSource(msgspec.structs.replace(airflow, dags=["slow"]), dag_template="slow")
            try:
                started = await source.start({"lines": "40"}, model="slow")
                job = f"{started.id}/count"
                while True:
                    try:
                        if (await source.read_trace(job)).text.count("line ") >= 6:
                            break
                    except MlopsError:  # no task instance yet
                        pass
                    await asyncio.sleep(0.5)
                live = Settings(
                    {"dev": EnvironmentSettings(airflow=msgspec.structs.replace(airflow, dags=["slow"]))},
                    "dev",
                    journal=Path(scratch) / "journal.db",
                )

                async def follow_log(pilot: Pilot[None]) -> None:
                    pilot.app.query_one("#pipelines", ResourcePane).table.focus()
                    await pilot.press("enter")
                    await pilot.pause(1.5)
                    await pilot.press("enter")
                    await pilot.pause(2.5)

                await shoot(live, "airflow-task-log", (120, 36), follow_log)
                await source.cancel_pipeline(started.id)
            finally:
                await source.aclose()


if __name__ == "__main__":
    asyncio.run(main())
