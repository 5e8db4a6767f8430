"""Serving metrics on the embedded demo: the `mlflow` kind reading the monitoring runs the demo logs
(one per day and served version, churn regressing after its latest promotion), the `metrics`
command's JSON (golden), `status` listing breached thresholds, and the [metrics] table's checks."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mlops_tui.config import (
    LOCAL_ENV,
    EnvironmentSettings,
    MetricsSettings,
    Settings,
    local_settings,
)
from mlops_tui.domain import MetricSubject, Series
from mlops_tui.errors import ConfigError, ExitCode
from mlops_tui.hub import Hub
from mlops_tui.ops.journal import Journal
from mlops_tui.sources.mlflow_metrics import MlflowMetricsSource
from mlops_tui.views.metrics import gather_metrics, headline_batch
from tests.conftest import template_settings
from tests.helpers import DEMO_NOW, run_cli, toml_document, write_config
from tests.test_cli import assert_golden, normalize

CHURN = MetricSubject("churn", LOCAL_ENV, "3")
UNTIL = DEMO_NOW.isoformat().replace("+00:00", "Z")


def _env(directory: Path, **metrics: Any) -> EnvironmentSettings:
    return EnvironmentSettings(
        mlflow=template_settings(directory),
        metrics=MetricsSettings(kind="mlflow", step_seconds=3600, **metrics),
    )


def _config(tmp_path: Path, directory: Path, **metrics: Any) -> Path:
    table = {"kind": "mlflow", "step_seconds": 3600, **metrics}
    mlflow = {"tracking_uri": template_settings(directory).tracking_uri}
    return write_config(tmp_path / "mlops-tui.toml", {"local": {"mlflow": mlflow, "metrics": table}})


def test_the_built_in_local_environment_reads_metrics_logged_to_mlflow() -> None:
    metrics = local_settings().environments[LOCAL_ENV].metrics
    assert metrics is not None and metrics.kind == "mlflow" and metrics.experiment == "monitoring"
    # A store of its own: the monitoring job's daily runs stay out of the Runs pane.
    assert metrics.tracking_uri.startswith("sqlite:///") and metrics.tracking_uri.endswith("/monitoring.db")


async def test_the_mlflow_kind_reads_a_model_s_hourly_points(monitored_store: Path) -> None:
    settings = Settings(environments={LOCAL_ENV: _env(monitored_store)}, default_env=LOCAL_ENV)
    hub = Hub(settings, clock=lambda: DEMO_NOW)
    try:
        source = hub.metrics
        assert isinstance(source, MlflowMetricsSource)
        start = DEMO_NOW - timedelta(hours=6)
        points = await source.series_range("latency_p95_ms", CHURN, start, DEMO_NOW, timedelta(hours=1))
        every_minute = await source.series_range(
            "latency_p95_ms", CHURN, start, DEMO_NOW, timedelta(minutes=1)
        )
        assert await source.series_range("no_such_metric", CHURN, start, DEMO_NOW, timedelta(hours=1)) == []
        two_hourly = await source.series_range("latency_p95_ms", CHURN, start, DEMO_NOW, timedelta(hours=2))
    finally:
        await hub.aclose()
    assert [p.time for p in points] == [start + timedelta(hours=h) for h in range(7)]
    assert every_minute == points
    assert all(200 < p.value < 300 for p in points)  # churn regressed after v3's promotion
    assert len(two_hourly) == 4  # averaged over each step


async def test_the_mlflow_kind_reads_many_models_as_one_by_one(monitored_store: Path) -> None:
    """The Models pane's refresh: every model's headline from one listing of the monitoring runs,
    the same points as each model read alone; a model that logs nothing reads empty."""
    settings = Settings(environments={LOCAL_ENV: _env(monitored_store)}, default_env=LOCAL_ENV)
    hub = Hub(settings, clock=lambda: DEMO_NOW)
    subjects = [CHURN, *(MetricSubject(m, LOCAL_ENV) for m in ("fraud", "demand", "nobody"))]
    start, step = DEMO_NOW - timedelta(days=2), timedelta(hours=4)
    try:
        source = hub.metrics
        alone = [await source.series_range("latency_p95_ms", s, start, DEMO_NOW, step) for s in subjects]
        found = await headline_batch(hub, subjects, start, DEMO_NOW, step)
        latest = await source.latest_many("latency_p95_ms", subjects, DEMO_NOW)
        latest_alone = [await source.latest("latency_p95_ms", s, DEMO_NOW) for s in subjects]
    finally:
        await hub.aclose()
    assert [s.model for s in subjects] == list(found)
    assert [list(s.points) for s in found.values() if isinstance(s, Series)] == alone
    assert alone[0] and alone[1] and alone[2] and alone[3] == []
    assert latest == latest_alone and latest[3] is None


async def test_before_and_after_churn_s_latest_promotion(monitored_store: Path, tmp_path: Path) -> None:
    settings = Settings(environments={LOCAL_ENV: _env(monitored_store)}, default_env=LOCAL_ENV)
    hub = Hub(settings, clock=lambda: DEMO_NOW)
    journal = Journal(tmp_path / "journal.db")
    try:
        found = await gather_metrics(hub, journal, "churn", names=["latency_p95", "requests"])
    finally:
        journal.close()
        await hub.aclose()
    assert (found.version, found.slot, found.failures, found.problems) == ("3", "churn@champion", {}, [])
    last = found.last_change
    assert last is not None and (last.before, last.after, last.operator) == ("v2", "v3", "gitlab-ci")
    assert last.at == DEMO_NOW - timedelta(days=2)
    latency, requests = found.before_after
    assert latency.series == "latency_p95" and latency.window == timedelta(hours=1)
    assert latency.before is not None and latency.before < 100
    assert latency.after is not None and latency.after > 200
    assert latency.worse and latency.ratio is not None and latency.ratio > 1.5
    assert requests.ratio is not None and abs(requests.ratio) < 0.5
    assert {s.name: s.level for s in found.series} == {"latency_p95": "warn", "requests": "ok"}


def _golden_normalize(data: Any, artifacts: Path) -> Any:
    """Registering a version is stamped with the time of seeding, not DEMO_NOW."""
    data = normalize(data, artifacts)
    for change in data["changes"]:
        if change["action"] == "register":
            change["at"] = "<timestamp>"
    return data


def test_golden_json_metrics(monitored_store: Path, demo_store_template: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, monitored_store)
    result = run_cli("metrics", "churn", "--until", UNTIL, "--json", "--config", config)
    assert result.code == ExitCode.OK, result
    assert result.stderr == ""
    assert_golden("metrics_churn", _golden_normalize(result.json(), demo_store_template / "artifacts"))


def test_metrics_table_says_before_and_after(monitored_store: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, monitored_store)
    result = run_cli("metrics", "churn", "--series", "latency_p95", "--until", UNTIL, "--config", config)
    assert result.code == ExitCode.OK, result
    assert "latency_p95" in result.stdout and "promote" in result.stdout
    line = next(line for line in result.stdout.splitlines() if "in the hour before v3" in line)
    assert line.strip().startswith("latency_p95 ") and "since: +" in line and "(worse)" in line


def test_status_lists_breached_thresholds(monitored_until_now: Path, tmp_path: Path) -> None:
    critical = {"query": "latency_p95_ms", "unit": "ms", "warn": 100.0, "critical": 150.0}
    config = _config(tmp_path, monitored_until_now, series={"latency_p95": critical})
    result = run_cli("status", "--json", "--config", config)
    assert result.code == ExitCode.FAILED, result
    (env,) = result.json()["environments"]
    churn = [b for b in env["breaches"] if b["model"] == "churn"]
    assert [(b["series"], b["level"], b["threshold"]) for b in churn] == [
        ("latency_p95", "critical", 150.0),
        ("error_rate", "warn", 1.0),  # listed, but a warning alone does not degrade
    ]
    assert any(p.startswith("churn latency_p95 ") and "critical threshold 150" in p for p in env["problems"])
    assert "past its critical threshold" in result.stderr


def test_status_is_healthy_when_no_series_is_critical(monitored_until_now: Path, tmp_path: Path) -> None:
    result = run_cli("status", "--json", "--config", _config(tmp_path, monitored_until_now))
    (env,) = result.json()["environments"]
    assert {b["level"] for b in env["breaches"]} == {"warn"}  # churn's latency and errors
    assert result.code == ExitCode.OK, result


# -- the [metrics] table -------------------------------------------------------------------------


def _load(tmp_path: Path, metrics: dict[str, Any]) -> ConfigError:
    from mlops_tui.config import load_settings

    path = tmp_path / "mlops-tui.toml"
    path.write_text(toml_document({"environments": {"dev": {"metrics": metrics}}}), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    return caught.value


def test_a_prometheus_source_needs_its_url(tmp_path: Path) -> None:
    error = _load(tmp_path, {"kind": "prometheus"})
    assert error.key == "environments.dev.metrics.kind" and "needs the URL" in error.message


def test_an_unknown_placeholder_is_named_with_its_line(tmp_path: Path) -> None:
    series = {"latency_p95": {"query": 'max(x{model="{modle}"})'}}
    error = _load(tmp_path, {"url": "http://prometheus:9090", "series": series})
    assert error.key == "environments.dev.metrics.series.latency_p95.query"
    # [environments.dev.metrics] with url on lines 1-2, [environments.dev.metrics.series.latency_p95]
    # on line 4, its query on line 5.
    assert error.line == 5 and "unknown placeholder {modle}" in error.message
    assert error.message.startswith(f"{tmp_path / 'mlops-tui.toml'}:5, key ")


def test_an_unknown_key_of_a_series_is_named(tmp_path: Path) -> None:
    series = {"drift": {"query": "max(drift)", "treshold": 1}}
    error = _load(tmp_path, {"url": "http://prometheus:9090", "series": series})
    assert error.key == "environments.dev.metrics.series.drift.treshold"
    assert "unknown key; expected one of: critical, query, unit, warn, worse" in error.message


def test_the_model_label_must_be_a_label_name(tmp_path: Path) -> None:
    error = _load(tmp_path, {"url": "http://p:9090", "model_label": "model-name"})
    assert error.key == "environments.dev.metrics.model_label"
    assert "'model-name' is not a Prometheus label name" in error.message


def test_the_headline_must_be_a_series(tmp_path: Path) -> None:
    error = _load(
        tmp_path, {"url": "http://p:9090", "default_series": False, "series": {"p99": {"query": "x"}}}
    )
    assert error.key == "environments.dev.metrics.headline" and "'latency_p95'" in error.message


def test_thresholds_follow_the_direction_that_is_worse(tmp_path: Path) -> None:
    series = {"requests": {"query": "sum(x)", "worse": "down", "warn": 5.0, "critical": 10.0}}
    error = _load(tmp_path, {"url": "http://p:9090", "series": series})
    assert error.key == "environments.dev.metrics.series.requests.critical"
    assert "at or below warn" in error.message


def test_a_series_overrides_the_default_of_its_name() -> None:
    from mlops_tui.config import SeriesSettings

    settings = MetricsSettings(url="http://p:9090", series={"drift": SeriesSettings(query="max(psi)")})
    series = settings.all_series()
    assert list(series) == ["latency_p95", "error_rate", "requests", "drift"]
    assert series["drift"].query == "max(psi)" and series["drift"].warn is None


def test_the_demo_shows_churn_s_regression_on_local(demo_command_seeded: Any) -> None:
    """As a newcomer runs it: `mlops-tui demo` then `metrics churn` on the built-in `local`."""
    logged = re.search(
        r"Logged (\d+) monitoring runs of serving metrics for local \(", demo_command_seeded.result.stderr
    )
    # One run a day and served version: a week ends on 8 calendar days, and churn's promotion two
    # days before the seeding makes one day served by both versions, unless the seeding ran between
    # 23:00 and midnight UTC: then v3 takes over at the hour that starts a day.
    assert logged is not None and int(logged[1]) in (8 + 8 + 8, 8 + 8 + 9), demo_command_seeded.result.stderr
    result = run_cli("metrics", "churn", "--since", "3d", "--json")
    assert result.code == ExitCode.OK, result
    data = result.json()
    assert (data["environment"], data["version"]) == ("local", "3")
    latency = next(b for b in data["before_after"] if b["series"] == "latency_p95")
    assert (latency["around"]["from"], latency["around"]["to"]) == ("v2", "v3")
    assert latency["worse"] and latency["change"] > 1.5
    # The monitoring runs are in a store of their own: the Runs pane lists the training runs alone.
    from tests.helpers import DEMO_RUNS

    assert len(run_cli("runs", "list", "--limit", "1000", "--json").json()["runs"]) == DEMO_RUNS


def test_traffic_shifts_and_deployments_are_changes_of_a_served_model(
    monitored_store: Path, tmp_path: Path
) -> None:
    from tests.fakes.vertex_server import FakeVertex, seed_churn

    with FakeVertex("acme-ml", "us-central1") as vertex:
        seed_churn(vertex)
        config = write_config(
            tmp_path / "mlops-tui.toml",
            {
                "local": {
                    "mlflow": {"tracking_uri": template_settings(monitored_store).tracking_uri},
                    "metrics": {"kind": "mlflow", "step_seconds": 3600},
                    "vertex": {
                        "project": "acme-ml",
                        "location": "us-central1",
                        "endpoints": ["churn-endpoint"],
                        "api_endpoint": vertex.url,
                        "credentials": "anonymous",
                    },
                }
            },
            journal=str(tmp_path / "journal.db"),
        )
        shifted = run_cli(
            "endpoints",
            "traffic",
            "churn-endpoint",
            "--split",
            "11=50",
            "--split",
            "12=50",
            "--yes",
            "--config",
            config,
        )
        assert shifted.code == ExitCode.OK, shifted
        result = run_cli("metrics", "churn", "--series", "latency_p95", "--json", "--config", config)
    assert result.code == ExitCode.OK, result
    changes = result.json()["changes"]
    serving = [c for c in changes if c["origin"] == "serving"]
    assert [(c["action"], c["from"], c["to"]) for c in serving if c["action"] == "traffic"] == [
        ("traffic", "11=90 12=10", "11=50 12=50")
    ]
    assert {c["to"] for c in serving if c["action"] == "deploy"} == {"churn-endpoint/11", "churn-endpoint/12"}
    # The newest change is the shift: the before/after is around it.
    assert changes[-1]["action"] == "traffic"
