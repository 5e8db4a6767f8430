"""The Runs pane's first page in a fresh process: imports, MLflow import (SQL stores) and the read.

Usage: python hub_first_page.py TRACKING_URI EXPERIMENT PAGE_SIZE [FILTER]
Prints JSON: {"seconds": from after the standard library imports to the page, "count": rows}.
"""

import asyncio
import json
import logging
import sys
import time
import warnings

START = time.perf_counter()

# Timed from here: mlops-tui's imports, and MLflow's when the store is SQL.
from mlops_tui.config import EnvironmentSettings, MlflowSettings, Settings  # noqa: E402
from mlops_tui.hub import Hub  # noqa: E402


async def first_page(uri: str, experiment: str, page_size: int, filter_string: str) -> int:
    mlflow = MlflowSettings(tracking_uri=uri, experiments=[experiment], page_size=page_size)
    settings = Settings(environments={"bench": EnvironmentSettings(mlflow=mlflow)}, default_env="bench")
    hub = Hub(settings)
    try:
        page = await hub.runs(filter_string)
    finally:
        await hub.aclose()
    return len(page.items)


def main() -> None:
    uri, experiment, page_size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    filter_string = sys.argv[4] if len(sys.argv) > 4 else ""
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    count = asyncio.run(first_page(uri, experiment, page_size, filter_string))
    json.dump({"seconds": time.perf_counter() - START, "count": count}, sys.stdout)


if __name__ == "__main__":
    main()
