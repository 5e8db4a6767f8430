"""The shipped trainer, run as a real subprocess against a real sqlite MLflow store, alone and as
the local runner's retraining command."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlops_tui.config import MlflowSettings, RetrainSettings
from mlops_tui.demo.trainer import auc, make_dataset, train
from mlops_tui.sources.local.runner import LocalRunner

TRAINER = [sys.executable, "-m", "mlops_tui.demo.trainer"]
DEADLINE_SECONDS = 120


def client_for(settings: MlflowSettings):  # type: ignore[no-untyped-def]
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)


def check_new_churn_version(settings: MlflowSettings, version: str = "5") -> None:
    client = client_for(settings)
    found = client.get_model_version("churn", version)
    assert found.tags["trained_by"] == "mlops-tui-local"
    assert found.tags["validation_status"] in ("passed", "failed")
    assert found.source.endswith("/model")
    run = client.get_run(found.run_id)
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "churn-training"
    assert run.data.tags["mlops_tui.trainer"] == "local"
    assert run.data.tags["mlflow.source.name"] == "mlops_tui.trainer"
    assert "gitlab.pipeline_id" not in run.data.tags
    assert {"algorithm", "learning_rate", "epochs", "seed", "train_rows"} <= set(run.data.params)
    history = client.get_metric_history(run.info.run_id, "val_auc")
    assert sorted(m.step for m in history) == list(range(20))
    final = max(history, key=lambda m: m.step).value
    assert found.tags["validation_status"] == ("passed" if final >= 0.7 else "failed")
    for key in ("train_loss", "val_loss"):
        assert len(client.get_metric_history(run.info.run_id, key)) == 20
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "model")}
    assert artifacts == {"model/MLmodel", "model/weights.json"}


def test_trainer_registers_a_new_version(demo_store: MlflowSettings) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [
            *TRAINER,
            "--model",
            "churn",
            "--env",
            "local",
            "--tracking-uri",
            demo_store.tracking_uri,
            "--seed",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=DEADLINE_SECONDS,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert sum(line.startswith("epoch ") for line in lines) == 20
    assert lines[-1] == "registered churn version 5"
    check_new_churn_version(demo_store)
    print(f"trainer wall time {elapsed:.1f} s")


def test_trainer_creates_a_missing_model_and_experiment(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    (tmp_path / "store").mkdir()
    command = [*TRAINER, "--model", "brand-new", "--tracking-uri", uri, "--epochs", "3", "--seed", "1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=DEADLINE_SECONDS)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "registered brand-new version 1"
    client = client_for(MlflowSettings(tracking_uri=uri))
    experiment = client.get_experiment_by_name("brand-new-training")
    assert experiment.artifact_location == (tmp_path / "store" / "artifacts" / "brand-new-training").as_uri()


@pytest.mark.parametrize(
    "uri", ["http://127.0.0.1:9", "bogus-scheme://nowhere", "sqlite:///{file}/mlflow.db"]
)
def test_trainer_fails_in_one_line(uri: str, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("a file, not a directory")
    uri = uri.replace("{file}", str(tmp_path / "file"))
    done = subprocess.run(
        [*TRAINER, "--model", "churn", "--tracking-uri", uri],
        capture_output=True,
        text=True,
        timeout=DEADLINE_SECONDS,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("mlops_tui.trainer: error: ")
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr


def test_auc_matches_pairwise_counting() -> None:
    rng = random.Random(7)
    ys = [rng.randint(0, 1) for _ in range(300)]
    scores = [round(rng.random(), 1) for _ in ys]  # many ties
    positives = [s for s, y in zip(scores, ys, strict=True) if y]
    negatives = [s for s, y in zip(scores, ys, strict=True) if not y]
    pairs = [(p, n) for p in positives for n in negatives]
    expected = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)
    assert auc(ys, scores) == pytest.approx(expected)
    assert auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    with pytest.raises(ValueError):
        auc([1, 1], [0.2, 0.3])


def test_training_learns() -> None:
    data = make_dataset(random.Random(3), rows=2000, features=8)
    _, _, history = train(data, random.Random(4), epochs=20, learning_rate=0.4)
    assert history[-1].train_loss < history[0].train_loss
    assert history[-1].val_auc > 0.7


async def test_local_runner_retrains_with_the_real_trainer(
    demo_store: MlflowSettings, tmp_path: Path
) -> None:
    settings = RetrainSettings(
        kind="local",
        command=[*TRAINER, "--model", "{model}", "--env", "{env}", "--tracking-uri", "{tracking_uri}"],
    )
    runner = LocalRunner(
        settings, environment="local", tracking_uri=demo_store.tracking_uri, state_dir=tmp_path / "runs"
    )
    try:
        pipeline = await runner.start({"model": "churn"})
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not (pipeline := await runner.get_pipeline(pipeline.id)).done:
            assert time.monotonic() < deadline, "the retraining did not finish"
            await asyncio.sleep(0.05)
        trace, offset = "", 0
        while not (chunk := await runner.read_trace(pipeline.id + "-1", offset)).complete or chunk.text:
            trace, offset = trace + chunk.text, chunk.next_offset
        assert pipeline.status == "success", trace
        assert "epoch  20/20" in trace and "registered churn version 5" in trace
    finally:
        await runner.aclose()
    check_new_churn_version(demo_store)
