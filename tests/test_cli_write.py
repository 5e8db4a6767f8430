"""Headless write commands through the installed console script: plans, approval, the one policy,
exit codes, and the journal as `history` shows it.

Most commands run against `writable_server` (a real `mlflow server` whose registry is put back to
the demo's before each test): over HTTP a command needs no MLflow import and takes well under a
second. One test goes through a sqlite store. What the registry holds is read back through MLflow's
own client. `run_cli` fails the test on any Python traceback on stderr.
"""

from __future__ import annotations

import inspect
import json
import re
import tomllib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import pytest

from mlops_tui.cli.app import root
from mlops_tui.config import MlflowSettings
from mlops_tui.domain import Change, PlanArguments
from mlops_tui.errors import ExitCode
from mlops_tui.ops.journal import Journal
from tests.fakes.gitlab_server import TOKEN, FakeGitlab
from tests.fakes.vertex_server import FakeVertex, seed_churn
from tests.helpers import CliResult, Registry, run_cli, write_config
from tests.helpers.airflow import ADMIN_PASSWORD_ENV, AirflowServer
from tests.test_airflow import held_paused

OPERATOR = "ci-bot"
RULES = [{"name": "ChampionAucLow", "metric": "val_auc", "op": "<", "threshold": 2.0, "models": ["churn"]}]
"""A local alert rule that fires on the demo's churn champion: something to silence."""
CHAMPION_HISTORY = "mlops_tui.history.alias.champion"
PLAN_METRICS = [
    "  metric: drift_psi 0.1275 (v3: 0.1289)",
    "  metric: train_loss 0.1566 (v3: 0.1585)",
    "  metric: val_auc 0.9089 (v3: 0.8782)",
]
"""What a plan of churn v4 says beside the summary: no key_metrics, so the three most common."""
PLAN_JSON_METRICS = {
    "metrics": [
        {"metric": "drift_psi", "value": 0.1275, "current": 0.1289, "regressed": False},
        {"metric": "train_loss", "value": 0.1566, "current": 0.1585, "regressed": False},
        {"metric": "val_auc", "value": 0.9089, "current": 0.8782, "regressed": False},
    ],
    "warnings": [],
    "gates": None,
    "checks": [],
}
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    """Where the commands keep the journal when the config names none."""
    return tmp_path / "xdg_state_home" / "mlops-tui" / "journal.sqlite3"


def config_for(
    tmp_path: Path,
    uri: str,
    gitlab: str | None = None,
    vertex: str | None = None,
    **environments: dict[str, Any],
) -> Path:
    """A config with `dev` on `uri` (the default) and `environments`, each on `uri` too; with
    `gitlab`, every environment's pipelines and retraining are that GitLab's `ml/models`; with
    `vertex`, every environment serves on that Vertex AI (`churn-endpoint`)."""
    pipelines: dict[str, Any] = {}
    if gitlab is not None:
        pipelines = {
            "gitlab": {"url": gitlab, "project": "ml/models", "token_env": "GITLAB_TOKEN"},
            "retrain": {"kind": "gitlab", "variables": {"MODEL_NAME": "{model}"}},
        }
    if vertex is not None:
        pipelines["vertex"] = {
            "project": "acme-ml",
            "location": "us-central1",
            "endpoints": ["churn-endpoint"],
            "api_endpoint": vertex,
            "credentials": "anonymous",
        }
    tables = {"dev": {"mlflow": {"tracking_uri": uri}, **pipelines, "rules": RULES}}
    for name, table in environments.items():
        mlflow = {"tracking_uri": uri, **table.pop("mlflow", {})}
        tables[name] = {**table, "mlflow": mlflow, **pipelines, "rules": RULES}
    return write_config(tmp_path / "mlops-tui.toml", tables, default_env="dev", operator=OPERATOR)


@pytest.fixture
def gitlab() -> Iterator[FakeGitlab]:
    """A GitLab with one failed pipeline (1) to retry and one running (2) to cancel."""
    with FakeGitlab() as server:
        project = server.add_project("ml/models")
        server.add_pipeline(project["id"], status="failed", pipeline_id=1)
        server.add_pipeline(project["id"], status="running", pipeline_id=2)
        yield server


@pytest.fixture
def vertex() -> Iterator[FakeVertex]:
    """A Vertex AI whose `churn-endpoint` splits 11=90 12=10."""
    with FakeVertex("acme-ml", "us-central1") as server:
        seed_churn(server)
        yield server


@pytest.fixture
def config(tmp_path: Path, writable_server: str, gitlab: FakeGitlab, vertex: FakeVertex) -> Path:
    return config_for(
        tmp_path,
        writable_server,
        gitlab.url,
        vertex.url,
        prd={"protected": True},
        ro={"read_only": True},
        stage={"mlflow": {"promotion": "stage"}},
        copy={"protected": True, "mlflow": {"registered_model": "prod.{name}"}},
    )


@pytest.fixture
def registry(writable_server: str) -> Registry:
    """The demo registry with no history of promotions (the demo seeds one for churn's champion),
    so each test writes its own."""
    registry = Registry(writable_server)
    registry.client.delete_registered_model_tag("churn", CHAMPION_HISTORY)
    return registry


def journaled(journal_path: Path) -> list[tuple[str, str, str]]:
    """(environment, target, result) of every journal entry, newest first."""
    if not journal_path.exists():
        return []
    journal = Journal(journal_path)
    try:
        return [(e.environment, e.target, e.result) for e in journal.entries()]
    finally:
        journal.close()


def refused(result: CliResult, *fragments: str) -> None:
    """Exit 4 and one line on stderr saying why."""
    assert result.code == ExitCode.REFUSED, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlops-tui: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], result.stderr


def ok(result: CliResult) -> CliResult:
    assert result.code == ExitCode.OK, result
    return result


# -- promote --------------------------------------------------------------------------------------


def test_promote_without_yes_prints_the_plan_and_changes_nothing(
    config: Path, registry: Registry, journal_path: Path
) -> None:
    before = registry.snapshot()
    result = run_cli("models", "promote", "churn", "4", "--config", config)
    refused(result, "not approved: promote churn@champion in dev: v3 -> v4", "--yes")
    assert result.stdout.splitlines() == [
        "plan: promote churn@champion in dev: v3 -> v4",
        *PLAN_METRICS,
    ]

    as_json = run_cli("models", "promote", "churn", "4", "--json", "--config", config)
    refused(as_json, "not approved")
    assert as_json.json() == {
        "environment": "dev",
        "action": "promote",
        "target": "churn@champion",
        "before": "v3",
        "after": "v4",
        "details": [],
        **PLAN_JSON_METRICS,
        "result": "planned",
    }
    assert registry.snapshot() == before
    assert journaled(journal_path) == []


def test_dry_run(config: Path, registry: Registry, journal_path: Path) -> None:
    before = registry.snapshot()
    result = ok(run_cli("models", "promote", "churn", "4", "--dry-run", "--json", "--config", config))
    assert result.stderr == ""
    assert result.json() == {
        "environment": "dev",
        "action": "promote",
        "target": "churn@champion",
        "before": "v3",
        "after": "v4",
        "details": [],
        **PLAN_JSON_METRICS,
        "result": "dry-run",
    }
    text = ok(run_cli("models", "promote", "churn", "4", "--dry-run", "--yes", "--config", config))
    assert text.stdout.splitlines() == ["would promote churn@champion in dev: v3 -> v4", *PLAN_METRICS]
    assert registry.snapshot() == before
    assert journaled(journal_path) == []


def test_promote_with_yes_then_again(config: Path, registry: Registry, journal_path: Path) -> None:
    result = ok(run_cli("models", "promote", "churn", "4", "--yes", "--config", config))
    assert result.stdout == "done: promote churn@champion in dev: v3 -> v4\n" and result.stderr == ""
    assert registry.aliases("churn") == {"champion": "4", "challenger": "4"}
    assert registry.history("churn") == ["3"]
    assert registry.version("churn", "4").tags["mlops_tui.promoted_by"] == OPERATOR
    assert journaled(journal_path) == [("dev", "churn@champion", "ok")]

    again = ok(run_cli("models", "promote", "churn", "v4", "--yes", "--config", config))
    assert again.stdout == "churn@champion is already v4\n"
    as_json = ok(run_cli("models", "promote", "churn", "4", "--json", "--config", config))
    assert as_json.json()["result"] == "unchanged"
    assert registry.history("churn") == ["3"]
    assert journaled(journal_path) == [("dev", "churn@champion", "ok")]


def test_models_show_after_a_promotion_lists_our_bookkeeping_tags_last(config: Path) -> None:
    ok(run_cli("models", "promote", "churn", "4", "--yes", "--config", config))
    table = ok(run_cli("models", "show", "churn", "--config", config)).stdout.splitlines()
    header, row = table[1], next(line for line in table if line.startswith("4 "))
    stage_column = row[header.index("STAGE") : header.index("STATUS")]
    assert stage_column.strip() == ""  # MLflow's `None` stage is not shown
    assert "None" not in "\n".join(table)
    tags = row[header.index("TAGS") :]
    assert tags.startswith("trained_by=") and "mlops_tui.promoted_by=ci-bot" in tags, tags
    assert tags.index("validation_status=") < tags.index("mlops_tui."), tags


def test_promote_on_a_sqlite_store(tmp_path: Path, demo_store: MlflowSettings, journal_path: Path) -> None:
    config = config_for(tmp_path, demo_store.tracking_uri)
    result = ok(run_cli("models", "promote", "fraud", "3", "--yes", "--json", "--config", config))
    assert result.json()["result"] == "ok" and result.json()["target"] == "fraud@champion"
    assert Registry(demo_store.tracking_uri).aliases("fraud") == {"champion": "3"}
    assert journaled(journal_path) == [("dev", "fraud@champion", "ok")]


def test_stage_mode(config: Path, registry: Registry) -> None:
    result = ok(
        run_cli(
            "models",
            "promote",
            "demand",
            "3",
            "--archive-existing",
            "--yes",
            "--env",
            "stage",
            "--config",
            config,
        )
    )
    assert result.stdout == "done: promote demand:Production in stage: v2 -> v3\n"
    assert registry.stages("demand") == {"1": "Archived", "2": "Archived", "3": "Production"}
    back = ok(run_cli("models", "rollback", "demand", "--yes", "--env", "stage", "--config", config))
    assert back.stdout == "done: rollback demand:Production in stage: v3 -> v2\n"
    assert registry.stages("demand") == {"1": "Archived", "2": "Production", "3": "Archived"}


def test_protected_environment_needs_the_model_name(
    config: Path, registry: Registry, journal_path: Path
) -> None:
    before = registry.snapshot()
    for confirm in ([], ["--confirm", "fraud"]):
        result = run_cli(
            "models", "promote", "churn", "4", "--env", "prd", "--yes", *confirm, "--config", config
        )
        refused(result, "prd is protected", "'churn'", "--confirm")
        assert result.stdout == ""
    assert registry.snapshot() == before
    assert journaled(journal_path) == []

    ok(
        run_cli(
            "models",
            "promote",
            "churn",
            "4",
            "--env",
            "prd",
            "--yes",
            "--confirm",
            "churn",
            "--config",
            config,
        )
    )
    assert registry.aliases("churn")["champion"] == "4"
    assert journaled(journal_path) == [("prd", "churn@champion", "ok")]


def test_promote_to_another_environment(config: Path, registry: Registry, journal_path: Path) -> None:
    before = registry.snapshot()
    result = run_cli("models", "promote", "churn", "4", "--to-env", "copy", "--yes", "--config", config)
    refused(result, "copy is protected", "'churn'")
    assert registry.snapshot() == before

    result = ok(
        run_cli(
            "models",
            "promote",
            "churn",
            "4",
            "--to-env",
            "copy",
            "--yes",
            "--confirm",
            "churn",
            "--json",
            "--config",
            config,
        )
    )
    data = result.json()
    assert (data["environment"], data["target"], data["before"], data["result"]) == (
        "copy",
        "prod.churn@challenger",
        None,
        "ok",
    )
    assert registry.aliases("prod.churn") == {"challenger": "1"}
    copy = registry.version("prod.churn", "1")
    assert copy.tags["mlops_tui.source"] == "dev/churn/4"
    assert copy.run_id == registry.version("churn", "4").run_id
    assert registry.aliases("churn") == {"champion": "3", "challenger": "4"}
    assert journaled(journal_path) == [("copy", "prod.churn@challenger", "ok")]

    stage = run_cli(
        "models", "promote", "churn", "4", "--to-env", "copy", "--stage", "Production", "--config", config
    )
    assert stage.code == ExitCode.USAGE and "--stage does not apply" in stage.stderr


def test_mistakes(config: Path, registry: Registry, journal_path: Path) -> None:
    before = registry.snapshot()
    bad_stage = run_cli("models", "promote", "demand", "3", "--stage", "Prod", "--yes", "--config", config)
    assert bad_stage.code == ExitCode.USAGE and bad_stage.stdout == ""
    assert "unknown stage 'Prod'" in bad_stage.stderr

    for args, named in (
        (["promote", "nope", "1"], "nope"),
        (["promote", "churn", "9"], "version=9"),
        (["rollback", "nope"], "nope"),
    ):
        unknown = run_cli("models", *args, "--yes", "--config", config)
        assert unknown.code == ExitCode.FAILED and unknown.stdout == "", unknown
        assert unknown.stderr.startswith("mlops-tui: mlflow: ") and named in unknown.stderr, unknown

    unknown_env = run_cli("models", "promote", "churn", "4", "--to-env", "qa", "--yes", "--config", config)
    assert unknown_env.code == ExitCode.USAGE and "unknown environment 'qa'" in unknown_env.stderr
    assert registry.snapshot() == before
    assert journaled(journal_path) == []


# -- rollback and history -------------------------------------------------------------------------


def test_rollback_and_history(config: Path, registry: Registry, journal_path: Path) -> None:
    none_yet = run_cli("models", "rollback", "churn", "--yes", "--config", config)
    refused(none_yet, "no history for churn@champion in dev")

    ok(run_cli("models", "promote", "churn", "4", "--yes", "--config", config))
    plan = run_cli("models", "rollback", "churn", "--config", config)
    refused(plan, "not approved")
    assert plan.stdout == "plan: rollback churn@champion in dev: v4 -> v3\n"
    result = ok(run_cli("models", "rollback", "churn", "--yes", "--config", config))
    assert result.stdout == "done: rollback churn@champion in dev: v4 -> v3\n"
    assert registry.aliases("churn")["champion"] == "3"
    assert registry.history("churn") == []

    history = ok(run_cli("history", "--json", "--config", config))
    assert history.stderr == ""
    entries = history.json()["entries"]
    for entry in entries:
        assert ISO_TIME.fullmatch(entry.pop("time")) and ISO_TIME.fullmatch(entry.pop("finished"))
    assert entries == [
        {
            "id": 3,  # the intent's row: intents and outcomes share the numbering
            "operator": OPERATOR,
            "environment": "dev",
            "action": "rollback",
            "target": "churn@champion",
            "before": "v4",
            "after": "v3",
            "result": "ok",
            "message": "source of history: registry tag",
        },
        {
            "id": 1,
            "operator": OPERATOR,
            "environment": "dev",
            "action": "promote",
            "target": "churn@champion",
            "before": "v3",
            "after": "v4",
            "result": "ok",
            "message": "",
        },
    ]

    table = ok(run_cli("history", "--config", config)).stdout
    assert "rollback" in table and "source of history: registry tag" in table and OPERATOR in table


def test_history_filters(config: Path) -> None:
    ok(run_cli("models", "promote", "fraud", "3", "--yes", "--config", config))
    ok(
        run_cli(
            "models",
            "promote",
            "churn",
            "4",
            "--env",
            "prd",
            "--yes",
            "--confirm",
            "churn",
            "--config",
            config,
        )
    )

    def targets(*args: str) -> list[tuple[str, str]]:
        result = ok(run_cli("history", "--json", *args, "--config", config))
        return [(e["environment"], e["target"]) for e in result.json()["entries"]]

    assert targets() == [("dev", "fraud@champion")]
    assert targets("--env", "prd") == [("prd", "churn@champion")]
    assert targets("--all-envs") == [("prd", "churn@champion"), ("dev", "fraud@champion")]
    assert targets("--all-envs", "--model", "churn") == [("prd", "churn@champion")]
    assert targets("--model", "churn") == []
    assert targets("--all-envs", "--limit", "1") == [("prd", "churn@champion")]


# -- no way past the policy -----------------------------------------------------------------------


def write_commands() -> dict[str, click.Command]:
    """Every command of the tree that takes `--yes`: the mark `_write_options` puts on writes."""
    found: dict[str, click.Command] = {}

    def walk(group: click.Group, path: tuple[str, ...]) -> None:
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                walk(command, (*path, name))
            elif any("--yes" in p.opts for p in command.params if isinstance(p, click.Option)):
                found[" ".join((*path, name))] = command

    walk(root, ())
    return found


GITLAB_ENV = {"GITLAB_TOKEN": TOKEN}

WRITE_ARGS = {
    "models promote": ["churn", "2"],
    "models rollback": ["churn"],
    "retrain": ["churn"],
    "pipelines retry": ["1"],
    "pipelines cancel": ["2"],
    "pipelines pause": ["airflow:slow"],
    "pipelines unpause": ["airflow:paused"],  # paused since its creation
    "alerts silence": ['alertname="ChampionAucLow"', "--duration", "2h", "--comment", "retraining"],
    "alerts expire": ["{silence}"],
    "endpoints traffic": ["churn-endpoint", "--split", "11=50", "--split", "12=50"],
    "endpoints rollback": ["churn-endpoint"],
    "endpoints undeploy": ["churn-endpoint", "12"],
    "approvals approve": ["{request}"],
}
"""Valid arguments of each write command, for a registry where churn's champion is v4 and its
history tag holds v3, and a journal where churn-endpoint's traffic was moved from 11=50 12=50 (so
that rollbacks have somewhere to go); `{silence}` is an active silence of the environment,
`{request}` another operator's request to promote churn v2 there. A write
command missing here fails `test_no_way_past_the_policy` below."""

WRITE_COMMANDS = sorted(write_commands())
AIRFLOW_WRITES = {"pipelines pause", "pipelines unpause"}
"""Write commands only Airflow can do: their cells add the session's real Airflow to every
environment of the config (and are marked `airflow`)."""


def with_airflow(config: Path, server: AirflowServer) -> Path:
    """`config` with every environment's `[airflow]` the session's Airflow, as its admin."""
    environments = tomllib.loads(config.read_text(encoding="utf-8"))["environments"]
    tables = "".join(
        f'\n[environments.{name}.airflow]\nurl = "{server.url}"\nusername = "admin"\n'
        f'password_env = "{ADMIN_PASSWORD_ENV}"\ntimeout_seconds = 30\n'
        for name in environments
    )
    config.write_text(config.read_text(encoding="utf-8") + tables, encoding="utf-8")
    return config


SCENARIOS: dict[str, tuple[Callable[[list[str], list[str]], list[str]], str]] = {
    "root --read-only": (lambda path, args: ["--read-only", *path, *args, "--yes"], "dev is read-only"),
    "command --read-only": (lambda path, args: [*path, *args, "--read-only", "--yes"], "dev is read-only"),
    "env read_only = true": (
        lambda path, args: [*path, *args, "--env", "ro", "--yes", "--confirm", "churn"],
        "ro is read-only",
    ),
    "protected without --confirm": (
        lambda path, args: [*path, *args, "--env", "prd", "--yes"],
        "prd is protected",
    ),
}


def test_the_write_commands_are_found() -> None:
    assert {"models promote", "models rollback"} <= set(WRITE_COMMANDS)
    for name, command in write_commands().items():
        options = {opt for p in command.params for opt in p.opts}
        assert {"--yes", "--confirm", "--dry-run", "--read-only"} <= options, name


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize(
    "command",
    [pytest.param(c, marks=pytest.mark.airflow) if c in AIRFLOW_WRITES else c for c in WRITE_COMMANDS],
)
def test_no_way_past_the_policy(
    command: str,
    scenario: str,
    config: Path,
    registry: Registry,
    journal_path: Path,
    gitlab: FakeGitlab,
    vertex: FakeVertex,
    request: pytest.FixtureRequest,
) -> None:
    if command not in WRITE_ARGS:
        pytest.fail(f"write command `{command}` has no arguments in WRITE_ARGS: add them so it is tested")
    cli_env = GITLAB_ENV
    if command in AIRFLOW_WRITES:
        airflow: AirflowServer = request.getfixturevalue("airflow_server")
        config = with_airflow(config, airflow)
        cli_env = {**GITLAB_ENV, ADMIN_PASSWORD_ENV: airflow.passwords["admin"]}
        dag = WRITE_ARGS[command][0].removeprefix("airflow:")
        paused_before = held_paused(airflow, dag)
    registry.client.set_registered_model_alias("churn", "champion", "4")
    registry.client.set_registered_model_tag(
        "churn", CHAMPION_HISTORY, json.dumps([{"version": "3", "by": "x", "at": "2026-11-01T00:00:00Z"}])
    )
    journal = Journal(journal_path)
    for env in ("dev", "ro", "prd"):
        moved = Change(
            "traffic", env, "endpoint churn-endpoint (1001)", "churn-endpoint", "11=50 12=50", "11=90 12=10"
        )
        journal.outcome(journal.intent(moved, OPERATOR), "ok")
    journal.close()
    before = registry.snapshot()
    argv, reason = SCENARIOS[scenario]
    args = WRITE_ARGS[command]
    if "{silence}" in args:
        args = [silence_in_every_environment(config) if a == "{silence}" else a for a in args]
    if "{request}" in args:
        line = argv(command.split(), [])
        environment = line[line.index("--env") + 1] if "--env" in line else "dev"
        args = [someones_request(journal_path, environment) if a == "{request}" else a for a in args]
    done = journaled(journal_path)
    result = run_cli(*argv(command.split(), args), "--config", config, env=cli_env)
    refused(result, reason)
    assert result.stdout == ""
    assert registry.snapshot() == before
    assert [r.path for r in gitlab.requests if r.method != "GET"] == []
    assert vertex.writes() == []
    assert journaled(journal_path) == done
    assert [r.decisions for r in Journal(journal_path).approval_requests()] in ([], [()])
    if command in AIRFLOW_WRITES:
        assert held_paused(airflow, dag) == paused_before


def someones_request(journal_path: Path, environment: str) -> str:
    """Another operator's request, in `environment`, to promote churn v2 (champion v4). Returns:
    its id."""
    journal = Journal(journal_path)
    change = Change("promote", environment, "churn@champion", "churn", "v4", "v2")
    arguments = PlanArguments("promote", "churn", "2", alias="champion")
    expires = datetime.now(UTC) + timedelta(days=1)
    request_id = journal.request(change, "someone", arguments, needed=1, expires=expires)
    journal.close()
    return str(request_id)


def silence_in_every_environment(config: Path) -> str:
    """Silence the rule in dev, and give every environment the same silence (the local rules keep
    an environment's silences in one file of the state directory). Returns: its id."""
    created = ok(
        run_cli("alerts", "silence", *WRITE_ARGS["alerts silence"], "--yes", "--json", "--config", config)
    )
    silence_id: str = created.json()["after"].removeprefix("silence ")
    store = config.parent / "xdg_state_home" / "mlops-tui" / "alerts"
    for name in ("ro", "prd"):
        (store / f"{name}.json").write_bytes((store / "dev.json").read_bytes())
    return silence_id


def test_every_command_that_writes_takes_the_approval_flags() -> None:
    """A command whose body reaches `apply` (the one way to `perform`), or `approve` (whose last
    approval performs), is a write command, and the write commands are found by their `--yes`: no
    write command can go unlisted."""

    def leaves(group: click.Group, path: tuple[str, ...]) -> Iterator[tuple[str, click.Command]]:
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                yield from leaves(command, (*path, name))
            else:
                yield " ".join((*path, name)), command

    writing = {
        name
        for name, command in leaves(root, ())
        if command.callback is not None
        and re.search(r"\b(apply|perform|approve)\(", inspect.getsource(inspect.unwrap(command.callback)))
    }
    assert {"models promote", "alerts silence"} <= writing
    assert writing == set(WRITE_COMMANDS)
    assert set(WRITE_ARGS) == writing


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--read-only", "models", "promote", "churn", "4", "--to-env", "copy"], "copy is read-only"),
        (["models", "promote", "churn", "4", "--to-env", "ro"], "ro is read-only"),
    ],
)
def test_no_way_past_the_policy_across_environments(
    args: list[str], reason: str, tmp_path: Path, writable_server: str, registry: Registry
) -> None:
    config = config_for(
        tmp_path,
        writable_server,
        copy={"mlflow": {"registered_model": "prod.{name}"}},
        ro={"read_only": True, "mlflow": {"registered_model": "ro.{name}"}},
    )
    before = registry.snapshot()
    refused(run_cli(*args, "--yes", "--confirm", "churn", "--config", config), reason)
    assert registry.snapshot() == before
