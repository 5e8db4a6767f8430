"""A pane's reads through `mlops_tui.hub.Hub`: in this process (warm) and in a fresh one."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from common import SCRIPTS, BenchmarkError
from mlops_tui.config import EnvironmentSettings, MlflowSettings, Settings
from mlops_tui.hub import Hub

Pane = Literal["runs", "models"]


def bench_settings(uri: str, experiment: str, page_size: int = 100) -> Settings:
    """One environment `bench` whose Runs pane shows `experiment`, `page_size` rows a page."""
    mlflow = MlflowSettings(tracking_uri=uri, experiments=[experiment], page_size=page_size)
    return Settings(environments={"bench": EnvironmentSettings(mlflow=mlflow)}, default_env="bench")


def _check_count(count: int, expected: int) -> None:
    if count != expected:
        raise BenchmarkError(f"first page held {count} rows, expected {expected}")


def first_page_seconds(
    uri: str, pane: Pane, experiment: str, expected: int, filter_string: str = "", page_size: int = 100
) -> float:
    """Seconds for a fresh Hub's first page of `pane` (`hub.runs()`: experiment lookup and search;
    `hub.models()`), in-process.

    MLflow stays imported between calls, as in a running TUI: this is the cost of opening or
    refreshing the pane, not of the first import.
    """

    async def read() -> int:
        hub = Hub(bench_settings(uri, experiment, page_size))
        try:
            page = await (hub.runs if pane == "runs" else hub.models)(filter_string)
            return len(page.items)
        finally:
            await hub.aclose()

    start = time.perf_counter()
    count = asyncio.run(read())
    elapsed = time.perf_counter() - start
    _check_count(count, expected)
    return elapsed


@dataclass(frozen=True)
class ColdRead:
    seconds: float
    """From the start of the process's own imports to the page (the interpreter's start excluded)."""
    peak_rss_mb: float


def cold_first_page(
    uri: str,
    pane: Pane,
    experiment: str,
    expected: int,
    env: Mapping[str, str],
    cwd: Path,
    filter_string: str = "",
    page_size: int = 100,
    timeout: float = 120.0,
) -> ColdRead:
    """A fresh Python process reading the first page of `pane`: its time and peak memory."""
    argv = [sys.executable, str(SCRIPTS / "hub_first_page.py"), uri, pane, experiment, str(page_size)]
    if filter_string:
        argv.append(filter_string)
    try:
        done = subprocess.run(argv, env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchmarkError(f"hub_first_page.py did not finish within {timeout:.0f} s") from None
    if done.returncode != 0:
        raise BenchmarkError(f"hub_first_page.py exited {done.returncode}: {done.stderr[-2000:]}")
    answer = json.loads(done.stdout)
    _check_count(answer["count"], expected)
    return ColdRead(float(answer["seconds"]), float(answer["peak_rss_mb"]))
