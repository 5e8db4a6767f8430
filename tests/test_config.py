"""Settings: where the file is found, how it is validated, and how secrets are resolved."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from mlops_tui.config import (
    CONFIG_ENV_VAR,
    Settings,
    load_settings,
    local_settings,
    locate_config,
    parse_settings,
    redacted,
    resolve_secret,
    starter_config,
)
from mlops_tui.config import settings as config_module
from mlops_tui.errors import ConfigError, ExitCode, UsageError
from tests.helpers import toml_document, write_config

REPO = Path(__file__).resolve().parents[1]


def one_env(name: str, uri: str = "sqlite:///x.db") -> dict[str, object]:
    return {name: {"mlflow": {"tracking_uri": uri}}}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load_text(tmp_path: Path, text: str) -> tuple[Path, pytest.ExceptionInfo[ConfigError]]:
    path = write(tmp_path / "bad.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    return path, caught


# -- search order ---------------------------------------------------------------------------------


def test_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = write_config(tmp_path / "explicit.toml", one_env("explicit"))
    from_env = write_config(tmp_path / "from-env.toml", one_env("fromenv"))
    in_cwd = write_config(tmp_path / "mlops-tui.toml", one_env("cwd"))
    xdg = write_config(Path(os.environ["XDG_CONFIG_HOME"]) / "mlops-tui" / "config.toml", one_env("xdg"))
    monkeypatch.setenv(CONFIG_ENV_VAR, str(from_env))

    def loaded(explicit_path: Path | None = None) -> tuple[Path | None, list[str]]:
        settings = load_settings(explicit_path)
        return settings.path, list(settings.environments)

    assert loaded(explicit) == (explicit, ["explicit"])
    assert loaded() == (from_env, ["fromenv"])
    monkeypatch.delenv(CONFIG_ENV_VAR)
    assert loaded() == (in_cwd, ["cwd"])
    in_cwd.unlink()
    assert loaded() == (xdg, ["xdg"])
    xdg.unlink()
    settings = load_settings()
    assert (settings.path, list(settings.environments), settings.default_env) == (
        None,
        ["local", "local-prd"],
        "local",
    )
    assert locate_config() is None


def test_empty_config_env_var_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_ENV_VAR, "")
    in_cwd = write_config(tmp_path / "mlops-tui.toml", one_env("cwd"))
    assert locate_config() == in_cwd


def test_explicit_path_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "config.toml"
    with pytest.raises(ConfigError, match="not found") as caught:
        load_settings(missing)
    assert str(missing) in caught.value.message and caught.value.path == str(missing)
    assert caught.value.exit_code == ExitCode.USAGE


def test_config_env_var_that_does_not_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "gone.toml"
    monkeypatch.setenv(CONFIG_ENV_VAR, str(missing))
    write_config(tmp_path / "mlops-tui.toml", one_env("cwd"))  # not a fallback for a named file
    with pytest.raises(ConfigError, match="gone.toml"):
        load_settings()


def test_explicit_path_that_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path)


def test_explicit_path_with_tilde(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    write_config(tmp_path / "mine.toml", one_env("home"))
    assert list(load_settings("~/mine.toml").environments) == ["home"]


# -- validation -----------------------------------------------------------------------------------


def test_a_valid_file_is_read_in_full(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "c.toml",
        {
            "dev": {
                "models": ["churn"],
                "mlflow": {
                    "tracking_uri": "http://127.0.0.1:5000",
                    "promotion": "stage",
                    "token_env": "DEV_TOKEN",
                    "experiments": ["churn-training"],
                    "key_metrics": ["val_auc"],
                    "page_size": 25,
                    "refresh_seconds": 5,
                    "timeout_seconds": 2.5,
                },
            },
            "prd": {"protected": True, "read_only": True},
        },
        default_env="prd",
        operator="priya",
        theme="nord",
        keymap={"refresh": "r,f5"},
    )
    settings = load_settings(path)
    assert (settings.default_env, settings.operator, settings.theme) == ("prd", "priya", "nord")
    assert settings.keymap == {"refresh": "r,f5"}
    dev = settings.environments["dev"]
    assert dev.mlflow is not None
    assert (dev.mlflow.promotion, dev.mlflow.page_size, dev.mlflow.timeout_seconds) == (
        "stage",
        25,
        2.5,
    )
    assert dev.mlflow.refresh_seconds == 5.0 and dev.models == ["churn"]
    name, prd = settings.environment()
    assert name == "prd" and prd.protected and prd.read_only and prd.mlflow is None
    # Defaults: the first environment is the default one; alias promotion; 100 rows a page.
    first = load_settings(write_config(tmp_path / "d.toml", one_env("qa") | one_env("dev")))
    assert first.default_env == "qa"
    qa_mlflow = first.environments["qa"].mlflow
    assert qa_mlflow is not None
    assert (qa_mlflow.promotion, qa_mlflow.page_size, qa_mlflow.token_env) == ("alias", 100, None)


@pytest.mark.parametrize(
    ("document", "key", "known"),
    [
        ({"colour": "red", "environments": one_env("dev")}, "colour", "default_env"),
        ({"environments": {"dev": {"protect": True}}}, "environments.dev.protect", "protected"),
        (
            {"environments": {"dev": {"mlflow": {"tracking_urix": "http://x"}}}},
            "environments.dev.mlflow.tracking_urix",
            "tracking_uri",
        ),
    ],
)
def test_unknown_key_is_named_with_its_path(
    tmp_path: Path, document: dict[str, object], key: str, known: str
) -> None:
    path, caught = load_text(tmp_path, toml_document(document))
    error = caught.value
    assert error.key == key and error.path == str(path)
    assert f"key {key}" in error.message and str(path) in error.message
    assert "unknown key" in error.message and known in error.message


@pytest.mark.parametrize(
    ("table", "key", "expected"),
    [
        ({"dev": {"protected": "yes"}}, "environments.dev.protected", "bool"),
        ({"dev": {"models": "churn"}}, "environments.dev.models", "array"),
        (
            {"dev": {"mlflow": {"tracking_uri": "http://x", "page_size": "ten"}}},
            "environments.dev.mlflow.page_size",
            "int",
        ),
        (
            {"dev": {"mlflow": {"tracking_uri": "http://x", "promotion": "tags"}}},
            "environments.dev.mlflow.promotion",
            "'tags'",
        ),
        ({"dev": 3}, "environments.dev", "object"),
    ],
)
def test_wrong_type_says_what_was_expected(
    tmp_path: Path, table: dict[str, object], key: str, expected: str
) -> None:
    path = write(tmp_path / "c.toml", toml_document({"environments": table}))
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert caught.value.key == key and str(path) in caught.value.message
    assert expected in caught.value.message


def test_wrong_type_of_a_top_level_table(tmp_path: Path) -> None:
    _, caught = load_text(tmp_path, 'environments = "dev"\n')
    assert caught.value.key == "environments" and "Expected object" in caught.value.message


def test_missing_tracking_uri(tmp_path: Path) -> None:
    _, caught = load_text(tmp_path, '[environments.dev.mlflow]\npromotion = "alias"\n')
    assert caught.value.key == "environments.dev.mlflow.tracking_uri"
    assert "missing" in caught.value.message


@pytest.mark.parametrize(
    ("document", "key"),
    [
        (
            '[environments.dev.mlflow]\ntracking_uri = "http://x"\ntoken = "hunter2-SECRET"\n',
            "environments.dev.mlflow.token",
        ),
        (
            '[environments.dev.mlflow]\ntracking_uri = "http://x"\npassword = "hunter2-SECRET"\n',
            "environments.dev.mlflow.password",
        ),
        ('token = "hunter2-SECRET"\n[environments.dev]\n', "token"),
    ],
    ids=["mlflow-token", "mlflow-password", "top-level-token"],
)
def test_inline_secret_is_refused(tmp_path: Path, document: str, key: str) -> None:
    _, caught = load_text(tmp_path, document)
    error = caught.value
    assert error.key == key
    assert "never written in the config file" in error.message
    assert f"{key.rsplit('.', 1)[-1]}_env" in error.message
    assert "hunter2-SECRET" not in error.message  # the secret itself is never echoed


def test_inline_token_points_to_token_env(tmp_path: Path) -> None:
    _, caught = load_text(tmp_path, '[environments.dev.mlflow]\ntracking_uri = "http://x"\ntoken = "abc"\n')
    assert "token_env" in caught.value.message and "token_command" in caught.value.message


@pytest.mark.parametrize("name", ["Dev", "dev env", "-dev", "dév"])
def test_bad_environment_name(tmp_path: Path, name: str) -> None:
    _, caught = load_text(tmp_path, toml_document({"environments": {name: {"read_only": True}}}))
    assert caught.value.key == f"environments.{name}"
    assert "lower-case" in caught.value.message


def test_default_env_naming_a_missing_environment(tmp_path: Path) -> None:
    _, caught = load_text(tmp_path, toml_document({"default_env": "prd", "environments": one_env("dev")}))
    assert caught.value.key == "default_env"
    assert "'prd'" in caught.value.message and "dev" in caught.value.message


@pytest.mark.parametrize("name", ["retrain", "retrain {model} {model}"])
def test_gitlab_pipeline_name_needs_the_model_once(tmp_path: Path, name: str) -> None:
    gitlab = {"url": "https://gitlab.example.com", "project": "ml/models", "pipeline_name": name}
    path, caught = load_text(tmp_path, toml_document({"environments": {"dev": {"gitlab": gitlab}}}))
    assert caught.value.key == "environments.dev.gitlab.pipeline_name"
    assert caught.value.message.startswith(
        f"{path}:4, key environments.dev.gitlab.pipeline_name: needs `{{model}}`"
    )


def test_no_environments(tmp_path: Path) -> None:
    _, caught = load_text(tmp_path, 'theme = "nord"\n')
    assert "no environments" in caught.value.message


def test_toml_syntax_error(tmp_path: Path) -> None:
    path, caught = load_text(tmp_path, "[environments.dev]\nprotected = yes\n")
    assert caught.value.path == str(path) and caught.value.line == 2
    assert caught.value.message.startswith(f"{path}:2: not valid TOML: ")
    _, unclosed = load_text(tmp_path, '[environments.dev]\nprotected = true\nmodels = ["a"\n')
    assert unclosed.value.line == 3 and "Unclosed array" in unclosed.value.message


@pytest.mark.parametrize(
    ("table", "key", "expected"),
    [
        ("gitlab", "timeout_seconds = -5", "> 0"),
        ("mlflow", "timeout_seconds = 0", "> 0"),
        ("mlflow", "page_size = -1", ">= 1"),
        ("alertmanager", "refresh_seconds = 0", "> 0"),
        ("mlflow", 'tracking_uri = "ftp://example.com/mlflow"', "unsupported scheme"),
    ],
)
def test_values_out_of_range_are_refused_at_load(tmp_path: Path, table: str, key: str, expected: str) -> None:
    required = {
        "mlflow": 'tracking_uri = "http://x"',
        "gitlab": 'url = "https://gitlab.example.com"\nproject = "ml/x"',
        "alertmanager": 'url = "http://am:9093"',
    }[table]
    lines = required.splitlines()
    if key.split(" =")[0] in required:
        lines = [key]
    else:
        lines.append(key)
    text = f"[environments.dev]\nprotected = true\n[environments.dev.{table}]\n" + "\n".join(lines) + "\n"
    path, caught = load_text(tmp_path, text)
    name = key.split(" =")[0]
    line = text.splitlines().index(key) + 1
    assert caught.value.key == f"environments.dev.{table}.{name}" and caught.value.line == line
    assert caught.value.message.startswith(f"{path}:{line}, key environments.dev.{table}.{name}: ")
    assert expected in caught.value.message


@pytest.mark.parametrize(
    "uri", ["http://h:5000", "https://h", "sqlite:///x.db", "postgresql+psycopg://u@h/db"]
)
def test_supported_tracking_uri_schemes(tmp_path: Path, uri: str) -> None:
    settings = load_settings(write_config(tmp_path / "c.toml", one_env("dev", uri)))
    assert settings.environments["dev"].mlflow is not None


def test_every_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    path, caught = load_text(
        tmp_path,
        'default_env = "prd"\n'
        "[environments.dev]\n"
        "protect = true\n"
        "[environments.dev.mlflow]\n"
        'tracking_uri = "http://x"\n'
        'token = "hunter2"\n'
        "[environments.qa.mlflow]\n"
        'tracking_uri = "http://y"\n'
        'page_size = "ten"\n',
    )
    found = [(p.line, p.key) for p in caught.value.problems]
    assert found == [
        (1, "default_env"),
        (3, "environments.dev.protect"),
        (6, "environments.dev.mlflow.token"),
        (9, "environments.qa.mlflow.page_size"),
    ]
    assert caught.value.message.splitlines()[0].startswith(f"{path}:1, key default_env: ")
    assert "hunter2" not in caught.value.message


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('theme = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path)


def test_parse_settings_without_a_file() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"environments": {"dev": {"nope": 1}}})
    assert caught.value.path is None
    assert caught.value.message.startswith("key environments.dev.nope:")


def test_unknown_environment_lists_the_known_ones(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path / "c.toml", one_env("dev") | one_env("qa")))
    with pytest.raises(UsageError) as caught:
        settings.environment("prd")
    assert not isinstance(caught.value, ConfigError)
    assert "'prd'" in caught.value.message and "dev, qa" in caught.value.message
    assert settings.environment("qa")[0] == "qa"


# -- the shipped example --------------------------------------------------------------------------


def test_shipped_example_parses() -> None:
    example = REPO / "config.example.toml"
    shipped = Path(config_module.__file__).with_name("config.example.toml")
    assert example.is_symlink() and example.resolve() == shipped.resolve()
    assert starter_config() == example.read_text(encoding="utf-8")
    settings = load_settings(example)
    assert set(settings.environments) == {"dev", "qa", "prd", "local"}
    assert settings.default_env == "local"
    assert settings.environments["local"] == local_settings().environments["local"]
    assert settings.environments["prd"].protected
    assert not settings.environments["dev"].protected
    assert not settings.environments["qa"].protected
    for name in ("dev", "qa", "prd"):
        mlflow = settings.environments[name].mlflow
        assert mlflow is not None and mlflow.tracking_uri.startswith("http")


# -- secrets --------------------------------------------------------------------------------------


def test_secret_from_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_TEST_SECRET", "from-env")
    assert resolve_secret("MLOPS_TEST_SECRET") == "from-env"
    # The variable wins over a command.
    assert resolve_secret("MLOPS_TEST_SECRET", [sys.executable, "-c", "print('cmd')"]) == "from-env"


def test_secret_variable_named_but_unset() -> None:
    with pytest.raises(ConfigError, match="MLOPS_TEST_NOT_SET"):
        resolve_secret("MLOPS_TEST_NOT_SET")


def test_secret_from_command() -> None:
    assert resolve_secret(None, [sys.executable, "-c", "print('s3cret')"]) == "s3cret"


def test_secret_command_runs_without_a_shell() -> None:
    echo_argument = [sys.executable, "-c", "import sys; print(sys.argv[1])", "$HOME; echo x"]
    assert resolve_secret(None, echo_argument) == "$HOME; echo x"


def test_failing_secret_command() -> None:
    failing = [sys.executable, "-c", "import sys; print('half'); sys.exit(3)"]
    with pytest.raises(ConfigError, match="exited 3"):
        resolve_secret(None, failing)


def test_secret_command_that_does_not_exist(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-program")
    with pytest.raises(ConfigError, match="could not run"):
        resolve_secret(None, [missing])


def test_no_secret_configured() -> None:
    assert resolve_secret(None, None) is None


def test_redacted_settings_hold_secret_names_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEV_TOKEN", "tok-SECRET-123")
    path = write_config(
        tmp_path / "c.toml",
        {"dev": {"mlflow": {"tracking_uri": "http://x", "token_env": "DEV_TOKEN"}}},
    )
    data = redacted(load_settings(path))
    assert data["path"] == str(path) and data["default_env"] == "dev"
    assert data["environments"]["dev"]["mlflow"]["token_env"] == "DEV_TOKEN"
    assert "tok-SECRET-123" not in repr(data)


# -- the built-in local environment ---------------------------------------------------------------


def test_local_environment_lives_in_xdg_data_home(tmp_path: Path) -> None:
    settings = local_settings()
    assert list(settings.environments) == ["local", "local-prd"] and settings.path is None
    mlflow = settings.environments["local"].mlflow
    assert mlflow is not None
    data = tmp_path / "xdg_data_home" / "mlops-tui"
    assert mlflow.tracking_uri == f"sqlite:///{data / 'mlflow.db'}"
    assert mlflow.artifact_root == str(data / "artifacts")
    assert load_settings().environments["local"].mlflow == mlflow
    # A second store, protected, as a production registry would be: the fleet has two to show.
    prd = settings.environments["local-prd"]
    assert prd.protected and prd.mlflow is not None
    assert prd.mlflow.tracking_uri == f"sqlite:///{data / 'mlflow-prd.db'}"


def test_relative_xdg_data_home_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", "relative/data")
    mlflow = local_settings().environments["local"].mlflow
    assert mlflow is not None
    expected = tmp_path / "home" / ".local" / "share" / "mlops-tui" / "mlflow.db"
    assert mlflow.tracking_uri == f"sqlite:///{expected}"


def test_the_operator_is_named_by_config_else_env_else_git_else_user_at_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import getpass
    import socket
    import subprocess

    settings = Settings(environments={}, default_env="local")
    config_module._default_operator.cache_clear()
    monkeypatch.setenv("HOME", str(tmp_path))  # a git with no user.email
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    assert settings.operator_name == f"{getpass.getuser()}@{socket.gethostname()}"
    config_module._default_operator.cache_clear()
    subprocess.run(["git", "config", "--global", "user.email", "ana@example.com"], check=True)
    assert settings.operator_name == "ana@example.com"
    monkeypatch.setenv("MLOPS_TUI_OPERATOR", "ana-on-the-ops-box")
    assert settings.operator_name == "ana-on-the-ops-box"
    assert dataclasses.replace(settings, operator="ana").operator_name == "ana"
    config_module._default_operator.cache_clear()


@pytest.mark.parametrize(
    ("tables", "key", "says"),
    [
        (
            {"retrain": {"kind": "airflow", "dag": "retrain_{model}"}},
            "retrain.kind",
            "add environments.dev.airflow",
        ),
        (
            {"airflow": {"url": "http://a:8080"}, "retrain": {"kind": "airflow"}},
            "retrain.dag",
            'dag = "retrain_{model}"',
        ),
        ({"airflow": {"url": "http://a:8080", "password_env": "P"}}, "airflow.username", "needs the user"),
        (
            {
                "airflow": {
                    "url": "http://a:8080",
                    "username": "u",
                    "password_env": "P",
                    "password_command": ["x"],
                }
            },
            "airflow",
            "name the password once",
        ),
    ],
)
def test_airflow_tables_are_checked(tables: dict[str, Any], key: str, says: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_settings({"environments": {"dev": tables}})
    assert error.value.key == f"environments.dev.{key}" and says in error.value.reason


def test_an_airflow_environment_reads_its_dag_and_conf_templates() -> None:
    settings = parse_settings(
        {
            "environments": {
                "qa": {
                    "airflow": {
                        "url": "http://a:8080",
                        "dag_tags": ["mlops"],
                        "username": "u",
                        "password_env": "P",
                    },
                    "retrain": {"kind": "airflow", "dag": "retrain_{model}", "conf": {"model": "{model}"}},
                }
            }
        }
    )
    env = settings.environments["qa"]
    assert env.airflow is not None and env.airflow.api_version == "auto" and env.airflow.auth == "default"
    assert env.retrain is not None and (env.retrain.dag, env.retrain.conf) == (
        "retrain_{model}",
        {"model": "{model}"},
    )
