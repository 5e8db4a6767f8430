"""A real Airflow 3 for the tests: the pinned release that ./scripts/test installs into
`.venv-airflow` (a venv of its own: its ~130 dependencies must not share the project's), started
once per session (`airflow_server` in tests/conftest.py) on 127.0.0.1 with SQLite and the
LocalExecutor: `airflow db migrate`, then `api-server`, `scheduler` and `dag-processor`.

Its DAG folder holds the shipped example (examples/airflow/retrain_dag.py) and the tests' DAGs
(tests/airflow_dags/dags.py). Two users of the simple auth manager: `admin` (role admin) and
`viewer` (role viewer, which may read but not trigger), their passwords in the variables named by
ADMIN_PASSWORD_ENV and VIEWER_PASSWORD_ENV.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port
from tests.helpers.services import log_tail, loopback_client, running_service

__all__ = [
    "ADMIN_PASSWORD_ENV",
    "AIRFLOW_VENV",
    "DAGS",
    "VIEWER_PASSWORD_ENV",
    "AirflowServer",
    "running_airflow",
    "seed_runs",
]

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_VENV = ROOT / ".venv-airflow"
DAGS = ("mlops_tui_retrain", "flaky", "slow", "paused")
"""The DAGs of the tests' DAG folder, which the server has parsed before it is handed out."""
ADMIN_PASSWORD_ENV = "MLOPS_TEST_AIRFLOW_ADMIN_PASSWORD"
VIEWER_PASSWORD_ENV = "MLOPS_TEST_AIRFLOW_VIEWER_PASSWORD"
START_SECONDS = 240
"""Upper bound for the api-server to answer and the DAGs to be parsed (about 60 s on 2 cores)."""


@dataclass(frozen=True)
class AirflowServer:
    """A running Airflow: its URL, its users' passwords, its home (logs under `home/logs`)."""

    url: str
    home: Path
    passwords: Mapping[str, str]
    mlflow_uri: str
    """The MLflow server the tasks train against."""
    startup_seconds: float

    def token(self, user: str = "admin") -> str:
        """A JWT of `user`, for the tests' own requests."""
        with loopback_client() as client:
            answer = client.post(
                f"{self.url}/auth/token", json={"username": user, "password": self.passwords[user]}
            )
            answer.raise_for_status()
            return str(answer.json()["access_token"])

    def client(self, user: str = "admin") -> httpx.Client:
        """An httpx client of the REST API v2 signed as `user`, to set the scene of a test."""
        client = loopback_client()
        client.base_url = httpx.URL(f"{self.url}/api/v2/")
        client.headers["Authorization"] = f"Bearer {self.token(user)}"
        return client


def _airflow() -> Path:
    binary = AIRFLOW_VENV / "bin" / "airflow"
    if not binary.exists():
        pytest.fail(
            f"{binary} is missing; ./scripts/test installs Airflow into {AIRFLOW_VENV}", pytrace=False
        )
    return binary


@contextmanager
def running_airflow(directory: Path, *, mlflow_uri: str, trainer_python: str) -> Iterator[AirflowServer]:
    """Airflow on 127.0.0.1 with its home, SQLite database and logs in `directory`.

    Tasks run with MLFLOW_TRACKING_URI=`mlflow_uri` and MLOPS_TUI_PYTHON=`trainer_python` (the
    project's interpreter, which has mlops-tui and MLflow). Every process is stopped on exit.
    """
    started = time.monotonic()
    airflow = _airflow()
    dags = directory / "dags"
    dags.mkdir()
    shutil.copy(ROOT / "examples" / "airflow" / "retrain_dag.py", dags / "retrain_dag.py")
    shutil.copy(ROOT / "tests" / "airflow_dags" / "dags.py", dags / "test_dags.py")
    passwords = {"admin": secrets.token_urlsafe(12), "viewer": secrets.token_urlsafe(12)}
    (directory / "passwords.json").write_text(json.dumps(passwords))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "MLFLOW_", "VIRTUAL_ENV", "PYTHON"))
    }
    env.update(
        {
            "PATH": f"{airflow.parent}{os.pathsep}{env.get('PATH', '')}",
            "AIRFLOW_HOME": str(directory),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(directory / "passwords.json"),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url(directory),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": url,
            "AIRFLOW__API__WORKERS": "1",
            # Shared by the processes: the api-server signs the tasks' tokens and the logs'
            # continuation tokens with them.
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(directory / "logs"),
            # A modest load on a shared machine: parse the DAG folder now and then, heartbeat slowly.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "AIRFLOW__CORE__LAZY_LOAD_PLUGINS": "True",
            "MLFLOW_TRACKING_URI": mlflow_uri,
            "MLFLOW_ENABLE_TELEMETRY": "false",
            "MLOPS_TUI_PYTHON": trainer_python,
            "NO_PROXY": "*",
        }
    )
    migrate = subprocess.run(
        [str(airflow), "db", "migrate"], cwd=directory, env=env, capture_output=True, text=True, check=False
    )
    if migrate.returncode != 0:
        pytest.fail(
            f"airflow db migrate exited {migrate.returncode}:\n{migrate.stdout[-3000:]}", pytrace=False
        )
    with ExitStack() as stack:
        for name in ("scheduler", "dag-processor"):
            home = directory / name
            home.mkdir()
            stack.enter_context(_background(name, [str(airflow), name], home, env))
        api_home = directory / "api-server"
        api_home.mkdir()
        stack.enter_context(
            running_service(
                "airflow api-server",
                [str(airflow), "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                ready_url=f"{url}/api/v2/version",
                directory=api_home,
                seconds=START_SECONDS,
                env=env,
            )
        )
        server = AirflowServer(url, directory, passwords, mlflow_uri, 0.0)
        _wait_for_dags(server, directory, started + START_SECONDS)
        yield AirflowServer(url, directory, passwords, mlflow_uri, time.monotonic() - started)


@contextmanager
def _background(what: str, command: list[str], directory: Path, env: Mapping[str, str]) -> Iterator[None]:
    """A process of Airflow's beside the api-server, its output in `directory/server.log`."""
    from tests.helpers.services import stop_process_group

    with (directory / "server.log").open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=directory,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield
        finally:
            stop_process_group(process)
            if process.returncode not in (0, -15, None) and os.environ.get("MLOPS_TEST_AIRFLOW_LOGS"):
                print(f"{what} exited {process.returncode}:\n{log_tail(directory / 'server.log')}")


def _wait_for_dags(server: AirflowServer, directory: Path, deadline: float) -> None:
    """Until the DAG processor has parsed every DAG of the folder (and the scheduler runs)."""
    with server.client() as client:
        while time.monotonic() < deadline:
            answer = client.get("dags", params={"limit": 100})
            found = {dag["dag_id"] for dag in answer.json().get("dags", [])} if answer.is_success else set()
            if found >= set(DAGS):
                return
            time.sleep(1)
    logs = "\n".join(
        f"--- {name}:\n{log_tail(directory / name / 'server.log', 20)}"
        for name in ("dag-processor", "scheduler")
    )
    pytest.fail(f"Airflow did not parse the DAGs {DAGS} in time:\n{logs}", pytrace=False)


def database_url(home: Path) -> str:
    """Airflow's metadata database in `home`: SQLite, whose writers wait their turn for up to 30 s
    (SQLAlchemy's `timeout`). SQLite's default 5 s is not enough on a loaded machine: the scheduler,
    the api-server and the tasks all write, and a refused write is a 500 ("database is locked")."""
    return f"sqlite:///{home / 'airflow.db'}?timeout=30"


def seed_runs(
    server: AirflowServer, count: int, dag: str, *, oldest: datetime | None = None, step_minutes: float = 1
) -> float:
    """Insert `count` finished runs of `dag` straight into the server's database, through
    Airflow's own models in its venv (tests/airflow_dags/seed_runs.py: 10,000 in about 10 s, where
    the REST API takes minutes), `step_minutes` apart from `oldest` on. Returns the seconds it took.
    """
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHON", "VIRTUAL_ENV"))},
        "AIRFLOW_HOME": str(server.home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url(server.home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    more = [oldest.isoformat(), str(step_minutes)] if oldest is not None else []
    script = ROOT / "tests" / "airflow_dags" / "seed_runs.py"
    started = time.monotonic()
    done = subprocess.run(
        [str(_airflow().with_name("python")), str(script), str(count), dag, *more],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"seeding {dag} failed: {done.stderr[-2000:]}")
    return time.monotonic() - started
