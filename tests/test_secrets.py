"""No secret leaks: with every token set to a recognisable value, a full scenario — reads, every write
action, errors, `config check`, debug mode, the TUI with a screenshot and library logs at DEBUG —
leaves the values nowhere: not in stdout or stderr, not in any file under the test's directories
(XDG config, data and state: journal, silences, logs), not in the journal.

Also: inline secrets in the config are refused with a message naming the right way, and a config
file others can read draws a warning when it names a token command.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_tui.config import load_settings, redact, resolve_secret
from mlops_tui.errors import ConfigError, ExitCode
from mlops_tui.tui import make_app
from tests.fakes.gitlab_server import FakeGitlab
from tests.helpers import CliResult, run_cli, write_config
from tests.helpers.tui import SIZE, loaded, pane, until
from tests.test_cli_write import RULES, WRITE_ARGS

CANARIES = {
    "MLFLOW_TOKEN": "mlflow-CANARY-3f9a7e1c",
    "GITLAB_TOKEN": "glpat-CANARY-b81c02d7",
    "GITLAB_TRIGGER": "glptt-CANARY-44d2e9aa",
    "GITLAB_WRONG_TOKEN": "glpat-CANARY-wrong-90be",
}


@pytest.fixture
def gitlab() -> Iterator[FakeGitlab]:
    with FakeGitlab(token=CANARIES["GITLAB_TOKEN"]) as server:
        project = server.add_project("ml/models", trigger_tokens=(CANARIES["GITLAB_TRIGGER"],))
        server.add_pipeline(project["id"], status="failed", pipeline_id=1)
        server.add_pipeline(project["id"], status="running", pipeline_id=2)
        server.add_job(1, "train", "train", status="failed", trace="epoch 1\nauc 0.8\n")
        yield server


@pytest.fixture
def config(tmp_path: Path, writable_server: str, gitlab: FakeGitlab) -> Path:
    mlflow = {"tracking_uri": writable_server, "token_env": "MLFLOW_TOKEN"}
    pipelines = {
        "gitlab": {"url": gitlab.url, "project": "ml/models", "token_env": "GITLAB_TOKEN"},
        "retrain": {"kind": "gitlab", "trigger_token_env": "GITLAB_TRIGGER", "variables": {"M": "{model}"}},
    }
    denied = {"gitlab": {"url": gitlab.url, "project": "ml/models", "token_env": "GITLAB_WRONG_TOKEN"}}
    return write_config(
        tmp_path / "mlops-tui.toml",
        {
            "dev": {"mlflow": mlflow, **pipelines, "rules": RULES},
            "prd": {"protected": True, "mlflow": mlflow, **pipelines, "rules": RULES},
            "denied": {"mlflow": mlflow, **denied},
        },
        default_env="dev",
    )


def assert_no_canary(where: str, text: str | bytes) -> None:
    data = text.encode() if isinstance(text, str) else text
    for name, value in CANARIES.items():
        assert value.encode() not in data, f"the value of ${name} leaked into {where}"


@pytest.mark.e2e
def test_a_full_scenario_leaks_no_secret(
    config: Path, tmp_path: Path, gitlab: FakeGitlab, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in CANARIES.items():
        monkeypatch.setenv(name, value)
    outputs: list[tuple[str, CliResult]] = []

    def cli(*args: str, expect: int | None = ExitCode.OK, debug: bool = False) -> CliResult:
        env = {"MLOPS_TUI_DEBUG": "1"} if debug else {}
        result = run_cli(*args, "--config", config, env=env)
        if expect is not None:
            assert result.code == expect, (args, result)
        outputs.append((" ".join(args), result))
        return result

    # reads
    for read in (
        ["runs", "list", "--limit", "5"],
        ["models", "list", "--json"],
        ["models", "show", "churn"],
        ["pipelines", "list"],
        ["pipelines", "show", "1", "--json"],
        ["pipelines", "trace", str(next(iter(gitlab.jobs)))],
        ["alerts", "list", "--json"],
        ["status", "--json"],
    ):
        cli(*read, expect=None)
    # every write action, in a plain and in a protected environment
    silence = cli("alerts", "silence", *WRITE_ARGS["alerts silence"], "--yes", "--json").json()
    for command, args in WRITE_ARGS.items():
        if command == "alerts silence":
            continue
        args = [silence["after"].removeprefix("silence ") if a == "{silence}" else a for a in args]
        cli(*command.split(), *args, "--yes", expect=None)
        cli(*command.split(), *args, "--env", "prd", "--yes", expect=None)
    assert any(r.method == "POST" and "trigger" in r.path for r in gitlab.requests)  # the trigger token
    cli("history", "--all-envs", "--json")
    # errors, also in debug mode
    for debug in (False, True):
        denied = cli("pipelines", "list", "--env", "denied", expect=ExitCode.FAILED, debug=debug)
        assert "$GITLAB_WRONG_TOKEN" in denied.stderr  # the variable's name, never its value
        cli("models", "show", "nope", expect=ExitCode.FAILED, debug=debug)
        cli("runs", "list", "--filter", "metrics.x >>> 1", expect=ExitCode.USAGE, debug=debug)
        cli("--debug", "models", "promote", "churn", "99", "--yes", expect=ExitCode.FAILED)
    cli("config", "check")
    cli("config", "check", "--json")

    for what, result in outputs:
        assert_no_canary(f"the output of `{what}`", result.stdout + result.stderr)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "journal.sqlite3" for p in written)
    for path in written:
        assert_no_canary(str(path), path.read_bytes())


async def test_the_tui_screen_and_debug_logs_leak_no_secret(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in CANARIES.items():
        monkeypatch.setenv(name, value)
    log_file = tmp_path / "debug.log"
    handler = logging.FileHandler(log_file)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)  # httpx, urllib3, python-gitlab: whatever they log
    try:
        app = make_app(load_settings(config))
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: loaded(app)() and pane(app, "pipelines").table.row_count == 2)
            await pilot.press("e")
            await pilot.press("escape")
            screenshot = app.export_screenshot()
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()
    assert "glpat" not in screenshot and log_file.stat().st_size > 0
    assert_no_canary("the screenshot", screenshot)
    assert_no_canary("the debug log", log_file.read_bytes())


# -- the redaction itself -------------------------------------------------------------------------


def test_redact_takes_every_resolved_secret_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_TOKEN", "s3cr3t-CANARY-redact")
    secret = resolve_secret("SOME_TOKEN")
    assert secret is not None
    assert redact(f"GET /api?token={secret} failed: {secret}") == "GET /api?token=*** failed: ***"
    command_secret = resolve_secret(None, ["printf", "from-a-command-CANARY"])
    assert redact(f"x {command_secret} y") == "x *** y"


# -- the config file ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"token": "abc"}, "environments.dev.mlflow.token"),
        ({"password": "abc"}, "environments.dev.mlflow.password"),
        ({"tracking_uri": "https://ops:hunter2@mlflow.example.com"}, "environments.dev.mlflow.tracking_uri"),
    ],
)
def test_an_inline_secret_is_refused(table: dict[str, str], key: str, tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.toml", {"dev": {"mlflow": {"tracking_uri": "sqlite:///x.db", **table}}})
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert key in caught.value.message
    assert "environment variable" in caught.value.message and "token_command" in caught.value.message
    result = run_cli("config", "check", "--config", path)
    assert result.code == ExitCode.USAGE and len(result.stderr.splitlines()) == 1
    assert "hunter2" not in result.stderr


def test_a_config_others_can_read_naming_a_token_command_draws_a_warning(tmp_path: Path) -> None:
    tables = {"dev": {"mlflow": {"tracking_uri": "sqlite:///x.db", "token_command": ["pass", "mlflow"]}}}
    path = write_config(tmp_path / "c.toml", tables)
    os.chmod(path, 0o644)
    (warning,) = load_settings(path).warnings
    assert f"{path} is readable or writable by other users" in warning and "chmod 600" in warning
    checked = run_cli("config", "check", "--config", path)
    assert checked.code == ExitCode.OK
    assert checked.stderr == f"mlops-tui: warning: {warning}\n"

    os.chmod(path, 0o600)
    assert load_settings(path).warnings == ()
    assert run_cli("config", "check", "--config", path).stderr == ""
    # Readable by others but naming no command: nothing to warn about.
    plain = write_config(tmp_path / "plain.toml", {"dev": {"mlflow": {"tracking_uri": "sqlite:///x.db"}}})
    os.chmod(plain, 0o644)
    assert load_settings(plain).warnings == ()
