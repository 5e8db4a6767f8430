"""The MLflow source contract: one set of tests over both transports, on the same demo data.

`sql`: `open_mlflow` on a sqlite URI -> `SqliteReadTransport` (reads in SQL, the rest MlflowClient).
`store`: the same store through `StoreTransport` alone (MlflowClient in a thread).
`http`: `open_mlflow` on the real `mlflow server` -> `HttpTransport` (the REST API over httpx).
The HTTP-only faults at the end use tiny local servers for what a real server will not do on demand.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest

from mlops_tui.config import MlflowSettings
from mlops_tui.domain import Run, tags_in_order
from mlops_tui.errors import (
    BackendError,
    BackendUnreachable,
    ConfigError,
    ExitCode,
    InvalidQuery,
    NotFound,
)
from mlops_tui.sources.mlflow import HttpTransport, MlflowSource, StoreTransport, open_mlflow
from mlops_tui.sources.mlflow_sqlite import SqliteReadTransport
from tests.helpers import (
    DEMO_EXPERIMENTS,
    DEMO_NOW,
    DEMO_RUNS,
    DEMO_RUNS_PER_EXPERIMENT,
    FakeHttpServer,
    RecordedRequest,
    closed_port,
    json_reply,
    silent_server,
)

HEX40 = set("0123456789abcdef")


@pytest.fixture(params=["sql", "store", "http"])
def path(request: pytest.FixtureRequest) -> str:
    """How the demo data is read: `sql`, a SQLite file's reads in SQL (`open_mlflow`'s choice);
    `store`, the same file through `MlflowClient`; `http`, the REST API of a real server."""
    return str(request.param)


@pytest.fixture
def tracking_settings(path: str, request: pytest.FixtureRequest) -> MlflowSettings:
    if path in ("sql", "store"):
        settings: MlflowSettings = request.getfixturevalue("demo_store")
        return settings
    return MlflowSettings(tracking_uri=request.getfixturevalue("mlflow_server"))


@pytest.fixture
async def source(path: str, tracking_settings: MlflowSettings) -> AsyncIterator[MlflowSource]:
    opened = (
        MlflowSource(StoreTransport(tracking_settings)) if path == "store" else open_mlflow(tracking_settings)
    )
    try:
        yield opened
    finally:
        await opened.aclose()


async def demo_experiment_ids(source: MlflowSource) -> list[str]:
    return [e.id for e in await source.list_experiments(DEMO_EXPERIMENTS)]


async def all_runs(source: MlflowSource) -> list[Run]:
    page = await source.search_runs(await demo_experiment_ids(source), max_results=1000)
    assert page.next_token is None
    return list(page.items)


async def run_named(source: MlflowSource, name: str) -> Run:
    page = await source.search_runs(await demo_experiment_ids(source), f"attributes.run_name = '{name}'")
    (run,) = page.items
    return run


# -- contract, both transports --------------------------------------------------------------------


async def test_transport_follows_the_tracking_uri(source: MlflowSource, path: str) -> None:
    expected = {"sql": SqliteReadTransport, "store": StoreTransport, "http": HttpTransport}[path]
    assert type(source.transport) is expected


async def test_lists_the_demo_experiments(source: MlflowSource) -> None:
    experiments = await source.list_experiments()
    by_name = {e.name: e for e in experiments}
    assert set(DEMO_EXPERIMENTS) <= set(by_name)
    assert all(e.lifecycle_stage == "active" for e in experiments)
    assert by_name["churn-training"].tags["model"] == "churn"
    assert by_name["fraud-detection"].tags["team"] == "ml-platform"
    assert len({e.id for e in experiments}) == len(experiments)


async def test_lists_experiments_by_name(source: MlflowSource) -> None:
    everything = {e.name: e for e in await source.list_experiments()}
    named = await source.list_experiments(["demand-forecast", "fraud-detection"])
    assert [e.name for e in named] == ["demand-forecast", "fraud-detection"]
    assert [e.id for e in named] == [everything[e.name].id for e in named]


async def test_unknown_experiment_name_is_not_found(source: MlflowSource) -> None:
    with pytest.raises(NotFound, match="no-such-experiment"):
        await source.list_experiments(["no-such-experiment"])


async def test_runs_newest_first_with_params_metrics_and_lineage_tags(
    source: MlflowSource,
) -> None:
    runs = await all_runs(source)
    assert len(runs) == DEMO_RUNS
    starts = [r.start_time for r in runs]
    assert all(s is not None for s in starts)
    assert starts == sorted(starts, reverse=True)  # type: ignore[type-var]
    newest = runs[0]
    assert newest.start_time is not None
    assert DEMO_NOW - timedelta(hours=8) <= newest.start_time <= DEMO_NOW - timedelta(hours=2)
    (running,) = [r for r in runs if r.status == "RUNNING"]
    assert (running.name, running.end_time, running.duration) == ("churn-logreg-018", None, None)
    for run in runs:
        assert set(run.params) >= {"algorithm", "learning_rate", "n_estimators", "feature_set"}
        assert {"train_loss", "val_loss"} <= set(run.metrics)
        commit = run.tags["mlflow.source.git.commit"]
        assert len(commit) == 40 and set(commit) <= HEX40
        if run.name.startswith("demand-") and run.name != "demand-lgbm-012":
            assert "gitlab.pipeline_id" not in run.tags  # trained by hand: demand's maturity is level 1
        else:
            assert run.tags["gitlab.pipeline_id"].isdigit()
        assert run.user in {"amira", "jonas", "priya", "tom"}
        assert run.name.split("-")[0] in {"churn", "fraud", "demand"}
    finished = [r for r in runs if r.status == "FINISHED"]
    assert finished and all(r.duration is not None and r.duration.total_seconds() > 0 for r in finished)
    assert {r.status for r in runs} == {"FINISHED", "FAILED", "RUNNING"}


async def test_runs_are_paged_by_the_server(source: MlflowSource) -> None:
    ids = await demo_experiment_ids(source)
    everything = [r.id for r in await all_runs(source)]
    seen: list[str] = []
    sizes = []
    token = None
    while True:
        page = await source.search_runs(ids, max_results=10, page_token=token)
        sizes.append(len(page.items))
        seen += [r.id for r in page.items]
        token = page.next_token
        if token is None:
            break
        assert len(sizes) <= 10, "paging does not end"
    assert sizes == [10, 10, 10, 10, 4]
    assert len(set(seen)) == len(seen) == DEMO_RUNS
    assert seen == everything


async def test_runs_of_one_experiment(source: MlflowSource) -> None:
    (fraud,) = await source.list_experiments(["fraud-detection"])
    page = await source.search_runs([fraud.id])
    assert len(page.items) == DEMO_RUNS_PER_EXPERIMENT["fraud-detection"]
    assert {r.experiment_id for r in page.items} == {fraud.id}


async def test_no_experiments_no_runs(source: MlflowSource) -> None:
    page = await source.search_runs([])
    assert list(page.items) == [] and page.next_token is None


async def test_metric_filter_runs_on_the_server(source: MlflowSource) -> None:
    runs = await all_runs(source)
    expected = [r.id for r in runs if r.metrics.get("val_auc", 0) > 0.85]
    assert 0 < len(expected) < len(runs)
    page = await source.search_runs(await demo_experiment_ids(source), "metrics.val_auc > 0.85")
    assert [r.id for r in page.items] == expected
    assert all(r.metrics["val_auc"] > 0.85 for r in page.items)


async def test_param_filter_runs_on_the_server(source: MlflowSource) -> None:
    page = await source.search_runs(await demo_experiment_ids(source), "params.algorithm = 'xgb'")
    # churn: every third of 18 runs (6); fraud: every other of 14 runs (7).
    assert len(page.items) == 13
    assert {r.params["algorithm"] for r in page.items} == {"xgb"}
    assert {r.name.split("-")[0] for r in page.items} == {"churn", "fraud"}


@pytest.mark.parametrize("bad_filter", ["metrics.val_auc >>> 0.5", "params.algorithm = xgb", "nonsense"])
async def test_bad_filter_is_an_invalid_query(source: MlflowSource, bad_filter: str) -> None:
    ids = await demo_experiment_ids(source)
    with pytest.raises(InvalidQuery) as caught:
        await source.search_runs(ids, bad_filter)
    assert caught.value.exit_code == ExitCode.USAGE
    assert caught.value.source == "mlflow" and caught.value.reason


async def test_metric_history_is_ordered_by_step(source: MlflowSource) -> None:
    run = await run_named(source, "churn-lgbm-016")
    assert run.status == "FINISHED"
    history = await source.metric_history(run.id, "val_loss")
    assert [p.step for p in history] == list(range(20))
    assert history[-1].value == run.metrics["val_loss"]
    stamps = [p.timestamp for p in history]
    assert all(s is not None for s in stamps) and stamps == sorted(stamps)  # type: ignore[type-var]
    assert run.start_time is not None and stamps[0] > run.start_time  # type: ignore[operator]
    drift = await source.metric_history(run.id, "drift_psi")
    assert [p.step for p in drift] == list(range(5))


async def test_metric_history_of_a_failed_run_stops_early(source: MlflowSource) -> None:
    run = await run_named(source, "churn-logreg-006")  # index 5: failed
    assert run.status == "FAILED"
    assert [p.step for p in await source.metric_history(run.id, "val_auc")] == list(range(6))
    assert await source.metric_history(run.id, "no_such_metric") == []


async def test_get_run_matches_the_listing(source: MlflowSource) -> None:
    listed = await run_named(source, "fraud-xgb-013")
    assert await source.get_run(listed.id) == listed


async def test_unknown_run_is_not_found(source: MlflowSource) -> None:
    with pytest.raises(NotFound) as caught:
        await source.get_run("0" * 32)
    assert caught.value.exit_code == ExitCode.FAILED


async def test_models_with_aliases_and_stages(source: MlflowSource) -> None:
    page = await source.search_models()
    assert page.next_token is None
    models = {m.name: m for m in page.items}
    assert [m.name for m in page.items] == ["churn", "demand", "fraud"]
    assert dict(models["churn"].aliases) == {"champion": "3", "challenger": "4"}
    assert dict(models["fraud"].aliases) == {"champion": "2"}
    assert dict(models["demand"].aliases) == {}
    assert models["demand"].stages() == {"Production": "2", "Staging": "3", "Archived": "1"}
    assert models["churn"].stages() == {}
    assert [models[n].latest_version for n in ("churn", "demand", "fraud")] == ["4", "3", "3"]
    assert models["churn"].description == "Churn model served to the churn service."
    assert models["churn"].tags["team"] == "ml-platform"
    assert models["churn"].created is not None and models["churn"].updated is not None


async def test_models_are_paged_and_filtered(source: MlflowSource) -> None:
    first = await source.search_models(max_results=2)
    assert [m.name for m in first.items] == ["churn", "demand"] and first.next_token
    second = await source.search_models(max_results=2, page_token=first.next_token)
    assert [m.name for m in second.items] == ["fraud"] and second.next_token is None
    only = await source.search_models("name LIKE 'fr%'")
    assert [m.name for m in only.items] == ["fraud"]


async def test_get_model(source: MlflowSource) -> None:
    demand = await source.get_model("demand")
    assert demand.stages() == {"Production": "2", "Staging": "3", "Archived": "1"}
    churn = await source.get_model("churn")
    assert dict(churn.aliases) == {"champion": "3", "challenger": "4"}


async def test_unknown_model_is_not_found(source: MlflowSource) -> None:
    with pytest.raises(NotFound, match="nope"):
        await source.get_model("nope")


async def test_versions_by_name_have_their_aliases(source: MlflowSource) -> None:
    # MLflow's search_model_versions answers with empty aliases: the source fills them in.
    versions = await source.search_versions("name='churn'")
    assert [(v.version, v.aliases) for v in versions] == [
        ("4", ("challenger",)),
        ("3", ("champion",)),
        ("2", ()),
        ("1", ()),
    ]
    runs = {r.id: r for r in await all_runs(source)}
    for version in versions:
        assert version.name == "churn" and version.status == "READY" and version.stage == ""
        assert version.tags["validation_status"] == "passed"
        assert version.run_id in runs and runs[version.run_id].status == "FINISHED"
        assert version.source is not None and version.source.endswith("/model")
        assert version.run_id in version.source
        assert version.created is not None


async def test_versions_carry_stages_and_tags(source: MlflowSource) -> None:
    demand = await source.search_versions("name='demand'")
    assert [(v.version, v.stage, v.aliases) for v in demand] == [
        ("3", "Staging", ()),
        ("2", "Production", ()),
        ("1", "Archived", ()),
    ]
    fraud = {v.version: v for v in await source.search_versions("name='fraud'")}
    assert fraud["1"].tags["validation_status"] == "failed"
    assert fraud["2"].aliases == ("champion",)


async def test_versions_by_run_id(source: MlflowSource) -> None:
    champion = next(v for v in await source.search_versions("name='churn'") if v.version == "3")
    assert champion.run_id is not None
    made = await source.search_versions(f"run_id='{champion.run_id}'")
    assert made == [champion]
    running = await run_named(source, "churn-logreg-018")
    assert await source.search_versions(f"run_id='{running.id}'") == []


async def test_both_transports_answer_alike(demo_store: MlflowSettings, mlflow_server: str) -> None:
    """The same store read through MlflowClient and through the REST API gives equal objects."""
    store = MlflowSource(StoreTransport(demo_store))
    http = open_mlflow(MlflowSettings(tracking_uri=mlflow_server))
    try:
        assert await all_runs(store) == await all_runs(http)
        assert await store.list_experiments(DEMO_EXPERIMENTS) == await http.list_experiments(DEMO_EXPERIMENTS)
        for name in ("churn", "demand", "fraud"):
            assert await store.search_versions(f"name='{name}'") == await http.search_versions(
                f"name='{name}'"
            )
    finally:
        await store.aclose()
        await http.aclose()


# -- HTTP faults ----------------------------------------------------------------------------------


def http_source(url: str, **settings: object) -> MlflowSource:
    source = open_mlflow(MlflowSettings(tracking_uri=url, **settings))  # type: ignore[arg-type]
    assert isinstance(source.transport, HttpTransport)
    return source


async def test_connection_refused_is_unreachable() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    source = http_source(url, timeout_seconds=30)
    try:
        with pytest.raises(BackendUnreachable) as caught:
            await source.search_models()
    finally:
        await source.aclose()
    # Refused at once, not after the 30 s timeout: the message is the refusal, not a timeout.
    assert f"cannot reach {url}" in caught.value.message
    assert caught.value.exit_code == ExitCode.UNREACHABLE


async def test_server_that_never_answers_times_out() -> None:
    with silent_server() as port:
        source = http_source(f"http://127.0.0.1:{port}", timeout_seconds=0.5)
        try:
            with pytest.raises(BackendUnreachable, match="did not answer within"):
                await source.list_experiments()
        finally:
            await source.aclose()


async def answer_with(reply: tuple[int, str, bytes], **settings: object) -> BackendError:
    with FakeHttpServer(lambda request: reply) as server:
        source = http_source(server.url, **settings)
        try:
            with pytest.raises(BackendError) as caught:
                await source.get_model("churn")
        finally:
            await source.aclose()
    assert server.requests, "the client sent nothing"
    return caught.value


async def test_server_error_with_html_body_is_a_backend_error() -> None:
    error = await answer_with((500, "text/html", b"<h1>Internal Server Error</h1>"))
    assert type(error) is BackendError
    assert "HTTP 500" in error.message and "registered-models/get" in error.message
    assert error.exit_code == ExitCode.FAILED


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_credentials_say_so(status: int) -> None:
    error = await answer_with((status, "text/plain", b"You are not authenticated"))
    assert type(error) is BackendError
    assert "credentials" in error.message and f"HTTP {status}" in error.message
    assert "token_env" in error.message


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_gateway_errors_are_unreachable(status: int) -> None:
    error = await answer_with((status, "text/html", b"<h1>Bad Gateway</h1>"))
    assert isinstance(error, BackendUnreachable) and f"HTTP {status}" in error.message


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (404, "RESOURCE_DOES_NOT_EXIST", NotFound),
        (400, "INVALID_PARAMETER_VALUE", InvalidQuery),
        (500, "INTERNAL_ERROR", BackendError),
    ],
)
async def test_mlflow_error_codes_map_to_errors(status: int, code: str, kind: type[BackendError]) -> None:
    reply = json_reply(status, {"error_code": code, "message": "told by the server"})
    error = await answer_with(reply)
    assert type(error) is kind
    assert error.reason == "told by the server"


async def test_success_that_is_not_a_json_object_is_a_backend_error() -> None:
    error = await answer_with((200, "application/json", b"[1, 2, 3]"))
    assert type(error) is BackendError and "malformed" in error.message


MODEL_PAGE = {
    "registered_models": [
        {
            "name": "churn",
            "creation_timestamp": "1795707029613",
            "last_updated_timestamp": "1795707029778",
            "aliases": [{"alias": "champion", "version": "3"}],
            "latest_versions": [
                {"name": "churn", "version": "3", "current_stage": "None", "status": "READY"}
            ],
        }
    ],
}


def registry_reply(request: RecordedRequest) -> tuple[int, str, bytes]:
    if urlsplit(request.path).path == "/api/2.0/mlflow/registered-models/search":
        return json_reply(200, MODEL_PAGE)
    return json_reply(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": request.path})


async def search_through_fake(**settings: object) -> RecordedRequest:
    with FakeHttpServer(registry_reply) as server:
        source = http_source(server.url, **settings)
        try:
            page = await source.search_models("name LIKE 'ch%'", max_results=5)
        finally:
            await source.aclose()
    (model,) = page.items
    assert (model.name, dict(model.aliases), model.latest_version) == (
        "churn",
        {"champion": "3"},
        "3",
    )
    assert model.latest_versions[0].aliases == ("champion",)
    (request,) = server.requests
    assert request.method == "GET"
    query = parse_qsl(urlsplit(request.path).query)
    assert ("filter", "name LIKE 'ch%'") in query and ("max_results", "5") in query
    return request


async def test_bearer_token_from_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_TEST_MLFLOW_TOKEN", "tok-123")
    request = await search_through_fake(token_env="MLOPS_TEST_MLFLOW_TOKEN")
    assert request.headers["authorization"] == "Bearer tok-123"


async def test_bearer_token_from_command() -> None:
    command = [sys.executable, "-c", "print('tok-from-command')"]
    request = await search_through_fake(token_command=command)
    assert request.headers["authorization"] == "Bearer tok-from-command"


async def test_basic_auth_from_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_TEST_USER", "priya")
    monkeypatch.setenv("MLOPS_TEST_PASSWORD", "pa:ss")
    request = await search_through_fake(username_env="MLOPS_TEST_USER", password_env="MLOPS_TEST_PASSWORD")
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"priya:pa:ss").decode()


async def test_no_credentials_no_authorization_header() -> None:
    request = await search_through_fake()
    assert "authorization" not in request.headers


async def test_named_but_unset_token_variable_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="MLOPS_TEST_UNSET_TOKEN"):
        open_mlflow(MlflowSettings(tracking_uri="http://127.0.0.1:9", token_env="MLOPS_TEST_UNSET_TOKEN"))


async def test_run_search_is_a_post_with_a_json_body() -> None:
    def reply(request: RecordedRequest) -> tuple[int, str, bytes]:
        return json_reply(200, {"runs": [], "next_page_token": ""})

    with FakeHttpServer(reply) as server:
        source = http_source(server.url)
        try:
            page = await source.search_runs(["1", "2"], "metrics.x > 1", max_results=7)
        finally:
            await source.aclose()
    assert list(page.items) == [] and page.next_token is None
    (request,) = server.requests
    assert (request.method, request.path) == ("POST", "/api/2.0/mlflow/runs/search")
    body = json.loads(request.body)
    assert body["experiment_ids"] == ["1", "2"]
    assert (body["filter"], body["max_results"]) == ("metrics.x > 1", 7)
    assert body["order_by"] == ["attributes.start_time DESC"]


def test_tags_list_the_teams_first_and_our_bookkeeping_last() -> None:
    tags = {
        "mlops_tui.promoted_at": "t",
        "validation_status": "passed",
        "mlops_tui.by": "x",
        "trained_by": "ci",
    }
    assert [k for k, _ in tags_in_order(tags)] == [
        "trained_by",
        "validation_status",
        "mlops_tui.by",
        "mlops_tui.promoted_at",
    ]
