"""Fill an MLflow store with realistic demo data through the real MLflow API.

Three teams' worth of work: experiments for churn, fraud and demand models, runs with parameters,
metric histories over training steps and lineage tags (git commit, GitLab pipeline), and a registry
where `churn` and `fraud` use aliases while `demand` still uses the legacy stages. Their MLOps
maturity differs (`mlops-tui maturity`): demand's older runs were trained by hand (level 1), fraud's
champion was promoted by hand (level 2), churn's by CI (level 3). Deterministic for a
given `now`, so screenshots and snapshot tests are stable. Seeding twice never duplicates: the last
step marks the store complete, and a complete store is left alone.
"""

from __future__ import annotations

import json
import math
import random
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mlops_tui.config import MlflowSettings
from mlops_tui.errors import UsageError
from mlops_tui.ops.registry import Slot
from mlops_tui.text.rfc3339 import format_rfc3339

__all__ = [
    "CHAMPION_HISTORY_TAG",
    "DEMO_MODELS",
    "PRD_MODELS",
    "champion_history",
    "reset_store",
    "seed",
    "seed_monitoring",
]

MARKER_TAG = "mlops_tui.demo"
TEAM = ("amira", "jonas", "priya", "tom")
CHAMPION_HISTORY_TAG = Slot("alias", "champion").history_tag


@dataclass(frozen=True)
class _ModelPlan:
    model: str
    experiment: str
    runs: int
    score: str
    algorithms: tuple[str, ...]
    versions: int
    aliases: dict[str, int]
    stages: dict[int, str]
    champion_before: int | None = None
    """The version the champion alias held before, as promoting with mlops-tui records it, so that
    a rollback has somewhere to go."""
    promoted_by: str | None = None
    """Who promoted the champion by hand, as promoting with mlops-tui tags the version."""
    trained_in_ci: int | None = None
    """How many of the newest runs a pipeline trained; the older ones were trained by hand (no
    pipeline tag). None: every run."""


DEMO_MODELS = (
    _ModelPlan(
        "churn",
        "churn-training",
        18,
        "val_auc",
        ("lgbm", "xgb", "logreg"),
        4,
        {"champion": 3, "challenger": 4},
        {},
        champion_before=2,
    ),
    _ModelPlan(
        "fraud",
        "fraud-detection",
        14,
        "val_auc",
        ("xgb", "isoforest"),
        3,
        {"champion": 2},
        {},
        promoted_by="amira",
    ),
    _ModelPlan(
        "demand",
        "demand-forecast",
        12,
        "val_rmse",
        ("prophet", "lgbm"),
        3,
        {},
        {1: "Archived", 2: "Production", 3: "Staging"},
        trained_in_ci=1,
    ),
)


PRD_MODELS = (
    _ModelPlan("churn", "churn-training", 5, "val_auc", ("lgbm",), 2, {"champion": 2}, {}, champion_before=1),
    _ModelPlan(
        "fraud", "fraud-detection", 4, "val_auc", ("xgb",), 1, {"champion": 1}, {}, promoted_by="amira"
    ),
)
"""The built-in `local-prd` environment's registry: what production serves, a version or two
behind `local`'s."""


@dataclass(frozen=True)
class SeedReport:
    created: bool
    experiments: int
    runs: int
    versions: int


def reset_store(settings: MlflowSettings) -> None:
    """Delete a local sqlite store and its artifacts. Refuses anything but a local sqlite file."""
    prefix = "sqlite:///"
    if not settings.tracking_uri.startswith(prefix):
        raise UsageError(f"--reset only deletes a local sqlite store, not {settings.tracking_uri}")
    Path(settings.tracking_uri[len(prefix) :]).unlink(missing_ok=True)
    if settings.artifact_root:
        shutil.rmtree(settings.artifact_root, ignore_errors=True)


_new_store: bytes | None = None
"""A new SQLite store, empty as MLflow made it, which the next new stores are copied from: MLflow
builds a store's schema through its hundred-odd migrations, a second of CPU each time, and the
demo makes three."""


def _client(settings: MlflowSettings) -> Any:
    """An `MlflowClient` of the store named by `settings`; a new SQLite store is made as the first
    one this process made (`_new_store`)."""
    global _new_store
    from mlflow.tracking import MlflowClient

    from mlops_tui.sources.mlflow import quiet_mlflow

    quiet_mlflow()
    path = Path(settings.tracking_uri.removeprefix("sqlite:///"))
    new = settings.tracking_uri.startswith("sqlite:///") and not path.exists()
    if new:
        path.parent.mkdir(parents=True, exist_ok=True)
        if _new_store is not None:
            path.write_bytes(_new_store)
    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    if new and _new_store is None:
        client.search_experiments(max_results=1)  # MLflow makes the schema on the store's first use
        _new_store = path.read_bytes()
    return client


def seed(
    settings: MlflowSettings, *, now: datetime | None = None, plans: tuple[_ModelPlan, ...] = DEMO_MODELS
) -> SeedReport:
    """Fill the store named by `settings` with `plans` (the `local` environment's by default)
    unless it already holds the complete demo.

    Raises:
        UsageError: the store holds a partial demo (an interrupted seed); `--reset` starts over.
    """
    client = _client(settings)
    first = client.get_experiment_by_name(plans[0].experiment)
    if first is not None:
        if first.tags.get(MARKER_TAG) == "complete":
            return SeedReport(False, 0, 0, 0)
        raise UsageError("the store holds an interrupted demo seed; run `mlops-tui demo --reset`")
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    rng = random.Random(20261126)
    runs = versions = 0
    experiment_ids = []
    for plan in plans:
        experiment_id = client.create_experiment(
            plan.experiment,
            artifact_location=_artifact_location(settings, plan.experiment),
            tags={"team": "ml-platform", "model": plan.model},
        )
        experiment_ids.append(experiment_id)
        run_ids = [
            _seed_run(client, experiment_id, plan, index, now, rng, offset=plans.index(plan))
            for index in range(plan.runs)
        ]
        runs += len(run_ids)
        versions += _seed_registry(client, plan, run_ids, now)
    client.set_experiment_tag(experiment_ids[0], MARKER_TAG, "complete")
    return SeedReport(True, len(plans), runs, versions)


def _artifact_location(settings: MlflowSettings, experiment: str) -> str | None:
    if not settings.artifact_root:
        return None
    path = Path(settings.artifact_root) / experiment
    path.mkdir(parents=True, exist_ok=True)
    return path.as_uri()


def _seed_run(
    client: Any,
    experiment_id: str,
    plan: _ModelPlan,
    index: int,
    now: datetime,
    rng: random.Random,
    *,
    offset: int,
) -> str:
    from mlflow.entities import Metric, Param, RunTag

    algorithm = plan.algorithms[index % len(plan.algorithms)]
    # Oldest first, one every ~18 hours, the newest a couple of hours ago; each model on its own
    # second so that no two runs tie on start time (listings would order ties arbitrarily).
    start = now - timedelta(
        hours=2 + 18 * (plan.runs - 1 - index),
        minutes=rng.randint(0, 300),
        seconds=offset * 13,
    )
    duration = timedelta(seconds=rng.randint(90, 1500))
    commit = f"{rng.getrandbits(160):040x}"
    pipeline_id = 41000 + index * 7 + len(plan.model)
    # The newest run of churn is still running; every seventh failed.
    status = (
        "RUNNING"
        if plan.model == "churn" and index == plan.runs - 1
        else ("FAILED" if index % 7 == 5 else "FINISHED")
    )
    lineage = {"gitlab.pipeline_id": str(pipeline_id), "gitlab.project": "ml/models"}
    by_hand = plan.trained_in_ci is not None and index < plan.runs - plan.trained_in_ci
    run = client.create_run(
        experiment_id,
        start_time=int(start.timestamp() * 1000),
        run_name=f"{plan.model}-{algorithm}-{index + 1:03d}",
        tags={
            "mlflow.user": TEAM[(index + len(plan.model)) % len(TEAM)],
            "mlflow.source.git.commit": commit,
            "mlflow.source.name": f"train_{plan.model}.py",
            **({} if by_hand else lineage),
            "algorithm": algorithm,
        },
    )
    run_id: str = run.info.run_id
    learning_rate = rng.choice((0.01, 0.03, 0.05, 0.1))
    params = {
        "algorithm": algorithm,
        "learning_rate": learning_rate,
        "max_depth": rng.choice((4, 6, 8)),
        "n_estimators": rng.choice((200, 400, 800)),
        "feature_set": rng.choice(("v3", "v4")),
        "train_rows": rng.choice((120_000, 250_000, 480_000)),
    }
    quality = 0.5 + 0.5 * (index + 1) / plan.runs + rng.uniform(-0.15, 0.15)
    steps = 6 if status == "FAILED" else 20
    metrics = []
    for step in range(steps):
        t = int((start + duration * (step + 1) / 20).timestamp() * 1000)
        progress = 1 - math.exp(-(step + 1) / 5)
        train_loss = 0.7 * (1 - progress) + 0.15 + rng.uniform(-0.01, 0.01)
        metrics.append(Metric("train_loss", round(train_loss, 4), t, step))
        metrics.append(Metric("val_loss", round(train_loss + 0.04 + 0.03 * rng.random(), 4), t, step))
        if plan.score == "val_auc":
            value = 0.62 + 0.28 * progress * quality + rng.uniform(-0.004, 0.004)
        else:
            value = 48 - 30 * progress * quality + rng.uniform(-0.3, 0.3)
        metrics.append(Metric(plan.score, round(value, 4), t, step))
    end_ms = int((start + duration).timestamp() * 1000)
    if status == "FINISHED":
        # Drift of the serving data against training data, logged by the monitoring job daily.
        for day in range(5):
            drift = 0.04 + 0.02 * day + rng.uniform(0, 0.02)
            metrics.append(Metric("drift_psi", round(drift, 4), end_ms + day * 86_400_000, day))
    client.log_batch(
        run_id,
        metrics=metrics,
        params=[Param(k, str(v)) for k, v in params.items()],
        tags=[RunTag("mlflow.note.content", f"{algorithm} on feature set {params['feature_set']}")],
    )
    client.log_text(run_id, _mlmodel(plan.model, algorithm), "model/MLmodel")
    if status != "RUNNING":
        client.set_terminated(run_id, status=status, end_time=end_ms)
    return run_id


def _mlmodel(model: str, algorithm: str) -> str:
    return (
        f"artifact_path: model\nflavors:\n  python_function:\n    loader_module: {model}_{algorithm}\n"
        "    python_version: 3.11.7\nmlflow_version: 3\n"
    )


def _seed_registry(client: Any, plan: _ModelPlan, run_ids: list[str], now: datetime) -> int:
    client.create_registered_model(
        plan.model,
        tags={"team": "ml-platform", "owner": TEAM[len(plan.model) % len(TEAM)]},
        description=f"{plan.model.capitalize()} model served to the {plan.model} service.",
    )
    finished = [run_id for run_id in run_ids if client.get_run(run_id).info.status == "FINISHED"]
    sources = finished[-plan.versions :]
    for number, run_id in enumerate(sources, start=1):
        version = client.create_model_version(
            plan.model,
            source=f"{client.get_run(run_id).info.artifact_uri}/model",
            run_id=run_id,
            tags={
                "validation_status": "failed" if number == 1 and plan.model == "fraud" else "passed",
                "trained_by": "gitlab-ci",
            },
            description=f"Version {number} of {plan.model}.",
        )
        if stage := plan.stages.get(number):
            client.transition_model_version_stage(plan.model, version.version, stage)
    for alias, number in plan.aliases.items():
        client.set_registered_model_alias(plan.model, alias, str(number))
    if plan.promoted_by is not None and "champion" in plan.aliases:
        champion = str(plan.aliases["champion"])
        for key, value in (
            ("mlops_tui.promoted_by", plan.promoted_by),
            ("mlops_tui.promoted_at", format_rfc3339(now - timedelta(days=3), "seconds")),
            ("mlops_tui.promoted_to", "promote to champion"),
        ):
            client.set_model_version_tag(plan.model, champion, key, value)
    if (history := champion_history(plan, now)) is not None:
        client.set_registered_model_tag(plan.model, CHAMPION_HISTORY_TAG, history)
    return len(sources)


def champion_history(plan: _ModelPlan, now: datetime) -> str | None:
    """The value of the champion's history tag the demo seeds for `plan`, if any: the version it
    held before, promoted by CI two days before `now`."""
    if plan.champion_before is None:
        return None
    promoted = format_rfc3339(now - timedelta(days=2), "auto")
    return json.dumps([{"version": str(plan.champion_before), "by": "gitlab-ci", "at": promoted}])


MONITORING_EXPERIMENT = "monitoring"
MONITORING_DAYS = 7
_MONITORED = {
    # model: (latency p95 ms, error rate %, requests/s, drift) of its steady state
    "churn": (82.0, 0.4, 42.0, 0.05),
    "fraud": (35.0, 0.2, 180.0, 0.08),
    "demand": (140.0, 0.6, 12.0, 0.04),
}
REGRESSION = {"latency_p95_ms": 2.95, "error_rate_pct": 6.0}
"""How much worse churn's serving got after its latest promotion (a factor of the steady value)."""


def seed_monitoring(
    settings: MlflowSettings,
    *,
    now: datetime | None = None,
    plans: tuple[_ModelPlan, ...] = DEMO_MODELS,
    experiment: str = MONITORING_EXPERIMENT,
    registry: MlflowSettings | None = None,
) -> int:
    """Log a week of serving metrics the way a small team's monitoring job does: one run per day and
    served version in the `monitoring` experiment, tagged `model` and `version`, with hourly
    `latency_p95_ms`, `error_rate_pct`, `requests_per_s` and `prediction_drift`. Churn's serving
    regressed after its latest promotion (when its champion history tag in the `registry` store,
    default the same, says v2 was replaced): latency and errors jump when v3 takes over. Returns
    how many runs it logged; none when the experiment exists already.
    """
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = _client(settings)
    registry_uri = (registry or settings).tracking_uri
    models = MlflowClient(tracking_uri=registry_uri, registry_uri=registry_uri)
    if client.get_experiment_by_name(experiment) is not None:
        return 0
    now = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    rng = random.Random(20261207)
    experiment_id = client.create_experiment(
        experiment,
        artifact_location=_artifact_location(settings, experiment),
        tags={"team": "ml-platform", "mlflow.note.content": "Serving metrics, logged daily."},
    )
    logged = 0
    for plan in plans:
        steady = _MONITORED.get(plan.model)
        if steady is None:
            continue
        serving = plan.aliases.get("champion") or next(
            (n for n, stage in plan.stages.items() if stage == "Production"), None
        )
        if serving is None:
            continue
        promoted = _promoted_at(models, plan.model)
        hours = [now - timedelta(hours=h) for h in range(MONITORING_DAYS * 24, -1, -1)]
        by_run: dict[tuple[str, str], list[datetime]] = {}
        for hour in hours:
            held = plan.champion_before if promoted is not None and hour < promoted else serving
            by_run.setdefault((hour.date().isoformat(), str(held)), []).append(hour)
        for (day, version), times in by_run.items():
            regressed = promoted is not None and times[0] >= promoted
            run = client.create_run(
                experiment_id,
                start_time=int(times[0].timestamp() * 1000),
                run_name=f"monitor-{plan.model}-v{version}-{day}",
                tags={"model": plan.model, "version": version, "mlflow.user": "monitoring-job"},
            )
            metrics = []
            for at in times:
                ms = int(at.timestamp() * 1000)
                daily = 1 + 0.25 * math.sin((at.hour - 6) / 24 * 2 * math.pi)
                values = {
                    "latency_p95_ms": steady[0] * (0.9 + 0.2 * rng.random()),
                    "error_rate_pct": steady[1] * (0.8 + 0.4 * rng.random()),
                    "requests_per_s": steady[2] * daily * (0.9 + 0.2 * rng.random()),
                    "prediction_drift": steady[3] + 0.01 * rng.random(),
                }
                for key, factor in REGRESSION.items():
                    if regressed:
                        values[key] *= factor
                step = int((at - times[0]).total_seconds() // 3600)
                metrics += [Metric(key, round(value, 3), ms, step) for key, value in values.items()]
            client.log_batch(run.info.run_id, metrics=metrics)
            client.set_terminated(
                run.info.run_id, status="FINISHED", end_time=int(times[-1].timestamp() * 1000)
            )
            logged += 1
    return logged


def _promoted_at(client: Any, model: str) -> datetime | None:
    """When the champion last moved, as the registry's champion history tag records it."""
    from mlops_tui.text.rfc3339 import parse_rfc3339

    try:
        history = json.loads(client.get_registered_model(model).tags.get(CHAMPION_HISTORY_TAG, "[]"))
        return parse_rfc3339(history[-1]["at"]) if history else None
    except (ValueError, KeyError, TypeError, IndexError):
        return None
