"""The demo seeder, checked through MLflow's own client on the session's seeded store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mlops_tui.config import MlflowSettings
from mlops_tui.demo.seed import reset_store, seed
from mlops_tui.errors import UsageError
from tests.conftest import DemoCommandRun, template_settings
from tests.helpers import DEMO_NOW, DEMO_RUNS_PER_EXPERIMENT


def client_for(settings: MlflowSettings) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)


@pytest.fixture(scope="module")
def client(demo_store_template: Path) -> Any:
    return client_for(template_settings(demo_store_template))


@pytest.fixture(scope="module")
def runs(client: Any) -> list[Any]:
    experiments = [client.get_experiment_by_name(name) for name in DEMO_RUNS_PER_EXPERIMENT]
    return list(client.search_runs([e.experiment_id for e in experiments], max_results=1000))


def _ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def test_runs_over_three_experiments(client: Any, runs: list[Any]) -> None:
    assert len(runs) >= 40
    per_experiment = {}
    for name in DEMO_RUNS_PER_EXPERIMENT:
        experiment = client.get_experiment_by_name(name)
        per_experiment[name] = sum(r.info.experiment_id == experiment.experiment_id for r in runs)
        assert experiment.tags["team"] == "ml-platform"
    assert per_experiment == DEMO_RUNS_PER_EXPERIMENT
    assert client.get_experiment_by_name("churn-training").tags["mlops_tui.demo"] == "complete"


def test_run_times_follow_now(runs: list[Any]) -> None:
    starts = [_ms(r.info.start_time) for r in runs]
    assert max(starts) <= DEMO_NOW - timedelta(hours=2)
    assert max(starts) >= DEMO_NOW - timedelta(hours=8)
    assert min(starts) >= DEMO_NOW - timedelta(days=14)
    # Ties on start time would let a listing order those runs arbitrarily (golden files, screenshots).
    assert len(set(starts)) == len(starts)
    for run in runs:
        if run.info.end_time:
            assert run.info.end_time > run.info.start_time


def test_statuses(runs: list[Any]) -> None:
    statuses = [r.info.status for r in runs]
    assert statuses.count("RUNNING") == 1
    assert statuses.count("FAILED") == 5  # every seventh run from the sixth: 2 churn, 2 fraud, 1 demand
    running = next(r for r in runs if r.info.status == "RUNNING")
    assert running.info.run_name == "churn-logreg-018" and not running.info.end_time


def test_finished_runs_have_a_training_history(client: Any, runs: list[Any]) -> None:
    finished = [r for r in runs if r.info.status == "FINISHED"]
    assert len(finished) >= 30
    for run in finished:
        history = client.get_metric_history(run.info.run_id, "val_loss")
        assert len(history) >= 20
        assert sorted(m.step for m in history) == list(range(len(history)))
        assert len(client.get_metric_history(run.info.run_id, "drift_psi")) == 5


def test_every_run_has_lineage_tags_and_params(runs: list[Any]) -> None:
    for run in runs:
        tags, params = run.data.tags, run.data.params
        commit = tags["mlflow.source.git.commit"]
        assert len(commit) == 40 and int(commit, 16) >= 0
        name = run.info.run_name
        if name.startswith("demand-") and name != "demand-lgbm-012":
            # demand's older runs were trained by hand (its maturity stays at level 1).
            assert "gitlab.pipeline_id" not in tags and "gitlab.project" not in tags
        else:
            assert tags["gitlab.pipeline_id"].isdigit()
            assert tags["gitlab.project"] == "ml/models"
        assert params["algorithm"] == tags["algorithm"]
        assert run.info.run_name.startswith(tags["mlflow.source.name"][len("train_") : -len(".py")])
    assert len({r.data.tags["mlflow.source.git.commit"] for r in runs}) == len(runs)


def test_registry(client: Any) -> None:
    assert {m.name for m in client.search_registered_models()} == {"churn", "fraud", "demand"}
    churn = client.get_registered_model("churn")
    assert {a: str(v) for a, v in churn.aliases.items()} == {"champion": "3", "challenger": "4"}
    fraud = client.get_registered_model("fraud")
    assert {a: str(v) for a, v in fraud.aliases.items()} == {"champion": "2"}
    demand = client.get_registered_model("demand")
    assert demand.aliases == {}
    stages = {n: client.get_model_version("demand", str(n)).current_stage for n in (1, 2, 3)}
    assert stages == {1: "Archived", 2: "Production", 3: "Staging"}


def test_versions_are_tagged_and_come_from_finished_runs(client: Any) -> None:
    counts = {}
    for name in ("churn", "fraud", "demand"):
        versions = client.search_model_versions(f"name='{name}'")
        counts[name] = len(versions)
        for version in versions:
            assert version.tags["validation_status"] in {"passed", "failed"}
            run = client.get_run(version.run_id)
            assert run.info.status == "FINISHED"
            assert version.source == f"{run.info.artifact_uri}/model"
            assert version.source.startswith("file://")
    assert counts == {"churn": 4, "fraud": 3, "demand": 3}
    assert client.get_model_version("fraud", "1").tags["validation_status"] == "failed"
    assert client.get_model_version("fraud", "2").tags["validation_status"] == "passed"


def test_model_artifact_is_logged(client: Any) -> None:
    version = client.get_model_version("churn", "3")
    path = Path(version.source.removeprefix("file://")) / "MLmodel"
    assert "python_function" in path.read_text()


def count_runs(settings: MlflowSettings) -> int:
    client = client_for(settings)
    ids = [e.experiment_id for e in client.search_experiments()]
    return len(client.search_runs(ids, max_results=1000))


def test_seeding_twice_changes_nothing(demo_store: MlflowSettings) -> None:
    before = count_runs(demo_store)
    report = seed(demo_store, now=DEMO_NOW)
    assert (report.created, report.experiments, report.runs, report.versions) == (False, 0, 0, 0)
    assert count_runs(demo_store) == before == sum(DEMO_RUNS_PER_EXPERIMENT.values())
    assert len(client_for(demo_store).search_model_versions("name='churn'")) == 4


@pytest.fixture
def empty_store(tmp_path: Path) -> MlflowSettings:
    return template_settings(tmp_path / "empty")


def test_interrupted_seed_is_refused(empty_store: MlflowSettings) -> None:
    Path(empty_store.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True)
    client_for(empty_store).create_experiment("churn-training")  # as if seeding stopped here
    with pytest.raises(UsageError, match="--reset"):
        seed(empty_store, now=DEMO_NOW)


def test_reset_deletes_the_store_and_its_artifacts(demo_store: MlflowSettings) -> None:
    database = Path(demo_store.tracking_uri.removeprefix("sqlite:///"))
    assert demo_store.artifact_root is not None
    artifacts = Path(demo_store.artifact_root)
    (artifacts / "exp").mkdir(parents=True)
    (artifacts / "exp" / "file").write_text("x")
    reset_store(demo_store)
    assert not database.exists() and not artifacts.exists()
    reset_store(demo_store)  # nothing left to delete: still fine


def test_reset_refuses_anything_but_a_local_sqlite_store() -> None:
    with pytest.raises(UsageError, match="only deletes a local sqlite store"):
        reset_store(MlflowSettings(tracking_uri="http://127.0.0.1:5000"))


def test_the_demo_fills_two_environments_for_the_fleet(demo_command_seeded: DemoCommandRun) -> None:
    from tests.helpers import run_cli

    seeded = demo_command_seeded.result
    assert seeded.code == 0, seeded
    assert "Seeded local (" in seeded.stderr and "Seeded local-prd (" in seeded.stderr
    status = run_cli("status", "--all", "--json").json()
    serving = {e["environment"]: e["serving"]["versions"] for e in status["environments"]}
    assert serving == {
        "local": {"churn": "v3", "fraud": "v2", "demand": "v2"},
        "local-prd": {"churn": "v2", "fraud": "v1"},
    }
    assert run_cli("demo", "--seed-only").stderr.count("Demo data already in") == 2


def schema(settings: MlflowSettings) -> list[object]:
    """Each table's and index's definition, and the alembic revision. A definition as its set of
    lines: two stores MLflow builds itself may list a table's constraints in another order."""
    import sqlite3

    def lines(sql: str | None) -> frozenset[str]:
        return frozenset(line.strip().rstrip(",") for line in (sql or "").splitlines())

    with sqlite3.connect(settings.tracking_uri.removeprefix("sqlite:///")) as db:
        tables = db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").fetchall()
        revision = db.execute("SELECT version_num FROM alembic_version").fetchall()
    return [*((kind, name, lines(sql)) for kind, name, sql in tables), *revision]


def test_new_stores_are_built_by_mlflow_once_and_are_as_mlflow_builds_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow runs its migrations for the first new store only; the next is copied from it and holds
    the same schema, at the same revision, as a store MLflow builds itself."""
    import mlflow.store.db.utils as db_utils

    from mlops_tui.demo import seed as demo_seed

    built = []
    build = db_utils._initialize_tables

    def counted(engine: Any) -> None:
        built.append(str(engine.url))
        build(engine)

    monkeypatch.setattr(db_utils, "_initialize_tables", counted)
    monkeypatch.setattr(demo_seed, "_new_store", None)  # as in a new process
    first, second = template_settings(tmp_path / "first"), template_settings(tmp_path / "second")
    one_model = demo_seed.PRD_MODELS[-1:]  # fraud: four runs, a version
    assert seed(first, now=DEMO_NOW, plans=one_model).created
    assert demo_seed.seed_monitoring(second, now=DEMO_NOW, plans=one_model, registry=first) > 0
    assert built == [first.tracking_uri]
    by_mlflow = template_settings(tmp_path / "by-mlflow")
    Path(by_mlflow.tracking_uri.removeprefix("sqlite:///")).parent.mkdir()
    client_for(by_mlflow).search_experiments()
    assert len(built) == 2
    assert schema(second) == schema(by_mlflow) == schema(first)
