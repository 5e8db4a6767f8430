"""The fault matrix: every backend x every fault, headless and in the TUI.

Each backend runs for real (MLflow: the session's `mlflow server`; Alertmanager: the session's real
Alertmanager) or as the documented-API test server (GitLab), behind a `FaultProxy` on 127.0.0.1
that injects the fault. Adding a backend is one row of `BACKENDS` (Airflow, which starts a real
Airflow, is the row `AIRFLOW`, in its cells only); a fault, one row of `FAULTS`.

For every cell:
- headless: the backend's read command exits with the documented code and one line on stderr
  naming the problem, before its subprocess deadline (`timeout_seconds` is 2 s in these configs);
- TUI: the backend's panes show the problem beside the last good rows and their age, the header
  marks the source, the keyboard answers, the other backends' panes keep polling (their proxies
  see new requests) without an error, and when the fault is cleared the panes recover by
  themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from textual.widgets import Static

from mlops_tui.config import (
    AirflowSettings,
    AlertmanagerSettings,
    EnvironmentSettings,
    GitlabSettings,
    MlflowSettings,
    Settings,
    VertexSettings,
)
from mlops_tui.domain import Pipeline
from mlops_tui.errors import ExitCode
from mlops_tui.hub import Gathered, Hub
from mlops_tui.tui import MlopsApp, make_app
from mlops_tui.tui.header import EnvBar
from mlops_tui.tui.panes.base import ResourcePane
from tests.fakes.gitlab_server import TOKEN, FakeGitlab
from tests.fakes.vertex_server import FakeVertex, seed_churn
from tests.helpers import run_cli, write_config
from tests.helpers.airflow import ADMIN_PASSWORD_ENV, AirflowServer
from tests.helpers.alertmanager import post_alerts
from tests.helpers.fault_proxy import Fault, FaultProxy
from tests.helpers.prometheus import PrometheusTestbed
from tests.helpers.tui import until

TIMEOUT_SECONDS = 2.0
"""Every request's timeout in these configs: a server that never answers costs about this."""
CLI_DEADLINE_SECONDS = 60
"""A headless command must have exited by then (start-up included, on a loaded 2-core machine)."""
TUI_REFRESH_SECONDS = 0.3
SIZE = (120, 36)


# -- backends -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    """One row of the matrix: how to configure the backend behind a URL and how to read it."""

    name: str
    """The source's name in the header."""
    panes: tuple[str, ...]
    """The dashboard panes its data fills."""
    command: tuple[str, ...]
    """A headless read that needs only this backend."""
    upstream: str
    """The fixture giving the URL of the real or test server."""
    table: Callable[[str], dict[str, Any]]
    """The environment's config tables for the backend at a URL (TOML-shaped)."""
    env: dict[str, str] = field(default_factory=dict)
    """Environment variables the backend's config names."""
    also_feeds: tuple[str, ...] = ()
    """Panes of other backends this one adds rows to (Vertex: its pipeline jobs and monitoring
    alerts): when it fails, they show its error beside the others' rows and its last good ones."""

    @property
    def fed(self) -> tuple[str, ...]:
        return self.panes + self.also_feeds


BACKENDS = {
    "mlflow": Backend(
        "mlflow",
        ("runs", "models"),
        ("models", "list", "--json"),
        "mlflow_server",
        lambda url: {
            "mlflow": {
                "tracking_uri": url,
                "refresh_seconds": TUI_REFRESH_SECONDS,
                "timeout_seconds": TIMEOUT_SECONDS,
            }
        },
    ),
    "gitlab": Backend(
        "gitlab",
        ("pipelines",),
        ("pipelines", "list", "--json"),
        "gitlab_server",
        lambda url: {
            "gitlab": {
                "url": url,
                "project": "ml/models",
                "token_env": "GITLAB_TOKEN",
                "refresh_seconds": TUI_REFRESH_SECONDS,
                "timeout_seconds": TIMEOUT_SECONDS,
            }
        },
        {"GITLAB_TOKEN": TOKEN},
    ),
    "alertmanager": Backend(
        "alertmanager",
        ("alerts",),
        ("alerts", "list", "--json"),
        "alertmanager_with_an_alert",
        lambda url: {
            "alertmanager": {
                "url": url,
                "filters": [f'test="{MATRIX_LABEL}"'],
                "refresh_seconds": TUI_REFRESH_SECONDS,
                "timeout_seconds": TIMEOUT_SECONDS,
            }
        },
    ),
    "vertex": Backend(
        "vertex",
        ("endpoints",),
        ("endpoints", "list", "--json"),
        "vertex_server",
        lambda url: {
            "vertex": {
                "project": "acme-ml",
                "location": "us-central1",
                "endpoints": ["churn-endpoint"],
                "api_endpoint": url,
                "credentials": "anonymous",
                "refresh_seconds": TUI_REFRESH_SECONDS,
                "timeout_seconds": TIMEOUT_SECONDS,
            }
        },
        also_feeds=("pipelines", "alerts"),
    ),
}


AIRFLOW = Backend(
    "airflow",
    ("pipelines",),
    ("pipelines", "list", "--json"),
    "airflow_with_its_password",
    lambda url: {
        "airflow": {
            "url": url,
            "api_version": "v2",  # so that a fault meets the JWT's request and the listing
            "dags": ["slow"],
            "username": "admin",
            "password_env": ADMIN_PASSWORD_ENV,
            "refresh_seconds": TUI_REFRESH_SECONDS,
            "timeout_seconds": TIMEOUT_SECONDS,
        }
    },
)
"""Airflow (a real Airflow 3, tests/helpers/airflow.py) is a row of both matrices; its cells are
marked `airflow`, and only they start it (in the TUI's, beside every other backend)."""

HEADLESS_BACKENDS = {
    **BACKENDS,
    "airflow": AIRFLOW,
    "prometheus": Backend(
        "prometheus",
        (),
        ("metrics", "churn", "--since", "1m", "--json"),
        "prometheus_url",
        lambda url: {"metrics": {"url": url, "timeout_seconds": TIMEOUT_SECONDS}},
    ),
}
"""The headless matrix also covers the metrics source (a real Prometheus,
tests/helpers/prometheus.py), which feeds no pane of its own."""
TUI_BACKENDS = {**BACKENDS, "airflow": AIRFLOW}


@pytest.fixture(scope="module")
def airflow_run(airflow_server: AirflowServer) -> str:
    """A finished run of the DAG the matrix lists, so that its pane has a row of Airflow's."""
    with airflow_server.client() as client:
        answer = client.post("dags/slow/dagRuns", json={"logical_date": None, "conf": {"lines": 1}})
        answer.raise_for_status()
        run_id = answer.json()["dag_run_id"]
        # Until it has ended: a run going on keeps Airflow's SQLite busy past the cells' 2 s timeout.
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                state = client.get(f"dags/slow/dagRuns/{quote(run_id, safe='')}").json()["state"]
            except httpx.TimeoutException:
                state = "unknown"
            if state in ("success", "failed"):
                break
            time.sleep(1)
        return f"slow/{run_id}"


@pytest.fixture
def prometheus_url(prometheus_server: PrometheusTestbed) -> str:
    """The session's Prometheus scraping the serving exporter; its URL."""
    return prometheus_server.url


@pytest.fixture
def airflow_with_its_password(
    airflow_server: AirflowServer, airflow_run: str, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The session's Airflow with a run listed, its admin's password in the variable the config
    names; its URL."""
    monkeypatch.setenv(ADMIN_PASSWORD_ENV, airflow_server.passwords["admin"])
    return airflow_server.url


@pytest.fixture(scope="module")
def vertex_server() -> Iterator[str]:
    """The Vertex AI test server with the churn endpoint; its URL."""
    with FakeVertex("acme-ml", "us-central1") as server:
        seed_churn(server)
        yield server.url


@pytest.fixture(scope="module")
def gitlab_server() -> Iterator[str]:
    """The GitLab test server with a project and two pipelines; its URL."""
    with FakeGitlab() as server:
        project = server.add_project("ml/models")
        server.add_pipeline(project["id"], status="failed", pipeline_id=1)
        server.add_pipeline(project["id"], status="success", pipeline_id=2)
        yield server.url


MATRIX_LABEL = "fault-matrix"


@pytest.fixture(scope="module")
def alertmanager_with_an_alert(alertmanager_server: str) -> str:
    """The session's real Alertmanager with one firing alert of this module's own; its URL."""
    post_alerts(alertmanager_server, [{"labels": {"alertname": "ChampionAucLow", "test": MATRIX_LABEL}}])
    return alertmanager_server


def proxy_for(request: pytest.FixtureRequest, backend: Backend) -> FaultProxy:
    url = urlsplit(request.getfixturevalue(backend.upstream))
    proxy = FaultProxy(url.hostname or "127.0.0.1", url.port or 80).listen()
    request.addfinalizer(proxy.close)
    return proxy


# -- faults ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """What a fault must produce: the exit code, and what the message says, per backend."""

    code: ExitCode
    says: dict[str, str]
    """Backend name -> a fragment of the one-line reason (and of the pane's status line)."""
    header: str = ""
    """The source's state in the header (`down`, `degraded`), empty when the fault is absorbed."""


@dataclass(frozen=True)
class FaultCase:
    inject: Callable[[FaultProxy], None]
    clear: Callable[[FaultProxy], None]
    expected: Expected
    drop_mid_request: bool = False
    """Once a request hangs, the backend goes away (the connection dropped under it)."""
    timeout_seconds: float = TIMEOUT_SECONDS
    """The requests' timeout in this case's config."""


def _timed(table: dict[str, Any], seconds: float) -> dict[str, Any]:
    """`table` with every `timeout_seconds` in it set to `seconds`."""
    return {
        key: seconds
        if key == "timeout_seconds"
        else _timed(value, seconds)
        if isinstance(value, dict)
        else value
        for key, value in table.items()
    }


def _fault(fault: Fault) -> Callable[[FaultProxy], None]:
    return lambda proxy: proxy.inject(fault)


def _pass(proxy: FaultProxy) -> None:
    proxy.inject(None)


def _refuse(proxy: FaultProxy) -> None:
    proxy.refuse()


def _listen(proxy: FaultProxy) -> None:
    proxy.listen()


def _back(proxy: FaultProxy) -> None:
    proxy.inject(None)
    proxy.listen()


def _every_backend(text: str) -> dict[str, str]:
    return dict.fromkeys(HEADLESS_BACKENDS, text)


FAULTS: dict[str, FaultCase] = {
    "connection refused": FaultCase(
        _refuse, _listen, Expected(ExitCode.UNREACHABLE, _every_backend("cannot reach"), "down")
    ),
    "accepts, never answers": FaultCase(
        _fault(Fault.hang()),
        _pass,
        Expected(
            ExitCode.UNREACHABLE, _every_backend(f"did not answer within {TIMEOUT_SECONDS:g} s"), "down"
        ),
    ),
    "500": FaultCase(
        _fault(Fault.answer(500, b"Internal Server Error")),
        _pass,
        Expected(
            ExitCode.FAILED,
            {
                "mlflow": "HTTP 500",
                "gitlab": "(HTTP 500)",
                "alertmanager": "500",
                "vertex": "(HTTP 500)",
                "airflow": "HTTP 500",
                "prometheus": "HTTP 500",
            },
            "degraded",
        ),
    ),
    "401": FaultCase(
        _fault(Fault.answer(401, b'{"message": "401 Unauthorized"}', content_type="application/json")),
        _pass,
        Expected(
            ExitCode.FAILED,
            {
                "mlflow": "refused the credentials (HTTP 401)",
                "gitlab": "GitLab rejected the token in $GITLAB_TOKEN (401)",
                "alertmanager": "refused the credentials (HTTP 401)",
                "vertex": "Google rejected the credentials (401)",
                "airflow": f"refused the credentials (HTTP 401); check the password of user 'admin' in "
                f"${ADMIN_PASSWORD_ENV}",
                "prometheus": "refused the credentials (HTTP 401)",
            },
            "degraded",
        ),
    ),
    "403": FaultCase(
        _fault(Fault.answer(403, b'{"message": "403 Forbidden"}', content_type="application/json")),
        _pass,
        Expected(
            ExitCode.FAILED,
            {
                "mlflow": "refused the credentials (HTTP 403)",
                "gitlab": "permission denied on project ml/models (403)",
                "alertmanager": "refused the credentials (HTTP 403)",
                "vertex": "permission denied on",
                "airflow": "user 'admin' may not list DAG runs (HTTP 403): that needs the permission",
                "prometheus": "refused the credentials (HTTP 403)",
            },
            "degraded",
        ),
    ),
    "429, Retry-After beyond the timeout": FaultCase(
        _fault(Fault.answer(429, b"slow down", headers={"Retry-After": "120"})),
        _pass,
        Expected(ExitCode.FAILED, _every_backend("rate limited, retry after 120 s"), "degraded"),
    ),
    "429 once, Retry-After within the timeout": FaultCase(
        _fault(Fault.answer(429, b"slow down", headers={"Retry-After": "0.2"}, times=1)),
        _pass,
        Expected(ExitCode.OK, {}),
        # The wait must fit what is left of the call's budget once the 429 is in: on a loaded
        # machine a first Vertex call spends most of 2 s in its SDK before that.
        timeout_seconds=20.0,
    ),
    "malformed JSON": FaultCase(
        _fault(Fault.body(b'{"registered_models": [{"name": "churn",')),
        _pass,
        Expected(
            ExitCode.FAILED,
            {
                "mlflow": "malformed response",
                "gitlab": "malformed",
                "alertmanager": "malformed answer",
                "vertex": "malformed answer",
                "airflow": "malformed answer",
                "prometheus": "malformed answer",
            },
            "degraded",
        ),
    ),
    "JSON of another shape": FaultCase(
        _fault(
            Fault.body(
                b'{"experiments": [7], "runs": [7], "registered_models": [7], "id": null,'
                b' "deployedModels": 7, "endpoints": 7, "pipelineJobs": 7,'
                b' "modelDeploymentMonitoringJobs": 7, "monitoringStats": 7}'
            )
        ),
        _pass,
        Expected(
            ExitCode.FAILED,
            {
                "mlflow": "unexpected answer",
                "gitlab": "unexpected answer",
                "alertmanager": "malformed answer",
                "vertex": "malformed answer",
                "airflow": "malformed answer",
                "prometheus": "malformed answer",
            },
            "degraded",
        ),
    ),
    "truncated answer": FaultCase(
        _fault(Fault.truncated()),
        _pass,
        Expected(ExitCode.UNREACHABLE, _every_backend("cannot reach"), "down"),
    ),
    "slow, within the timeout": FaultCase(
        _fault(Fault.slow(TIMEOUT_SECONDS * 0.6, times=1)), _pass, Expected(ExitCode.OK, {})
    ),
    "restarted mid-request": FaultCase(
        _fault(Fault.hang()),
        _back,
        Expected(ExitCode.UNREACHABLE, _every_backend("cannot reach"), "down"),
        drop_mid_request=True,
    ),
}
"""`restarted mid-request`: a request is in flight when the backend goes away (its connection
dropped, new ones refused); then it listens again on the same port."""


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    """Poll a condition from a test's own thread (the proxy runs on another)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not reached in time: {what}"
        time.sleep(0.01)


CELLS = [(b, f) for b in TUI_BACKENDS for f in FAULTS]
CELL_IDS = [f"{b}-{f}" for b, f in CELLS]
HEADLESS_CELLS = [(b, f) for b in HEADLESS_BACKENDS for f in FAULTS]
HEADLESS_CELL_IDS = [f"{b}-{f}" for b, f in HEADLESS_CELLS]


# -- headless ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backend_name", "fault_name"),
    [pytest.param(b, f, marks=pytest.mark.airflow) if b == "airflow" else (b, f) for b, f in HEADLESS_CELLS],
    ids=HEADLESS_CELL_IDS,
)
def test_headless(backend_name: str, fault_name: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    backend, case = HEADLESS_BACKENDS[backend_name], FAULTS[fault_name]
    proxy = proxy_for(request, backend)
    config = write_config(
        tmp_path / "mlops-tui.toml", {"dev": _timed(backend.table(proxy.url), case.timeout_seconds)}
    )

    def read() -> Any:
        return run_cli(*backend.command, "--config", config, env=backend.env, timeout=CLI_DEADLINE_SECONDS)

    assert read().code == ExitCode.OK  # the cell starts from a working backend
    case.inject(proxy)
    if case.drop_mid_request:
        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(read)
            wait_for(lambda: proxy.counters.faults >= 1, "a request in flight")
            proxy.refuse()
            result = running.result()
    else:
        result = read()
    expected = case.expected
    assert result.code == expected.code, result
    if expected.code == ExitCode.OK:
        assert proxy.counters.faults == 1 and result.json()  # the 429 was met, then retried
        return
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"mlops-tui: {backend.name}: "), result.stderr
    assert expected.says[backend.name] in lines[0], result.stderr
    assert result.stdout == ""
    case.clear(proxy)
    assert read().code == ExitCode.OK  # and back


PARTLY = [
    # (the listing, the backend failing, the backend answering)
    ("pipelines", "vertex", "gitlab"),
    ("pipelines", "gitlab", "vertex"),
    ("alerts", "alertmanager", "vertex"),
    ("alerts", "vertex", "alertmanager"),
]


@pytest.mark.parametrize(("listing", "failing", "answering"), PARTLY, ids=[f"{a}-{b}" for a, b, _ in PARTLY])
@pytest.mark.parametrize("fault_name", ["connection refused", "500"])
def test_headless_listing_fed_by_several_sources(
    listing: str,
    failing: str,
    answering: str,
    fault_name: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    """One source down: the others' answer is printed, and the failure decides the exit code."""
    proxies = {name: proxy_for(request, BACKENDS[name]) for name in (failing, answering)}
    tables = {k: v for name in proxies for k, v in BACKENDS[name].table(proxies[name].url).items()}
    config = write_config(tmp_path / "mlops-tui.toml", {"dev": tables})
    env = {k: v for name in proxies for k, v in BACKENDS[name].env.items()}

    def sources() -> Any:
        result = run_cli(listing, "list", "--json", "--config", config, env=env, timeout=CLI_DEADLINE_SECONDS)
        return result, {item["source"] for item in result.json()[listing]}

    result, before = sources()
    assert result.code == ExitCode.OK and before == {failing, answering}, result
    case = FAULTS[fault_name]
    case.inject(proxies[failing])
    result, after = sources()
    assert result.code == case.expected.code, result
    assert after == {answering}
    [line] = result.stderr.splitlines()
    assert line.startswith(f"mlops-tui: {failing}: ") and case.expected.says[failing] in line
    assert line.endswith("(the other sources' answer was printed)")


def from_vertex(answer: Gathered[Pipeline]) -> set[str]:
    return {p.id for p in answer.items if p.source == "vertex"}


async def test_a_failing_source_keeps_its_last_answer_to_the_same_question_only(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxies = {name: proxy_for(request, BACKENDS[name]) for name in ("gitlab", "vertex")}
    tables = {k: v for name in proxies for k, v in BACKENDS[name].table(proxies[name].url).items()}
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    hub = Hub(settings_for(tables))
    try:
        first = await hub.pipelines()
        assert from_vertex(first) and not first.failures and first.problem(hub.clock()) is None
        proxies["vertex"].refuse()
        again = await hub.pipelines()
        assert from_vertex(again) == from_vertex(first) and set(again.failures) == {"vertex"}
        assert any(p.source == "gitlab" for p in again.items)
        problem = again.problem(hub.clock()) or ""
        assert problem.startswith("vertex: cannot reach") and problem.endswith("showing data from just now")
        # Another question: what Vertex answered to the first one is no answer to it.
        failed_only = await hub.pipelines(status="failed")
        assert not from_vertex(failed_only) and (failed_only.problem(hub.clock()) or "").endswith(
            "no data yet"
        )
        # ...and asking it did not lose the answer to the first.
        assert from_vertex(await hub.pipelines()) == from_vertex(first)
    finally:
        await hub.aclose()


# -- the TUI -------------------------------------------------------------------------------------


def pane_status(app: MlopsApp, pane: str) -> str:
    return str(app.query_one(f"#{pane}", ResourcePane).query_one(".pane-status", Static).render())


def pane_rows(app: MlopsApp, pane: str) -> int:
    return app.query_one(f"#{pane}", ResourcePane).table.row_count


def rows_of(app: MlopsApp, pane: str, source: str) -> int:
    """The rows of `source` in a pane (a pane of one source's items: all of them)."""
    shown = app.query_one(f"#{pane}", ResourcePane).shown()
    return sum(getattr(item, "source", source) == source for _, item in shown)


def header(app: MlopsApp) -> str:
    return str(app.query_one(EnvBar).render())


def healthy(app: MlopsApp, backend: Backend) -> bool:
    """Up in the header, and every pane it feeds loaded with no error of its own."""
    return f"{backend.name} ● ok" in header(app) and all(
        pane_rows(app, p) > 0
        and pane_status(app, p) != "loading…"
        and f"{backend.name}:" not in pane_status(app, p)
        for p in backend.fed
    )


def settings_for(tables: dict[str, dict[str, Any]]) -> Settings:
    kinds = {
        "mlflow": MlflowSettings,
        "gitlab": GitlabSettings,
        "alertmanager": AlertmanagerSettings,
        "vertex": VertexSettings,
        "airflow": AirflowSettings,
    }
    environment = EnvironmentSettings(**{k: kinds[k](**v) for k, v in tables.items()})
    return Settings({"dev": environment}, "dev")


@pytest.mark.parametrize(
    ("backend_name", "fault_name"),
    [pytest.param(b, f, marks=pytest.mark.airflow) if b == "airflow" else (b, f) for b, f in CELLS],
    ids=CELL_IDS,
)
async def test_tui(
    backend_name: str, fault_name: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, case = TUI_BACKENDS[backend_name], FAULTS[fault_name]
    # Airflow's cells have every other backend beside it; the others' cells leave Airflow out.
    present = {**BACKENDS, backend_name: backend}
    proxies = {name: proxy_for(request, other) for name, other in present.items()}
    tables: dict[str, Any] = {}
    for name, other in present.items():
        tables.update(other.table(proxies[name].url))
        for variable, value in other.env.items():
            monkeypatch.setenv(variable, value)
    proxy, others = proxies[backend_name], [b for b in present.values() if b is not backend]
    app = make_app(settings_for(tables))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: all(healthy(app, b) for b in present.values()), "every pane loaded")
        # One more poll of every backend, so that a pane fed by several (Alerts) holds all of theirs.
        settled = {name: p.counters.passed for name, p in proxies.items()}
        await until(
            pilot,
            lambda: (
                all(p.counters.passed > settled[name] for name, p in proxies.items())
                and all(healthy(app, b) for b in present.values())
            ),
            "every backend polled again",
        )
        rows = {p: pane_rows(app, p) for p in backend.fed}
        own = {p: rows_of(app, p, backend.name) for p in backend.fed}
        assert all(own.values()), own  # the backend's own rows are there to be kept
        case.inject(proxy)
        if case.drop_mid_request:
            await until(pilot, lambda: proxy.counters.faults >= 1, "a request in flight")
            proxy.refuse()
        expected = case.expected
        if expected.code == ExitCode.OK:
            await until(pilot, lambda: proxy.counters.faults == 1, "the fault was met")
            passed = proxy.counters.passed
            await until(pilot, lambda: proxy.counters.passed > passed + 1, "polls go on")
            await until(pilot, lambda: healthy(app, backend), "healthy")
            return
        says = expected.says[backend.name]
        for pane in backend.fed:
            await until(pilot, lambda pane=pane: says in pane_status(app, pane), f"{pane} shows {says!r}")
            assert "showing data from just now" in pane_status(app, pane)  # the last good data's age
            assert pane_rows(app, pane) == rows[pane]  # and the data itself
            assert rows_of(app, pane, backend.name) == own[pane]  # its own rows among them
        await until(pilot, lambda: f"{backend.name} ● {expected.header}" in header(app), "the header")
        assert "(data just now)" in header(app)
        app.query_one(f"#{backend.panes[0]}", ResourcePane).table.focus()
        await pilot.press("space")  # the keyboard still answers: pause, and resume
        await until(pilot, lambda: app.polling_paused, "paused")
        await pilot.press("space")
        await until(pilot, lambda: not app.polling_paused, "resumed")
        seen = {b.name: proxies[b.name].counters.passed for b in others}
        for other in others:
            # Two more polls answered: the other panes keep refreshing, untouched by the fault.
            await until(
                pilot,
                lambda other=other: proxies[other.name].counters.passed >= seen[other.name] + 2,
                f"{other.name} keeps polling",
            )
            # A poll of theirs may time out on a loaded machine: what counts is that they are fine.
            await until(pilot, lambda other=other: healthy(app, other), f"{other.name} healthy")
        case.clear(proxy)
        await until(pilot, lambda: healthy(app, backend), "recovered by itself")
