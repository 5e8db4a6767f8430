"""A small real trainer: logistic regression on synthetic data, tracked and registered in MLflow.

The local runner's default retraining command, so a fresh machine can retrain for real:

    python -m mlops_tui.demo.trainer --model churn --env local --tracking-uri sqlite:///path/mlflow.db

Pure Python (no numpy): a seeded synthetic binary classification set, plain full-batch gradient
descent, per-epoch `train_loss`, `val_loss` and `val_auc` logged as the run goes, the weights logged
as the model artifact, and a new version of registered model MODEL with a `validation_status` tag.
Prints one line per epoch and, last, the new version. Exit code 0 on success; on failure 1 and one
line on stderr.
"""

from __future__ import annotations

import argparse
import getpass
import json
import math
import os
import random
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_tui.config.libraries import keep_private

__all__ = ["auc", "main", "make_dataset", "train"]

VALIDATION_THRESHOLD = 0.7
"""A version whose final val_auc reaches this is tagged `validation_status=passed`."""
TRAINED_BY = "mlops-tui-local"


@dataclass(frozen=True)
class Dataset:
    train_x: list[list[float]]
    train_y: list[int]
    val_x: list[list[float]]
    val_y: list[int]


def make_dataset(rng: random.Random, *, rows: int, features: int, val_fraction: float = 0.2) -> Dataset:
    """Rows of standard-normal features labelled by a noisy hidden linear rule."""
    weights = [rng.gauss(0, 0.6) for _ in range(features)]
    bias = rng.uniform(-0.5, 0.5)
    xs, ys = [], []
    for _ in range(rows):
        x = [rng.gauss(0, 1) for _ in range(features)]
        logit = sum(w * v for w, v in zip(weights, x, strict=True)) + bias + rng.gauss(0, 1.5)
        xs.append(x)
        ys.append(1 if logit > 0 else 0)
    split = int(rows * (1 - val_fraction))
    return Dataset(xs[:split], ys[:split], xs[split:], ys[split:])


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1 / (1 + math.exp(-z))
    e = math.exp(z)
    return e / (1 + e)


def _predict(weights: list[float], bias: float, xs: list[list[float]]) -> list[float]:
    return [_sigmoid(sum(w * v for w, v in zip(weights, x, strict=True)) + bias) for x in xs]


def log_loss(ys: Sequence[int], ps: Sequence[float]) -> float:
    eps = 1e-12
    total = sum(
        -math.log(max(p, eps)) if y else -math.log(max(1 - p, eps)) for y, p in zip(ys, ps, strict=True)
    )
    return total / len(ys)


def auc(ys: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve: the Mann-Whitney U statistic, ties given half credit via mean ranks.

    Raises:
        ValueError: `ys` holds only one class.
    """
    positives = sum(ys)
    negatives = len(ys) - positives
    if positives == 0 or negatives == 0:
        raise ValueError("AUC needs both classes in the labels")
    order = sorted(range(len(scores)), key=scores.__getitem__)
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        mean_rank = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[order[k]] = mean_rank
        i = j + 1
    rank_sum = sum(rank for rank, y in zip(ranks, ys, strict=True) if y)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


@dataclass(frozen=True)
class Epoch:
    step: int
    train_loss: float
    val_loss: float
    val_auc: float


def train(
    data: Dataset, rng: random.Random, *, epochs: int, learning_rate: float, l2: float = 1e-3
) -> tuple[list[float], float, list[Epoch]]:
    """Logistic regression by full-batch gradient descent.

    Args:
        rng: draws the initial weights (small and random, so the first epochs visibly learn).

    Returns: the weights, the bias, and the metrics after each epoch.
    """
    features = len(data.train_x[0])
    weights, bias = [rng.gauss(0, 0.5) for _ in range(features)], 0.0
    history = []
    n = len(data.train_y)
    for step in range(epochs):
        grad_w, grad_b = [0.0] * features, 0.0
        for x, p, y in zip(data.train_x, _predict(weights, bias, data.train_x), data.train_y, strict=True):
            error = p - y
            grad_b += error
            for i, v in enumerate(x):
                grad_w[i] += error * v
        weights = [w - learning_rate * (g / n + l2 * w) for w, g in zip(weights, grad_w, strict=True)]
        bias -= learning_rate * grad_b / n
        train_p = _predict(weights, bias, data.train_x)
        val_p = _predict(weights, bias, data.val_x)
        history.append(
            Epoch(step, log_loss(data.train_y, train_p), log_loss(data.val_y, val_p), auc(data.val_y, val_p))
        )
    return weights, bias, history


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mlops_tui.demo.trainer",
        description="Train a logistic regression on synthetic data and register it in MLflow.",
    )
    parser.add_argument("--model", required=True, help="registered model to add a version to")
    parser.add_argument("--env", default="local", help="environment name, recorded as a tag")
    parser.add_argument(
        "--tracking-uri",
        default=os.environ.get("MLFLOW_TRACKING_URI"),
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI)",
    )
    parser.add_argument(
        "--experiment",
        help="experiment of the run (default: the one tagged model=MODEL, else MODEL-training)",
    )
    parser.add_argument(
        "--artifact-root",
        help="artifact root for a new experiment (default for sqlite:///DIR/x.db: DIR/artifacts)",
    )
    parser.add_argument("--seed", type=int, help="data and initialisation seed (default: the time)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=0.4)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the trainer. Returns: the exit code (0 success, 1 failure, 2 bad arguments)."""
    keep_private()
    args = _parser().parse_args(argv)
    if not args.tracking_uri:
        print("mlops_tui.trainer: error: no --tracking-uri and no $MLFLOW_TRACKING_URI", file=sys.stderr)
        return 2
    if args.epochs < 1 or args.rows < 20 or args.features < 1:
        print("mlops_tui.trainer: error: need --epochs >= 1, --rows >= 20, --features >= 1", file=sys.stderr)
        return 2
    try:
        _run(args)
    except KeyboardInterrupt:
        print("mlops_tui.trainer: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the one place every failure becomes one line
        print(f"mlops_tui.trainer: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    return 0


_LINEAGE = {
    # The local runner says which of its pipelines this is.
    "MLOPS_TUI_PIPELINE_ID": "mlops_tui.pipeline_id",
    # An Airflow task (BashOperator and every operator exporting its context) says its DAG run.
    "AIRFLOW_CTX_DAG_ID": "airflow.dag_id",
    "AIRFLOW_CTX_DAG_RUN_ID": "airflow.dag_run_id",
}


def _lineage_tags(environ: Mapping[str, str]) -> dict[str, str]:
    """The run's tags naming the pipeline that runs the trainer, from the runner's variables."""
    return {tag: environ[name] for name, tag in _LINEAGE.items() if environ.get(name)}


def _run(args: argparse.Namespace) -> None:
    # An unreachable server would otherwise be retried with back-off for minutes.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")
    seed = args.seed if args.seed is not None else time.time_ns() % 2**32
    rng = random.Random(seed)
    print(f"mlops_tui.trainer: model {args.model}, environment {args.env}, seed {seed}", flush=True)
    client = _client(args.tracking_uri)
    experiment_id = _experiment(client, args)
    data = make_dataset(rng, rows=args.rows, features=args.features)
    params = {
        "algorithm": "logreg",
        "optimizer": "full-batch gradient descent",
        "learning_rate": args.learning_rate,
        "epochs": args.epochs,
        "l2": 1e-3,
        "train_rows": len(data.train_y),
        "val_rows": len(data.val_y),
        "features": args.features,
        "seed": seed,
        "environment": args.env,
    }
    run = client.create_run(
        experiment_id,
        run_name=f"{args.model}-logreg-local-{time.strftime('%Y%m%d-%H%M%S')}",
        tags={
            "mlflow.user": _user(),
            "mlflow.source.name": "mlops_tui.trainer",
            "mlflow.source.type": "LOCAL",
            "mlops_tui.trainer": "local",
            "mlops_tui.environment": args.env,
            "algorithm": "logreg",
            **_lineage_tags(os.environ),
        },
    )
    run_id: str = run.info.run_id
    try:
        version = _train_and_register(client, run_id, args, data, params)
    except BaseException:
        # Best effort: the run must not stay RUNNING forever; the original error is what counts.
        try:
            client.set_terminated(run_id, status="FAILED")
        except Exception:
            pass
        raise
    print(f"registered {args.model} version {version}", flush=True)


def _train_and_register(
    client: Any, run_id: str, args: argparse.Namespace, data: Dataset, params: dict[str, Any]
) -> str:
    from mlflow.entities import Metric, Param

    client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])
    started = time.time()
    weights, bias, history = train(
        data, random.Random(int(params["seed"]) + 1), epochs=args.epochs, learning_rate=args.learning_rate
    )
    for epoch in history:
        now = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[
                Metric("train_loss", round(epoch.train_loss, 6), now, epoch.step),
                Metric("val_loss", round(epoch.val_loss, 6), now, epoch.step),
                Metric("val_auc", round(epoch.val_auc, 6), now, epoch.step),
            ],
        )
        print(
            f"epoch {epoch.step + 1:>3}/{args.epochs}  train_loss {epoch.train_loss:.4f}  "
            f"val_loss {epoch.val_loss:.4f}  val_auc {epoch.val_auc:.4f}",
            flush=True,
        )
    final = history[-1]
    passed = final.val_auc >= VALIDATION_THRESHOLD
    model_json = {"kind": "logistic_regression", "weights": weights, "bias": bias, "features": len(weights)}
    client.log_text(run_id, json.dumps(model_json, indent=1), "model/weights.json")
    client.log_text(
        run_id,
        "artifact_path: model\nflavors:\n  mlops_tui_logreg:\n    data: weights.json\n"
        f"    python_version: {sys.version.split()[0]}\nmlflow_version: 3\n",
        "model/MLmodel",
    )
    _ensure_registered_model(client, args.model)
    version = client.create_model_version(
        args.model,
        source=f"{client.get_run(run_id).info.artifact_uri}/model",
        run_id=run_id,
        tags={"validation_status": "passed" if passed else "failed", "trained_by": TRAINED_BY},
        description=(
            f"Logistic regression retrained locally in {args.env} "
            f"(val_auc {final.val_auc:.4f}, {time.time() - started:.1f} s)."
        ),
    )
    client.set_terminated(run_id, status="FINISHED")
    number: str = version.version
    print(
        f"validation {'passed' if passed else 'failed'}: val_auc {final.val_auc:.4f} "
        f"(threshold {VALIDATION_THRESHOLD})",
        flush=True,
    )
    return number


def _client(tracking_uri: str) -> Any:
    import logging

    from mlflow.tracking import MlflowClient

    from mlops_tui.sources.mlflow import quiet_mlflow

    quiet_mlflow()
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _experiment(client: Any, args: argparse.Namespace) -> str:
    """The experiment to log to: named, else tagged `model=MODEL` (as the demo's are), else
    `MODEL-training`, created under the store's artifact root when missing."""
    if args.experiment is None:
        tagged = client.search_experiments(filter_string=f"tags.model = '{_quoted(args.model)}'")
        if tagged:
            return str(tagged[0].experiment_id)
    name = args.experiment or f"{args.model}-training"
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return str(existing.experiment_id)
    root = args.artifact_root or _default_artifact_root(args.tracking_uri)
    location = None
    if root:
        path = Path(root).expanduser() / name
        path.mkdir(parents=True, exist_ok=True)
        location = path.resolve().as_uri()
    return str(client.create_experiment(name, artifact_location=location, tags={"model": args.model}))


def _default_artifact_root(tracking_uri: str) -> str | None:
    # The layout of the built-in local environment and of `mlops-tui demo`: DIR/mlflow.db beside
    # DIR/artifacts. Servers and other stores choose their own artifact locations.
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix):
        return None
    return str(Path(tracking_uri.removeprefix(prefix)).parent / "artifacts")


def _ensure_registered_model(client: Any, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
        return
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
    try:
        client.create_registered_model(name, description=f"{name}, trained by mlops-tui's local trainer.")
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":  # created meanwhile by another trainer
            raise


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


if __name__ == "__main__":
    sys.exit(main())
