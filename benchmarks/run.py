"""The benchmark suite of mlops-tui: `.venv/bin/python benchmarks/run.py [--quick]`.

Builds everything in a temporary directory (sqlite stores, a real `mlflow server` on 127.0.0.1,
XDG directories), then measures:

1. `mlops-tui models list --json` against the server, vs the same read through MlflowClient;
2. `mlops-tui runs list --json --limit 1000` vs MlflowClient and vs `mlflow runs list`;
3. the Runs pane's first page (and a metric filter) on a 5,000-run experiment through the Hub;
4. TUI start-up in a pseudo-terminal: first frame, then runs and models panes filled.

Prints the machine, then a table (median of N runs each), and writes benchmarks/results/latest.json.
Figures are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import hub_timing
import machine
import pty_timing
import setup_data
from common import (
    SCRIPTS,
    VENV_BIN,
    BenchmarkError,
    Result,
    expect_json_list,
    expect_lines,
    interleaved,
    isolated_env,
    median,
    median_of,
    timed_command,
)
from server import mlflow_server, request_seconds, stop

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
FILTER = "metrics.val_auc > 0.9"
DEMO_MODELS = 3
NEWEST_DEMO_RUN = "churn-logreg-018"


@dataclass(frozen=True)
class Plan:
    """How much work one invocation does."""

    quick: bool
    repeat: int
    runs_list: int
    """Runs in the experiment of measure 2."""
    runs_pane: int
    """Runs in the experiment of measure 3."""
    page_size: int = 100
    limit: int = 1000

    @property
    def warmup(self) -> bool:
        """One untimed run before the timed ones of each subprocess measure (not in quick mode)."""
        return not self.quick


@dataclass(frozen=True)
class Workspace:
    """The temporary directory's layout and the environments of the commands run in it."""

    root: Path
    db: Path
    artifacts: Path
    config: Path
    cli_env: dict[str, str]
    tui_env: dict[str, str]

    @classmethod
    def create(cls, root: Path) -> Workspace:
        for name in ("server", "cwd", "logs"):
            (root / name).mkdir()
        return cls(
            root=root,
            db=root / "server" / "mlflow.db",
            artifacts=root / "server" / "artifacts",
            config=root / "bench.toml",
            cli_env=isolated_env(root / "cli-home"),
            tui_env=isolated_env(root / "tui-home"),
        )

    @property
    def cwd(self) -> Path:
        """An empty working directory: no `./mlops-tui.toml` can be picked up."""
        return self.root / "cwd"

    @property
    def sqlite_uri(self) -> str:
        return f"sqlite:///{self.db}"

    def write_config(self, url: str) -> None:
        self.config.write_text(
            f'default_env = "bench"\n\n[environments.bench.mlflow]\ntracking_uri = "{url}"\n'
        )


def _n(count: int) -> str:
    return f"{count:,}"


def _guarded(results: list[Result], measure: str, body: Callable[[], list[Result]]) -> None:
    """Run one measure's body; a failure becomes a row with no value and the error as note."""
    try:
        results += body()
    except (BenchmarkError, OSError, ValueError, RuntimeError) as exc:
        print(f"  {measure}: FAILED: {exc}", file=sys.stderr)
        results.append(Result(measure, None, note=f"failed: {str(exc)[:300]}"))


def _progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


# -- set-up ------------------------------------------------------------------------------------


@contextmanager
def seeding_tui_store(ws: Workspace) -> Iterator[subprocess.Popen[bytes]]:
    """`mlops-tui demo --seed-only` into the TUI's XDG data directory, in the background."""
    log = (ws.root / "logs" / "demo-seed.log").open("wb")
    process = subprocess.Popen(
        [str(VENV_BIN / "mlops-tui"), "demo", "--seed-only"],
        env=ws.tui_env,
        cwd=ws.cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        stop(process)
        log.close()


def _wait_seeded(process: subprocess.Popen[bytes], ws: Workspace, timeout: float = 300) -> str:
    """Wait for the background `demo --seed-only`; return what went wrong, or "" when it worked."""
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"mlops-tui demo --seed-only took over {timeout:.0f} s"
    if code != 0:
        log = (ws.root / "logs" / "demo-seed.log").read_text(errors="replace")
        return f"mlops-tui demo --seed-only exited {code}: {log[-300:]}"
    return ""


def _matching_runs(ws: Workspace, experiment_id: str, threshold: float) -> int:
    with closing(sqlite3.connect(ws.db)) as con:
        (count,) = con.execute(
            "SELECT COUNT(*) FROM latest_metrics m JOIN runs r ON r.run_uuid = m.run_uuid "
            "WHERE r.experiment_id = ? AND m.key = 'val_auc' AND m.value > ?",
            (int(experiment_id), threshold),
        ).fetchone()
    return int(count)


# -- measures ----------------------------------------------------------------------------------


def _command(
    ws: Workspace, argv: list[str], check: Callable[[str], None], env: dict[str, str] | None = None
) -> Callable[[], float]:
    """A measure: the wall time of one run of `argv` in the workspace, its output checked."""
    return lambda: timed_command(argv, env=env or ws.cli_env, cwd=ws.cwd, check=check)


def measure_models(plan: Plan, ws: Workspace, url: str) -> list[Result]:
    """1. `models list --json` vs MlflowClient `search_registered_models()` vs bare httpx."""
    check = expect_json_list("models", DEMO_MODELS)
    ours = [str(VENV_BIN / "mlops-tui"), "models", "list", "--json", "--config", str(ws.config)]
    samples = interleaved(
        plan.repeat,
        {
            "ours": _command(ws, ours, check),
            "client": _command(ws, [sys.executable, str(SCRIPTS / "mlflowclient_models.py"), url], check),
            "httpx": _command(ws, [sys.executable, str(SCRIPTS / "httpx_models.py"), url], check),
        },
        warmup=plan.warmup,
    )
    client = samples["client"]
    return [
        Result("1  models list --json (server)", median(samples["ours"]), median(client),
               "MlflowClient script", "ratio<=0.25", samples=samples["ours"], anchor_samples=client),
        Result("1  models: bare httpx script (reference)", median(samples["httpx"]), median(client),
               "MlflowClient script", samples=samples["httpx"], anchor_samples=client),
    ]  # fmt: skip


def measure_runs_list(plan: Plan, ws: Workspace, url: str, name: str, exp_id: str) -> list[Result]:
    """2. `runs list --json --limit 1000` vs MlflowClient `search_runs` vs `mlflow runs list`.

    Also the REST call alone: the server's own share, which every client pays.
    """
    expected = min(plan.runs_list, plan.limit)
    check = expect_json_list("runs", expected)
    limit = str(plan.limit)
    ours = [str(VENV_BIN / "mlops-tui"), "runs", "list", "--json", "--limit", limit,
            "--experiment", name, "--config", str(ws.config)]  # fmt: skip
    client = [sys.executable, str(SCRIPTS / "mlflowclient_runs.py"), url, exp_id, limit]
    mlflow_cli = [str(VENV_BIN / "mlflow"), "runs", "list", "--experiment-id", exp_id]
    payload = {"experiment_ids": [exp_id], "max_results": plan.limit,
               "order_by": ["attributes.start_time DESC"]}  # fmt: skip
    samples = interleaved(
        plan.repeat,
        {
            "ours": _command(ws, ours, check),
            "client": _command(ws, client, check),
            "mlflow": _command(
                ws, mlflow_cli, expect_lines(expected), {**ws.cli_env, "MLFLOW_TRACKING_URI": url}
            ),
            "request": lambda: request_seconds(url, "runs/search", payload),
        },
        warmup=plan.warmup,
    )
    label = f"2  runs list --json --limit {plan.limit} ({_n(plan.runs_list)} runs, server)"
    ours_s, client_s, cli_s, floor = (samples[k] for k in ("ours", "client", "mlflow", "request"))
    return [
        Result(label, median(ours_s), median(client_s), "MlflowClient script", "ratio<=0.25",
               samples=ours_s, anchor_samples=client_s),
        Result(label, median(ours_s), median(cli_s), "mlflow runs list", "ratio<=0.3",
               samples=ours_s, anchor_samples=cli_s),
        Result("2  runs/search request alone (server's share, reference)", median(floor),
               median(client_s), "MlflowClient script", samples=floor, anchor_samples=client_s,
               note="one REST call on a fresh connection: the floor for any client"),
    ]  # fmt: skip


def measure_runs_pane(plan: Plan, ws: Workspace, url: str, name: str, exp_id: str) -> list[Result]:
    """3. The Runs pane's first page, plain and filtered, through the Hub: sqlite and server."""
    size = plan.page_size
    page = min(size, plan.runs_pane)
    filtered = min(size, _matching_runs(ws, exp_id, 0.9))
    where = f"{_n(plan.runs_pane)} runs"
    results = []
    for store, uri in (("sqlite", ws.sqlite_uri), ("server", url)):
        for what, filter_string, expected in (("first page", "", page), ("filter", FILTER, filtered)):
            samples = median_of(
                plan.repeat,
                lambda uri=uri, f=filter_string, e=expected: hub_timing.first_page_seconds(
                    uri, name, e, f, size
                ),
            )
            label = f"3  runs pane {what} ({where}, {store}, warm)"
            if filter_string:
                label = f"3  runs pane filter {filter_string} ({where}, {store}, warm)"
            results.append(Result(label, median(samples), target="value<=1.0", samples=samples))
        cold = median_of(
            plan.repeat,
            lambda uri=uri: hub_timing.cold_first_page_seconds(
                uri, name, page, ws.cli_env, ws.cwd, page_size=size
            ),
            warmup=False,
        )
        results.append(
            Result(
                f"3  runs pane first page ({where}, {store}, fresh process)",
                median(cold),
                note="fresh process: mlops-tui imports (and MLflow on sqlite) plus the read",
                samples=cold,
            )
        )
    return results


def measure_tui(plan: Plan, ws: Workspace) -> list[Result]:
    """4. `mlops-tui` in a 120x40 pseudo-terminal: first frame, then runs and models filled.

    In turns with the smallest Textual app, the floor of any Textual app's first frame here.
    """

    def ours() -> pty_timing.Startup:
        return pty_timing.time_startup(
            [str(VENV_BIN / "mlops-tui")],
            env=ws.tui_env,
            cwd=ws.cwd,
            first_frame=("local",),
            filled=(NEWEST_DEMO_RUN, "champion"),
        )

    def hello() -> pty_timing.Startup:
        return pty_timing.time_startup(
            [sys.executable, str(SCRIPTS / "textual_hello.py")],
            env=ws.tui_env,
            cwd=ws.cwd,
            first_frame=("local",),
            filled=(),
        )

    runs: list[pty_timing.Startup] = []
    hellos: list[pty_timing.Startup] = []
    for round_ in range(plan.repeat + plan.warmup):
        runs.append(ours())
        if runs[-1].first_frame is None:  # no UI at all: one failure says it all
            runs = runs[-1:]
            break
        hellos.append(hello())
        if plan.warmup and round_ == 0:
            runs.clear()
            hellos.clear()
    frames = [r.first_frame for r in runs if r.first_frame is not None]
    filled = [r.filled for r in runs if r.filled is not None]
    hello_frames = [h.first_frame for h in hellos if h.first_frame is not None]
    last = runs[-1]
    why = "" if frames and filled else f"n/a: {last.exit_status}; screen: {last.tail[-160:]!r}"
    return [
        Result(
            "4  TUI start-up: first frame (header `local`)",
            median(frames) if frames else None,
            target="value<=0.6",
            note=why if not frames else "",
            samples=frames,
        ),
        Result(
            f"4  TUI start-up: runs and models filled ({NEWEST_DEMO_RUN}, champion)",
            median(filled) if filled else None,
            note=why if not filled else "",
            samples=filled,
        ),
        Result(
            "4  minimal Textual app: first frame (reference)",
            median(hello_frames) if hello_frames else None,
            samples=hello_frames,
        ),
    ]


# -- report ------------------------------------------------------------------------------------


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f} s"


def table(results: list[Result]) -> str:
    """The results as an aligned text table: measure, value, anchor, ratio, target, met?"""
    header = ("measure", "value", "anchor", "ratio", "target", "met?")
    rows = [header]
    for r in results:
        anchor = f"{_seconds(r.anchor)} {r.anchor_name}" if r.anchor is not None else ""
        ratio = f"{r.ratio:.3f}" if r.ratio is not None else ""
        target = r.target.replace("value<=", "<= ").replace("ratio<=", "ratio <= ")
        target = target + " s" if r.target.startswith("value") else target
        met = {True: "yes", False: "NO", None: "-"}[r.met]
        rows.append((r.measure, _seconds(r.value), anchor, ratio, target, met))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = list(dict.fromkeys(f"  {r.measure.split()[0]}: {r.note}" for r in results if r.note))
    return "\n".join(lines + (["notes:", *notes] if notes else []))


def main(argv: list[str] | None = None) -> int:
    """Set up, measure, print the table and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, smaller data")
    parser.add_argument("--repeat", type=int, help="timed runs per measure (default 5, quick 2)")
    args = parser.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    plan = Plan(
        quick=args.quick,
        repeat=args.repeat or (2 if args.quick else 5),
        runs_list=200 if args.quick else 1000,
        runs_pane=1000 if args.quick else 5000,
    )
    started = time.perf_counter()
    info = machine.describe()
    print(machine.render(info), flush=True)
    mode = "quick: smaller data, " if plan.quick else ""
    warm = " after one warm-up run" if plan.warmup else ""
    print(f"\n({mode}median of {plan.repeat} runs{warm})\n", flush=True)

    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="mlops-tui-bench-") as tmp:
        ws = Workspace.create(Path(tmp))
        with seeding_tui_store(ws) as tui_seed:
            _progress("seeding the demo registry and bulk runs")
            setup_data.seed_demo(ws.db, ws.artifacts)
            list_name, pane_name = f"bench-{plan.runs_list}", f"bench-{plan.runs_pane}"
            list_id = setup_data.bulk_experiment(ws.db, ws.artifacts, list_name, plan.runs_list)
            pane_id = setup_data.bulk_experiment(ws.db, ws.artifacts, pane_name, plan.runs_pane)
            _progress("starting mlflow server")
            with mlflow_server(ws.db, ws.artifacts, ws.root / "logs" / "server.log", ws.cli_env) as url:
                seed_error = _wait_seeded(tui_seed, ws)
                _progress(f"set-up done at {time.perf_counter() - started:.0f} s")
                ws.write_config(url)
                _progress("measure 1: models list")
                _guarded(results, "1", lambda: measure_models(plan, ws, url))
                _progress("measure 2: runs list")
                _guarded(results, "2", lambda: measure_runs_list(plan, ws, url, list_name, list_id))
                _progress("measure 3: runs pane")
                _guarded(results, "3", lambda: measure_runs_pane(plan, ws, url, pane_name, pane_id))
        _progress("measure 4: TUI start-up")
        if seed_error:
            results.append(Result("4  TUI start-up", None, note=f"n/a: {seed_error}"))
        else:
            _guarded(results, "4", lambda: measure_tui(plan, ws))

    elapsed = time.perf_counter() - started
    print(table(results))
    load = machine.load_average()
    print(f"\ntotal time {elapsed:.0f} s; load average at start {info['load_average']}, at end {load}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": info,
                "quick": plan.quick,
                "repeat": plan.repeat,
                "data": {"runs_list_experiment": plan.runs_list, "runs_pane_experiment": plan.runs_pane},
                "elapsed_s": round(elapsed, 1),
                "load_average_end": load,
                "results": [r.as_json() for r in results],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"results written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
