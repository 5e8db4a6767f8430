"""The benchmark suite of mlops-tui: `.venv/bin/python benchmarks/run.py [--quick]`.

Builds everything in a temporary directory (sqlite stores, two real `mlflow server`s, the GitLab
fake of the tests as a process, a real Alertmanager, XDG directories), then measures, each beside
its anchor where there is one (see benchmarks/README.md):

1. `mlops-tui models list --json` against the server, vs the same read through MlflowClient;
2. `mlops-tui runs list --json --limit 1000` vs MlflowClient and vs `mlflow runs list`;
3. `mlops-tui status --json`;
4. scale: first page and filter of the Runs pane (100,000 runs) and the Models pane (1,000 models),
   and the peak memory of a fresh process reading them;
5. TUI start-up on the demo: first frame, every pane filled; idle CPU and bytes;
6. TUI start-up on server + GitLab + Alertmanager, and on the scale data;
7. idle: CPU with default refresh intervals, bytes written by a refresh that changes nothing;
8. isolation: one backend answering 3 s late does not delay the other panes;
9. connection handling against the MLflow server: fresh vs kept-alive connections;
10. headless reads on a SQLite store (the embedded kind), vs the same reads through MlflowClient;
11. serving metrics: 20 models' headline series against a real Prometheus seeded with a day of
    data, one query per series template vs one per model; `status --json` over them;
12. a 7-day range at 5-minute steps (2,016 points) drawn by the TUI's chart renderer.

Prints the machine, then a table (median of N runs each), and writes benchmarks/results/latest.json.
Figures are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

import machine
import metrics_measures
import scale
import setup_data
import tui_measures
from common import (
    SCRIPTS,
    VENV_BIN,
    BenchmarkError,
    Result,
    expect_json_list,
    expect_lines,
    interleaved,
    median,
    timed_command,
)
from server import mlflow_server, request_seconds, stop
from services import (
    GITLAB_PROJECT,
    GITLAB_TOKEN_ENV,
    DelayProxy,
    alertmanager,
    alertmanager_available,
    gitlab_server,
    gitlab_token,
    post_alerts,
)
from workspace import Plan, Workspace

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
DEMO_MODELS = 3
ALERT_NAME = "BenchModelDrift"
"""The alert fired into Alertmanager."""
RULE_NAME = "ChampionAucLow"
RULES = f"""
[[environments.bench.rules]]
name = "{RULE_NAME}"
metric = "val_auc"
op = "<"
threshold = 0.88
models = ["churn"]
severity = "critical"
"""
"""A local rule on the demo registry's churn champion, as the demo environment has: it fires."""


def _n(count: int) -> str:
    return f"{count:,}"


def _guarded(results: list[Result], measure: str, body: Callable[[], list[Result]]) -> None:
    """Run one measure's body; a failure becomes a row with no value and the error as note."""
    _progress(f"measure {measure}")
    try:
        results += body()
    except (BenchmarkError, OSError, ValueError, RuntimeError, httpx.HTTPError) as exc:
        print(f"  {measure}: FAILED: {exc}", file=sys.stderr)
        results.append(Result(measure, None, note=f"failed: {str(exc)[:300]}"))


def _progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def alertmanager_supported() -> bool:
    """Whether this build has the Alertmanager source."""
    import importlib.util

    return importlib.util.find_spec("mlops_tui.sources.alertmanager") is not None


def status_supported() -> bool:
    from mlops_tui.cli.app import root

    return "status" in root.commands


# -- set-up ------------------------------------------------------------------------------------


@contextmanager
def background(
    argv: list[str], log: Path, env: dict[str, str], cwd: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A set-up step running meanwhile; stopped on the way out if it has not ended."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            stop(process)


def wait_step(process: subprocess.Popen[bytes], log: Path, what: str, timeout: float = 600) -> None:
    """Wait for a background set-up step.

    Raises:
        BenchmarkError: it failed or took too long.
    """
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchmarkError(f"{what} took over {timeout:.0f} s") from None
    if code != 0:
        raise BenchmarkError(f"{what} exited {code}: {log.read_text(errors='replace')[-300:]}")


def _seeded(process: subprocess.Popen[bytes], log: Path, what: str) -> BenchmarkError | None:
    """Wait for a background set-up step: what went wrong with it, if anything."""
    try:
        wait_step(process, log, what)
    except BenchmarkError as exc:
        return exc
    return None


def _seed_demo_tui(ws: Workspace) -> list[str]:
    """The demo store of the TUI's `local` environment, and one local training run in it."""
    tui = str(VENV_BIN / "mlops-tui")
    return ["sh", "-c", f'"{tui}" demo --seed-only && "{tui}" retrain churn --yes']


def _newest_run_id(url: str, experiment_id: str) -> str:
    answer = httpx.post(
        f"{url}/api/2.0/mlflow/runs/search",
        json={
            "experiment_ids": [experiment_id],
            "max_results": 1,
            "order_by": ["attributes.start_time DESC"],
        },
        timeout=30,
    )
    answer.raise_for_status()
    return str(answer.json()["runs"][0]["info"]["run_id"])


def _metric_changer(url: str, run_id: str) -> Callable[[int], None]:
    """Something that changes one row of the Runs pane: the newest run's `val_auc`, a new value each
    time."""

    def change(round_: int) -> None:
        httpx.post(
            f"{url}/api/2.0/mlflow/runs/log-metric",
            json={"run_id": run_id, "key": "val_auc", "value": 0.5 + round_ / 100,
                  "timestamp": int(time.time() * 1000), "step": 100 + round_},
            timeout=30,
        ).raise_for_status()  # fmt: skip

    return change


# -- measures ----------------------------------------------------------------------------------


def _command(
    ws: Workspace, argv: list[str], check: Callable[[str], None], env: dict[str, str] | None = None
) -> Callable[[], float]:
    """A measure: the wall time of one run of `argv` in the workspace, its output checked."""
    return lambda: timed_command(argv, env=env or ws.cli_env, cwd=ws.cwd, check=check)


def measure_models(plan: Plan, ws: Workspace, url: str) -> list[Result]:
    """1. `models list --json` vs MlflowClient `search_registered_models()` vs bare httpx."""
    check = expect_json_list("models", DEMO_MODELS)
    ours = [str(VENV_BIN / "mlops-tui"), "models", "list", "--json", "--config", str(ws.configs["headless"])]
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
            "--experiment", name, "--config", str(ws.configs["headless"])]  # fmt: skip
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


def measure_status(plan: Plan, ws: Workspace, url: str) -> list[Result]:
    """3. `mlops-tui status --json` on the full environment (MLflow server, GitLab, Alertmanager)."""
    if not status_supported():
        return [Result("3  status --json", None, note="not available: this build has no `status` command")]
    ours = [str(VENV_BIN / "mlops-tui"), "status", "--json", "--config", str(ws.configs["full"])]
    client = [sys.executable, str(SCRIPTS / "mlflowclient_models.py"), url]
    samples = interleaved(
        plan.repeat,
        {
            # `status` exits 1 when degraded: the rule fires and the fake holds failed pipelines.
            "ours": lambda: timed_command(ours, env=ws.cli_env, cwd=ws.cwd, check=_status_json, ok=(0, 1)),
            "client": _command(ws, client, expect_json_list("models", DEMO_MODELS)),
        },
        warmup=plan.warmup,
    )
    ours_s, client_s = samples["ours"], samples["client"]
    sources = "server + GitLab + rules" + (" + Alertmanager" if alertmanager_supported() else "")
    return [Result(f"3  status --json ({sources})", median(ours_s), median(client_s),
                   "MlflowClient registry script", "ratio<=0.25", samples=ours_s, anchor_samples=client_s,
                   note="status reads more than the anchor: every source, the alerts, the failed "
                   "pipelines and each model's serving version")]  # fmt: skip


def measure_sqlite(plan: Plan, ws: Workspace, name: str, exp_id: str) -> list[Result]:
    """10. Headless reads on the embedded kind of store, a SQLite file (the demo registry and the
    runs of the list experiment), each beside the same read through MlflowClient on that file."""
    uri = f"sqlite:///{ws.db}"
    config = str(ws.write_config("sqlite", uri, experiment=name))
    limit = str(plan.limit)
    models_check = expect_json_list("models", DEMO_MODELS)
    runs_check = expect_json_list("runs", min(plan.runs_list, plan.limit))
    mlops = str(VENV_BIN / "mlops-tui")
    measures = {
        "models": _command(ws, [mlops, "models", "list", "--json", "--config", config], models_check),
        "models-client": _command(
            ws, [sys.executable, str(SCRIPTS / "mlflowclient_models.py"), uri], models_check
        ),
        "runs": _command(
            ws, [mlops, "runs", "list", "--json", "--limit", limit, "--config", config], runs_check
        ),
        "runs-client": _command(
            ws, [sys.executable, str(SCRIPTS / "mlflowclient_runs.py"), uri, exp_id, limit], runs_check
        ),
        "show": _command(ws, [mlops, "models", "show", "churn", "--json", "--config", config], _any_json),
        "status": lambda: timed_command(
            [mlops, "status", "--json", "--config", config],
            env=ws.cli_env,
            cwd=ws.cwd,
            check=_status_json,
            ok=(0, 1),
        ),
    }
    samples = interleaved(plan.repeat, measures, warmup=plan.warmup)
    models_anchor, runs_anchor = samples["models-client"], samples["runs-client"]
    return [
        Result("10 models list --json (sqlite)", median(samples["models"]), median(models_anchor),
               "MlflowClient script", "ratio<=0.25, value<=0.4", samples=samples["models"],
               anchor_samples=models_anchor),
        Result(f"10 runs list --json --limit {limit} (sqlite)", median(samples["runs"]), median(runs_anchor),
               "MlflowClient script", "ratio<=0.25, value<=0.4", samples=samples["runs"],
               anchor_samples=runs_anchor),
        Result("10 models show churn --json (sqlite)", median(samples["show"]), median(models_anchor),
               "MlflowClient models script", "ratio<=0.25, value<=0.4", samples=samples["show"],
               anchor_samples=models_anchor),
        Result("10 status --json (sqlite + rules)", median(samples["status"]), median(models_anchor),
               "MlflowClient models script", "ratio<=0.25, value<=0.4", samples=samples["status"],
               anchor_samples=models_anchor),
    ]  # fmt: skip


def _any_json(stdout: str) -> None:
    try:
        json.loads(stdout)
    except ValueError as exc:
        raise BenchmarkError(f"expected JSON, got {stdout[:200]!r}") from exc


def _status_json(stdout: str) -> None:
    try:
        environments = json.loads(stdout)["environments"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BenchmarkError(f"expected the status JSON, got {stdout[:200]!r}") from exc
    if len(environments) != 1:
        raise BenchmarkError(f"expected one environment, got {len(environments)}")


# -- report ------------------------------------------------------------------------------------


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "%":
        return f"{value:.2f} %"
    return f"{value:,.0f} {unit}"


def _target(result: Result) -> str:
    return ", ".join(_one_target(target, result.unit) for target in result.target.split(", ") if target)


def _one_target(target: str, unit: str) -> str:
    relation = "<=" if "<=" in target else "<"
    kind, limit = target.split(relation)
    if kind == "ratio":
        return f"ratio {relation} {limit}"
    bound = _value(float(limit), unit)
    return f"+{bound} at most" if kind == "delta" else f"{relation} {bound}"


def table(results: list[Result]) -> str:
    """The results as an aligned text table: measure, value, anchor, ratio, target, met?"""
    header = ("measure", "value", "anchor", "ratio / delta", "target", "met?")
    rows = [header]
    for r in results:
        anchor = f"{_value(r.anchor, r.unit)} {r.anchor_name}" if r.anchor is not None else ""
        ratio = f"{r.ratio:.3f}" if r.ratio is not None else ""
        if r.target.startswith("delta") and r.delta is not None:
            ratio = f"{r.delta:+.3f} s" if r.unit == "s" else f"{r.delta:+,.0f} {r.unit}"
        met = {True: "yes", False: "NO", None: "-"}[r.met]
        rows.append((r.measure, _value(r.value, r.unit), anchor, ratio, _target(r), met))
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
        scale_runs=10_000 if args.quick else 100_000,
        scale_models=200 if args.quick else 1000,
        idle_seconds=15.0 if args.quick else 60.0,
    )
    started = time.perf_counter()
    info = machine.describe()
    print(machine.render(info), flush=True)
    mode = "quick: smaller data, " if plan.quick else ""
    warm = " after one warm-up run" if plan.warmup else ""
    print(f"\n({mode}median of {plan.repeat} runs{warm})\n", flush=True)

    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="mlops-tui-bench-") as tmp, ExitStack() as stack:
        ws = Workspace.create(Path(tmp), {GITLAB_TOKEN_ENV: gitlab_token()})
        list_name, scale_name = f"bench-{plan.runs_list}", f"bench-{plan.scale_runs}"
        _progress("seeding: demo store of the TUI, scale store, demo registry and bulk runs")
        tui_seed = stack.enter_context(
            background(_seed_demo_tui(ws), ws.log("demo-seed.log"), ws.tui_env, ws.cwd)
        )
        scale_seed = stack.enter_context(
            background(
                [sys.executable, str(Path(setup_data.__file__)), str(ws.scale_db), str(ws.scale_artifacts),
                 scale_name, str(plan.scale_runs), str(plan.scale_models)],
                ws.log("scale-seed.log"), ws.cli_env, ws.cwd,
            )
        )  # fmt: skip
        setup_data.seed_demo(ws.db, ws.artifacts)
        list_id = setup_data.bulk_experiment(ws.db, ws.artifacts, list_name, plan.runs_list)
        _progress("starting the services")
        url = stack.enter_context(mlflow_server(ws.db, ws.artifacts, ws.log("server.log"), ws.cli_env))
        gitlab = stack.enter_context(gitlab_server(plan.pipelines, ws.log("gitlab.log"), ws.cli_env))
        am_url = None
        if alertmanager_available():
            am_url = stack.enter_context(alertmanager(ws.root / "alertmanager", ws.log("alertmanager.log")))
            labels = {"alertname": ALERT_NAME, "model": "churn", "severity": "warning"}
            # Firing for the whole run: without an end, Alertmanager resolves it after 5 minutes.
            ends = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
            post_alerts(
                am_url, [{"labels": labels, "annotations": {"summary": "churn drift"}, "endsAt": ends}]
            )
        slow_gitlab = stack.enter_context(DelayProxy(gitlab.url, plan.slow_seconds))
        slow_mlflow = stack.enter_context(DelayProxy(url, plan.slow_seconds))
        ws.write_config("headless", url)
        for name, mlflow_url, gitlab_url in (
            ("full", url, gitlab.url),
            ("slow-gitlab", url, slow_gitlab.url),
            ("slow-mlflow", slow_mlflow.url, gitlab.url),
        ):
            ws.write_config(name, mlflow_url, experiment=list_name, gitlab=gitlab_url,
                            gitlab_project=GITLAB_PROJECT, gitlab_token_env=GITLAB_TOKEN_ENV,
                            alertmanager=am_url, rules=RULES)  # fmt: skip
        markers = tui_measures.Markers(
            runs=setup_data.newest_run_name(plan.runs_list),
            models="champion",
            pipelines=f"gitlab {gitlab.newest_pipeline}",
            alerts=ALERT_NAME if am_url and alertmanager_supported() else RULE_NAME,
        )
        # Nothing is timed while a store is still being seeded beside it (a quarter of a core).
        _progress("waiting for the stores being seeded")
        tui_seeded = _seeded(tui_seed, ws.log("demo-seed.log"), "the demo seed of the TUI store")
        scale_seeded = _seeded(scale_seed, ws.log("scale-seed.log"), "seeding the scale store")
        _progress(f"set-up done at {time.perf_counter() - started:.0f} s")

        _guarded(results, "1", lambda: measure_models(plan, ws, url))
        _guarded(results, "2", lambda: measure_runs_list(plan, ws, url, list_name, list_id))
        _guarded(results, "3", lambda: measure_status(plan, ws, url))
        _guarded(results, "10", lambda: measure_sqlite(plan, ws, list_name, list_id))
        _guarded(results, "9", lambda: tui_measures.connection_rows(url, 20))
        _guarded(results, "6", lambda: tui_measures.measure_full_startup(plan, ws, markers, ALERT_NAME))
        _guarded(results, "7", lambda: tui_measures.measure_idle(
            plan, ws, markers, _metric_changer(url, _newest_run_id(url, list_id))))  # fmt: skip
        _guarded(results, "8", lambda: tui_measures.measure_isolation(plan, ws, markers))
        _guarded(results, "11", lambda: metrics_measures.measure_headlines(
            plan.repeat, plan.quick, ws.root / "metrics", ws.cli_env, warmup=plan.warmup))  # fmt: skip
        _guarded(results, "12", lambda: metrics_measures.measure_chart(plan.repeat))
        try:
            if tui_seeded is not None:
                raise tui_seeded
            _guarded(results, "5", lambda: tui_measures.measure_demo_startup(plan, ws))
            _guarded(results, "5", lambda: tui_measures.measure_demo_idle(plan, ws))
        except BenchmarkError as exc:
            results.append(Result("5  TUI demo start-up", None, note=f"n/a: {exc}"))
        try:
            if scale_seeded is not None:
                raise scale_seeded
            scale_url = stack.enter_context(
                mlflow_server(ws.scale_db, ws.scale_artifacts, ws.log("scale-server.log"), ws.cli_env)
            )
            ws.write_config("scale", scale_url, experiment=scale_name)
            scale_id = setup_data.experiment_id(ws.scale_db, scale_name)
            _guarded(results, "4", lambda: scale.measure_scale(plan, ws, scale_url, scale_name, scale_id))
            _guarded(results, "6", lambda: tui_measures.measure_scale_tui(
                plan, ws, setup_data.newest_run_name(plan.scale_runs), setup_data.model_name(0)))  # fmt: skip
        except BenchmarkError as exc:
            results.append(Result("4  scale", None, note=f"n/a: {exc}"))

    results.sort(key=lambda r: r.measure.split()[0])
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
                "data": {
                    "runs_list_experiment": plan.runs_list,
                    "scale_experiment": plan.scale_runs,
                    "scale_models": plan.scale_models,
                },
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
