"""The terminal UI as a person sees it: the installed command in a 120x40 pseudo-terminal, timed by
what it prints. Start-up (demo, and an environment of a real MLflow server, the GitLab fake and
Alertmanager), the panes on the scale data, idle cost, and isolation from a slow backend."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from common import SCRIPTS, VENV_BIN, BenchmarkError, Result, median
from pty_timing import PtyApp, Startup, time_startup
from scale import RUNS_FILTER
from workspace import ENV_NAME, Plan, Workspace

DEMO_MARKERS = ("churn-logreg-018", "champion", "local L1", "ChampionAucLow")
"""The newest demo run, an alias, the local training run of the set-up, and an alert of the demo's
local rules: every pane filled."""
TIMEOUT = 30.0
REFRESH_WINDOW = 4.0
"""Seconds of output counted after `r`: the refresh's reads and redraw end well within it."""


@dataclass(frozen=True)
class Markers:
    """What the screen shows once each pane is filled."""

    runs: str
    models: str
    pipelines: str
    alerts: str

    def all(self) -> tuple[str, ...]:
        return (self.runs, self.models, self.pipelines, self.alerts)


def _tui(config: Path | None) -> list[str]:
    argv = [str(VENV_BIN / "mlops-tui")]
    return argv + ["--config", str(config)] if config else argv


def _median_or_none(values: Sequence[float | None]) -> float | None:
    found = [v for v in values if v is not None]
    return statistics.median(found) if found else None


def _startup_rows(
    label: str, runs: list[Startup], filled_label: str, filled_target: str = ""
) -> list[Result]:
    frames = [r.first_frame for r in runs if r.first_frame is not None]
    filled = [r.filled for r in runs if r.filled is not None]
    memory = [r.peak_rss_mb for r in runs if r.peak_rss_mb is not None]
    last = runs[-1]
    why = f"n/a: {last.exit_status}; screen: {last.tail[-160:]!r}"
    return [
        Result(
            f"{label}: first frame",
            median(frames) if frames else None,
            target="value<=0.5",
            note="" if frames else why,
            samples=frames,
        ),
        Result(
            f"{label}: {filled_label}",
            median(filled) if filled else None,
            target=filled_target,
            note="" if filled else why,
            samples=filled,
        ),
        Result(f"{label}: peak memory", median(memory) if memory else None, samples=memory, unit="MB"),
    ]


def measure_demo_startup(plan: Plan, ws: Workspace) -> list[Result]:
    """5. `mlops-tui` on the seeded `local` environment (the demo): first frame, every pane filled.

    In turns with the smallest Textual app, the floor of any Textual app's first frame here.
    """
    ours: list[Startup] = []
    hellos: list[Startup] = []
    for round_ in range(plan.repeat + plan.warmup):
        ours.append(
            time_startup(_tui(None), env=ws.tui_env, cwd=ws.cwd, first_frame=("local",), filled=DEMO_MARKERS)
        )
        if ours[-1].first_frame is None:  # no UI at all: one failure says it all
            ours = ours[-1:]
            break
        hellos.append(
            time_startup(
                [sys.executable, str(SCRIPTS / "textual_hello.py")],
                env=ws.tui_env,
                cwd=ws.cwd,
                first_frame=("local",),
                filled=(),
            )
        )
        if plan.warmup and round_ == 0:
            ours.clear()
            hellos.clear()
    hello_frames = [h.first_frame for h in hellos if h.first_frame is not None]
    return [
        *_startup_rows(
            "5  TUI demo (local, sqlite)",
            ours,
            "every pane filled (runs, models, pipelines, alerts)",
            filled_target="value<=1.0",
        ),
        Result(
            "5  minimal Textual app: first frame (reference)",
            median(hello_frames) if hello_frames else None,
            samples=hello_frames,
        ),
    ]


def measure_demo_idle(plan: Plan, ws: Workspace) -> list[Result]:
    """5. Idle cost of the TUI on the demo (`local`, sqlite, default refresh intervals, its metrics
    source configured: serving metrics logged to MLflow): CPU over `plan.idle_seconds` and the
    bytes written to the terminal meanwhile."""
    with PtyApp(_tui(None), env=ws.tui_env, cwd=ws.cwd) as app:
        if app.wait_for(DEMO_MARKERS, TIMEOUT) is None:
            raise BenchmarkError(f"the demo's panes did not fill: {' '.join(app.text().split())[-200:]!r}")
        app.settle(quiet=1.0)
        cpu_before, start = app.cpu_seconds(), app.now()
        idle_bytes = app.drain(plan.idle_seconds)
        cpu = (app.cpu_seconds() - cpu_before) / (app.now() - start) * 100
    window = f"{plan.idle_seconds:.0f} s"
    # Ages tick once a minute: a shorter window may or may not hold a tick, a longer one several.
    per_minute = idle_bytes * 60 / plan.idle_seconds
    return [
        Result(f"5  TUI demo idle CPU over {window} (metrics source configured)", cpu, target="value<=0.5",
               unit="%"),
        Result(f"5  TUI demo: bytes written while idle, a minute ({window} measured)", per_minute,
               target="value<300", unit="B",
               note="ages tick once a minute (two alerts', a training run's): each its own cell"),
    ]  # fmt: skip


def measure_full_startup(
    plan: Plan, ws: Workspace, markers: Markers, alertmanager_alert: str
) -> list[Result]:
    """6. `mlops-tui` on MLflow server + GitLab fake (+ Alertmanager): first frame, every pane filled."""
    runs = _startups(plan, ws, ws.configs["full"], markers.all())
    rows = _startup_rows(
        "6  TUI on server + GitLab + alerts", runs, "every pane filled (runs, models, pipelines, alerts)"
    )
    if markers.alerts != alertmanager_alert:
        rows.append(
            Result(
                "6  TUI: an Alertmanager alert in the Alerts pane",
                None,
                note="not available: this build has no Alertmanager source; the Alerts pane shows the "
                "local rules' alerts",
            )
        )
    return rows


def _startups(plan: Plan, ws: Workspace, config: Path, filled: Sequence[str]) -> list[Startup]:
    runs: list[Startup] = []
    for _ in range(plan.repeat + plan.warmup):
        runs.append(
            time_startup(
                _tui(config), env=ws.tui_env, cwd=ws.cwd, first_frame=(ENV_NAME,), filled=filled,
                timeout=TIMEOUT,
            )
        )  # fmt: skip
        if runs[-1].first_frame is None:
            return runs[-1:]
    return runs[plan.warmup :] if len(runs) > 1 else runs


def measure_scale_tui(plan: Plan, ws: Workspace, newest_run: str, first_model: str) -> list[Result]:
    """6. The TUI on the scale data: the first page of the Runs and Models panes, a filter applied
    in the Runs pane (from Enter to the filtered page), and the TUI's peak memory."""
    frames: list[float] = []
    filled: list[float] = []
    after_frame: list[float] = []
    filters: list[float] = []
    memory: list[float] = []
    why = ""
    for round_ in range(plan.repeat + plan.warmup):
        with PtyApp(_tui(ws.configs["scale"]), env=ws.tui_env, cwd=ws.cwd) as app:
            frame = app.wait_for((ENV_NAME,), TIMEOUT)
            done = app.wait_for((newest_run, first_model), TIMEOUT)
            filtered = None
            if done is not None:
                app.settle(quiet=0.5, timeout=10)
                app.send("/")
                app.wait_for(("MLflow filter",), 5, since=len(app.output))
                app.send(RUNS_FILTER)
                app.settle(quiet=0.3, timeout=5)
                mark = len(app.output)
                sent = app.now()
                app.send("\r")
                applied = app.wait_for((f"filter: {RUNS_FILTER}",), TIMEOUT, since=mark)
                filtered = None if applied is None else applied - sent
            if None in (frame, done, filtered):
                why = f"n/a: screen: {' '.join(app.text().split())[-200:]!r}"
        if round_ < plan.warmup:
            continue
        for values, value in ((frames, frame), (filled, done), (filters, filtered)):
            if value is not None:
                values.append(value)
        if frame is not None and done is not None:
            after_frame.append(done - frame)
        if app.peak_rss_mb is not None:
            memory.append(app.peak_rss_mb)
    note = why if not (frames and filled and filters) else ""
    return [
        Result("6  TUI on the scale data: first frame", median(frames) if frames else None,
               target="value<=0.6", samples=frames, note=note),
        Result("6  TUI on the scale data: first page of runs and models, after the first frame",
               median(after_frame) if after_frame else None, target="value<=1.0", samples=after_frame,
               note=note),
        Result("6  TUI on the scale data: first page of runs and models, from start",
               median(filled) if filled else None, samples=filled, note=note),
        Result(f"6  TUI on the scale data: filter {RUNS_FILTER} applied",
               median(filters) if filters else None, target="value<=1.0", samples=filters, note=note),
        Result("6  TUI on the scale data: peak memory", median(memory) if memory else None,
               target="value<=250", samples=memory, unit="MB"),
    ]  # fmt: skip


def measure_idle(
    plan: Plan, ws: Workspace, markers: Markers, change_one_row: Callable[[int], None]
) -> list[Result]:
    """7. Idle cost of the TUI on the full environment with default refresh intervals: CPU over
    `plan.idle_seconds`, the bytes it writes to the terminal meanwhile, and the bytes of one
    refresh (`r`) that changes nothing beside one where a single run's metric changed."""
    with PtyApp(_tui(ws.configs["full"]), env=ws.tui_env, cwd=ws.cwd) as app:
        if app.wait_for(markers.all(), TIMEOUT) is None:
            raise BenchmarkError(f"the panes did not fill: {' '.join(app.text().split())[-200:]!r}")
        app.settle(quiet=1.0)
        cpu_before, start = app.cpu_seconds(), app.now()
        idle_bytes = app.drain(plan.idle_seconds)
        cpu = (app.cpu_seconds() - cpu_before) / (app.now() - start) * 100
        unchanged: list[float] = []
        changed: list[float] = []
        for round_ in range(plan.repeat):
            # A fixed window after the key, long enough for the refresh to end: an unchanged
            # refresh gives no marker to wait for.
            app.settle(quiet=1.0)
            app.send("r")
            unchanged.append(app.drain(REFRESH_WINDOW))
            change_one_row(round_)
            app.send("r")
            changed.append(app.drain(REFRESH_WINDOW))
    window = f"{plan.idle_seconds:.0f} s"
    return [
        Result(f"7  idle CPU over {window} (default refresh intervals)", cpu, target="value<=1.0", unit="%"),
        Result(f"7  bytes written to the terminal while idle ({window})", idle_bytes, unit="B"),
        Result("7  bytes written by a refresh that changes nothing", median(unchanged),
               median(changed), "refresh changing one row", target="value<=1024", samples=unchanged,
               anchor_samples=changed, unit="B"),
    ]  # fmt: skip


def measure_isolation(plan: Plan, ws: Workspace, markers: Markers) -> list[Result]:
    """8. One backend answering `plan.slow_seconds` late (behind a delaying proxy) must not delay the
    other panes: the time to fill them with and without the slow one, in turns."""
    # The local rules read MLflow: with a slow MLflow only the pipelines are expected on time.
    others_of_gitlab = (markers.runs, markers.models, markers.alerts)
    others_of_mlflow = (markers.pipelines,)
    results = []
    slow = f"{plan.slow_seconds:.0f} s"
    for backend, others, own in (
        ("gitlab", others_of_gitlab, markers.pipelines),
        ("mlflow", others_of_mlflow, markers.runs),
    ):
        normal: list[float] = []
        delayed: list[float] = []
        slow_own: list[float] = []
        for _ in range(plan.repeat):
            for config, samples in ((ws.configs["full"], normal), (ws.configs[f"slow-{backend}"], delayed)):
                with PtyApp(_tui(config), env=ws.tui_env, cwd=ws.cwd) as app:
                    others_filled = app.wait_for(others, TIMEOUT)
                    if others_filled is None:
                        raise BenchmarkError(f"the other panes did not fill with a slow {backend}")
                    samples.append(others_filled)
                    if samples is delayed:
                        own_filled = app.wait_for((own,), TIMEOUT)
                        if own_filled is not None:
                            slow_own.append(own_filled)
        names = "runs, models and alerts" if backend == "gitlab" else "pipelines"
        results += [
            Result(f"8  {backend} answering {slow} late: {names} filled", median(delayed), median(normal),
                   f"same with {backend} on time", target="delta<=0.3", samples=delayed,
                   anchor_samples=normal),
            Result(f"8  {backend} answering {slow} late: its own pane filled (reference)",
                   median(slow_own) if slow_own else None, samples=slow_own),
        ]  # fmt: skip
    return results


def connection_rows(url: str, requests: int) -> list[Result]:
    """9. One small MLflow request repeated over kept-alive connections and over fresh ones."""
    timings = {}
    for label, limits in (
        ("kept-alive", httpx.Limits()),
        ("fresh", httpx.Limits(max_keepalive_connections=0)),
    ):
        with httpx.Client(base_url=f"{url}/api/2.0/mlflow/", limits=limits, timeout=30) as client:
            client.get("registered-models/search", params={"max_results": 1})
            seconds = []
            for _ in range(requests):
                start = time.perf_counter()
                client.get("registered-models/search", params={"max_results": 1}).raise_for_status()
                seconds.append(time.perf_counter() - start)
        timings[label] = seconds
    keep, fresh = timings["kept-alive"], timings["fresh"]
    return [
        Result(f"9  MLflow request over a fresh connection ({requests} in a row)", median(fresh),
               median(keep), "over a kept-alive connection", samples=fresh, anchor_samples=keep,
               note="mlops-tui opens a fresh connection per MLflow request; larger answers gain most"),
    ]  # fmt: skip
