"""The hub: source health as reads succeed and fail, and the reads both front ends ask for."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
from msgspec.structs import replace

from mlops_tui.config import AlertRule, EnvironmentSettings, MlflowSettings, Settings
from mlops_tui.domain import SourceState, SourceStatus
from mlops_tui.errors import BackendError, BackendUnreachable, InvalidQuery, NotFound, UsageError
from mlops_tui.hub import Hub
from tests.helpers import (
    DEMO_NOW,
    DEMO_RUNS,
    DEMO_RUNS_PER_EXPERIMENT,
    FakeHttpServer,
)
from tests.helpers.tcp_proxy import TcpProxy


class Clock:
    """A clock the test moves by hand, so `last_success` can be compared exactly."""

    def __init__(self) -> None:
        self.now = DEMO_NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


def settings_for(mlflow: MlflowSettings, **env: object) -> Settings:
    return Settings(
        environments={"test": EnvironmentSettings(mlflow=mlflow, **env)},  # type: ignore[arg-type]
        default_env="test",
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def hub(demo_settings: Settings, clock: Clock) -> AsyncIterator[Hub]:
    opened = Hub(demo_settings, clock=clock)
    try:
        yield opened
    finally:
        await opened.aclose()


def mlflow_status(hub: Hub) -> SourceStatus:
    return hub.statuses["mlflow"]


# -- status ---------------------------------------------------------------------------------------


async def test_status_is_unknown_then_ok_after_a_good_read(hub: Hub, clock: Clock) -> None:
    assert hub.env_name == "local"
    assert mlflow_status(hub) == SourceStatus("mlflow")
    assert mlflow_status(hub).state == SourceState.UNKNOWN
    await hub.models()
    status = mlflow_status(hub)
    assert (status.state, status.last_error, status.last_success) == (SourceState.OK, None, clock.now)
    assert status.age(clock.now + timedelta(seconds=30)) == timedelta(seconds=30)
    later = clock.advance()
    await hub.runs()
    assert mlflow_status(hub).last_success == later
    assert hub.status_list() == [mlflow_status(hub)]


async def test_unreachable_server_marks_mlflow_down_and_keeps_last_success(
    mlflow_server: str, clock: Clock
) -> None:
    target = urlsplit(mlflow_server)
    assert target.hostname and target.port
    proxy = TcpProxy(target.hostname, target.port)
    await proxy.start()
    hub = Hub(settings_for(MlflowSettings(tracking_uri=proxy.url)), clock=clock)
    try:
        good = clock.now
        assert [m.name for m in (await hub.models()).items] == ["churn", "demand", "fraud"]
        assert mlflow_status(hub).state == SourceState.OK

        await proxy.stop()  # connections to the proxy's port are now refused
        clock.advance()
        with pytest.raises(BackendUnreachable):
            await hub.models()
        down = mlflow_status(hub)
        assert down.state == SourceState.DOWN
        assert down.last_error is not None and "cannot reach" in down.last_error
        assert down.last_success == good

        await proxy.start()  # the same port again: the server is back
        back = clock.advance()
        await hub.runs(max_results=1)
        assert mlflow_status(hub) == SourceStatus("mlflow", SourceState.OK, None, back)
    finally:
        await hub.aclose()
        await proxy.stop()


async def test_backend_error_marks_mlflow_degraded(clock: Clock) -> None:
    with FakeHttpServer(lambda request: (500, "text/plain", b"boom")) as server:
        hub = Hub(settings_for(MlflowSettings(tracking_uri=server.url)), clock=clock)
        try:
            with pytest.raises(BackendError):
                await hub.models()
        finally:
            await hub.aclose()
    status = mlflow_status(hub)
    assert status.state == SourceState.DEGRADED
    assert status.last_error is not None and "HTTP 500" in status.last_error
    assert status.last_success is None


async def test_invalid_query_and_not_found_leave_the_status_alone(hub: Hub, clock: Clock) -> None:
    await hub.models()
    before = mlflow_status(hub)
    assert before.state == SourceState.OK
    clock.advance()
    with pytest.raises(InvalidQuery):
        await hub.models("name = = 'churn'")
    with pytest.raises(NotFound):
        await hub.model("nope")
    assert mlflow_status(hub) == before
    # A bad run filter: the experiments are listed first (a good read), then the filter fails.
    with pytest.raises(InvalidQuery):
        await hub.runs("metrics.val_auc >>> 0.5")
    assert mlflow_status(hub) == SourceStatus("mlflow", SourceState.OK, None, clock.now)


# -- runs -----------------------------------------------------------------------------------------


async def test_runs_of_every_experiment_paged(hub: Hub) -> None:
    first = await hub.runs(max_results=20)
    assert len(first.items) == 20 and first.next_token
    seen = [r.id for r in first.items]
    token = first.next_token
    while token:
        page = await hub.runs(page_token=token, max_results=20)
        seen += [r.id for r in page.items]
        token = page.next_token
    assert len(seen) == len(set(seen)) == DEMO_RUNS
    names = {hub.experiment_name(r.experiment_id) for r in first.items}
    assert names == set(DEMO_RUNS_PER_EXPERIMENT)


async def test_runs_page_size_comes_from_settings(demo_store: MlflowSettings) -> None:
    hub = Hub(settings_for(replace(demo_store, page_size=7)))
    try:
        page = await hub.runs()
    finally:
        await hub.aclose()
    assert len(page.items) == 7 and page.next_token


async def test_runs_of_one_experiment(hub: Hub) -> None:
    page = await hub.runs(experiment="demand-forecast")
    assert len(page.items) == DEMO_RUNS_PER_EXPERIMENT["demand-forecast"]
    assert {hub.experiment_name(r.experiment_id) for r in page.items} == {"demand-forecast"}


async def test_runs_of_the_configured_experiments(demo_store: MlflowSettings) -> None:
    hub = Hub(settings_for(replace(demo_store, experiments=["fraud-detection"])))
    try:
        assert [e.name for e in await hub.experiments()] == ["fraud-detection"]
        page = await hub.runs("params.algorithm = 'xgb'")
    finally:
        await hub.aclose()
    assert len(page.items) == 7
    assert {hub.experiment_name(r.experiment_id) for r in page.items} == {"fraud-detection"}


async def test_run_detail_has_every_metric_history_and_the_versions_made(hub: Hub) -> None:
    _, versions = await hub.model("churn")
    champion = next(v for v in versions if "champion" in v.aliases)
    assert champion.run_id is not None
    detail = await hub.run_detail(champion.run_id)
    assert detail.run.id == champion.run_id and detail.experiment == "churn-training"
    assert (
        set(detail.history)
        == set(detail.run.metrics)
        == {
            "train_loss",
            "val_loss",
            "val_auc",
            "drift_psi",
        }
    )
    assert {k: len(v) for k, v in detail.history.items()} == {
        "train_loss": 20,
        "val_loss": 20,
        "val_auc": 20,
        "drift_psi": 5,
    }
    for key, points in detail.history.items():
        assert [p.step for p in points] == sorted(p.step for p in points)
        assert points[-1].value == detail.run.metrics[key]
    assert [(v.name, v.version, v.aliases) for v in detail.versions] == [("churn", "3", ("champion",))]


async def test_run_detail_of_a_run_without_versions(
    demo_settings: Settings, demo_run_ids: dict[str, str]
) -> None:
    hub = Hub(demo_settings)  # a fresh hub: the experiment names are not cached yet
    try:
        detail = await hub.run_detail(demo_run_ids["demand-prophet-001"])
    finally:
        await hub.aclose()
    assert detail.experiment == "demand-forecast" and detail.versions == []
    assert len(detail.history["val_rmse"]) == 20


async def test_run_detail_of_an_unknown_run(hub: Hub) -> None:
    with pytest.raises(NotFound):
        await hub.run_detail("f" * 32)


# -- registry -------------------------------------------------------------------------------------


async def test_models_of_interest_only(demo_store: MlflowSettings) -> None:
    hub = Hub(settings_for(demo_store, models=["fraud", "churn"]))
    try:
        page = await hub.models()
        assert [m.name for m in page.items] == ["fraud", "churn"] and page.next_token is None
        assert dict(page.items[1].aliases) == {"champion": "3", "challenger": "4"}
        assert [m.name for m in (await hub.models("CHU")).items] == ["churn"]
        assert mlflow_status(hub).state == SourceState.OK
    finally:
        await hub.aclose()


async def test_every_model_without_a_list(hub: Hub) -> None:
    assert [m.name for m in (await hub.models()).items] == ["churn", "demand", "fraud"]
    assert [m.name for m in (await hub.models("RAU")).items] == ["fraud"]
    assert [m.name for m in (await hub.models("name = 'demand'")).items] == ["demand"]
    assert [m.name for m in (await hub.models("name LIKE 'ch%'")).items] == ["churn"]
    assert list((await hub.models("zzz")).items) == []


async def test_model_and_its_versions(hub: Hub) -> None:
    model, versions = await hub.model("demand")
    assert model.stages() == {"Production": "2", "Staging": "3", "Archived": "1"}
    assert [(v.version, v.stage) for v in versions] == [
        ("3", "Staging"),
        ("2", "Production"),
        ("1", "Archived"),
    ]


async def test_hub_on_the_server_reads_alike(server_settings: Settings, hub: Hub) -> None:
    remote = Hub(server_settings)
    try:
        assert remote.env_name == "remote"
        assert await remote.model("churn") == await hub.model("churn")
        assert (await remote.runs()).items == (await hub.runs()).items
    finally:
        await remote.aclose()


# -- environments ---------------------------------------------------------------------------------


def test_unknown_environment(demo_settings: Settings) -> None:
    with pytest.raises(UsageError, match="'prd'.*local"):
        Hub(demo_settings, "prd")


async def test_environment_without_mlflow() -> None:
    hub = Hub(Settings(environments={"bare": EnvironmentSettings()}, default_env="bare"))
    assert hub.statuses == {}
    with pytest.raises(UsageError, match="no \\[mlflow\\] table"):
        await hub.models()
    await hub.aclose()


async def test_a_read_cancelled_before_its_sources_start_leaves_no_warning(
    demo_store: MlflowSettings,
) -> None:
    """A pane's poll is cancelled when a screen opens over it, at times after the hub asked each
    source but before their turn came: Python would warn on the terminal that a call was never
    awaited."""
    rules = [AlertRule(name="Low", metric="val_auc", op="<", threshold=0.8)]
    hub = Hub(settings_for(demo_store, rules=rules))
    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            poll = asyncio.create_task(hub.alerts())
            await asyncio.sleep(0)  # the hub asked its sources; none has started
            poll.cancel()
            await asyncio.wait([poll])
            assert poll.cancelled()
            del poll  # what it held, the calls among it, goes now
            gc.collect()
        assert [str(w.message) for w in seen] == []
    finally:
        await hub.aclose()
