"""The Runs pane's reads through `mlops_tui.hub.Hub`: in this process (warm) and in a fresh one."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from common import SCRIPTS, BenchmarkError
from mlops_tui.config import EnvironmentSettings, MlflowSettings, Settings
from mlops_tui.hub import Hub


def bench_settings(uri: str, experiment: str, page_size: int = 100) -> Settings:
    """One environment `bench` whose Runs pane shows `experiment`, `page_size` rows a page."""
    mlflow = MlflowSettings(tracking_uri=uri, experiments=[experiment], page_size=page_size)
    return Settings(environments={"bench": EnvironmentSettings(mlflow=mlflow)}, default_env="bench")


def _check_count(count: int, expected: int) -> None:
    if count != expected:
        raise BenchmarkError(f"first page held {count} runs, expected {expected}")


def first_page_seconds(
    uri: str, experiment: str, expected: int, filter_string: str = "", page_size: int = 100
) -> float:
    """Seconds for a fresh Hub's first `hub.runs()` page (experiment lookup and search), in-process.

    MLflow stays imported between calls, as in a running TUI: this is the cost of opening or
    refreshing the pane, not of the first import.
    """

    async def read() -> int:
        hub = Hub(bench_settings(uri, experiment, page_size))
        try:
            return len((await hub.runs(filter_string)).items)
        finally:
            await hub.aclose()

    start = time.perf_counter()
    count = asyncio.run(read())
    elapsed = time.perf_counter() - start
    _check_count(count, expected)
    return elapsed


def cold_first_page_seconds(
    uri: str,
    experiment: str,
    expected: int,
    env: Mapping[str, str],
    cwd: Path,
    filter_string: str = "",
    page_size: int = 100,
    timeout: float = 120.0,
) -> float:
    """Seconds from the start of a fresh Python process to its first page, imports included."""
    argv = [sys.executable, str(SCRIPTS / "hub_first_page.py"), uri, experiment, str(page_size)]
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
    return float(answer["seconds"])
