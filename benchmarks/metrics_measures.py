"""Serving metrics (measures 11 and 12): 20 models' headline series against a real Prometheus
seeded with a day of serving metrics, batched (one query per series template) beside one query per
model; and a 7-day range at 5-minute steps (2,016 points) drawn by the TUI's chart renderer.

Prometheus is Debian's `prometheus`, its data backfilled with Debian's `promtool tsdb
create-blocks-from openmetrics` from an OpenMetrics file written here: for each model a request
counter labelled `model` and `status`, a request duration histogram and a drift gauge (the shapes
the default series read), one sample a minute (quick: 6 hours).

Also runnable alone: `.venv/bin/python benchmarks/metrics_measures.py [--quick]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import VENV_BIN, BenchmarkError, Result, interleaved, isolated_env, median, timed_command
from server import free_port, stop

MODELS = 20
HEADLINE_WINDOW = timedelta(hours=24)
HEADLINE_STEP = timedelta(hours=1)
"""A headline as the Models pane draws it: a day, one point an hour."""
LEAD = timedelta(hours=2)
"""The seeded data reaches this far past the start: `now` reads fresh values (a rate over the last
5 minutes) however long the run takes, as against a Prometheus scraping a live service."""
CHART_POINTS = 2016
"""7 days at 5-minute steps."""
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0)
PER_MODEL = {
    "latency_p95": "1000 * histogram_quantile(0.95, sum by (le) "
    '(rate(model_request_duration_seconds_bucket{model="{model}"}[5m])))',
    "error_rate": '100 * sum(rate(model_requests_total{model="{model}",status=~"5.."}[5m])) '
    '/ sum(rate(model_requests_total{model="{model}"}[5m]))',
    "drift": 'max(model_prediction_drift{model="{model}"})',
}
"""The default series' thresholds-bearing templates written one model a query (`{model}`): what
every series read before batching, the anchor of the batched ones."""


def model_names(count: int = MODELS) -> list[str]:
    return [f"model-{index:02d}" for index in range(count)]


def openmetrics(models: Sequence[str], end: float, hours: float, interval: float) -> Iterator[str]:
    """Lines of an OpenMetrics exposition holding `hours` of samples every `interval` seconds up to
    `end` (epoch seconds), family by family, series by series (as promtool wants them)."""
    times = [end - hours * 3600 + i * interval for i in range(int(hours * 3600 / interval) + 1)]
    rates = {m: 20.0 + 10 * i for i, m in enumerate(models)}
    latency = {m: 0.03 + 0.02 * (i % 7) for i, m in enumerate(models)}

    def line(name: str, labels: str, value: float, at: float) -> str:
        return f"{name}{{{labels}}} {value:.3f} {at:.0f}"

    yield "# TYPE model_requests counter"
    for model in models:
        # 1.2 % of errors: clear of the 1 % warning, which floating point would put either side.
        for status, share in (("200", 0.988), ("500", 0.012)):
            for n, t in enumerate(times):
                labels = f'model="{model}",status="{status}"'
                yield line("model_requests_total", labels, rates[model] * share * interval * n, t)
    yield "# TYPE model_request_duration_seconds histogram"
    for model in models:
        for n, t in enumerate(times):
            count = rates[model] * interval * n
            for le in BUCKETS:
                within = count if latency[model] <= le else count * 0.1
                yield line("model_request_duration_seconds_bucket", f'model="{model}",le="{le:g}"', within, t)
            yield line("model_request_duration_seconds_bucket", f'model="{model}",le="+Inf"', count, t)
            yield line("model_request_duration_seconds_count", f'model="{model}"', count, t)
            yield line("model_request_duration_seconds_sum", f'model="{model}"', count * latency[model], t)
    yield "# TYPE model_prediction_drift gauge"
    for index, model in enumerate(models):
        for t in times:
            yield line("model_prediction_drift", f'model="{model}"', 0.02 + 0.01 * (index % 5), t)
    yield "# EOF"


@contextmanager
def seeded_prometheus(root: Path, models: Sequence[str], hours: float, log: Path) -> Iterator[str]:
    """A real Prometheus on 127.0.0.1 holding `hours` of the models' serving metrics up to `LEAD`
    from now; yields its URL."""
    for tool in ("prometheus", "promtool"):
        if shutil.which(tool) is None:
            raise BenchmarkError(f"no `{tool}` on PATH (Debian's `prometheus` package)")
    root.mkdir(parents=True, exist_ok=True)
    data, source = root / "data", root / "seed.om"
    with source.open("w") as out:
        for line in openmetrics(
            models, time.time() + LEAD.total_seconds(), hours + LEAD.total_seconds() / 3600, 60.0
        ):
            out.write(line + "\n")
    done = subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise BenchmarkError(f"promtool could not backfill: {done.stderr.strip()[-1000:]}")
    (root / "prometheus.yml").write_text("global:\n  scrape_interval: 1m\n")
    url = f"http://127.0.0.1:{free_port()}"
    argv = [
        "prometheus",
        f"--config.file={root / 'prometheus.yml'}",
        f"--storage.tsdb.path={data}",
        "--storage.tsdb.retention.time=30d",
        f"--web.listen-address={url.removeprefix('http://')}",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise BenchmarkError(f"prometheus exited {process.returncode}: see {log}")
                with suppress(urllib.error.URLError, ConnectionError, TimeoutError):
                    with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
                        if response.status == 200:
                            break
                if time.monotonic() > deadline:
                    raise BenchmarkError(f"prometheus at {url} not ready after 60 s")
                time.sleep(0.1)
            yield url
        finally:
            stop(process)


def write_config(path: Path, url: str, models: Sequence[str], *, batched: bool) -> Path:
    """One environment `bench` reading `url` for `models`: the default series (batched), or the
    same series written one model a query."""
    lines = [
        'default_env = "bench"',
        "",
        "[environments.bench]",
        f"models = [{', '.join(repr(m).replace(chr(39), chr(34)) for m in models)}]",
        "",
        "[environments.bench.metrics]",
        f'url = "{url}"',
    ]
    if not batched:
        from mlops_tui.config import MetricsSettings

        defaults = MetricsSettings(url=url).all_series()
        for name, query in PER_MODEL.items():
            lines += ["", f"[environments.bench.metrics.series.{name}]", f"query = '{query}'"]
            lines += [f'unit = "{defaults[name].unit}"', f"warn = {defaults[name].warn}"]
            lines += [f"critical = {defaults[name].critical}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def headline_seconds(url: str, models: Sequence[str], repeat: int) -> dict[str, list[float]]:
    """Seconds of one refresh of every model's headline series, through a running Hub (warm, as in
    the TUI): `headline_batch` (one query) and one `series_points` per model, all at once (how
    each model's series is read without batching), in turns."""
    from mlops_tui.config import EnvironmentSettings, MetricsSettings, Settings
    from mlops_tui.domain import MetricSubject
    from mlops_tui.hub import Hub
    from mlops_tui.views.metrics import headline_batch

    settings = Settings(
        environments={"bench": EnvironmentSettings(metrics=MetricsSettings(url=url))}, default_env="bench"
    )
    query = settings.environments["bench"].metrics.all_series()["latency_p95"].query  # type: ignore[union-attr]

    async def run() -> dict[str, list[float]]:
        hub = Hub(settings, "bench")
        subjects = [MetricSubject(m, "bench") for m in models]
        end = datetime.now(UTC)
        start = end - HEADLINE_WINDOW

        async def batched() -> int:
            found = await headline_batch(hub, subjects, start, end, HEADLINE_STEP)
            return sum(1 for s in found.values() if not isinstance(s, Exception) and s.points)

        async def per_model() -> int:
            found = await asyncio.gather(
                *(hub.series_points(query, s, start, end, HEADLINE_STEP) for s in subjects)
            )
            return sum(1 for points in found if points)

        async def timed(call: Callable[[], object]) -> float:
            began = time.perf_counter()
            filled = await call()  # type: ignore[misc]
            elapsed = time.perf_counter() - began
            if filled != len(subjects):
                raise BenchmarkError(f"{filled} of {len(subjects)} models' headlines held points")
            return elapsed

        try:
            samples: dict[str, list[float]] = {"batched": [], "per model": []}
            calls = {"batched": batched, "per model": per_model}
            for name in calls:  # warm-up: connections, Prometheus's caches
                await timed(calls[name])
            for round_ in range(repeat):
                order = list(calls)[round_ % 2 :] + list(calls)[: round_ % 2]
                for name in order:
                    samples[name].append(await timed(calls[name]))
            return samples
        finally:
            await hub.aclose()

    return asyncio.run(run())


def measure_headlines(
    repeat: int, quick: bool, root: Path, env: Mapping[str, str], warmup: bool = True
) -> list[Result]:
    """11. 20 models' headline refresh (in-process, warm) and `status --json` (whole process:
    the breached thresholds of 20 models), batched beside one query per model; both read the
    same breaches (checked)."""
    models = model_names()
    hours = 6.0 if quick else 24.0
    root.mkdir(parents=True, exist_ok=True)
    with seeded_prometheus(root / "prometheus", models, hours, root / "prometheus.log") as url:
        samples = headline_seconds(url, models, max(repeat, 5))
        batched = write_config(root / "batched.toml", url, models, batched=True)
        per_model = write_config(root / "per-model.toml", url, models, batched=False)
        breaches = {_breaches(config, env, root) for config in (batched, per_model)}
        if len(breaches) != 1:
            raise BenchmarkError("status read other breaches batched than one model a query")

        def status(config: Path) -> Callable[[], float]:
            argv = [str(VENV_BIN / "mlops-tui"), "status", "--json", "--config", str(config)]
            return lambda: timed_command(argv, env=env, cwd=root, ok=(0, 1))

        commands = interleaved(repeat, {"batched": status(batched), "per": status(per_model)}, warmup=warmup)
    return [
        Result(
            f"11 headline refresh, {MODELS} models, one query per template (warm Hub, {hours:.0f} h of data)",
            median(samples["batched"]),
            anchor=median(samples["per model"]),
            anchor_name=f"one query per model ({MODELS} at once)",
            target="value<=1.0",
            samples=samples["batched"],
            anchor_samples=samples["per model"],
        ),
        Result(
            f"11 status --json, {MODELS} models' thresholds (3 series): batched",
            median(commands["batched"]),
            anchor=median(commands["per"]),
            anchor_name="the same series written with {model}",
            samples=commands["batched"],
            anchor_samples=commands["per"],
        ),
    ]


def _breaches(config: Path, env: Mapping[str, str], cwd: Path) -> str:
    argv = [str(VENV_BIN / "mlops-tui"), "status", "--json", "--config", str(config)]
    done = subprocess.run(
        argv, env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    try:
        (environment,) = json.loads(done.stdout)["environments"]
    except (ValueError, KeyError) as exc:
        raise BenchmarkError(f"status --json printed {done.stdout[:200]!r}: {done.stderr[-500:]}") from exc
    if not environment["breaches"]:
        raise BenchmarkError(f"status read no breach: {environment['sources']}")
    # A batched query and one per model add the same samples in another order: their values may
    # differ in the last bit.
    breaches = [{**b, "value": round(b["value"], 6)} for b in environment["breaches"]]
    return json.dumps(breaches, sort_keys=True)


def chart_seconds(repeat: int) -> tuple[list[float], list[float]]:
    """Seconds to draw a 7-day range at 5-minute steps (2,016 points) with `MetricChart` at 120x10
    in a headless Textual app: its `render()` alone, and from `plot()` to the screen refreshed."""
    from textual.app import App, ComposeResult

    from mlops_tui.domain import MetricPoint
    from mlops_tui.tui.chart import MetricChart, Series

    end = datetime.now(UTC).replace(microsecond=0)
    points = [
        MetricPoint(
            int((end - timedelta(minutes=5 * (CHART_POINTS - 1 - i))).timestamp()), 80 + (i % 288) / 3.0
        )
        for i in range(CHART_POINTS)
    ]
    series = [Series("latency_p95", points)]

    class ChartApp(App[None]):
        CSS = "MetricChart { height: 10; }"

        def compose(self) -> ComposeResult:
            yield MetricChart(id="chart")

    renders: list[float] = []
    plots: list[float] = []

    async def run() -> None:
        app = ChartApp()
        async with app.run_test(size=(120, 40)) as pilot:
            chart = app.query_one(MetricChart)
            for round_ in range(repeat + 1):
                began = time.perf_counter()
                chart.plot(series if round_ % 2 == 0 else series[::-1])
                await pilot.pause()
                plotted = time.perf_counter() - began
                began = time.perf_counter()
                chart.render()
                rendered = time.perf_counter() - began
                if round_:
                    plots.append(plotted)
                    renders.append(rendered)

    asyncio.run(run())
    return renders, plots


def measure_chart(repeat: int) -> list[Result]:
    """12. A 7-day range at 5-minute steps charted."""
    renders, plots = chart_seconds(max(repeat, 5))
    return [
        Result(
            f"12 chart of a 7-day range at 5-min steps ({CHART_POINTS} points), 120x10: render",
            median(renders),
            target="value<=0.2",
            samples=renders,
        ),
        Result(
            "12 the same: plot() to the screen refreshed", median(plots), target="value<=0.2", samples=plots
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="6 hours of data, 2 runs")
    parser.add_argument("--repeat", type=int, default=None)
    args = parser.parse_args(argv)
    repeat = args.repeat or (2 if args.quick else 5)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="mlops-tui-bench-metrics-") as tmp:
        root = Path(tmp)
        results += measure_headlines(
            repeat, args.quick, root, isolated_env(root / "home"), warmup=not args.quick
        )
    results += measure_chart(repeat)
    for result in results:
        anchor = (
            f"  (anchor {result.anchor:.3f} s: {result.anchor_name})" if result.anchor is not None else ""
        )
        met = "" if result.met is None else f"  met: {'yes' if result.met else 'no'}"
        value = "n/a" if result.value is None else f"{result.value:.3f} s"
        print(f"{result.measure}: {value}{anchor}{met}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
