"""Fixtures shared by every test: isolation from the user's files, the seeded demo store, a real
`mlflow server` subprocess and a real Alertmanager.

Session-wide, paid once: `demo_store_template` (the demo seeded into a sqlite store, ~10 s) and
`mlflow_server` (a real tracking server on its own copy of that store, ~6 s to start). Per test:
`demo_store` (a writable copy of the template), `demo_settings` and `server_settings`.

The server's store is shared by the whole session: tests that write through the server must leave
the demo's registry as they found it (or write through `demo_store`, which is per test). Write tests
that need a server use `writable_server`: a second server, started once when first needed, whose
registry is put back to the demo's before each test.

`airflow_server` is a real Airflow 3 for the session (its api-server, scheduler and DAG
processor, and an MLflow server of its own for the trainer its DAG runs; ~30-60 s to start),
started only when an Airflow test asks for it.

`alertmanager_server` is a real Alertmanager for the session; tests use it through `alertmanager`
(tests/helpers/alertmanager.py), which expires its silences and gives the test a label of its own.
"""

from __future__ import annotations

import fcntl
import gc
import json
import logging
import os
import shutil
import sys
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from mlops_tui.config import CONFIG_ENV_VAR, EnvironmentSettings, MlflowSettings, Settings
from tests.helpers import DEMO_NOW, DEMO_RUNS, CliResult, free_port, run_cli
from tests.helpers.airflow import AirflowServer, running_airflow
from tests.helpers.alertmanager import AlertmanagerTestbed, expire_all_silences, running_alertmanager
from tests.helpers.postgres import PASSWORD, PASSWORD_ENV, Postgres, running_postgres
from tests.helpers.prometheus import ModelExporter, PrometheusTestbed, running_prometheus_scraping
from tests.helpers.services import running_service

__all__ = ["DEMO_NOW", "DemoCommandRun", "isolate", "running_mlflow_server", "template_settings"]

_SCRUBBED_ENV = (
    CONFIG_ENV_VAR,
    "MLOPS_TUI_DEBUG",
    "MLOPS_TUI_OPERATOR",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_REGISTRY_URI",
    # Requests to 127.0.0.1 must never go through a proxy of the machine running the tests.
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)
SERVER_START_SECONDS = 90
"""Upper bound for `mlflow server` to answer /health (it takes about 6 s)."""


def isolate(directory: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Shut out the user's config, data and MLflow settings: XDG directories under `directory`,
    which becomes the working directory. Returns `directory`."""
    for variable in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        xdg = directory / variable.lower()
        xdg.mkdir()
        monkeypatch.setenv(variable, str(xdg))
    for variable in _SCRUBBED_ENV:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(directory)  # so no ./mlops-tui.toml of the developer is picked up
    return directory


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Shut out the user's config, data and MLflow settings; run every test in its tmp_path."""
    return isolate(tmp_path, monkeypatch)


# -- the demo store -------------------------------------------------------------------------------


def template_settings(directory: Path) -> MlflowSettings:
    """The MLflow settings of a demo store kept in `directory` (mlflow.db and artifacts/)."""
    return MlflowSettings(
        tracking_uri=f"sqlite:///{directory / 'mlflow.db'}",
        artifact_root=str(directory / "artifacts"),
    )


# A pytest-xdist worker is given COLUMNS=80 and LINES=24. A command started in a terminal (tmux) of
# another size would believe them, and wrap every line of a 60-column terminal.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)


def built_once(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """A directory `build` fills once for the whole run: under `./scripts/test`'s workers, the first
    to ask builds it under a lock and the others wait, then share it (read-only)."""
    root = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's own directory, parent of every worker's
    directory = root / name
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built = root / f"{name}.built"
        if not built.exists():
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir()
            build(directory)
            built.touch()
    return directory


@pytest.fixture(scope="session")
def demo_store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the demo seeded once for the session (`mlflow.db`, `artifacts/`).

    Read-only: tests that write use `demo_store`, a copy.
    """
    import mlflow  # noqa: F401 - configures MLflow's loggers, which are quietened just below

    from mlops_tui.demo.seed import seed

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)

    def build(directory: Path) -> None:
        with warnings.catch_warnings():
            # The demand model uses the legacy stages on purpose; MLflow warns about them.
            warnings.simplefilter("ignore", FutureWarning)
            report = seed(template_settings(directory), now=DEMO_NOW)
        assert report.created and report.runs == DEMO_RUNS, report
        assert not (directory / "mlflow.db-wal").exists()  # a plain file copy is a full copy

    return built_once(tmp_path_factory, "demo-template", build)


@pytest.fixture
def demo_store(demo_store_template: Path, tmp_path: Path) -> MlflowSettings:
    """A writable copy of the demo store for this test.

    The copied database still points at the template's artifacts (read-only); experiments this
    test creates keep theirs under tmp_path.
    """
    directory = tmp_path / "demo-store"
    directory.mkdir()
    shutil.copyfile(demo_store_template / "mlflow.db", directory / "mlflow.db")
    return template_settings(directory)


@pytest.fixture
def demo_settings(demo_store: MlflowSettings) -> Settings:
    """Settings with one environment `local` on this test's copy of the demo store."""
    return Settings(environments={"local": EnvironmentSettings(mlflow=demo_store)}, default_env="local")


@pytest.fixture(scope="session")
def monitored_store(demo_store_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of the demo store with the week of monitoring runs the demo logs, up to DEMO_NOW."""
    import warnings

    from mlops_tui.demo.seed import seed_monitoring

    def build(directory: Path) -> None:
        shutil.copyfile(demo_store_template / "mlflow.db", directory / "mlflow.db")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            logged = seed_monitoring(template_settings(directory), now=DEMO_NOW)
        # churn: v2 for five days, v3 since its promotion two days ago (a day served by both);
        # fraud and demand: one version all week, 8 calendar days each.
        assert logged == 9 + 8 + 8
        assert seed_monitoring(template_settings(directory), now=DEMO_NOW) == 0  # only once

    yield built_once(tmp_path_factory, "monitored", build)


@pytest.fixture(scope="session")
def monitored_until_now(demo_store_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the demo store whose monitoring runs come up to now (what `status` reads)."""
    import warnings

    from mlops_tui.demo.seed import seed_monitoring

    directory = tmp_path_factory.mktemp("monitored-now")
    shutil.copyfile(demo_store_template / "mlflow.db", directory / "mlflow.db")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        assert seed_monitoring(template_settings(directory)) > 0
    return directory


@pytest.fixture(scope="session")
def demo_run_ids(demo_store_template: Path) -> dict[str, str]:
    """Run name (`churn-lgbm-016`, ...) -> run id in the demo store (and the server's copy)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=template_settings(demo_store_template).tracking_uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(ids, max_results=1000)
    return {run.info.run_name: run.info.run_id for run in runs}


@dataclass(frozen=True)
class DemoCommandRun:
    """What `mlops-tui demo --seed-only` did on a machine where mlops-tui never ran."""

    result: CliResult
    """The command's exit code and output."""
    data_home: Path
    """The XDG_DATA_HOME it filled (mlops-tui/ holds the stores and their artifacts)."""

    @property
    def store(self) -> Path:
        """The `local` environment's sqlite store it seeded."""
        return self.data_home / "mlops-tui" / "mlflow.db"


@pytest.fixture(scope="session")
def demo_command_run(tmp_path_factory: pytest.TempPathFactory) -> DemoCommandRun:
    """`mlops-tui demo --seed-only` run once for the session, as a newcomer runs it first: in empty
    XDG directories (seeding both demo environments through MLflow takes tens of seconds).

    Read-only: tests go on from it in their own copy of its data, through `demo_command_seeded`.
    """

    def build(directory: Path) -> None:
        with pytest.MonkeyPatch.context() as monkeypatch:
            isolate(directory, monkeypatch)
            result = run_cli("demo", "--seed-only")
        (directory / "result.json").write_text(json.dumps(asdict(result)))

    directory = built_once(tmp_path_factory, "demo-command", build)
    result = CliResult(**json.loads((directory / "result.json").read_text()))
    return DemoCommandRun(result, directory / "xdg_data_home")


@pytest.fixture
def demo_command_seeded(demo_command_run: DemoCommandRun, isolated_environment: Path) -> DemoCommandRun:
    """The session's `demo_command_run`, its data copied into this test's XDG_DATA_HOME: the test
    goes on as if it had run `mlops-tui demo --seed-only` itself."""
    data_home = isolated_environment / "xdg_data_home"
    shutil.copytree(demo_command_run.data_home / "mlops-tui", data_home / "mlops-tui")
    return demo_command_run


# -- the real MLflow server -----------------------------------------------------------------------


@contextmanager
def running_mlflow_server(directory: Path) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1 serving `directory/mlflow.db`; yields its base URL.

    Its log is `directory/server.log`; the whole process group is stopped on exit.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(Path(sys.executable).with_name("mlflow")),
        "server",
        "--backend-store-uri",
        f"sqlite:///{directory / 'mlflow.db'}",
        "--default-artifact-root",
        str(directory / "artifacts"),
        "--workers",
        "1",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        # MLflow 3's security middleware checks the Host header against an allow-list. Tests
        # reach the server through fault-injecting proxies on other loopback ports too.
        "--allowed-hosts",
        "127.0.0.1:*,localhost:*",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    # The job runner needs extra services and is of no use to these tests.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    with running_service(
        "mlflow server",
        command,
        ready_url=f"{url}/health",
        directory=directory,
        seconds=SERVER_START_SECONDS,
        env=env,
    ):
        yield url


@pytest.fixture(scope="session")
def mlflow_server(demo_store_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1 serving its own copy of the demo store; its base URL."""
    directory = tmp_path_factory.mktemp("mlflow-server")
    shutil.copyfile(demo_store_template / "mlflow.db", directory / "mlflow.db")
    with running_mlflow_server(directory) as url:
        yield url


@pytest.fixture
def server_settings(mlflow_server: str) -> Settings:
    """Settings with one environment `remote` on the session's MLflow server."""
    return Settings(
        environments={"remote": EnvironmentSettings(mlflow=MlflowSettings(tracking_uri=mlflow_server))},
        default_env="remote",
    )


# -- a real MLflow server that tests may write to -------------------------------------------------


@pytest.fixture(scope="session")
def writable_mlflow_server(
    demo_store_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A second real `mlflow server` on its own copy of the demo store, for write tests; its URL.

    Separate from `mlflow_server`, whose registry read-only golden tests rely on. Use it through
    `writable_server`, which puts the demo's registry back before each test.
    """
    directory = tmp_path_factory.mktemp("mlflow-writable-server")
    shutil.copyfile(demo_store_template / "mlflow.db", directory / "mlflow.db")
    with running_mlflow_server(directory) as url:
        yield url


@pytest.fixture
def writable_server(writable_mlflow_server: str) -> str:
    """The writable server's URL, its registry restored to the demo's (aliases, stages, no
    mlops-tui tags, no models but the demo's) before the test."""
    restore_demo_registry(writable_mlflow_server)
    return writable_mlflow_server


def restore_demo_registry(tracking_uri: str) -> None:
    """Put a demo store's registry back as the seeder left it, through MLflow's own client: drop
    registered models the demo has not and versions past its own, `mlops_tui.*` tags, and aliases
    and stages other than the demo's. Only what differs is written: most tests leave it as it was."""
    from mlflow.tracking import MlflowClient

    from mlops_tui.demo.seed import CHAMPION_HISTORY_TAG, DEMO_MODELS, champion_history

    plans = {plan.model: plan for plan in DEMO_MODELS}
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # legacy stages, on purpose
        for model in client.search_registered_models(max_results=1000):
            plan = plans.get(model.name)
            if plan is None:
                client.delete_registered_model(model.name)
                continue
            history = champion_history(plan, DEMO_NOW)
            tags = {CHAMPION_HISTORY_TAG: history} if history is not None else {}
            for key in model.tags:
                if key.startswith("mlops_tui.") and key not in tags:
                    client.delete_registered_model_tag(model.name, key)
            for key, value in tags.items():
                if model.tags.get(key) != value:
                    client.set_registered_model_tag(model.name, key, value)
            for alias in set(model.aliases) - set(plan.aliases):
                client.delete_registered_model_alias(model.name, alias)
            for alias, number in plan.aliases.items():
                if str(model.aliases.get(alias)) != str(number):
                    client.set_registered_model_alias(model.name, alias, str(number))
            for version in client.search_model_versions(f"name='{model.name}'"):
                if int(version.version) > plan.versions:
                    client.delete_model_version(model.name, version.version)
                    continue
                for key in version.tags:
                    if key.startswith("mlops_tui."):
                        client.delete_model_version_tag(model.name, version.version, key)
                stage = plan.stages.get(int(version.version), "None")
                if version.current_stage != stage:
                    client.transition_model_version_stage(model.name, version.version, stage)
        missing = set(plans) - {m.name for m in client.search_registered_models(max_results=1000)}
    assert not missing, f"the demo models {missing} were deleted from {tracking_uri}; cannot restore"


# -- a real Alertmanager --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def airflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowServer]:
    """A real Airflow (tests/helpers/airflow.py) whose tasks train against an MLflow server of
    their own, empty at the start of the session (`AirflowServer.mlflow_uri`)."""
    with ExitStack() as services:
        mlflow_uri = services.enter_context(running_mlflow_server(tmp_path_factory.mktemp("airflow-mlflow")))
        server = services.enter_context(
            running_airflow(
                tmp_path_factory.mktemp("airflow"), mlflow_uri=mlflow_uri, trainer_python=sys.executable
            )
        )
        _STOP_AIRFLOW.append(services.close)
        yield server


@pytest.fixture(scope="session")
def alertmanager_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Alertmanager on 127.0.0.1 for the whole session (ready in well under a second); its
    base URL. Tests use it through `alertmanager`."""
    with running_alertmanager(tmp_path_factory.mktemp("alertmanager")) as url:
        yield url


@pytest.fixture(scope="session")
def prometheus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusTestbed]:
    """A real Prometheus for the whole session scraping every second a small exporter of two
    models' serving metrics, churn's stepping for the worse a few seconds after it starts
    (tests/helpers/prometheus.py)."""
    with ModelExporter() as exporter:
        target = exporter.url.removeprefix("http://")
        with running_prometheus_scraping(tmp_path_factory.mktemp("prometheus"), target) as url:
            exporter.wait_for_first_scrape()
            yield PrometheusTestbed(url, exporter)


@pytest.fixture
def alertmanager(alertmanager_server: str, request: pytest.FixtureRequest) -> AlertmanagerTestbed:
    """The session's Alertmanager with every silence expired, and a `test` label of this test's
    own: alerts cannot be deleted, so a test posts its alerts with that label and filters on it."""
    expire_all_silences(alertmanager_server)
    return AlertmanagerTestbed(alertmanager_server, f"{request.node.name}-{uuid.uuid4().hex[:8]}")


# -- a real PostgreSQL, for the shared journal ----------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    """A throwaway PostgreSQL cluster for the session (about 3 s to create and start)."""
    with running_postgres(free_port()) as server:
        yield server


@pytest.fixture
def shared_journal_url(postgres_server: Postgres, monkeypatch: pytest.MonkeyPatch) -> str:
    """The URL (without password) of a fresh database of this test's own on the session's
    PostgreSQL; the password is in the environment variable PASSWORD_ENV."""
    import psycopg

    name = f"journal_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(
        host="127.0.0.1",
        port=postgres_server.port,
        user="mlops",
        password=PASSWORD,
        dbname="postgres",
        autocommit=True,
    ) as db:
        db.execute(f"CREATE DATABASE {name}")
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    return f"postgresql+psycopg://mlops@127.0.0.1:{postgres_server.port}/{name}"


# -- the order of the run ---------------------------------------------------------------------------

_STOP_AIRFLOW: list[Callable[[], None]] = []
"""Stops the session's Airflow, whose scheduler and DAG processor keep a core busy while idle: called
once the last test asking for it is done (they run together, first)."""


def _uses_airflow(item: pytest.Item | None) -> bool:
    """Whether `item` asks for Airflow: by its arguments, or by the `airflow` mark of a test that
    asks for it on the way (`request.getfixturevalue`)."""
    return item is not None and (
        "airflow_server" in getattr(item, "fixturenames", ())
        or item.get_closest_marker("airflow") is not None
    )


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own, which reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests sharing a server that takes a minute to start run on one worker (`./scripts/test` runs
    the suite on several, `--dist loadgroup`): one Airflow for the session, not one per worker.

    They come first and together, then the end-to-end tier: the longest tests start early instead
    of leaving one worker busy after the others are done."""
    for item in items:
        if _uses_airflow(item):
            item.add_marker(pytest.mark.xdist_group("airflow"))
    items.sort(key=lambda item: 0 if _uses_airflow(item) else 1 if item.get_closest_marker("e2e") else 2)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    yield
    if _uses_airflow(item) and not _uses_airflow(nextitem) and _STOP_AIRFLOW:
        _STOP_AIRFLOW.pop()()


# -- the workers' heap ------------------------------------------------------------------------------


def _release_textual_caches() -> None:
    """Empty the caches Textual keys by an object of one app (a widget's styles cache, a colour
    filter): each keeps that app's rendered lines alive after its test, up to a thousand apps' worth
    in a worker (a fifth of the objects left in it at the end), for every full collection to walk."""
    from textual._styles_cache import StylesCache
    from textual.filter import ANSIToTruecolor

    StylesCache.get_inner_outer.cache_clear()
    ANSIToTruecolor.truecolor_style.cache_clear()


def pytest_runtest_logfinish() -> None:
    if "textual._styles_cache" in sys.modules:  # an app ran in this process
        _release_textual_caches()


NEW_MODULES_TO_FREEZE = 20
_modules_at_freeze = 0


def _freeze_what_imports_made(phase: str, info: dict[str, int]) -> None:
    """After a full collection that follows new imports, keep what survived out of the next ones.

    A worker imports MLflow, SQLAlchemy, pandas and Google's clients as tests first need them:
    about 2,000 modules and 900,000 objects that live as long as the process. Every full collection
    walked them again, 17-20 CPU-s a worker; at the end pytest collects five times more and
    pytest-xdist interrupts a worker still at it 5 s after it was told to stop. Right after a full
    collection only reachable objects are left. What a test holds at that moment is kept for the
    rest of the process if it later becomes a cycle of garbage: a few times in a worker's run."""
    global _modules_at_freeze
    grown = len(sys.modules) >= _modules_at_freeze + NEW_MODULES_TO_FREEZE
    if phase == "stop" and info["generation"] == 2 and grown:
        gc.freeze()
        _modules_at_freeze = len(sys.modules)


gc.callbacks.append(_freeze_what_imports_made)
