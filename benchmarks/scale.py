"""Scale: the Runs pane on a 100,000-run experiment and the Models pane on a 1,000-model registry,
read through the Hub as the panes read them: first page, a filter, and the peak memory of a fresh
process doing it."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import hub_timing
import setup_data
from common import Result, median, median_of
from server import request_seconds
from workspace import Plan, Workspace

RUNS_FILTER = "metrics.val_auc > 0.9"
MODELS_FILTER = "model-01"
"""A part of a name: the Models pane's filter box (`name ILIKE '%model-01%'` on the server)."""


def matching_runs(db: Path, experiment_id: str, threshold: float) -> int:
    """How many runs of the experiment have a latest `val_auc` above `threshold`."""
    with closing(sqlite3.connect(db)) as con:
        (count,) = con.execute(
            "SELECT COUNT(*) FROM latest_metrics m JOIN runs r ON r.run_uuid = m.run_uuid "
            "WHERE r.experiment_id = ? AND m.key = 'val_auc' AND m.value > ?",
            (int(experiment_id), threshold),
        ).fetchone()
    return int(count)


def matching_models(models: int) -> int:
    return sum(MODELS_FILTER in setup_data.model_name(i) for i in range(models))


def _n(count: int) -> str:
    return f"{count:,}"


def measure_scale(plan: Plan, ws: Workspace, url: str, experiment: str, experiment_id: str) -> list[Result]:
    """First page and filter of each pane, warm in this process (sqlite and server), then in a fresh
    process against the server with its peak memory."""
    size = plan.page_size
    runs, models = _n(plan.scale_runs), _n(plan.scale_models)
    cases: list[tuple[str, hub_timing.Pane, str, int]] = [
        (f"runs pane first page ({runs} runs", "runs", "", min(size, plan.scale_runs)),
        (
            f"runs pane filter {RUNS_FILTER} ({runs} runs",
            "runs",
            RUNS_FILTER,
            min(size, matching_runs(ws.scale_db, experiment_id, 0.9)),
        ),
        (f"models pane first page ({models} models", "models", "", min(size, plan.scale_models)),
        (
            f"models pane filter '{MODELS_FILTER}' ({models} models",
            "models",
            MODELS_FILTER,
            min(size, matching_models(plan.scale_models)),
        ),
    ]
    payload = {"experiment_ids": [experiment_id], "max_results": size,
               "order_by": ["attributes.start_time DESC"]}  # fmt: skip
    floor = median_of(plan.repeat, lambda: request_seconds(url, "runs/search", payload))
    results = [
        Result(f"4  runs/search first page alone ({runs} runs; server's share, reference)", median(floor),
               samples=floor, note="MLflow's schema has no index for a newest-first page of one "
               "experiment: the server sorts every run of it"),
    ]  # fmt: skip
    for store, uri in (("sqlite", f"sqlite:///{ws.scale_db}"), ("server", url)):
        for label, pane, filter_string, expected in cases:
            samples = median_of(
                plan.repeat,
                lambda uri=uri, p=pane, f=filter_string, e=expected: hub_timing.first_page_seconds(
                    uri, p, experiment, e, f, size
                ),
            )
            results.append(
                Result(f"4  {label}, {store}, warm)", median(samples), target="value<=1.0", samples=samples)
            )
    for store, uri in (("server", url), ("sqlite", f"sqlite:///{ws.scale_db}")):
        for label, pane, filter_string, expected in cases:
            if filter_string:
                continue
            reads = [
                hub_timing.cold_first_page(
                    uri, pane, experiment, expected, ws.cli_env, ws.cwd, page_size=size
                )
                for _ in range(plan.repeat)
            ]
            seconds = [r.seconds for r in reads]
            memory = [r.peak_rss_mb for r in reads]
            target = "value<=1.0" if store == "server" else ""
            results.append(
                Result(
                    f"4  {label}, {store}, fresh process)",
                    median(seconds),
                    target=target,
                    samples=seconds,
                    note="fresh process: mlops-tui's imports (and MLflow's on sqlite) plus the read",
                )
            )
            results.append(
                Result(
                    f"4  {label}, {store}, fresh process): peak memory",
                    median(memory),
                    target="value<=250",
                    samples=memory,
                    unit="MB",
                )
            )
    return results
