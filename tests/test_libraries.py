"""What the libraries would do on their own: their logs and warnings stay off the terminal (in a log
file under the state dir; on stderr only with --debug), and MLflow's telemetry stays off."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_tui.config.libraries import log_file
from tests.helpers import as_a_user, mlflow_telemetry_file, mlops_tui_command, run_cli, write_config


def telemetry_file() -> Path:
    return mlflow_telemetry_file()


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=as_a_user(), timeout=120, check=True
    )


@pytest.mark.e2e
def test_a_new_store_says_nothing_on_stderr_unless_debugging(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "c.toml", {"dev": {"mlflow": {"tracking_uri": f"sqlite:///{tmp_path}/a.db"}}}
    )
    quiet = run_cli("runs", "list", "--config", config)
    assert quiet.code == 0 and quiet.stderr == "", quiet.stderr
    assert (tmp_path / "a.db").exists()

    other = write_config(
        tmp_path / "d.toml", {"dev": {"mlflow": {"tracking_uri": f"sqlite:///{tmp_path}/b.db"}}}
    )
    loud = run_cli("--debug", "runs", "list", "--config", other)
    assert loud.code == 0 and "Creating initial MLflow database tables" in loud.stderr


def test_library_warnings_and_logs_go_to_the_log_file() -> None:
    done = python(
        "import logging, warnings\n"
        "from mlops_tui.config.libraries import route_library_output\n"
        "route_library_output()\n"
        "warnings.warn('a library deprecates something', FutureWarning)\n"
        "logging.getLogger('alembic.runtime').warning('a library complains')\n"
        "logging.getLogger('alembic.runtime').info('a library chats')\n"
    )
    assert done.stderr == "" and done.stdout == ""
    logged = log_file().read_text(encoding="utf-8")
    assert "FutureWarning: a library deprecates something" in logged
    assert "WARNING alembic.runtime: a library complains" in logged
    assert "a library chats" not in logged


@pytest.mark.e2e
def test_mlflow_telemetry_is_off_and_writes_no_installation_id(tmp_path: Path) -> None:
    # As a user's process would, plain MLflow starts its telemetry and writes an installation id.
    control = "import mlflow\nfrom mlflow.telemetry.client import get_telemetry_client\n"
    assert python(control + "print(get_telemetry_client() is not None)").stdout == "True\n"
    assert telemetry_file().exists()
    telemetry_file().unlink()
    telemetry_file().parent.rmdir()

    ours = "from mlops_tui.config.libraries import route_library_output\nroute_library_output()\n"
    assert python(ours + control + "print(get_telemetry_client())").stdout == "None\n"
    for args in (("demo", "--seed-only"), ("models", "list", "--env", "local"), ("runs", "list")):
        done = subprocess.run(
            [*mlops_tui_command(), *args], capture_output=True, text=True, env=as_a_user(), timeout=180
        )
        assert done.returncode == 0, done.stderr
        assert "Warning" not in done.stderr and "Traceback" not in done.stderr
    assert not telemetry_file().exists()
    assert not (Path(os.environ["XDG_CONFIG_HOME"]) / "mlflow").exists()

    # Whoever set a switch of their own keeps it.
    chosen = python(
        "import os\nos.environ['DO_NOT_TRACK'] = 'false'\n"
        + ours
        + "print(os.environ.get('MLFLOW_DISABLE_TELEMETRY'))"
    )
    assert chosen.stdout == "None\n"
