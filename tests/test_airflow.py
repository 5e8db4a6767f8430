"""Airflow as a pipeline source, against a real Airflow 3 (REST API v2; tests/helpers/airflow.py):
DAG runs listed, retraining through the policy and the journal down to the registered MLflow
version and back, task logs followed live, a failed task cleared and run as try 2, a run marked
failed, a paused DAG refusing a trigger, and refused credentials named."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from mlops_tui.config import AirflowSettings, Settings, load_settings
from mlops_tui.errors import BackendError, NotFound
from mlops_tui.hub import Hub
from mlops_tui.ops.journal import Journal
from mlops_tui.ops.pipelines import plan_pause
from mlops_tui.ops.policy import Approval, perform
from mlops_tui.sources.airflow import UNPAUSE_KEY, AirflowSource, parse_id
from mlops_tui.tui.bindings import KEYS
from tests.helpers import run_cli, write_config
from tests.helpers.airflow import ADMIN_PASSWORD_ENV, VIEWER_PASSWORD_ENV, AirflowServer

pytestmark = pytest.mark.airflow

TIMEOUT = 30.0
"""Per request: SQLite serializes Airflow's writers, and a loaded machine slows its api-server."""
WAIT_SECONDS = 120
"""Upper bound for a DAG run to reach a state (a few seconds each on an idle machine)."""


def airflow_settings(server: AirflowServer, **overrides: Any) -> AirflowSettings:
    table: dict[str, Any] = {
        "url": server.url,
        "username": "admin",
        "password_env": ADMIN_PASSWORD_ENV,
        "timeout_seconds": TIMEOUT,
    }
    return AirflowSettings(**{**table, **overrides})


@pytest.fixture
def passwords(airflow_server: AirflowServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ADMIN_PASSWORD_ENV, airflow_server.passwords["admin"])
    monkeypatch.setenv(VIEWER_PASSWORD_ENV, airflow_server.passwords["viewer"])


@pytest.fixture
async def source(airflow_server: AirflowServer, passwords: None) -> AsyncIterator[AirflowSource]:
    opened = AirflowSource(airflow_settings(airflow_server), dag_template="{model}")
    yield opened
    await opened.aclose()


@pytest.fixture
def config(airflow_server: AirflowServer, passwords: None, tmp_path: Path) -> Path:
    """Environment `af`: the Airflow server, retraining through the shipped example DAG against
    the MLflow server its tasks write to."""
    return write_config(
        tmp_path / "mlops-tui.toml",
        {
            "af": {
                "mlflow": {"tracking_uri": airflow_server.mlflow_uri},
                "airflow": {
                    "url": airflow_server.url,
                    "dag_tags": ["mlops-tui", "mlops-tui-tests"],
                    "username": "admin",
                    "password_env": ADMIN_PASSWORD_ENV,
                    "timeout_seconds": TIMEOUT,
                },
                "retrain": {
                    "kind": "airflow",
                    "dag": "mlops_tui_retrain",
                    "conf": {"model": "{model}", "env": "{env}"},
                },
            },
            "paused": {
                "airflow": {
                    "url": airflow_server.url,
                    "username": "admin",
                    "password_env": ADMIN_PASSWORD_ENV,
                },
                "retrain": {"kind": "airflow", "dag": "paused"},
            },
        },
        default_env="af",
        journal=str(tmp_path / "journal.db"),
    )


async def trigger(source: AirflowSource, dag: str, **conf: Any) -> str:
    """Start a run of `dag` as the tests set a scene: straight through the source."""
    started = await source.start({key: str(value) for key, value in conf.items()}, model=dag)
    return started.id


async def wait_for(source: AirflowSource, pipeline_id: str, *statuses: str) -> str:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        status = (await source.get_pipeline(pipeline_id)).status
        if status in statuses:
            return status
        await asyncio.sleep(1)
    raise AssertionError(f"{pipeline_id} did not reach {statuses} in {WAIT_SECONDS} s (it is {status})")


async def test_the_api_version_is_detected_and_runs_are_listed_by_dag_and_tag(
    source: AirflowSource, airflow_server: AirflowServer, passwords: None
) -> None:
    assert await source.api_version() == "v2"
    run = await trigger(source, "slow", lines=1)
    assert run.startswith("slow/manual__")
    assert run in [p.id for p in await source.list_pipelines()]
    (listed,) = [p for p in await source.list_pipelines(ref="slow") if p.id == run]
    assert (listed.source, listed.ref, listed.trigger, dict(listed.parameters)) == (
        "airflow",
        "slow",
        "manual",
        {"lines": "1"},
    )
    only_flaky = AirflowSource(airflow_settings(airflow_server, dags=["flaky"]))
    tagged = AirflowSource(airflow_settings(airflow_server, dag_tags=["mlops-tui-tests"]))
    try:
        assert all(p.ref == "flaky" for p in await only_flaky.list_pipelines())
        assert run in [p.id for p in await tagged.list_pipelines()]
        assert set(await tagged.dag_ids() or []) == {"flaky", "slow", "paused"}
    finally:
        await only_flaky.aclose()
        await tagged.aclose()
    await wait_for(source, run, "success")
    (job,) = await source.list_jobs(run)
    assert (job.id, job.name, job.status, job.attempt) == (f"{run}/count", "count", "success", 1)
    assert job.duration is not None
    with pytest.raises(NotFound):
        await source.get_pipeline("airflow:slow/manual__1999-01-01T00:00:00+00:00")


async def test_retrain_through_airflow_registers_a_version_and_the_lineage_goes_both_ways(
    config: Path, tmp_path: Path
) -> None:
    done = run_cli("retrain", "churn", "--yes", "--wait", "--json", "--config", config, timeout=300)
    assert done.code == 0, done.stderr
    (entry,) = Journal(tmp_path / "journal.db").entries()
    assert (entry.action, entry.target, entry.result) == (
        "retrain",
        "churn (airflow DAG mlops_tui_retrain)",
        "ok",
    )
    pipeline_id = entry.after.removeprefix("airflow pipeline ")
    ref = parse_id(pipeline_id, job=False)
    assert ref.dag_id == "mlops_tui_retrain"

    shown = run_cli("models", "show", "churn", "--json", "--config", config).json()
    newest = shown["versions"][0]
    settings_hub = Hub(_settings_of(config))
    try:
        run = await settings_hub.tracking.get_run(newest["run_id"])
        assert run.tags["airflow.dag_id"] == "mlops_tui_retrain"
        assert run.tags["airflow.dag_run_id"] == ref.run_id
        assert settings_hub.pipeline_of(run) == pipeline_id
        pipeline, jobs = await settings_hub.pipeline(pipeline_id)
        assert (pipeline.status, pipeline.model, [j.name for j in jobs]) == ("success", "churn", ["train"])
        assert [r.id for r in await settings_hub.pipeline_runs(pipeline)] == [run.id]
    finally:
        await settings_hub.aclose()
    trace = run_cli("pipelines", "trace", f"{pipeline_id}/train", "--config", config)
    assert trace.code == 0, trace.stderr
    assert "registered churn version" in trace.stdout


def _settings_of(config: Path) -> Settings:
    return load_settings(config)


async def test_a_running_task_log_is_followed_live_without_repeating_a_line(source: AirflowSource) -> None:
    run = await trigger(source, "slow", lines=8)
    job = f"{run}/count"
    text, offset, reads, partial = "", 0, 0, False
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        try:
            chunk = await source.read_trace(job, offset)
        except NotFound:  # the scheduler has not made the task instance yet
            await asyncio.sleep(0.5)
            continue
        reads += 1
        text += chunk.text
        offset = chunk.next_offset
        if chunk.complete:
            break
        partial = partial or ("line 1" in text and "line 8" not in text)
        await asyncio.sleep(1)
    assert chunk.complete, text
    assert partial, f"never read the log while the task ran ({reads} reads)"
    for number in range(1, 9):
        assert text.count(f"line {number}\n") == 1, text
    assert offset == len(text.encode())
    # Read again from the start: the same text, in one read.
    whole = await source.read_trace(job)
    assert whole.text == text and whole.complete


async def test_retry_clears_the_failed_task_which_runs_as_try_2(
    source: AirflowSource, config: Path, tmp_path: Path
) -> None:
    run = await trigger(source, "flaky")
    assert await wait_for(source, run, "success", "failed") == "failed"
    jobs = {j.name: j for j in await source.list_jobs(run)}
    assert (jobs["prepare"].status, jobs["prepare"].attempt) == ("failed", 1)
    assert jobs["report"].status == "skipped"  # upstream_failed

    retried = run_cli("pipelines", "retry", run, "--yes", "--config", config)
    assert retried.code == 0, retried.stderr
    assert await wait_for(source, run, "success", "failed") == "success"
    prepare = await source.get_job(f"{run}/prepare")
    assert (prepare.status, prepare.attempt) == ("success", 2)
    first = await source.read_trace(f"{run}/prepare#1")
    second = await source.read_trace(f"{run}/prepare#2")
    assert "preparing, try 1" in first.text and first.complete
    assert "preparing, try 2" in second.text and "try 1" not in second.text
    with pytest.raises(NotFound):
        await source.read_trace(f"{run}/prepare#3")
    results = [(e.action, e.result) for e in Journal(tmp_path / "journal.db").entries()]
    assert results == [("retry", "ok")]

    # A finished run is not retried.
    again = run_cli("pipelines", "retry", run, "--yes", "--config", config)
    assert again.code == 4 and "only failed" in again.stderr


async def test_cancel_marks_a_running_run_failed(source: AirflowSource, config: Path) -> None:
    run = await trigger(source, "slow", lines=120)
    await wait_for(source, run, "running")
    cancelled = run_cli("pipelines", "cancel", run, "--yes", "--config", config)
    assert cancelled.code == 0, cancelled.stderr
    assert (await source.get_pipeline(run)).status == "failed"
    twice = run_cli("pipelines", "cancel", run, "--yes", "--config", config)
    assert twice.code == 4 and "already ended (failed)" in twice.stderr


async def test_cancel_of_a_job_marks_the_task_failed_and_retry_runs_it_again(
    source: AirflowSource, config: Path
) -> None:
    run = await trigger(source, "slow", lines=120)
    job = f"{run}/count"
    deadline = time.monotonic() + WAIT_SECONDS
    while (await source.get_job(job)).status != "running":
        assert time.monotonic() < deadline, "the task never ran"
        await asyncio.sleep(1)
    cancelled = run_cli("pipelines", "cancel", job, "--job", "--yes", "--config", config)
    assert cancelled.code == 0, cancelled.stderr
    assert (await source.get_job(job)).status == "failed"
    assert await wait_for(source, run, "failed") == "failed"
    retried = run_cli("pipelines", "retry", job, "--job", "--yes", "--config", config)
    assert retried.code == 0, retried.stderr
    deadline = time.monotonic() + WAIT_SECONDS
    while (again := await source.get_job(job)).attempt != 2 or again.status != "running":
        assert time.monotonic() < deadline, f"the task did not run again: {again}"
        await asyncio.sleep(1)
    await source.cancel_pipeline(run)  # not two minutes of a shared machine


async def test_a_paused_dag_refuses_a_trigger_and_names_how_to_unpause(
    source: AirflowSource, config: Path, tmp_path: Path
) -> None:
    refused = run_cli("--env", "paused", "retrain", "churn", "--yes", "--config", config)
    assert refused.code == 4, refused.stderr
    assert "DAG paused is paused" in refused.stderr and "unpause" in refused.stderr
    assert await source.list_pipelines(ref="paused") == []  # no run left queued

    hub = Hub(_settings_of(config), "paused")
    journal = Journal(tmp_path / "pause-journal.db")
    try:
        unpause = await plan_pause(hub, "airflow:paused", paused=False)
        assert (unpause.change.before, unpause.change.after) == ("paused", "active")
        await perform(
            unpause, policy=hub.policy, approval=Approval(approved=True), journal=journal, operator="tester"
        )
        assert not await source.is_paused("paused")
        pause = await plan_pause(hub, "airflow:paused", paused=True)
        await perform(
            pause, policy=hub.policy, approval=Approval(approved=True), journal=journal, operator="tester"
        )
        assert await source.is_paused("paused")
    finally:
        await hub.aclose()
    # Newest first.
    assert [(e.action, e.result) for e in journal.entries()] == [("pause", "ok"), ("unpause", "ok")]


def held_paused(server: AirflowServer, dag: str) -> bool:
    """Whether Airflow itself holds `dag` paused (its API, not the source under test)."""
    with server.client() as client:
        answer = client.get(f"dags/{dag}")
        answer.raise_for_status()
        return bool(answer.json()["is_paused"])


def held_tries(server: AirflowServer, run: str) -> dict[str, tuple[str, int]]:
    """Each task instance of a DAG run as Airflow holds it: its state and try number."""
    dag, run_id = run.split("/", 1)
    with server.client() as client:
        answer = client.get(f"dags/{dag}/dagRuns/{quote(run_id, safe='')}/taskInstances")
        answer.raise_for_status()
        return {ti["task_id"]: (ti["state"], ti["try_number"]) for ti in answer.json()["task_instances"]}


async def test_the_paused_refusal_names_the_key_and_the_command_that_unpause(
    source: AirflowSource, airflow_server: AirflowServer, config: Path, tmp_path: Path
) -> None:
    refused = run_cli("--env", "paused", "retrain", "churn", "--yes", "--config", config)
    assert refused.code == 4, refused.stderr
    message = " ".join(refused.stderr.split())
    # The key as the TUI binds it, and the command as the CLI has it: both taken from the message.
    assert KEYS["unpause_dag"].keys == UNPAUSE_KEY
    assert f"the key {UNPAUSE_KEY} on one of its runs in the Pipelines pane" in message
    command = re.search(r"`mlops-tui (pipelines unpause \S+)`", message)
    assert command is not None, message
    unpaused = run_cli(*command[1].split(), "--env", "paused", "--yes", "--json", "--config", config)
    try:
        assert unpaused.code == 0, unpaused.stderr
        assert held_paused(airflow_server, "paused") is False
    finally:
        await source.set_paused("paused", True)


async def test_pause_and_unpause_headless_by_dag_or_by_one_of_its_runs(
    source: AirflowSource, airflow_server: AirflowServer, config: Path, tmp_path: Path
) -> None:
    run = await trigger(source, "slow", lines=1)
    await wait_for(source, run, "success")
    try:
        paused = run_cli("pipelines", "pause", f"airflow:{run}", "--yes", "--json", "--config", config)
        assert paused.code == 0, paused.stderr
        assert paused.json()["target"] == "airflow DAG slow"
        assert held_paused(airflow_server, "slow") is True
        again = run_cli("pipelines", "pause", "airflow:slow", "--yes", "--config", config)
        assert again.code == 0 and "already paused" in again.stderr + again.stdout
        dry = run_cli("pipelines", "unpause", "airflow:slow", "--dry-run", "--config", config)
        assert dry.code == 0 and held_paused(airflow_server, "slow") is True
        unpaused = run_cli("pipelines", "unpause", "airflow:slow", "--yes", "--config", config)
        assert unpaused.code == 0, unpaused.stderr
        assert held_paused(airflow_server, "slow") is False
    finally:
        await source.set_paused("slow", False)
    results = [(e.action, e.target, e.before, e.after) for e in Journal(tmp_path / "journal.db").entries()]
    assert results == [
        ("unpause", "airflow DAG slow", "paused", "active"),
        ("pause", "airflow DAG slow", "active", "paused"),
    ]
    unknown = run_cli("pipelines", "pause", "airflow:no_such_dag", "--yes", "--config", config)
    assert unknown.code != 0 and "DAG no_such_dag not found" in unknown.stderr


async def test_retry_all_clears_every_task_of_an_ended_run(
    source: AirflowSource, airflow_server: AirflowServer, config: Path, tmp_path: Path
) -> None:
    run = await trigger(source, "flaky")
    assert await wait_for(source, run, "success", "failed") == "failed"
    retried = run_cli("pipelines", "retry", run, "--yes", "--config", config)  # the failed ones
    assert retried.code == 0, retried.stderr
    assert await wait_for(source, run, "success", "failed") == "success"
    not_whole = run_cli("pipelines", "retry", run, "--yes", "--config", config)
    assert not_whole.code == 4 and "only failed" in not_whole.stderr

    before = held_tries(airflow_server, run)
    assert before["prepare"] == ("success", 2)
    whole = run_cli("pipelines", "retry", run, "--all", "--yes", "--json", "--config", config)
    assert whole.code == 0, whole.stderr
    assert "every job runs again, not only the failed ones" in whole.json()["details"]
    assert await wait_for(source, run, "success", "failed") == "success"
    # What Airflow holds: every task ran once more, the one that had succeeded too.
    assert held_tries(airflow_server, run) == {
        task: ("success", number + 1) for task, (_, number) in before.items()
    }
    # (The run ended success, not as the first retry left it: the journal notes that as external.)
    entries = [(e.action, e.result) for e in Journal(tmp_path / "journal.db").entries()]
    assert entries == [("retry", "ok"), ("external", "external"), ("retry", "ok")]

    running = await trigger(source, "slow", lines=60)
    await wait_for(source, running, "running")
    try:
        early = run_cli("pipelines", "retry", running, "--all", "--yes", "--config", config)
        assert early.code == 4 and "runs again whole once it has ended" in early.stderr
        job = run_cli("pipelines", "retry", f"{running}/count", "--job", "--all", "--config", config)
        assert job.code == 2 and "--all" in job.stderr
    finally:
        await source.cancel_pipeline(running)


async def test_a_wrong_password_names_its_variable(
    airflow_server: AirflowServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ADMIN_PASSWORD_ENV, "not-the-password")
    source = AirflowSource(airflow_settings(airflow_server))
    try:
        with pytest.raises(BackendError) as refused:
            await source.list_pipelines()
    finally:
        await source.aclose()
    assert "HTTP 401" in refused.value.message
    assert f"${ADMIN_PASSWORD_ENV} (password_env)" in refused.value.message
    assert "not-the-password" not in refused.value.message


async def test_a_forbidden_action_names_the_permission(
    airflow_server: AirflowServer, passwords: None
) -> None:
    viewer = AirflowSource(
        airflow_settings(airflow_server, username="viewer", password_env=VIEWER_PASSWORD_ENV),
        dag_template="slow",
    )
    try:
        assert await viewer.list_pipelines(ref="slow") is not None  # a viewer reads
        with pytest.raises(BackendError) as forbidden:
            await viewer.start({}, model="churn")
    finally:
        await viewer.aclose()
    message = forbidden.value.message
    assert "user 'viewer' may not trigger DAG slow (HTTP 403)" in message
    assert "can create on DAG Runs" in message


def test_ids_qualified_or_bare_give_their_parts() -> None:
    ref = parse_id("airflow:retrain_churn/manual__2026-12-04T10:00:00+00:00/group.train[3]#2")
    assert (ref.dag_id, ref.run_id, ref.task_id, ref.map_index, ref.try_number) == (
        "retrain_churn",
        "manual__2026-12-04T10:00:00+00:00",
        "group.train",
        3,
        2,
    )
    assert ref.job_id == "retrain_churn/manual__2026-12-04T10:00:00+00:00/group.train[3]"
    assert parse_id(ref.job_id).task_id == "group.train"  # the bare id, as the hub passes it on
    assert parse_id(ref.pipeline_id, job=False).task_id is None
