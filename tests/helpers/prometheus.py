"""A real Prometheus (Debian's `prometheus`) scraping a small exporter of serving metrics every
second: two models, `churn` and `fraud`, in the shapes prometheus-client exporters take (a request
counter labelled `model` and `status`, a request duration histogram, a drift gauge) plus a plain
latency gauge. Churn's serving takes a step for the worse at a known time (`step_at`): its latency
jumps from 80 ms to 240 ms and its errors from 0.5 % to 5 %.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from tests.fakes.loopback import LoopbackServer
from tests.helpers import free_port
from tests.helpers.alertmanager import START_SECONDS, binary
from tests.helpers.services import running_service

__all__ = ["BUCKETS", "LATENCY_QUERY", "ModelExporter", "PrometheusTestbed", "running_prometheus_scraping"]

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0)
LATENCY_QUERY = 'max(model_latency_ms{model="{model}"})'
"""A series template over the exporter's plain latency gauge."""


@dataclass(frozen=True)
class Serving:
    """One model's serving as the exporter describes it, before and after the step."""

    requests_per_s: float
    latency_s: tuple[float, float]
    error_share: tuple[float, float]
    drift: float


MODELS = {
    "churn": Serving(40.0, (0.08, 0.24), (0.005, 0.05), 0.05),
    "fraud": Serving(180.0, (0.035, 0.035), (0.002, 0.002), 0.08),
}


@dataclass
class ModelExporter(LoopbackServer):
    """`/metrics` in Prometheus's text format, computed from the time of each scrape."""

    step_after: float = 6.0
    """Seconds after the first scrape that the step happens."""
    started: float | None = None
    """When Prometheus first scraped it: every series starts then."""

    @property
    def step_at(self) -> datetime:
        assert self.started is not None, "not scraped yet"
        return datetime.fromtimestamp(self.started + self.step_after, UTC)

    def wait_for_first_scrape(self, seconds: float = 60.0) -> None:
        deadline = time.monotonic() + seconds
        while self.started is None:
            assert time.monotonic() < deadline, "Prometheus never scraped the exporter"
            time.sleep(0.05)

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        now = time.time()
        if self.started is None:
            # Whole milliseconds, as the samples' stamps: the step then falls on a millisecond, and
            # no sample stamped before it (a stamp is its time rounded down) reads the new values.
            self.started = int(now * 1000) / 1000
        body = self.exposition(now).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain; version=0.0.4")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def exposition(self, now: float) -> str:
        elapsed = max(0.0, now - (self.started or now))
        before = min(elapsed, self.step_after)
        after = max(0.0, elapsed - self.step_after)
        stepped = int(elapsed >= self.step_after)
        lines = [
            "# TYPE model_requests_total counter",
            "# TYPE model_request_duration_seconds histogram",
            "# TYPE model_latency_ms gauge",
            "# TYPE model_prediction_drift gauge",
        ]
        for model, serving in MODELS.items():
            counts = (serving.requests_per_s * before, serving.requests_per_s * after)
            errors = sum(c * share for c, share in zip(counts, serving.error_share, strict=True))
            total = sum(counts)
            lines += [
                f'model_requests_total{{model="{model}",status="200"}} {total - errors:.3f}',
                f'model_requests_total{{model="{model}",status="500"}} {errors:.3f}',
                f'model_latency_ms{{model="{model}",version="3"}} {serving.latency_s[stepped] * 1000:g}',
                f'model_prediction_drift{{model="{model}"}} {serving.drift:g}',
            ]
            for le in BUCKETS:
                within = sum(c for c, s in zip(counts, serving.latency_s, strict=True) if s <= le)
                lines.append(
                    f'model_request_duration_seconds_bucket{{model="{model}",le="{le:g}"}} {within:.3f}'
                )
            lines += [
                f'model_request_duration_seconds_bucket{{model="{model}",le="+Inf"}} {total:.3f}',
                f'model_request_duration_seconds_count{{model="{model}"}} {total:.3f}',
                f'model_request_duration_seconds_sum{{model="{model}"}} '
                f"{sum(c * s for c, s in zip(counts, serving.latency_s, strict=True)):.3f}",
            ]
        # Each sample stamped with the exporter's own time (Prometheus honours it): a sample's time
        # is exactly when its value held, however late Prometheus's scrape ran.
        stamp = f" {int(now * 1000)}"
        return "\n".join(line if line.startswith("#") else line + stamp for line in lines) + "\n"


@dataclass(frozen=True)
class PrometheusTestbed:
    """The session's Prometheus and the exporter it scrapes."""

    url: str
    exporter: ModelExporter

    @property
    def step_at(self) -> datetime:
        return self.exporter.step_at

    def wait_past_step(self, seconds: float = 3.0) -> datetime:
        """Block until `seconds` past the step (scraped by then); returns now."""
        wait = (self.step_at + timedelta(seconds=seconds) - datetime.now(UTC)).total_seconds()
        if wait > 0:
            time.sleep(wait)
        return datetime.now(UTC)


@contextmanager
def running_prometheus_scraping(directory: Path, target: str) -> Iterator[str]:
    """A real Prometheus on 127.0.0.1 scraping `target` (host:port) every second; its base URL."""
    (directory / "prometheus.yml").write_text(
        f"""\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: serving
    static_configs:
      - targets: ["{target}"]
""",
        encoding="utf-8",
    )
    url = f"http://127.0.0.1:{free_port()}"
    command = [
        binary("prometheus", "prometheus"),
        f"--config.file={directory / 'prometheus.yml'}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address={url.removeprefix('http://')}",
    ]
    with running_service(
        "prometheus", command, ready_url=f"{url}/-/ready", directory=directory, seconds=START_SECONDS
    ):
        yield url
