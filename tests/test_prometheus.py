"""`PrometheusSource` and the `metrics` command against a real Prometheus (Debian's `prometheus`)
scraping the tests' exporter every second: two models, churn's serving stepping for the worse at a
known time (tests/helpers/prometheus.py)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from mlops_tui.config import MetricsSettings, SeriesSettings, Settings, parse_settings
from mlops_tui.domain import MetricSubject, Series, SlotChange
from mlops_tui.errors import ExitCode, InvalidQuery
from mlops_tui.hub import Hub
from mlops_tui.sources.prometheus import PrometheusSource, fill_template
from mlops_tui.views.metrics import compare_around, headlines
from tests.helpers import run_cli, write_config
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


async def test_before_and_after_the_step_over_equal_windows(prometheus_server: PrometheusTestbed) -> None:
    now = prometheus_server.wait_past_step(12.0)
    settings = _settings(prometheus_server.url)
    hub = Hub(settings, "dev", clock=lambda: now)
    change = SlotChange(prometheus_server.step_at, "v3", "v4", "promote", "alice")
    try:
        series = {"latency_p95": SeriesSettings(query=LATENCY_QUERY, unit="ms", warn=200.0)}
        (summary,), failures = await compare_around(hub, series, CHURN, change, now, timedelta(seconds=10))
    finally:
        await hub.aclose()
    assert failures == {}
    assert summary.window == timedelta(seconds=10)
    assert summary.before == 80.0
    # Until the first scrape after the step, the last sample before it is read: the mean since is
    # under 240 ms, by how late that scrape came.
    assert summary.after is not None and 80 < summary.after <= 240
    assert summary.worse and summary.ratio is not None and summary.ratio > 0


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


def test_google_auth_sends_an_adc_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cloud Monitoring's PromQL endpoint: the API path under the project's URL and a bearer token
    of Application Default Credentials (google-auth's credentials, no network)."""
    import google.auth
    from google.oauth2.credentials import Credentials

    credentials = Credentials(
        token="ya29.test", expiry=datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)
    )
    monkeypatch.setattr(google.auth, "default", lambda scopes=None: (credentials, "acme-ml"))
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "vector", "result": []}})

    base = "https://monitoring.googleapis.com/v1/projects/acme-ml/location/global/prometheus"

    async def ask() -> float | None:
        source = PrometheusSource(
            MetricsSettings(url=base, auth="google"), transport=httpx.MockTransport(answer)
        )
        try:
            return await source.latest(LATENCY_QUERY, CHURN, datetime.now(UTC))
        finally:
            await source.aclose()

    assert asyncio.run(ask()) is None
    (request,) = seen
    assert str(request.url).startswith(f"{base}/api/v1/query?")
    assert request.headers["authorization"] == "Bearer ya29.test"


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
