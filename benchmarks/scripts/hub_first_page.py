"""A pane's first page in a fresh process: imports, MLflow import (SQL stores) and the read.

Usage: python hub_first_page.py TRACKING_URI runs|models EXPERIMENT PAGE_SIZE [FILTER]
Prints JSON: {"seconds": from after the standard library imports to the page, "count": rows,
"peak_rss_mb": the process's peak resident memory (VmHWM)}.
"""

import asyncio
import json
import logging
import sys
import time
import warnings
from pathlib import Path

START = time.perf_counter()

# Timed from here: mlops-tui's imports, and MLflow's when the store is SQL.
from mlops_tui.config import EnvironmentSettings, MlflowSettings, Settings  # noqa: E402
from mlops_tui.hub import Hub  # noqa: E402


async def first_page(uri: str, pane: str, experiment: str, page_size: int, filter_string: str) -> int:
    mlflow = MlflowSettings(tracking_uri=uri, experiments=[experiment], page_size=page_size)
    settings = Settings(environments={"bench": EnvironmentSettings(mlflow=mlflow)}, default_env="bench")
    hub = Hub(settings)
    try:
        read = hub.runs if pane == "runs" else hub.models
        page = await read(filter_string)
    finally:
        await hub.aclose()
    return len(page.items)


def main() -> None:
    uri, pane, experiment, page_size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    filter_string = sys.argv[5] if len(sys.argv) > 5 else ""
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    count = asyncio.run(first_page(uri, pane, experiment, page_size, filter_string))
    seconds = time.perf_counter() - START
    status = Path("/proc/self/status").read_text()
    peak_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    json.dump({"seconds": seconds, "count": count, "peak_rss_mb": peak_kb / 1024}, sys.stdout)


if __name__ == "__main__":
    main()
