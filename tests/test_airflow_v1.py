"""Airflow 2 (the stable REST API v1, against a server following its specification) and Cloud
Composer (a bearer token of Google's Application Default Credentials, from a local metadata
server: no network)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mlops_tui.config import AirflowSettings
from mlops_tui.errors import BackendError
from mlops_tui.sources.airflow import AirflowSource
from tests.fakes.airflow_v1_server import FakeAirflowV1
from tests.fakes.google_metadata import FakeMetadata, use_metadata_server

RUN = "manual__2026-12-04T10:00:00+00:00"
LOG = "[2026-12-04, 10:00:01 UTC] {bash.py:1} INFO - try {try}\nline one\nline two ü\n"


def seed(server: FakeAirflowV1) -> None:
    server.add_dag("retrain_churn", tags=("mlops",))
    server.add_dag("etl", tags=("data",))
    server.add_dag("retrain_fraud", tags=("mlops",), paused=True)
    server.add_run("retrain_churn", RUN, state="failed", conf={"model": "churn", "epochs": 3})
    server.add_task("retrain_churn", RUN, "train", state="failed", try_number=2, log=LOG)
    server.add_run("etl", "scheduled__2026-12-04T00:00:00+00:00")


@pytest.fixture
def airflow2(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAirflowV1]:
    monkeypatch.setenv("AIRFLOW_PASSWORD", "secret")
    with FakeAirflowV1(username="admin", password="secret") as server:
        seed(server)
        yield server


@pytest.fixture
async def source(airflow2: FakeAirflowV1) -> AsyncIterator[AirflowSource]:
    settings = AirflowSettings(
        url=airflow2.url, dag_tags=["mlops"], username="admin", password_env="AIRFLOW_PASSWORD"
    )
    opened = AirflowSource(settings, dag_template="retrain_{model}")
    yield opened
    await opened.aclose()


async def test_airflow_2_is_detected_and_read_with_basic_auth(
    source: AirflowSource, airflow2: FakeAirflowV1
) -> None:
    assert await source.api_version() == "v1"
    # Asked once, without credentials: the version is public, and which kind to send depends on it.
    assert [r.path for r in airflow2.requests] == ["/api/v2/version", "/api/v1/version"]
    assert not any("authorization" in r.headers for r in airflow2.requests)
    (pipeline,) = await source.list_pipelines()
    assert (pipeline.qualified_id, pipeline.status, pipeline.ref, pipeline.model, pipeline.trigger) == (
        f"airflow:retrain_churn/{RUN}",
        "failed",
        "retrain_churn",
        "churn",
        "manual",
    )
    assert dict(pipeline.parameters) == {"model": "churn", "epochs": "3"}
    assert (
        pipeline.web_url
        == f"{airflow2.url}/dags/retrain_churn/grid?dag_run_id={RUN.replace(':', '%3A').replace('+', '%2B')}"
    )
    listing = next(r for r in airflow2.requests if r.path == "/api/v1/dags/~/dagRuns/list")
    assert listing.body == {
        "page_limit": 50,
        "order_by": "-execution_date",
        "dag_ids": ["retrain_churn", "retrain_fraud"],
    }
    expected = base64.b64encode(b"admin:secret").decode()
    assert listing.headers["authorization"] == f"Basic {expected}"

    (job,) = await source.list_jobs(pipeline.id)
    assert (job.id, job.name, job.status, job.attempt) == (f"{pipeline.id}/train", "train", "failed", 2)
    whole = await source.read_trace(job.id)
    assert whole.text == LOG.replace("{try}", "2") and whole.complete
    rest = await source.read_trace(job.id, len("[2026-12-04, 10:00:01 UTC] {bash.py:1} INFO - try 2\n"))
    assert rest.text == "line one\nline two ü\n" and rest.next_offset == whole.next_offset
    first = await source.read_trace(f"{job.id}#1")
    assert "try 1" in first.text
    log_request = airflow2.requests[-1]
    assert log_request.path.endswith("/logs/1") and log_request.headers["accept"] == "text/plain"


async def test_airflow_2_writes_follow_the_v1_specification(
    source: AirflowSource, airflow2: FakeAirflowV1
) -> None:
    started = await source.start({"model": "churn"}, model="churn")
    assert started.status == "pending" and started.ref == "retrain_churn"
    trigger = next(r for r in airflow2.requests if r.method == "POST" and r.path.endswith("/dagRuns"))
    assert trigger.body == {"conf": {"model": "churn"}}  # no logical_date: v1 has it optional

    retried = await source.retry_pipeline(f"airflow:retrain_churn/{RUN}")
    assert retried.status == "pending"
    clear = next(r for r in airflow2.requests if r.path.endswith("/clearTaskInstances"))
    assert clear.body == {"dry_run": False, "dag_run_id": RUN, "reset_dag_runs": True, "only_failed": True}
    assert (await source.get_job(f"airflow:retrain_churn/{RUN}/train")).attempt == 3

    cancelled = await source.cancel_pipeline(f"airflow:retrain_churn/{RUN}")
    assert cancelled.status == "failed"
    assert await source.is_paused("retrain_fraud")
    assert await source.set_paused("retrain_fraud", False) is False
    pause = [r for r in airflow2.requests if r.method == "PATCH" and r.path == "/api/v1/dags/retrain_fraud"]
    assert pause[0].query["update_mask"] == ["is_paused"]


async def test_airflow_2_refusing_the_password_names_its_variable(
    airflow2: FakeAirflowV1, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_PASSWORD", "wrong")
    source = AirflowSource(
        AirflowSettings(url=airflow2.url, username="admin", password_env="AIRFLOW_PASSWORD")
    )
    try:
        with pytest.raises(BackendError) as refused:
            await source.list_pipelines()
    finally:
        await source.aclose()
    assert "refused the credentials (HTTP 401)" in refused.value.message
    assert "check the password of user 'admin' in $AIRFLOW_PASSWORD (password_env)" in refused.value.message


async def test_cloud_composer_sends_the_access_token_of_the_application_default_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token = "ya29.local-test-token"
    with FakeMetadata(token) as metadata, FakeAirflowV1(token=token) as composer:
        seed(composer)
        use_metadata_server(monkeypatch, metadata, tmp_path)
        source = AirflowSource(AirflowSettings(url=composer.url, auth="google", dags=["retrain_churn"]))
        try:
            (pipeline,) = await source.list_pipelines()
            await source.get_pipeline(pipeline.id)
        finally:
            await source.aclose()
    assert pipeline.ref == "retrain_churn"
    signed = [r for r in composer.requests if r.path != "/api/v1/version"]
    assert signed and all(r.headers["authorization"] == f"Bearer {token}" for r in signed)
    # One token for both calls: refreshed only when it expires.
    assert sum(path.split("?")[0].endswith("/token") for path in metadata.asked) == 1
