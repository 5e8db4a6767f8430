"""The installed `mlops-tui` command: exit codes, stdout/stderr discipline, and golden JSON.

Every command runs the real console script in a subprocess, against the demo on a sqlite store and
on the real `mlflow server`.

Golden files (tests/golden/*.json) pin the JSON shapes and the demo's stable values; run ids,
registry timestamps and artifact paths are normalized first. After a deliberate change of the
output, regenerate them with:

    MLOPS_TUI_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_cli.py -k golden

and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from mlops_tui.config import MlflowSettings, starter_config
from mlops_tui.errors import ExitCode
from tests.conftest import DemoCommandRun
from tests.helpers import DEMO_RUNS, CliResult, closed_port, run_cli, write_config

GOLDEN = Path(__file__).parent / "golden"
UPDATE_GOLDEN = bool(os.environ.get("MLOPS_TUI_UPDATE_GOLDEN"))
CHAMPION_RUN = "churn-lgbm-016"  # the run behind churn v3, the champion


@pytest.fixture
def demo_config(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A config file with one environment `demo` on the demo data, over the transport named by
    indirect parametrization: `sqlite` (MlflowClient on a copy of the store) or `server`."""
    if request.param == "sqlite":
        store: MlflowSettings = request.getfixturevalue("demo_store")
        uri = store.tracking_uri
    else:
        uri = request.getfixturevalue("mlflow_server")
    return write_config(tmp_path / "demo.toml", {"demo": {"mlflow": {"tracking_uri": uri}}})


@pytest.fixture
def server_config(mlflow_server: str, tmp_path: Path) -> Path:
    return write_config(tmp_path / "server.toml", {"demo": {"mlflow": {"tracking_uri": mlflow_server}}})


def assert_failed(result: CliResult, code: ExitCode, *fragments: str) -> None:
    """A failure: the exit code, nothing on stdout, one line on stderr saying what went wrong."""
    assert result.code == code, result
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mlops-tui: ")
    for fragment in fragments:
        assert fragment in lines[0]


def ok(result: CliResult) -> CliResult:
    assert result.code == ExitCode.OK, result
    return result


# -- golden JSON ----------------------------------------------------------------------------------

_RUN_ID = re.compile(r"\b[0-9a-f]{32}\b")
_REGISTRY_TIMES = {"created", "updated"}  # written at seeding time, not derived from DEMO_NOW


def normalize(data: Any, artifacts: Path, key: str | None = None) -> Any:
    """Replace what differs from one seeding to the next: run ids, the registry's own timestamps
    and the artifact root (a tmp dir). Run times, metrics and histories come from DEMO_NOW and a
    fixed random seed, and stay."""
    if isinstance(data, dict):
        return {k: normalize(v, artifacts, k) for k, v in data.items()}
    if isinstance(data, list):
        return [normalize(v, artifacts) for v in data]
    if isinstance(data, str):
        if key in _REGISTRY_TIMES:
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", data), data
            return "<timestamp>"
        data = data.replace(artifacts.as_uri(), "<artifacts>")
        return _RUN_ID.sub("<run-id>", data)
    return data


def assert_golden(name: str, data: Any) -> None:
    path = GOLDEN / f"{name}.json"
    if UPDATE_GOLDEN:
        path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    assert path.exists(), f"{path} is missing; generate it with MLOPS_TUI_UPDATE_GOLDEN=1"
    assert data == json.loads(path.read_text()), f"output differs from {path.name}"


# Over both transports where the commands differ most (listing); the server alone for the rest:
# each sqlite invocation pays for importing MLflow (about 5 s).
@pytest.mark.parametrize(
    ("golden", "args", "demo_config"),
    [
        ("models_list", ["models", "list", "--json"], "sqlite"),
        ("models_list", ["models", "list", "--json"], "server"),
        ("runs_list_limit_3", ["runs", "list", "--limit", "3", "--json"], "sqlite"),
        ("runs_list_limit_3", ["runs", "list", "--limit", "3", "--json"], "server"),
        ("models_show_churn", ["models", "show", "churn", "--json"], "server"),
    ],
    indirect=["demo_config"],
)
def test_golden_json(demo_config: Path, demo_store_template: Path, golden: str, args: list[str]) -> None:
    result = ok(run_cli(*args, "--config", demo_config))
    assert result.stderr == ""
    assert_golden(golden, normalize(result.json(), demo_store_template / "artifacts"))


@pytest.mark.parametrize("demo_config", ["server"], indirect=True)
def test_golden_json_runs_show(
    demo_config: Path, demo_store_template: Path, demo_run_ids: dict[str, str]
) -> None:
    run_id = demo_run_ids[CHAMPION_RUN]
    result = ok(run_cli("runs", "show", run_id, "--json", "--config", demo_config))
    data = result.json()
    assert data["run"]["id"] == run_id and data["model_versions"][0]["run_id"] == run_id
    assert_golden("runs_show_champion", normalize(data, demo_store_template / "artifacts"))


def test_json_goes_to_stdout_alone(server_config: Path) -> None:
    result = ok(run_cli("runs", "list", "--limit", "1000", "--json", "--config", server_config))
    data = result.json()  # the whole of stdout parses
    assert result.stderr == ""
    assert data["environment"] == "demo" and data["next_page_token"] is None
    assert len(data["runs"]) == DEMO_RUNS


def test_runs_list_filter_and_experiment(server_config: Path) -> None:
    result = ok(
        run_cli(
            "runs",
            "list",
            "--json",
            "--config",
            server_config,
            "--experiment",
            "fraud-detection",
            "--filter",
            "params.algorithm = 'xgb'",
        )
    )
    runs = result.json()["runs"]
    assert len(runs) == 7
    assert {(r["experiment"], r["params"]["algorithm"]) for r in runs} == {("fraud-detection", "xgb")}


def test_models_list_filter(server_config: Path) -> None:
    result = ok(run_cli("models", "list", "--json", "--filter", "dem", "--config", server_config))
    assert [m["name"] for m in result.json()["models"]] == ["demand"]


def test_root_options_apply_to_subcommands(server_config: Path) -> None:
    result = ok(run_cli("--config", server_config, "--env", "demo", "models", "list", "--json"))
    assert result.json()["environment"] == "demo"


# -- tables ---------------------------------------------------------------------------------------


def test_tables_for_people(server_config: Path, demo_run_ids: dict[str, str]) -> None:
    models = ok(run_cli("models", "list", "--config", server_config)).stdout
    churn = next(line for line in models.splitlines() if line.startswith("churn"))
    assert "challenger=v4" in churn and "champion=v3" in churn and "v4" in churn
    demand = next(line for line in models.splitlines() if line.startswith("demand"))
    assert "Production=v2" in demand and "Staging=v3" in demand

    show = ok(run_cli("models", "show", "churn", "--config", server_config)).stdout
    # The title over the table's left edge, not centred over its ~250 columns.
    assert show.startswith("churn: Churn model served to the churn service.")
    assert "validation_status=passed" in show and "champion" in show
    assert " ready " in show and "READY" not in show  # statuses in lower case, as in the TUI

    run_id = demo_run_ids[CHAMPION_RUN]
    runs = ok(run_cli("runs", "list", "--limit", "5", "--config", server_config)).stdout
    assert "churn-logreg-018" in runs and "running" in runs and "RUNNING" not in runs
    assert len(runs.strip().splitlines()) == 6  # a header and five runs
    # The most common metrics of the page as columns, as the Runs pane shows them.
    header = runs.splitlines()[0].split()
    assert header[:6] == ["RUN", "ID", "NAME", "EXPERIMENT", "STATUS", "STARTED"]
    assert len(header) == 10 and header[7:] == ["train_loss", "val_loss", "drift_psi"], header

    detail = ok(run_cli("runs", "show", run_id, "--config", server_config)).stdout
    assert run_id in detail and CHAMPION_RUN in detail and "churn-training" in detail
    assert "learning_rate" in detail and "val_auc" in detail
    assert re.search(r"churn\s+3\s+champion", detail)


def test_runs_list_shows_the_configured_key_metrics(mlflow_server: str, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "c.toml",
        {"demo": {"mlflow": {"tracking_uri": mlflow_server, "key_metrics": ["val_auc", "train_loss"]}}},
    )
    runs = ok(run_cli("runs", "list", "--limit", "3", "--experiment", "churn-training", "--config", config))
    assert runs.stdout.splitlines()[0].split()[-2:] == ["val_auc", "train_loss"]
    assert re.search(r"0\.\d{2,4}\s+\S+\s*$", runs.stdout.splitlines()[1])  # a value under each


def test_a_deleted_run_and_infinite_metrics(demo_store: MlflowSettings, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=demo_store.tracking_uri)
    experiment = client.get_experiment_by_name("churn-training")
    assert experiment is not None
    run = client.create_run(experiment.experiment_id, run_name="diverged")
    for key, value in (("loss", float("inf")), ("gain", float("-inf")), ("score", float("nan"))):
        client.log_metric(run.info.run_id, key, value)
    client.set_terminated(run.info.run_id, "FAILED")
    client.delete_run(run.info.run_id)
    config = write_config(
        tmp_path / "c.toml", {"local": {"mlflow": {"tracking_uri": demo_store.tracking_uri}}}
    )
    shown = ok(run_cli("runs", "show", run.info.run_id, "--config", config)).stdout
    assert re.search(r"status\s+failed \(deleted\)", shown), shown
    metrics = {
        line.split()[0]: line.split()[1]
        for line in shown.splitlines()
        if line.split()[:1] in (["loss"], ["gain"], ["score"])
    }
    assert metrics == {"loss": "inf", "gain": "-inf", "score": "nan"}, shown
    assert "1.798e+308" not in shown


def test_help_lines_are_not_cut() -> None:
    import click
    from click.testing import CliRunner

    from mlops_tui.cli import root

    groups = [((), root)]
    while groups:
        path, group = groups.pop()
        result = CliRunner().invoke(root, [*path, "--help"], terminal_width=80)
        assert result.exit_code == 0, result.output
        cut = [line for line in result.output.splitlines() if line.endswith("...") and "Usage:" not in line]
        assert cut == [], f"mlops-tui {' '.join(path)} --help"
        assert isinstance(group, click.Group)
        groups.extend(
            ((*path, name), command)
            for name, command in group.commands.items()
            if isinstance(command, click.Group)
        )


# -- exit codes and diagnostics -------------------------------------------------------------------


def test_bad_filter_is_a_usage_error(server_config: Path) -> None:
    result = run_cli("runs", "list", "--json", "--filter", "metrics.val_auc >>> 1", "--config", server_config)
    assert_failed(result, ExitCode.USAGE, "mlflow:", ">>>")


def test_unknown_environment(server_config: Path) -> None:
    result = run_cli("models", "list", "--json", "--env", "prd", "--config", server_config)
    assert_failed(result, ExitCode.USAGE, "unknown environment 'prd'", "demo")


def test_bad_config(tmp_path: Path) -> None:
    bad = write_config(tmp_path / "bad.toml", {"dev": {"mlflow": {"tracking_urix": "http://x"}}})
    result = run_cli("models", "list", "--json", "--config", bad)
    assert_failed(result, ExitCode.USAGE, str(bad), "environments.dev.mlflow.tracking_urix")


def test_config_syntax_error_found_by_search(tmp_path: Path) -> None:
    (tmp_path / "mlops-tui.toml").write_text("[environments.dev\n")
    result = run_cli("runs", "list")
    assert_failed(result, ExitCode.USAGE, "mlops-tui.toml", "not valid TOML")


def test_missing_config_file(tmp_path: Path) -> None:
    result = run_cli("models", "list", "--config", tmp_path / "nope.toml")
    assert_failed(result, ExitCode.USAGE, "nope.toml", "not found")


def test_unknown_model(server_config: Path) -> None:
    assert_failed(run_cli("models", "show", "nope", "--config", server_config), ExitCode.FAILED, "nope")
    result = run_cli("models", "show", "nope", "--json", "--config", server_config)
    assert_failed(result, ExitCode.FAILED, "not found")


def test_unknown_run(server_config: Path) -> None:
    result = run_cli("runs", "show", "0" * 32, "--json", "--config", server_config)
    assert_failed(result, ExitCode.FAILED, "0" * 32)


def test_unknown_experiment(server_config: Path) -> None:
    result = run_cli("runs", "list", "--experiment", "nope", "--config", server_config)
    assert_failed(result, ExitCode.FAILED, "nope")


def test_unreachable_server(tmp_path: Path) -> None:
    port = closed_port()
    config = write_config(
        tmp_path / "down.toml", {"down": {"mlflow": {"tracking_uri": f"http://127.0.0.1:{port}"}}}
    )
    for args in (["models", "list", "--json"], ["runs", "list"], ["runs", "show", "abc"]):
        result = run_cli(*args, "--config", config)
        assert_failed(result, ExitCode.UNREACHABLE, f"127.0.0.1:{port}")


def test_command_line_mistakes_are_usage_errors(server_config: Path) -> None:
    result = run_cli("runs", "list", "--limit", "0", "--config", server_config)
    assert result.code == ExitCode.USAGE and result.stdout == ""
    assert "--limit" in result.stderr
    result = run_cli("models", "frobnicate")
    assert result.code == ExitCode.USAGE and "frobnicate" in result.stderr


def test_help_and_version() -> None:
    result = ok(run_cli("--help"))
    assert all(word in result.stdout for word in ("runs", "models", "config", "demo"))
    assert "0.1.0" in ok(run_cli("--version")).stdout


# -- config commands ------------------------------------------------------------------------------


def test_config_check_prints_environments_not_secrets(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "c.toml",
        {
            "dev": {"mlflow": {"tracking_uri": "http://127.0.0.1:5000", "token_env": "DEV_TOKEN"}},
            "prd": {"protected": True, "mlflow": {"tracking_uri": "https://mlflow.example.com"}},
        },
        default_env="dev",
    )
    secret = {"DEV_TOKEN": "tok-SECRET-123"}
    result = ok(run_cli("config", "check", "--config", config, env=secret))
    assert f"# {config}: valid" in result.stdout
    assert "[environments.dev.mlflow]" in result.stdout and "[environments.prd]" in result.stdout
    assert 'token_env = "DEV_TOKEN"' in result.stdout and "protected = true" in result.stdout
    assert "tok-SECRET-123" not in result.stdout + result.stderr

    as_json = ok(run_cli("config", "check", "--json", "--config", config, env=secret))
    data = as_json.json()
    assert (data["path"], data["default_env"]) == (str(config), "dev")
    assert sorted(data["environments"]) == ["dev", "prd"]
    assert data["environments"]["prd"]["protected"] is True
    assert "tok-SECRET-123" not in as_json.stdout + as_json.stderr


def test_config_check_follows_the_env_var(tmp_path: Path) -> None:
    config = write_config(tmp_path / "elsewhere.toml", {"qa": {"read_only": True}})
    result = ok(run_cli("config", "check", env={"MLOPS_TUI_CONFIG": str(config)}))
    assert str(config) in result.stdout and "[environments.qa]" in result.stdout


def test_config_check_without_a_file_shows_the_local_environment(tmp_path: Path) -> None:
    result = ok(run_cli("config", "check"))
    assert "built-in local environment" in result.stdout
    assert f"sqlite:///{tmp_path / 'xdg_data_home' / 'mlops-tui' / 'mlflow.db'}" in result.stdout


def test_config_check_of_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[environments.dev.mlflow]\ntracking_uri = "http://x"\ntoken = "hunter2"\n')
    result = run_cli("config", "check", "--config", bad)
    assert_failed(result, ExitCode.USAGE, "environments.dev.mlflow.token", "token_env")
    assert "hunter2" not in result.stderr


def test_config_check_prints_toml_that_reads_back(tmp_path: Path) -> None:
    import tomllib

    builtin = tomllib.loads(ok(run_cli("config", "check")).stdout)
    assert builtin["default_env"] == "local"
    assert [rule["name"] for rule in builtin["environments"]["local"]["rules"]] == [
        "ChampionAucLow",
        "FeatureDrift",
    ]
    config = write_config(
        tmp_path / "c.toml",
        {
            "dev": {
                "models": ["churn", "fraud"],
                "mlflow": {"tracking_uri": "http://127.0.0.1:5000", "key_metrics": ["val_auc"]},
                "alertmanager": {"url": "http://am:9093", "filters": ['env="prd"', "team='ml'"]},
            }
        },
        keymap={"refresh": "f5"},
        operator="Zoë",
    )
    # toml_document writes no arrays of tables: the rules are appended as one.
    config.write_text(
        config.read_text()
        + '\n[[environments.dev.rules]]\nname = "Drift"\nmetric = "drift_psi"\nop = ">"\n'
        + 'threshold = 0.2\n[environments.dev.rules.labels]\nteam = "ml"\n'
    )
    printed = ok(run_cli("config", "check", "--config", config)).stdout
    resolved = tomllib.loads(printed)
    assert resolved["operator"] == "Zoë" and resolved["keymap"] == {"refresh": "f5"}
    dev = resolved["environments"]["dev"]
    assert dev["models"] == ["churn", "fraud"]
    assert dev["alertmanager"]["filters"] == ['env="prd"', "team='ml'"]
    assert dev["rules"][0]["labels"] == {"team": "ml"} and dev["rules"][0]["threshold"] == 0.2


def test_config_check_reports_every_error_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        "[keymap]\n"
        'nosuchbinding = "x"\n'
        "\n"
        "[environments.dev]\n"
        "protectd = true\n"
        "\n"
        "[environments.dev.mlflow]\n"
        'tracking_uri = "ftp://example.com/x"\n'
        "timeout_seconds = -1\n"
        "page_size = 0\n"
    )
    result = run_cli("config", "check", "--config", bad)
    assert result.code == ExitCode.USAGE and result.stdout == ""
    lines = result.stderr.splitlines()
    assert [line.split(", key ")[0] for line in lines] == [
        f"mlops-tui: {bad}:{n}" for n in (2, 5, 8, 9, 10)
    ], result.stderr
    assert "keymap.nosuchbinding: unknown key binding id" in lines[0]
    assert "environments.dev.protectd: unknown key" in lines[1]
    assert "environments.dev.mlflow.tracking_uri: unsupported scheme" in lines[2] and "ftp://" in lines[2]
    assert "environments.dev.mlflow.timeout_seconds" in lines[3] and "> 0" in lines[3]
    assert "environments.dev.mlflow.page_size" in lines[4] and ">= 1" in lines[4]


def test_config_init_keeps_the_demo_environment(demo_command_seeded: DemoCommandRun) -> None:
    ok(demo_command_seeded.result)
    ok(run_cli("models", "promote", "churn", "4", "--yes"))  # filed under `local` in the journal
    init = ok(run_cli("config", "init"))
    assert "built-in `local` environment stays" in init.stderr
    listed = ok(run_cli("--env", "local", "models", "list", "--json")).json()
    assert {m["name"] for m in listed["models"]} == {"churn", "fraud", "demand"}
    history = ok(run_cli("history", "--json")).json()["entries"]
    assert [(e["environment"], e["target"]) for e in history] == [("local", "churn@champion")]
    status = run_cli("status")
    assert status.stdout.splitlines()[1].split()[0] == "local"
    assert "demand v2" in status.stdout  # kept in stages: its Production version serves
    dev = run_cli("status", "--env", "dev", env={"MLFLOW_TRACKING_TOKEN": "t", "GITLAB_TOKEN": "t"})
    row = dev.stdout.splitlines()[1]
    assert dev.code == ExitCode.UNREACHABLE and "mlflow unreachable" in row and "unknown" not in row, dev


def test_config_locate(tmp_path: Path) -> None:
    result = run_cli("config", "locate")
    assert result.code == ExitCode.FAILED and result.stdout == ""
    assert "no config file" in result.stderr

    xdg = write_config(tmp_path / "xdg_config_home" / "mlops-tui" / "config.toml", {"x": {}})
    assert ok(run_cli("config", "locate")).stdout == f"{xdg}\n"
    here = write_config(tmp_path / "mlops-tui.toml", {"y": {}})
    assert ok(run_cli("config", "locate")).stdout == f"{here}\n"
    named = write_config(tmp_path / "named.toml", {"z": {}})
    assert ok(run_cli("config", "locate", env={"MLOPS_TUI_CONFIG": str(named)})).stdout == f"{named}\n"
    assert ok(run_cli("config", "locate", "--config", xdg)).stdout == f"{xdg}\n"

    gone = run_cli("config", "locate", "--config", tmp_path / "gone.toml")
    assert_failed(gone, ExitCode.USAGE, "gone.toml")


def test_config_init(tmp_path: Path) -> None:
    target = tmp_path / "new" / "mlops-tui.toml"
    result = ok(run_cli("config", "init", target))
    assert result.stdout == f"{target}\n"
    assert target.read_text() == starter_config()
    check = ok(run_cli("config", "check", "--config", target))
    assert all(f"[environments.{name}]" in check.stdout for name in ("dev", "qa", "prd"))

    target.write_text("# mine\n")
    refused = run_cli("config", "init", target)
    assert_failed(refused, ExitCode.USAGE, "exists", "--force")
    assert target.read_text() == "# mine\n"

    ok(run_cli("config", "init", target, "--force"))
    assert target.read_text() == starter_config()


def test_config_init_default_location(tmp_path: Path) -> None:
    result = ok(run_cli("config", "init"))
    expected = tmp_path / "xdg_config_home" / "mlops-tui" / "config.toml"
    assert result.stdout == f"{expected}\n" and expected.is_file()
    assert ok(run_cli("config", "locate")).stdout == f"{expected}\n"


# -- demo -----------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_demo_seeds_once_and_resets(demo_command_seeded: DemoCommandRun, tmp_path: Path) -> None:
    # The first run, in empty directories, is the session's; this test goes on from its data.
    first = ok(demo_command_seeded.result)
    assert first.stdout == ""
    assert (
        f"Seeded local (sqlite:///{demo_command_seeded.store}): 3 experiments, {DEMO_RUNS} runs, "
        "10 model versions." in first.stderr
    )
    assert demo_command_seeded.store.is_file()
    store = tmp_path / "xdg_data_home" / "mlops-tui" / "mlflow.db"

    again = ok(run_cli("demo", "--seed-only"))
    assert "already" in again.stderr and "Seeded" not in again.stderr

    listed = ok(run_cli("runs", "list", "--limit", "1000", "--json"))
    data = listed.json()
    assert data["environment"] == "local" and len(data["runs"]) == DEMO_RUNS

    # Seeding again into a store that still held the demo would have said "already".
    reset = ok(run_cli("demo", "--reset", "--seed-only"))
    assert f"Seeded local (sqlite:///{store}): 3 experiments, {DEMO_RUNS} runs" in reset.stderr
