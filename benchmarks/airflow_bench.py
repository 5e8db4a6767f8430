"""Airflow at scale: `.venv/bin/python benchmarks/airflow_bench.py [--runs N] [--repeat N]`.

Starts a real Airflow 3 as the tests do (tests/helpers/airflow.py, `.venv-airflow` installed by
./scripts/test), seeds N finished runs of one DAG (default 10,000) through Airflow's own models
in its venv (`seed_runs`, tests/airflow_dags/seed_runs.py), then measures, median of `--repeat` runs:

A. the Pipelines pane's first page through `Hub.pipelines()` (what the pane asks): in a fresh Hub
   (API version, JWT and the page) and again in the same Hub; one page is held, not 10,000 runs;
B. `mlops-tui pipelines list --json` vs the same read and output through `apache-airflow-client`
   (benchmarks/scripts/airflowclient_runs.py, in a venv of its own, `.venv-airflow-client`, made
   here with uv when missing), in turns, whole processes;
C. a retrain through Airflow (`[retrain] kind = "airflow"`: `plan_retrain`, then the source's
   `start`) and the time from the trigger's return until the pane's read (`Hub.pipelines()`, first
   page, polled back to back in the same Hub) lists the new run, beside the Pipelines pane's refresh
   interval for Airflow (its backend's `refresh_in`): within one refresh or not.

Figures are printed, never asserted (see benchmarks/README.md, "Airflow").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import write_config  # noqa: E402
from tests.helpers.airflow import ADMIN_PASSWORD_ENV, running_airflow, seed_runs  # noqa: E402

from common import (  # noqa: E402
    SCRIPTS,
    VENV_BIN,
    BenchmarkError,
    expect_json_list,
    interleaved,
    isolated_env,
    median,
    timed_command,
)
from mlops_tui.config import load_settings  # noqa: E402
from mlops_tui.hub import Hub  # noqa: E402
from mlops_tui.ops.pipelines import plan_retrain  # noqa: E402

CLIENT_VENV = ROOT / ".venv-airflow-client"
CLIENT_VERSION = "3.3.2"
"""apache-airflow-client, the release of the Airflow the tests pin."""
DAG = "slow"
LIST_LIMIT = 30
"""`pipelines list`'s default --limit."""
PAGE = 50
"""The Pipelines pane's page (`page_size`'s default)."""
TRIGGER_CONF = {"lines": "1"}
"""The triggered runs of `DAG` write one line and end: they take little from the measures after."""
LISTED_WITHIN = 60.0
"""Seconds a triggered run may take to be listed before the benchmark gives up."""


def client_python() -> Path:
    """The interpreter of the client's venv, made with uv the first time."""
    python = CLIENT_VENV / "bin" / "python"
    if not python.exists():
        uv = shutil.which("uv") or "uv"
        subprocess.run([uv, "venv", "--quiet", str(CLIENT_VENV)], check=True)
        subprocess.run(
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--python",
                str(python),
                f"apache-airflow-client=={CLIENT_VERSION}",
            ],
            check=True,
        )
    return python


async def first_page(config: Path, repeat: int) -> tuple[list[float], list[float], int]:
    """Samples of the pane's first page in a fresh Hub and in the same Hub, and the rows held."""
    settings = load_settings(config)
    fresh: list[float] = []
    again: list[float] = []
    held = 0
    for _ in range(repeat + 1):  # the first round warms the server's caches, untimed
        hub = Hub(settings)
        try:
            started = time.perf_counter()
            answer = await hub.pipelines()
            fresh.append(time.perf_counter() - started)
            started = time.perf_counter()
            answer = await hub.pipelines()
            again.append(time.perf_counter() - started)
            answer.raise_failures()
            held = len(answer.items)
        finally:
            await hub.aclose()
    if held != PAGE:
        raise BenchmarkError(f"expected a page of {PAGE} runs, got {held}")
    return fresh[1:], again[1:], held


async def trigger_to_listing(config: Path, repeat: int) -> tuple[list[float], float]:
    """Seconds from each retrain trigger's return to the first pane read listing its run, and the
    Pipelines pane's refresh interval in this environment."""
    hub = Hub(load_settings(config))
    try:
        # What the dashboard does: the pane refreshes as often as its first feeding backend asks.
        feeder = next(backend for backend in hub.backends if backend.feeds("pipelines"))
        interval = feeder.refresh_in(hub.env)
        latencies: list[float] = []
        for _ in range(repeat):
            action = plan_retrain(hub, "bench", {})
            await action.current()  # refuses a paused DAG, as the write policy would
            await action.apply()
            returned = time.perf_counter()
            if action.started is None:
                raise BenchmarkError("the retrain started no run")
            while True:
                answer = await hub.pipelines()
                answer.raise_failures()
                seen = time.perf_counter() - returned
                if any(pipeline.id == action.started.id for pipeline in answer.items):
                    latencies.append(seen)
                    break
                if seen > LISTED_WITHIN:
                    raise BenchmarkError(f"run {action.started.id} not listed after {seen:.0f} s")
    finally:
        await hub.aclose()
    return latencies, interval


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000, help="DAG runs to seed")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measure")
    args = parser.parse_args(argv)
    client = client_python()
    with tempfile.TemporaryDirectory(prefix="mlops-bench-airflow-") as tmp:
        work = Path(tmp)
        (work / "airflow").mkdir()
        print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)
        with running_airflow(
            work / "airflow", mlflow_uri="http://127.0.0.1:9", trainer_python=sys.executable
        ) as server:
            print(f"Airflow ready in {server.startup_seconds:.0f} s", flush=True)
            seconds = seed_runs(server, args.runs, DAG)
            print(f"seeded {args.runs:,} DAG runs in {seconds:.1f} s", flush=True)
            config = write_config(
                work / "mlops-tui.toml",
                {
                    "bench": {
                        "airflow": {
                            "url": server.url,
                            "dags": [DAG],
                            "username": "admin",
                            "password_env": ADMIN_PASSWORD_ENV,
                            "timeout_seconds": 60,
                        },
                        "retrain": {"kind": "airflow", "dag": DAG, "conf": TRIGGER_CONF},
                    }
                },
                journal=str(work / "journal.db"),
            )
            env = isolated_env(work / "home", {ADMIN_PASSWORD_ENV: server.passwords["admin"]})
            os.environ[ADMIN_PASSWORD_ENV] = server.passwords["admin"]
            fresh, again, held = asyncio.run(first_page(config, args.repeat))
            check = expect_json_list("pipelines", LIST_LIMIT)
            ours = [str(VENV_BIN / "mlops-tui"), "pipelines", "list", "--json", "--config", str(config)]
            anchor = [str(client), str(SCRIPTS / "airflowclient_runs.py"), server.url, DAG, "admin"]
            anchor += [ADMIN_PASSWORD_ENV, str(LIST_LIMIT)]
            samples = interleaved(
                args.repeat,
                {
                    "ours": lambda: timed_command(ours, env=env, cwd=work, check=check),
                    "client": lambda: timed_command(anchor, env=env, cwd=work, check=check),
                },
            )
            print(f"load average before C: {os.getloadavg()[0]:.1f}", flush=True)
            latencies, interval = asyncio.run(trigger_to_listing(config, args.repeat))
        print(f"load average at end: {os.getloadavg()[0]:.1f}")
    ratio = median(samples["ours"]) / median(samples["client"])
    rows = [
        ("A  Pipelines first page, fresh Hub (version, JWT, page)", f"{median(fresh):.3f} s", "<= 1 s"),
        ("A  Pipelines first page, same Hub again", f"{median(again):.3f} s", "<= 1 s"),
        (f"A  rows held of {args.runs:,} runs", str(held), f"one page ({PAGE})"),
        ("B  mlops-tui pipelines list --json", f"{median(samples['ours']):.3f} s", ""),
        ("B  apache-airflow-client script", f"{median(samples['client']):.3f} s", ""),
        ("B  ratio", f"{ratio:.3f}", "<= 0.25"),
        ("C  retrain trigger to first listing (median)", f"{median(latencies):.3f} s", ""),
        ("C  retrain trigger to first listing (worst)", f"{max(latencies):.3f} s", ""),
        ("C  Pipelines pane refresh interval (Airflow)", f"{interval:.1f} s", ""),
        (
            "C  within one refresh",
            "yes" if max(latencies) <= interval else "no",
            "worst <= refresh interval",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>9}  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
