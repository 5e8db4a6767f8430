"""Data sets of the suite: the demo registry, and experiments of thousands of runs made fast.

Logging a run through `MlflowClient` costs about 22 ms, so 5,000 runs would take two minutes. Instead
a handful of runs go through the client (which also creates and migrates the store), and the rest are
copies of their rows, bulk-inserted into MLflow's sqlite schema: `runs`, `tags`, `params`, `metrics`
and `latest_metrics`. Every copied row starts from a row the client wrote, so columns this suite does
not know about keep the client's values.
"""

from __future__ import annotations

import logging
import random
import sqlite3
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
    from mlops_tui import demo

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


def _rows(con: sqlite3.Connection, table: str, run_id: str) -> list[dict[str, Any]]:
    cursor = con.execute(f"SELECT * FROM {table} WHERE run_uuid = ?", (run_id,))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


class _Inserter:
    """Collects rows shaped like a template row of each table, then inserts them in bulk."""

    def __init__(self, con: sqlite3.Connection, template_run: str):
        self.templates = {
            table: _rows(con, table, template_run)[0]
            for table in ("runs", "tags", "params", "metrics", "latest_metrics")
        }
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
        rows = _Inserter(con, template_ids[-1])
        template_run = rows.templates["runs"]
        for index in range(through_client, runs):
            _add_run(rows, template_run, run_spec(index, rng))
        rows.flush(con)
    with closing(sqlite3.connect(db)) as con:
        (count,) = con.execute(
            "SELECT COUNT(*) FROM runs WHERE experiment_id = ?", (int(experiment_id),)
        ).fetchone()
    if count != runs:
        raise RuntimeError(f"experiment {name} holds {count} runs, expected {runs}")
    return experiment_id
