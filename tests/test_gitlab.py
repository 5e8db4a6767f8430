"""The GitLab pipelines source, through the real python-gitlab client, against `tests.fakes.gitlab_server`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime

import pytest

from mlops_tui.config import EnvironmentSettings, GitlabSettings, MlflowSettings, Settings
from mlops_tui.errors import BackendError, BackendUnreachable, NotFound
from mlops_tui.hub import Hub
from mlops_tui.sources.gitlab import GitlabSource
from mlops_tui.views.fleet import read_fleet
from tests.fakes.gitlab_server import TOKEN, FakeGitlab
from tests.helpers import closed_port, silent_server

PROJECT = "ml/churn-model"
TOKEN_ENV = "GITLAB_TOKEN"


@pytest.fixture
def fake() -> Iterator[FakeGitlab]:
    with FakeGitlab() as server:
        server.add_project(PROJECT, branches=("main", "retrain"), trigger_tokens=("glptt-trigger",))
        yield server


@pytest.fixture(autouse=True)
def gitlab_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


def settings(url: str, **overrides: object) -> GitlabSettings:
    values: dict[str, object] = {"url": url, "project": PROJECT, "token_env": TOKEN_ENV}
    values.update(overrides)
    return GitlabSettings(**values)  # type: ignore[arg-type]


def source(fake: FakeGitlab, **kwargs: object) -> GitlabSource:
    overrides = {
        k: kwargs.pop(k) for k in ("refs", "timeout_seconds", "project", "pipeline_name") if k in kwargs
    }
    return GitlabSource(settings(fake.url, **overrides), **kwargs)  # type: ignore[arg-type]


# -- reads ----------------------------------------------------------------------------------------


async def test_list_pipelines_follows_pages_and_returns_the_newest(fake: FakeGitlab) -> None:
    for _ in range(120):
        fake.add_pipeline(1)
    src = source(fake, per_page=50)

    pipelines = await src.list_pipelines(limit=110)

    ids = [int(p.id) for p in pipelines]
    assert ids == sorted(fake.pipelines, reverse=True)[:110]
    listing = fake.requests_to("GET", "/pipelines")
    assert [r.query.get("page", ["1"])[0] for r in listing] == ["1", "2", "3"]
    assert all(r.query["order_by"] == ["id"] and r.query["sort"] == ["desc"] for r in listing)
    assert listing[0].query["per_page"] == ["50"]
    assert listing[0].raw_path == "/api/v4/projects/ml%2Fchurn-model/pipelines"
    first = pipelines[0]
    assert first.source == "gitlab" and first.status == "success" and first.trigger == "push"
    assert isinstance(first.created, datetime) and first.created.tzinfo is not None
    assert first.web_url and first.web_url.endswith(f"/-/pipelines/{first.id}")


async def test_list_pipelines_stops_at_the_limit(fake: FakeGitlab) -> None:
    for _ in range(120):
        fake.add_pipeline(1)
    pipelines = await source(fake, per_page=50).list_pipelines(limit=5)
    assert len(pipelines) == 5
    assert len(fake.requests_to("GET", "/pipelines")) == 1


async def test_a_pipeline_named_by_workflow_name_belongs_to_its_model(fake: FakeGitlab) -> None:
    fake.add_pipeline(1, name="retrain churn-v2 (nightly)")
    fake.add_pipeline(1, name="lint")
    fake.add_pipeline(1)  # a project without workflow:name: GitLab says null
    named = await source(fake, pipeline_name="retrain {model} (nightly)").list_pipelines()
    assert [p.model for p in named] == [None, None, "churn-v2"]  # newest first
    assert [p.model for p in await source(fake).list_pipelines()] == [None, None, None]


async def test_the_fleet_shows_a_model_s_gitlab_pipeline_by_its_name(
    fake: FakeGitlab, demo_store: MlflowSettings
) -> None:
    failed = fake.add_pipeline(1, name="retrain churn", status="failed")
    fake.add_pipeline(1, name="lint")
    gitlab = settings(fake.url, pipeline_name="retrain {model}")
    hub = Hub(Settings({"dev": EnvironmentSettings(mlflow=demo_store, gitlab=gitlab)}, "dev"))
    try:
        fleet = await read_fleet({"dev": hub})
    finally:
        await hub.aclose()
    rows = {row.model: row for row in fleet.rows}
    assert rows["churn"].last_pipeline is not None
    env, pipeline = rows["churn"].last_pipeline
    assert (env, pipeline.id, pipeline.status) == ("dev", str(failed["id"]), "failed")
    assert rows["fraud"].last_pipeline is None and rows["demand"].last_pipeline is None


async def test_ref_and_status_filters_are_sent_to_the_server(fake: FakeGitlab) -> None:
    fake.add_pipeline(1, ref="main", status="failed")
    wanted = fake.add_pipeline(1, ref="retrain", status="failed")
    fake.add_pipeline(1, ref="retrain", status="success")

    pipelines = await source(fake).list_pipelines(ref="retrain", status="failed")

    assert [p.id for p in pipelines] == [str(wanted["id"])]
    (request,) = fake.requests_to("GET", "/pipelines")
    assert request.query["ref"] == ["retrain"] and request.query["status"] == ["failed"]


async def test_refs_of_interest_are_listed_one_by_one_and_merged(fake: FakeGitlab) -> None:
    main = fake.add_pipeline(1, ref="main")
    fake.add_pipeline(1, ref="feature")
    retrain = fake.add_pipeline(1, ref="retrain")

    pipelines = await source(fake, refs=["main", "retrain"]).list_pipelines()

    assert [p.id for p in pipelines] == [str(retrain["id"]), str(main["id"])]
    assert sorted(r.query["ref"][0] for r in fake.requests_to("GET", "/pipelines")) == [
        "main",
        "retrain",
    ]


async def test_get_pipeline_maps_user_and_times(fake: FakeGitlab) -> None:
    created = fake.add_pipeline(1, status="running", source="schedule", user="bob")
    pipeline = await source(fake).get_pipeline(str(created["id"]))
    assert pipeline.user == "bob" and pipeline.trigger == "schedule" and pipeline.status == "running"
    assert pipeline.started is not None and pipeline.finished is None and not pipeline.done


async def test_jobs_come_in_stage_order(fake: FakeGitlab) -> None:
    pipeline = fake.add_pipeline(1)
    for name, stage in [("prep", "data"), ("train", "train"), ("eval", "evaluate"), ("lint", "data")]:
        fake.add_job(pipeline["id"], name, stage)

    jobs = await source(fake).list_jobs(str(pipeline["id"]))

    assert [(j.stage, j.name) for j in jobs] == [
        ("data", "prep"),
        ("data", "lint"),
        ("train", "train"),
        ("evaluate", "eval"),
    ]
    assert all(j.pipeline_id == str(pipeline["id"]) for j in jobs)
    job = await source(fake).get_job(jobs[2].id)
    assert job.name == "train" and job.pipeline_id == str(pipeline["id"])


async def test_trace_is_read_incrementally(fake: FakeGitlab) -> None:
    pipeline = fake.add_pipeline(1, status="running")
    job = fake.add_job(pipeline["id"], "train", "train", status="running", trace="epoch 1 — loss 0.9\n")
    src = source(fake)

    first = await src.read_trace(str(job["id"]))
    assert first.text == "epoch 1 — loss 0.9\n" and not first.complete
    assert first.next_offset == len("epoch 1 — loss 0.9\n".encode())

    fake.append_trace(job["id"], "epoch 2 — loss 0.5\n")
    second = await src.read_trace(str(job["id"]), first.next_offset)
    assert second.text == "epoch 2 — loss 0.5\n"

    first_request, second_request = fake.requests_to("GET", "/trace")
    assert "range" not in first_request.headers
    assert second_request.headers["range"] == f"bytes={first.next_offset}-"


async def test_trace_ranges_are_used_when_the_server_honours_them(fake: FakeGitlab) -> None:
    fake.honour_range = True
    pipeline = fake.add_pipeline(1, status="running")
    job = fake.add_job(pipeline["id"], "train", "train", status="running", trace="a" * 1000 + "\n")
    src = source(fake)
    first = await src.read_trace(str(job["id"]))

    fake.append_trace(job["id"], "done\n")
    fake.jobs[job["id"]]["status"] = "success"
    second = await src.read_trace(str(job["id"]), first.next_offset)
    assert second.text == "done\n" and second.complete
    assert second.next_offset == 1006
    nothing = await src.read_trace(str(job["id"]), second.next_offset)  # 416 past the end
    assert nothing.text == "" and nothing.next_offset == 1006 and nothing.complete


async def test_trace_keeps_a_cut_character_for_the_next_read(fake: FakeGitlab) -> None:
    pipeline = fake.add_pipeline(1, status="running")
    job = fake.add_job(pipeline["id"], "train", "train", status="running")
    fake.traces[job["id"]].extend("loss ≈ 0.4".encode()[:7])  # `≈` is 3 bytes; keep 2 of them
    src = source(fake)
    first = await src.read_trace(str(job["id"]))
    assert first.text == "loss " and first.next_offset == 5
    fake.traces[job["id"]][:] = "loss ≈ 0.4\n".encode()
    second = await src.read_trace(str(job["id"]), first.next_offset)
    assert second.text == "≈ 0.4\n"


# -- writes ---------------------------------------------------------------------------------------


async def test_start_uses_the_pipeline_api(fake: FakeGitlab) -> None:
    pipeline = await source(fake, ref="retrain").start({"MODEL": "churn", "ENV": "dev"}, model="churn")

    (request,) = fake.requests_to("POST", "/pipeline")
    assert request.raw_path == "/api/v4/projects/ml%2Fchurn-model/pipeline"
    assert request.form() == {
        "ref": "retrain",
        "variables": [{"key": "MODEL", "value": "churn"}, {"key": "ENV", "value": "dev"}],
    }
    assert pipeline.trigger == "api" and pipeline.ref == "retrain" and pipeline.status == "created"
    assert pipeline.model == "churn"
    assert fake.pipeline_variables[int(pipeline.id)] == [
        {"key": "MODEL", "value": "churn"},
        {"key": "ENV", "value": "dev"},
    ]


async def test_start_uses_the_trigger_api_with_a_trigger_token(fake: FakeGitlab) -> None:
    src = source(fake, trigger_token="glptt-trigger")
    pipeline = await src.start({"MODEL": "churn"}, ref="main")

    (request,) = fake.requests_to("POST", "/trigger/pipeline")
    body = request.form()
    assert body["token"] == "glptt-trigger" and body["ref"] == "main"
    assert body["variables"] == {"MODEL": "churn"}
    assert all("glptt-trigger" not in value for value in request.headers.values())
    assert "glptt-trigger" not in request.raw_path and not request.query
    assert pipeline.trigger == "trigger"


async def test_start_on_an_unknown_ref_says_why(fake: FakeGitlab) -> None:
    with pytest.raises(BackendError, match="Reference not found"):
        await source(fake).start({}, ref="nope")


async def test_cancel_and_retry_a_pipeline(fake: FakeGitlab) -> None:
    pipeline = fake.add_pipeline(1, status="running")
    fake.add_job(pipeline["id"], "train", "train", status="running")
    src = source(fake)

    canceled = await src.cancel_pipeline(str(pipeline["id"]))
    assert canceled.status == "canceled"
    retried = await src.retry_pipeline(str(pipeline["id"]))
    assert retried.status == "pending"
    assert [r.method for r in fake.requests_to("POST", f"/pipelines/{pipeline['id']}/cancel")] == ["POST"]
    assert len(fake.requests_to("POST", f"/pipelines/{pipeline['id']}/retry")) == 1
    assert [j.status for j in await src.list_jobs(str(pipeline["id"]))] == ["pending"]


async def test_cancel_and_retry_a_job(fake: FakeGitlab) -> None:
    pipeline = fake.add_pipeline(1, status="running")
    job = fake.add_job(pipeline["id"], "train", "train", status="running")
    src = source(fake)

    canceled = await src.cancel_job(str(job["id"]))
    assert canceled.status == "canceled" and canceled.id == str(job["id"])
    retried = await src.retry_job(str(job["id"]))
    assert retried.status == "pending" and retried.id != str(job["id"])
    assert retried.pipeline_id == str(pipeline["id"])
    assert len(fake.requests_to("POST", f"/jobs/{job['id']}/cancel")) == 1
    assert len(fake.requests_to("POST", f"/jobs/{job['id']}/retry")) == 1


# -- errors ---------------------------------------------------------------------------------------


async def test_a_rejected_token_names_its_variable(fake: FakeGitlab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "glpat-wrong")
    with pytest.raises(BackendError) as caught:
        await source(fake).list_pipelines()
    assert str(caught.value) == "gitlab: GitLab rejected the token in $GITLAB_TOKEN (401)"
    assert type(caught.value) is BackendError


async def test_unknown_project(fake: FakeGitlab) -> None:
    with pytest.raises(NotFound) as caught:
        await source(fake, project="ml/nope").list_pipelines()
    assert str(caught.value) == f"gitlab: project ml/nope not found on {fake.url}"


async def test_unknown_pipeline_and_job(fake: FakeGitlab) -> None:
    with pytest.raises(NotFound, match="pipeline 999999 not found in project ml/churn-model"):
        await source(fake).get_pipeline("999999")
    with pytest.raises(NotFound, match="job 999999 not found"):
        await source(fake).read_trace("999999")


async def test_rate_limit_is_waited_out_within_the_budget(fake: FakeGitlab) -> None:
    fake.add_pipeline(1)
    fake.rate_limit(1, retry_after=1)
    began = time.monotonic()

    pipelines = await source(fake).list_pipelines()

    assert len(pipelines) == 1
    assert time.monotonic() - began >= 1.0
    assert len(fake.requests_to("GET", "/pipelines")) == 2  # the 429, then the retry


async def test_rate_limit_beyond_the_budget_fails_at_once(fake: FakeGitlab) -> None:
    fake.rate_limit(5, retry_after=60)
    began = time.monotonic()
    with pytest.raises(BackendError, match="rate limited, retry after 60 s"):
        await source(fake, timeout_seconds=2.0).list_pipelines()
    assert time.monotonic() - began < 1.0
    assert len(fake.requests) == 1


async def test_connection_refused_is_unreachable() -> None:
    src = GitlabSource(settings(f"http://127.0.0.1:{closed_port()}"))
    with pytest.raises(BackendUnreachable, match="cannot reach"):
        await src.list_pipelines()


async def test_a_server_that_never_answers_is_unreachable() -> None:
    with silent_server() as port:
        src = GitlabSource(settings(f"http://127.0.0.1:{port}", timeout_seconds=0.5))
        began = time.monotonic()
        with pytest.raises(BackendUnreachable, match="did not answer within 0.5 s"):
            await src.get_pipeline("1")
        assert time.monotonic() - began < 3


def test_python_gitlab_is_imported_only_when_a_call_is_made(fake: FakeGitlab) -> None:
    script = f"""
import asyncio, json, sys
from mlops_tui.config import GitlabSettings
from mlops_tui.sources.gitlab import GitlabSource
src = GitlabSource(GitlabSettings(url={fake.url!r}, project={PROJECT!r}, token_env={TOKEN_ENV!r}))
before = "gitlab" in sys.modules
asyncio.run(src.list_pipelines())
print(json.dumps([before, "gitlab" in sys.modules]))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(done.stdout) == [False, True]
