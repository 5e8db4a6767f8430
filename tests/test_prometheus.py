"""`PrometheusSource` and the `metrics` command against a real Prometheus (Debian's `prometheus`)
scraping the tests' exporter every second: two models, churn's serving stepping for the worse at a
known time (tests/helpers/prometheus.py)."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from mlops_tui.config import MetricsSettings, SeriesSettings, Settings, parse_settings
from mlops_tui.domain import MetricSubject, Series, SlotChange, SourceState
from mlops_tui.errors import BackendUnreachable, ExitCode, InvalidQuery
from mlops_tui.hub import Hub
from mlops_tui.sources.prometheus import PrometheusSource, batchable, fill_models, fill_template
from mlops_tui.views.metrics import compare_around, headline_batch, headlines
from tests.fakes.google_metadata import FakeMetadata, use_metadata_server
from tests.fakes.monitoring_server import FakeCloudMonitoring
from tests.helpers import free_port, run_cli, write_config
from tests.helpers.prometheus import LATENCY_QUERY, PrometheusTestbed

CHURN = MetricSubject("churn", "dev", "3")
FRAUD = MetricSubject("fraud", "dev", "1")
SCRAPED_WITHIN = 60.0
"""How long Prometheus may take to hold a value the exporter serves (it scrapes every second)."""


@pytest.fixture
async def source(prometheus_server: PrometheusTestbed) -> AsyncIterator[PrometheusSource]:
    source = PrometheusSource(MetricsSettings(url=prometheus_server.url))
    try:
        yield source
    finally:
        await source.aclose()


async def until_value(source: PrometheusSource, query: str, subject: MetricSubject, wanted: float) -> None:
    """Poll Prometheus until `query` for `subject` reads `wanted` now."""
    deadline = time.monotonic() + SCRAPED_WITHIN
    value = None
    while time.monotonic() < deadline:
        value = await source.latest(query, subject, datetime.now(UTC))
        if value == wanted:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{query} for {subject.model} read {value}, not {wanted}, in time")


def test_templates_are_filled_with_escaped_label_values() -> None:
    subject = MetricSubject('we"ird\\model', "prd", "4", "777")
    query = 'sum(x{model="{model}",version="{version}",env="{env}",deployed="{deployed_model_id}"})'
    assert fill_template(query, subject) == (
        'sum(x{model="we\\"ird\\\\model",version="4",env="prd",deployed="777"})'
    )


async def test_a_range_shows_the_step_at_its_time(
    source: PrometheusSource, prometheus_server: PrometheusTestbed
) -> None:
    await until_value(source, LATENCY_QUERY, CHURN, 240.0)
    step_at = prometheus_server.step_at
    now = datetime.now(UTC)
    points = await source.series_range(
        LATENCY_QUERY, CHURN, step_at - timedelta(seconds=4), now, timedelta(seconds=1)
    )
    assert [p.time for p in points] == sorted(p.time for p in points)
    values = [p.value for p in points]
    # 80 ms up to the step, 240 ms from the first sample scraped after it (samples carry the
    # exporter's own time, so nothing reads 240 before the step).
    assert values[0] == 80.0 and values[-1] == 240.0
    first_after = values.index(240.0)
    assert set(values[:first_after]) == {80.0} and set(values[first_after:]) == {240.0}
    assert points[first_after].time >= step_at
    assert all(p.value == 80.0 for p in points if p.time < step_at)


async def test_each_model_has_its_own_series(source: PrometheusSource) -> None:
    await until_value(source, LATENCY_QUERY, FRAUD, 35.0)
    assert await source.latest(LATENCY_QUERY, CHURN, datetime.now(UTC)) in (80.0, 240.0)


async def test_the_default_series_read_the_common_exporter_shapes(
    source: PrometheusSource, prometheus_server: PrometheusTestbed
) -> None:
    prometheus_server.wait_past_step()
    defaults = MetricsSettings(url=prometheus_server.url).all_series()
    now = datetime.now(UTC)
    requests = await source.latest(defaults["requests"].query, FRAUD, now)
    churn_requests = await source.latest(defaults["requests"].query, CHURN, now)
    errors = await source.latest(defaults["error_rate"].query, CHURN, now)
    latency = await source.latest(defaults["latency_p95"].query, FRAUD, now)
    drift = await source.latest(defaults["drift"].query, CHURN, now)
    # rate() over 5 minutes of a series seconds old is extrapolated from what there is: only the
    # proportions hold (fraud serves 180 requests a second, churn 40).
    assert requests is not None and churn_requests is not None
    assert 3.5 < requests / churn_requests < 5.5
    assert errors is not None and 0.4 < errors < 5.1
    # Every fraud request takes 35 ms: the 95th percentile falls in the (25 ms, 50 ms] bucket.
    assert latency is not None and 25 < latency <= 50
    assert drift == 0.05


async def test_a_model_without_series_reads_empty(source: PrometheusSource) -> None:
    nobody = MetricSubject("nobody", "dev")
    now = datetime.now(UTC)
    assert (
        await source.series_range(
            LATENCY_QUERY, nobody, now - timedelta(minutes=5), now, timedelta(seconds=5)
        )
        == []
    )
    assert await source.latest(LATENCY_QUERY, nobody, now) is None


async def test_a_promql_error_is_prometheus_own_words(source: PrometheusSource) -> None:
    now = datetime.now(UTC)
    with pytest.raises(InvalidQuery) as raised:
        await source.series_range(
            "sum(rate(x[5m]", CHURN, now - timedelta(minutes=1), now, timedelta(seconds=5)
        )
    assert raised.value.exit_code == ExitCode.USAGE
    assert "bad_data" in raised.value.message and "parse error" in raised.value.message


async def test_a_template_answering_several_series_is_refused(source: PrometheusSource) -> None:
    await until_value(source, LATENCY_QUERY, FRAUD, 35.0)
    with pytest.raises(InvalidQuery, match="returns 2 series"):
        await source.latest("model_latency_ms", CHURN, datetime.now(UTC))


BATCHED_LATENCY = 'max by (model) (model_latency_ms{model=~"{models}"})'
"""LATENCY_QUERY for many models in one query: `{models}`, the model label kept."""
# `chur.` would match churn unless escaped as a regex; `nobody` has no series at all.
DEFAULTS = MetricsSettings(url="http://prometheus:9090").all_series()
"""The default series: every one a `{models}` template."""
BATCH = [CHURN, FRAUD, MetricSubject("nobody", "dev", "1"), MetricSubject("chur.", "dev", "1")]


class CountingTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, counting the queries it sends to the real Prometheus."""

    def __init__(self) -> None:
        super().__init__()
        self.queries: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.queries.append(request.url.params["query"])
        return await super().handle_async_request(request)


@pytest.fixture
async def counted(
    prometheus_server: PrometheusTestbed,
) -> AsyncIterator[tuple[PrometheusSource, CountingTransport]]:
    transport = CountingTransport()
    source = PrometheusSource(MetricsSettings(url=prometheus_server.url), transport=transport)
    try:
        yield source, transport
    finally:
        await source.aclose()


def test_models_are_filled_in_as_an_escaped_regex_alternation() -> None:
    subjects = [
        MetricSubject("churn", "prd"),
        MetricSubject('fr"aud.v2', "prd"),
        MetricSubject("churn", "prd"),
    ]
    assert fill_models('sum by (model) (x{model=~"{models}",env="{env}"})', subjects) == (
        'sum by (model) (x{model=~"churn|fr\\"aud\\\\.v2",env="prd"})'
    )
    assert batchable(BATCHED_LATENCY, subjects)
    assert not batchable(LATENCY_QUERY, subjects)  # {model}: one model a query
    assert not batchable('x{model=~"{models}",version="{version}"}', [CHURN, FRAUD])  # versions differ
    assert batchable('x{model=~"{models}",version="{version}"}', [CHURN, MetricSubject("fraud", "dev", "3")])


@pytest.mark.parametrize(
    "promql", [BATCHED_LATENCY, *(s.query for s in DEFAULTS.values())], ids=["latency_gauge", *DEFAULTS]
)
async def test_a_batch_answers_as_one_query_per_model_does(
    counted: tuple[PrometheusSource, CountingTransport], prometheus_server: PrometheusTestbed, promql: str
) -> None:
    source, transport = counted
    prometheus_server.wait_past_step()
    # A window that ended a few seconds ago: every sample in it is scraped by now, so both reads
    # see the same data.
    end = datetime.now(UTC) - timedelta(seconds=3)
    start, step = end - timedelta(seconds=30), timedelta(seconds=2)
    one_by_one = [await source.series_range(promql, s, start, end, step) for s in BATCH]
    latest_one_by_one = [await source.latest(promql, s, end) for s in BATCH]
    transport.queries.clear()
    batched = await source.series_range_many(promql, BATCH, start, end, step)
    latest_batched = await source.latest_many(promql, BATCH, end)
    assert len(transport.queries) == 2  # one range query and one instant query for all four
    assert batched == one_by_one and latest_batched == latest_one_by_one
    assert batched[0] and batched[1] and batched[2] == [] and batched[3] == []
    assert latest_batched[2] is None and latest_batched[3] is None


async def test_very_many_models_take_a_few_queries(
    counted: tuple[PrometheusSource, CountingTransport],
) -> None:
    source, transport = counted
    await until_value(source, LATENCY_QUERY, FRAUD, 35.0)
    others = [MetricSubject(f"a-model-with-a-long-name-{n:03d}", "dev") for n in range(150)]
    transport.queries.clear()
    values = await source.latest_many(BATCHED_LATENCY, [*others, CHURN, FRAUD], datetime.now(UTC))
    # 150 names of 30 characters or so: over the 2,000 characters one query takes.
    assert len(transport.queries) == 3
    assert values[:150] == [None] * 150
    assert values[150] in (80.0, 240.0) and values[151] == 35.0


async def test_a_template_naming_one_model_is_read_model_by_model(
    counted: tuple[PrometheusSource, CountingTransport],
) -> None:
    source, transport = counted
    await until_value(source, LATENCY_QUERY, FRAUD, 35.0)
    transport.queries.clear()
    values = await source.latest_many(LATENCY_QUERY, [CHURN, FRAUD], datetime.now(UTC))
    assert sorted(transport.queries) == [
        'max(model_latency_ms{model="churn"})',
        'max(model_latency_ms{model="fraud"})',
    ]
    assert values[0] in (80.0, 240.0) and values[1] == 35.0


async def test_a_batched_template_must_keep_the_model_label(
    counted: tuple[PrometheusSource, CountingTransport],
) -> None:
    source, _ = counted
    await until_value(source, LATENCY_QUERY, FRAUD, 35.0)
    answers = await source.latest_many(
        'max(model_latency_ms{model=~"{models}"})', [CHURN, FRAUD], datetime.now(UTC)
    )
    assert all(isinstance(a, InvalidQuery) and "without the label 'model'" in a.message for a in answers)


async def test_a_refused_batch_is_each_model_s_error(
    counted: tuple[PrometheusSource, CountingTransport],
) -> None:
    source, transport = counted
    now = datetime.now(UTC)
    answers = await source.series_range_many(
        'sum by (model) (rate(x{model=~"{models}"}[5m])',
        BATCH,
        now - timedelta(minutes=1),
        now,
        timedelta(seconds=5),
    )
    assert len(transport.queries) == 1
    assert all(isinstance(a, InvalidQuery) and "bad_data" in a.message for a in answers)


async def test_headline_batch_reads_every_model_s_headline(prometheus_server: PrometheusTestbed) -> None:
    now = prometheus_server.wait_past_step()
    settings = parse_settings(
        {"environments": {"dev": {"metrics": {"url": prometheus_server.url, "headline": "drift"}}}}
    )
    hub = Hub(settings, "dev", clock=lambda: now)
    try:
        found = await headline_batch(hub, BATCH, now - timedelta(seconds=20), now, timedelta(seconds=5))
    finally:
        await hub.aclose()
    assert set(found) == {"churn", "fraud", "nobody", "chur."}
    churn, fraud = found["churn"], found["fraud"]
    assert isinstance(churn, Series) and isinstance(fraud, Series)
    assert (churn.name, churn.latest, churn.level) == ("drift", 0.05, "ok")
    assert fraud.latest == 0.08
    assert found["nobody"] == Series("drift", "", (), churn.threshold)
    assert hub.statuses["prometheus"].state == SourceState.OK


async def test_a_batch_that_cannot_reach_prometheus_marks_it_down() -> None:
    settings = parse_settings(
        {"environments": {"dev": {"metrics": {"url": f"http://127.0.0.1:{free_port()}"}}}}
    )
    hub = Hub(settings, "dev")
    now = datetime.now(UTC)
    try:
        found = await headline_batch(hub, BATCH, now - timedelta(hours=1), now, timedelta(minutes=5))
    finally:
        await hub.aclose()
    assert all(isinstance(answer, BackendUnreachable) for answer in found.values())
    assert hub.statuses["prometheus"].state == SourceState.DOWN


async def test_before_and_after_the_step_over_equal_windows(prometheus_server: PrometheusTestbed) -> None:
    # The window after the step must hold a scrape made after it. A run on a fresh clone saw 16 s
    # without a scrape, every worker's Prometheus at once, just after the step: the window is
    # 10 s, or longer when the first scrape after the step came later.
    first_after = await first_scrape_after(prometheus_server.url, prometheus_server.step_at)
    window = timedelta(
        seconds=max(10, math.ceil((first_after - prometheus_server.step_at).total_seconds()) + 2)
    )
    now = prometheus_server.wait_past_step(window.total_seconds() + 2)
    settings = _settings(prometheus_server.url)
    hub = Hub(settings, "dev", clock=lambda: now)
    change = SlotChange(prometheus_server.step_at, "v3", "v4", "promote", "alice")
    try:
        series = {"latency_p95": SeriesSettings(query=LATENCY_QUERY, unit="ms", warn=200.0)}
        (summary,), failures = await compare_around(hub, series, CHURN, change, now, window)
    finally:
        await hub.aclose()
    assert failures == {}
    assert summary.window == window
    assert summary.before == 80.0
    # Until the first scrape after the step, the last sample before it is read: the mean since is
    # under 240 ms, by how late that scrape came.
    assert summary.after is not None and 80 < summary.after <= 240
    assert summary.worse and summary.ratio is not None and summary.ratio > 0


async def first_scrape_after(url: str, moment: datetime) -> datetime:
    """When Prometheus first stored churn's latency after `moment` (waiting for that scrape)."""
    async with httpx.AsyncClient(base_url=url, trust_env=False) as client:
        deadline = time.monotonic() + SCRAPED_WITHIN
        while time.monotonic() < deadline:
            answer = await client.get(
                "/api/v1/query", params={"query": 'model_latency_ms{model="churn"}[1h]'}
            )
            stamps = [float(t) for result in answer.json()["data"]["result"] for t, _ in result["values"]]
            after = [t for t in stamps if t > moment.timestamp()]
            if after:
                return datetime.fromtimestamp(min(after), UTC)
            await asyncio.sleep(0.2)
    raise AssertionError(f"Prometheus stored no sample after {moment} in time")


def _scraped_past_step(testbed: PrometheusTestbed) -> None:
    """Block until Prometheus holds churn's latency after the step."""

    async def wait() -> None:
        source = PrometheusSource(MetricsSettings(url=testbed.url))
        try:
            await until_value(source, LATENCY_QUERY, CHURN, 240.0)
        finally:
            await source.aclose()

    asyncio.run(wait())


async def test_the_headlines_of_several_models_in_one_call(
    source: PrometheusSource, prometheus_server: PrometheusTestbed
) -> None:
    """What the Models pane draws: each model's headline series with its threshold, a model
    without series empty, through the one entry point the pane calls."""
    await until_value(source, LATENCY_QUERY, CHURN, 240.0)
    await until_value(source, LATENCY_QUERY, FRAUD, 35.0)
    now = datetime.now(UTC)
    hub = Hub(_settings(prometheus_server.url), "dev", clock=lambda: now)
    try:
        found = await headlines(
            hub, {"churn": "3", "fraud": "1", "nobody": None}, now=now, window=timedelta(minutes=1)
        )
        status = hub.statuses["prometheus"]
    finally:
        await hub.aclose()
    churn, fraud, nobody = found["churn"], found["fraud"], found["nobody"]
    assert isinstance(churn, Series) and isinstance(fraud, Series) and isinstance(nobody, Series)
    assert churn.name == "latency_p95" and churn.unit == "ms"
    assert churn.latest == 240.0 and churn.level == "warn"  # past the step: 240 ms, warn from 200
    assert fraud.latest == 35.0 and fraud.level == "ok"
    assert nobody.points == ()
    assert status.state.value == "ok"  # the header's metrics source, polled


def _settings(url: str) -> Settings:
    return parse_settings(
        {
            "environments": {
                "dev": {
                    "metrics": {
                        "url": url,
                        "series": {"latency_p95": {"query": LATENCY_QUERY, "unit": "ms", "warn": 200.0}},
                    }
                }
            }
        }
    )


def _config(tmp_path: Path, url: str, **series: dict[str, object]) -> Path:
    return write_config(
        tmp_path / "mlops-tui.toml",
        {
            "dev": {
                "metrics": {
                    "url": url,
                    "step_seconds": 1,
                    "series": {
                        "latency_p95": {"query": LATENCY_QUERY, "unit": "ms", "warn": 200.0},
                        **series,
                    },
                }
            }
        },
    )


def test_metrics_command_prints_the_series_as_json(
    prometheus_server: PrometheusTestbed, tmp_path: Path
) -> None:
    _scraped_past_step(prometheus_server)
    config = _config(tmp_path, prometheus_server.url)
    result = run_cli(
        "metrics", "churn", "--series", "latency_p95", "--since", "30s", "--json", "--config", config
    )
    assert result.code == ExitCode.OK, result
    data = json.loads(result.stdout)
    assert (data["model"], data["environment"], data["version"]) == ("churn", "dev", None)
    (series,) = data["series"]
    assert (series["name"], series["unit"], series["latest"], series["level"]) == (
        "latency_p95",
        "ms",
        240.0,
        "warn",
    )
    assert series["threshold"] == {"worse": "up", "warn": 200.0, "critical": None}
    assert series["points"] and all(len(p) == 2 and p[0].endswith("Z") for p in series["points"])
    assert data["changes"] == [] and data["before_after"] == []


def test_metrics_command_shows_a_promql_error_in_prometheus_words(
    prometheus_server: PrometheusTestbed, tmp_path: Path
) -> None:
    config = _config(
        tmp_path, prometheus_server.url, broken={"query": 'sum(model_latency_ms{model="{model}"}'}
    )
    result = run_cli("metrics", "churn", "--series", "broken", "--config", config)
    assert result.code == ExitCode.USAGE, result
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("mlops-tui: prometheus: bad_data") and "parse error" in line


def test_an_unknown_series_is_a_usage_error(prometheus_server: PrometheusTestbed, tmp_path: Path) -> None:
    result = run_cli(
        "metrics", "churn", "--series", "nope", "--config", _config(tmp_path, prometheus_server.url)
    )
    assert result.code == ExitCode.USAGE
    assert "no series 'nope'; configured: latency_p95" in result.stderr


async def test_google_auth_sends_an_adc_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Cloud Monitoring's PromQL endpoint: the API path under the project's URL and a bearer token
    of Application Default Credentials, which google-auth's own code fetches from a local metadata
    server (as on a GCE VM); a local server stands for monitoring.googleapis.com."""
    token = "ya29.local-monitoring-token"
    now = datetime.now(UTC)
    with FakeMetadata(token) as metadata, FakeCloudMonitoring(token, project="acme-ml") as monitoring:
        use_metadata_server(monkeypatch, metadata, tmp_path)
        monitoring.series = [({"model": "churn"}, 82.0)]
        source = PrometheusSource(MetricsSettings(url=monitoring.base, auth="google"))
        try:
            points = await source.series_range(
                LATENCY_QUERY, CHURN, now - timedelta(minutes=10), now, timedelta(minutes=5)
            )
            latest = await source.latest(LATENCY_QUERY, CHURN, now)
        finally:
            await source.aclose()
    assert [p.value for p in points] == [82.0, 82.0, 82.0] and latest == 82.0
    ranged, instant = monitoring.requests
    assert ranged.path == "/v1/projects/acme-ml/location/global/prometheus/api/v1/query_range"
    assert ranged.params["query"] == ['max(model_latency_ms{model="churn"})']
    assert ranged.params["step"] == ["300"]
    assert instant.path == "/v1/projects/acme-ml/location/global/prometheus/api/v1/query"
    assert all(r.headers["authorization"] == f"Bearer {token}" for r in monitoring.requests)
    # One token for both calls: refreshed only when it expires.
    assert sum(path.split("?")[0].endswith("/token") for path in metadata.asked) == 1


def test_the_metrics_command_stays_light(prometheus_server: PrometheusTestbed, tmp_path: Path) -> None:
    """Against Prometheus: neither Textual, MLflow, the Vertex SDK nor google-auth is imported."""
    from tests.test_import_hygiene import heavy, probe

    config = _config(tmp_path, prometheus_server.url)
    output, loaded = probe(
        tmp_path, "metrics", "churn", "--series", "latency_p95", "--json", "--config", config
    )
    assert isinstance(output, dict) and output["series"]
    assert heavy(loaded) == [] and "httpx" in loaded
    assert not any(m.startswith("google") for m in loaded)
