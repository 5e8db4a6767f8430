"""Data sets of the suite: the demo registry, experiments of up to 100,000 runs and a registry of
1,000 models, made fast.

Logging a run through `MlflowClient` costs about 22 ms, so 100,000 runs would take 40 minutes. Instead
a handful of runs (and one registered model with its versions) go through the client, which also
creates and migrates the store, and the rest are copies of their rows, bulk-inserted into MLflow's
sqlite schema: `runs`, `tags`, `params`, `metrics` and `latest_metrics`; `registered_models`,
`model_versions`, `registered_model_aliases`, `registered_model_tags` and `model_version_tags`. Every
copied row starts from a row the client wrote, so columns this suite does not know about keep the
client's values.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import sys
import uuid
import warnings
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_tui.config import MlflowSettings

TEMPLATE_RUNS = 5
ALGORITHMS = ("lgbm", "xgb", "logreg", "catboost")
USERS = ("amira", "jonas", "priya", "tom")
STEPS = 5
BASE_MS = 1_780_000_000_000
FLUSH_EVERY = 5_000
RUN_TABLES = ("runs", "tags", "params", "metrics", "latest_metrics")
MODEL_TABLES = (
    "registered_models",
    "model_versions",
    "registered_model_aliases",
    "registered_model_tags",
    "model_version_tags",
)
TEMPLATE_MODEL = "bench-model-0000"
VERSIONS_PER_MODEL = 3
"""Start time of the oldest run; runs follow one minute apart."""


@dataclass(frozen=True)
class RunSpec:
    """Everything one synthetic run logs."""

    name: str
    status: str
    start_ms: int
    end_ms: int
    tags: dict[str, str]
    params: dict[str, str]
    metrics: list[tuple[str, float, int, int]]
    """(key, value, timestamp_ms, step), in logging order."""


@contextmanager
def quiet_mlflow() -> Iterator[None]:
    """Silence MLflow's INFO logging (store creation, migrations) and its warnings."""
    import mlflow  # noqa: F401 - configures MLflow's loggers, which must happen before the change

    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def seed_demo(db: Path, artifacts: Path) -> None:
    """Fill the sqlite store `db` with the demo data of `mlops_tui.demo`, through MlflowClient."""
    from mlops_tui.demo import seed as demo

    settings = MlflowSettings(tracking_uri=f"sqlite:///{db}", artifact_root=str(artifacts))
    with quiet_mlflow():
        report = demo.seed(settings)
    if not report.created:
        raise RuntimeError(f"{db} already held the demo data")


def run_spec(index: int, rng: random.Random) -> RunSpec:
    """The synthetic run number `index`: newer for higher indexes; val_auc between 0.6 and 0.95."""
    algorithm = ALGORITHMS[index % len(ALGORITHMS)]
    start_ms = BASE_MS + index * 60_000
    end_ms = start_ms + rng.randint(60_000, 1_500_000)
    status = "FAILED" if index % 13 == 7 else "FINISHED"
    auc = rng.uniform(0.6, 0.95)
    loss = rng.uniform(0.15, 0.5)
    metrics: list[tuple[str, float, int, int]] = []
    for step in range(STEPS):
        share = (step + 1) / STEPS
        t = start_ms + (end_ms - start_ms) * (step + 1) // STEPS
        metrics.append(("train_loss", round(loss + 0.5 * (1 - share), 4), t, step))
        metrics.append(("val_loss", round(loss + 0.05 + 0.5 * (1 - share), 4), t, step))
        metrics.append(("val_auc", round(auc - 0.2 * (1 - share), 4), t, step))
    name = f"bench-{algorithm}-{index:05d}"
    return RunSpec(
        name=name,
        status=status,
        start_ms=start_ms,
        end_ms=end_ms,
        tags={
            "mlflow.user": USERS[index % len(USERS)],
            "mlflow.source.name": "train.py",
            "mlflow.source.git.commit": f"{rng.getrandbits(160):040x}",
            "algorithm": algorithm,
        },
        params={
            "algorithm": algorithm,
            "learning_rate": str(rng.choice((0.01, 0.03, 0.05, 0.1))),
            "max_depth": str(rng.choice((4, 6, 8))),
            "n_estimators": str(rng.choice((200, 400, 800))),
            "feature_set": rng.choice(("v3", "v4")),
            "train_rows": str(rng.choice((120_000, 250_000, 480_000))),
        },
        metrics=metrics,
    )


def _log_through_client(client: Any, experiment_id: str, spec: RunSpec) -> str:
    from mlflow.entities import Metric, Param

    run = client.create_run(experiment_id, start_time=spec.start_ms, run_name=spec.name, tags=spec.tags)
    run_id: str = run.info.run_id
    client.log_batch(
        run_id,
        metrics=[Metric(k, v, t, s) for k, v, t, s in spec.metrics],
        params=[Param(k, v) for k, v in spec.params.items()],
    )
    client.set_terminated(run_id, status=spec.status, end_time=spec.end_ms)
    return run_id


def _first_row(con: sqlite3.Connection, table: str, column: str, value: object) -> dict[str, Any]:
    cursor = con.execute(f'SELECT * FROM {table} WHERE "{column}" = ? LIMIT 1', (value,))
    names = [d[0] for d in cursor.description]
    row = cursor.fetchone()
    if row is None:
        raise RuntimeError(f"MLflow wrote no row in {table} for {column} = {value!r}")
    return dict(zip(names, row, strict=True))


class _Inserter:
    """Collects rows shaped like a template row of each table, then inserts them in bulk."""

    def __init__(self, con: sqlite3.Connection, column: str, value: object, tables: tuple[str, ...]):
        """Templates: the first row of each of `tables` whose `column` is `value`."""
        self.templates = {table: _first_row(con, table, column, value) for table in tables}
        self.pending: dict[str, list[tuple[Any, ...]]] = {t: [] for t in self.templates}

    def add(self, table: str, **values: Any) -> None:
        template = self.templates[table]
        unknown = set(values) - set(template)
        if unknown:
            raise RuntimeError(f"MLflow's {table} table has no column {sorted(unknown)}")
        self.pending[table].append(tuple({**template, **values}.values()))

    def flush(self, con: sqlite3.Connection) -> None:
        for table, rows in self.pending.items():
            columns = ", ".join(f'"{c}"' for c in self.templates[table])
            marks = ", ".join("?" for _ in self.templates[table])
            con.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
            rows.clear()


def _add_run(rows: _Inserter, template_run: dict[str, Any], spec: RunSpec) -> None:
    run_id = uuid.uuid4().hex
    rows.add(
        "runs",
        run_uuid=run_id,
        name=spec.name,
        user_id=spec.tags["mlflow.user"],
        status=spec.status,
        start_time=spec.start_ms,
        end_time=spec.end_ms,
        artifact_uri=template_run["artifact_uri"].replace(template_run["run_uuid"], run_id),
    )
    for key, value in {**spec.tags, "mlflow.runName": spec.name}.items():
        rows.add("tags", key=key, value=value, run_uuid=run_id)
    for key, value in spec.params.items():
        rows.add("params", key=key, value=value, run_uuid=run_id)
    latest: dict[str, tuple[float, int, int]] = {}
    for key, value, timestamp, step in spec.metrics:
        rows.add("metrics", key=key, value=value, timestamp=timestamp, step=step, run_uuid=run_id, is_nan=0)
        latest[key] = (value, timestamp, step)
    for key, (value, timestamp, step) in latest.items():
        rows.add(
            "latest_metrics",
            key=key,
            value=value,
            timestamp=timestamp,
            step=step,
            is_nan=0,
            run_uuid=run_id,
        )


def bulk_experiment(db: Path, artifacts: Path, name: str, runs: int, seed: int = 7) -> str:
    """Create experiment `name` holding exactly `runs` runs; return its id.

    The first `TEMPLATE_RUNS` runs go through MlflowClient (creating and migrating the store if
    needed); the rest are bulk copies of their rows.
    """
    from mlflow.tracking import MlflowClient

    rng = random.Random(seed)
    uri = f"sqlite:///{db}"
    with quiet_mlflow():
        client = MlflowClient(tracking_uri=uri)
        experiment_id: str = client.create_experiment(name, artifact_location=(artifacts / name).as_uri())
        through_client = min(TEMPLATE_RUNS, runs)
        template_ids = [
            _log_through_client(client, experiment_id, run_spec(i, rng)) for i in range(through_client)
        ]
    with closing(sqlite3.connect(db)) as con, con:
        con.execute("PRAGMA synchronous = OFF")  # a throw-away store: no need to wait for the disk
        rows = _Inserter(con, "run_uuid", template_ids[-1], RUN_TABLES)
        template_run = rows.templates["runs"]
        for index in range(through_client, runs):
            _add_run(rows, template_run, run_spec(index, rng))
            if index % FLUSH_EVERY == 0:  # bounded memory at 100,000 runs
                rows.flush(con)
        rows.flush(con)
    with closing(sqlite3.connect(db)) as con:
        (count,) = con.execute(
            "SELECT COUNT(*) FROM runs WHERE experiment_id = ?", (int(experiment_id),)
        ).fetchone()
    if count != runs:
        raise RuntimeError(f"experiment {name} holds {count} runs, expected {runs}")
    return experiment_id


def newest_run_name(runs: int) -> str:
    """The name of the newest run of an experiment made by `bulk_experiment(..., runs)`."""
    return run_spec(runs - 1, random.Random(0)).name


def model_name(index: int) -> str:
    """The name of bulk registered model number `index` (sorted by name as by index)."""
    return f"bench-model-{index:04d}"


def _template_model(db: Path, run_id: str) -> None:
    """Registered model `TEMPLATE_MODEL` through MlflowClient: versions from `run_id`, an alias and tags."""
    from mlflow.tracking import MlflowClient

    with quiet_mlflow():
        client = MlflowClient(tracking_uri=f"sqlite:///{db}")
        client.create_registered_model(TEMPLATE_MODEL, tags={"team": "bench"}, description="Bulk model.")
        source = client.get_run(run_id).info.artifact_uri + "/model"
        for _ in range(VERSIONS_PER_MODEL):
            version = client.create_model_version(
                TEMPLATE_MODEL, source, run_id=run_id, tags={"validation_status": "passed"}
            )
        client.set_registered_model_alias(TEMPLATE_MODEL, "champion", version.version)


def bulk_registry(db: Path, models: int, run_id: str) -> None:
    """Registered models `bench-model-0000` ... holding `VERSIONS_PER_MODEL` versions each (made
    from run `run_id`), the newest aliased `champion`, the one before `challenger`.

    The first model goes through MlflowClient; the rest are bulk copies of its rows.
    """
    _template_model(db, run_id)
    with closing(sqlite3.connect(db)) as con, con:
        rows = _Inserter(con, "name", TEMPLATE_MODEL, MODEL_TABLES)
        for index in range(1, models):
            name = model_name(index)
            rows.add("registered_models", name=name)
            rows.add("registered_model_tags", name=name)
            for version in range(1, VERSIONS_PER_MODEL + 1):
                rows.add("model_versions", name=name, version=version)
                rows.add("model_version_tags", name=name, version=version)
            for alias, version in (("champion", VERSIONS_PER_MODEL), ("challenger", VERSIONS_PER_MODEL - 1)):
                rows.add("registered_model_aliases", name=name, alias=alias, version=version)
        rows.flush(con)
        con.execute(
            "INSERT INTO registered_model_aliases (alias, version, name, workspace) "
            "SELECT 'challenger', ?, name, workspace FROM registered_model_aliases WHERE name = ?",
            (VERSIONS_PER_MODEL - 1, TEMPLATE_MODEL),
        )
    with closing(sqlite3.connect(db)) as con:
        (count,) = con.execute(
            "SELECT COUNT(*) FROM registered_models WHERE name LIKE 'bench-model-%'"
        ).fetchone()
    if count != models:
        raise RuntimeError(f"the registry holds {count} bulk models, expected {models}")


def experiment_id(db: Path, name: str) -> str:
    with closing(sqlite3.connect(db)) as con:
        (found,) = con.execute("SELECT experiment_id FROM experiments WHERE name = ?", (name,)).fetchone()
    return str(found)


def seed_scale(db: Path, artifacts: Path, name: str, runs: int, models: int) -> None:
    """The scale store: experiment `name` of `runs` runs, and `models` registered models."""
    bulk_experiment(db, artifacts, name, runs)
    with closing(sqlite3.connect(db)) as con:
        (run_id,) = con.execute("SELECT run_uuid FROM runs ORDER BY start_time DESC LIMIT 1").fetchone()
    bulk_registry(db, models, run_id)


if __name__ == "__main__":  # the suite seeds the scale store in a process of its own, meanwhile
    seed_scale(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
