"""Pipelines and retraining, headless: through the hub, against the fake GitLab (real python-gitlab)
and the real local runner (real subprocesses and the trainer shipped in the package)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_tui.config import MlflowSettings, trainer_command
from mlops_tui.ops.journal import Journal
from tests.fakes.gitlab_server import TOKEN, FakeGitlab
from tests.helpers import run_cli, write_config

ENV = {"GITLAB_TOKEN": TOKEN}
TRACE = (
    "section_start:1700000000:step_script\r\x1b[0K\x1b[32;1m$ python train.py\x1b[0;m\ntraining\n"
    "section_end:1700000001:step_script\r\x1b[0K\ndone\n"
)


@pytest.fixture
def gitlab() -> Iterator[FakeGitlab]:
    with FakeGitlab() as server:
        project = server.add_project("ml/models")
        server.add_pipeline(project["id"], status="success", ref="main", pipeline_id=7)
        server.add_pipeline(project["id"], status="failed", ref="feature", pipeline_id=8)
        server.add_job(8, "train", "train", status="failed", trace=TRACE)
        yield server


@pytest.fixture
def config(tmp_path: Path, gitlab: FakeGitlab, demo_store: MlflowSettings) -> Path:
    return write_config(
        tmp_path / "mlops-tui.toml",
        {
            "dev": {
                "mlflow": {"tracking_uri": demo_store.tracking_uri},
                "gitlab": {"url": gitlab.url, "project": "ml/models", "token_env": "GITLAB_TOKEN"},
                "retrain": {
                    "kind": "gitlab",
                    "ref": "main",
                    "variables": {"MODEL_NAME": "{model}", "TARGET_ENV": "{env}"},
                },
            },
            "lab": {
                "mlflow": {"tracking_uri": demo_store.tracking_uri},
                "retrain": {
                    "kind": "local",
                    "command": trainer_command("--seed", "7"),
                },
            },
        },
        default_env="dev",
        journal=str(tmp_path / "journal.db"),
    )


def test_list_show_jobs_and_trace(config: Path, gitlab: FakeGitlab) -> None:
    listed = run_cli("pipelines", "list", "--json", "--config", config, env=ENV)
    assert listed.code == 0, listed.stderr
    assert [(p["id"], p["status"], p["ref"]) for p in listed.json()["pipelines"]] == [
        ("8", "failed", "feature"),
        ("7", "success", "main"),
    ]
    failed = run_cli("pipelines", "list", "--status", "failed", "--json", "--config", config, env=ENV)
    assert [p["id"] for p in failed.json()["pipelines"]] == ["8"]
    assert any(r.query.get("status") == ["failed"] for r in gitlab.requests)  # filtered by GitLab

    shown = run_cli("pipelines", "show", "8", "--json", "--config", config, env=ENV).json()
    assert shown["pipeline"]["status"] == "failed"
    (job,) = shown["jobs"]
    assert (job["name"], job["stage"], job["status"]) == ("train", "train", "failed")

    trace = run_cli("pipelines", "trace", job["id"], "--config", config, env=ENV)
    assert trace.code == 0
    assert "section_start" not in trace.stdout and "section_end" not in trace.stdout
    # Colours are kept for a terminal; piped, as here, the log arrives as plain text.
    assert trace.stdout == "$ python train.py\ntraining\n\ndone\n"


def test_ids_qualified_by_their_source_are_accepted_everywhere_a_bare_one_is(
    config: Path, gitlab: FakeGitlab, tmp_path: Path
) -> None:
    bare = run_cli("pipelines", "show", "8", "--json", "--config", config, env=ENV)
    qualified = run_cli("pipelines", "show", "gitlab:8", "--json", "--config", config, env=ENV)
    assert qualified.code == 0, qualified.stderr
    assert qualified.json() == bare.json() and qualified.json()["pipeline"]["id"] == "8"  # JSON keeps the id
    (job,) = qualified.json()["jobs"]
    trace = run_cli("pipelines", "trace", f"gitlab:{job['id']}", "--config", config, env=ENV)
    assert trace.stdout == "$ python train.py\ntraining\n\ndone\n"
    retried = run_cli("pipelines", "retry", "gitlab:8", "--yes", "--config", config, env=ENV)
    assert retried.code == 0, retried.stderr
    assert any(r.method == "POST" and r.path.endswith("/pipelines/8/retry") for r in gitlab.requests)
    (entry,) = Journal(tmp_path / "journal.db").entries()
    assert entry.target == "gitlab pipeline 8"
    missing = run_cli("pipelines", "show", "vertex:churn-1", "--config", config, env=ENV)
    assert missing.code == 2 and "vertex pipelines need [vertex]" in missing.stderr


def test_retrain_on_gitlab_goes_through_the_policy_and_sends_the_variables(
    config: Path, gitlab: FakeGitlab, tmp_path: Path
) -> None:
    plan = run_cli("retrain", "churn", "--config", config, env=ENV)
    assert plan.code == 4 and "pass --yes" in plan.stderr
    assert [r for r in gitlab.requests if r.method == "POST"] == []

    done = run_cli("retrain", "churn", "--var", "EPOCHS=3", "--yes", "--json", "--config", config, env=ENV)
    assert done.code == 0, done.stderr
    (post,) = [r for r in gitlab.requests if r.method == "POST"]
    assert post.path.endswith("/pipeline")
    body = post.form()
    assert body["ref"] == "main"
    assert {v["key"]: v["value"] for v in body["variables"]} == {
        "MODEL_NAME": "churn",
        "TARGET_ENV": "dev",
        "EPOCHS": "3",
    }
    assert done.json()["after"].startswith("gitlab pipeline ")
    (entry,) = Journal(tmp_path / "journal.db").entries()
    assert (entry.action, entry.target, entry.result) == ("retrain", "churn (gitlab ref main)", "ok")


def test_cancel_and_retry_are_journaled_and_refused_when_stale(
    config: Path, gitlab: FakeGitlab, tmp_path: Path
) -> None:
    retried = run_cli("pipelines", "retry", "8", "--yes", "--config", config, env=ENV)
    assert retried.code == 0, retried.stderr
    assert any(r.method == "POST" and r.path.endswith("/pipelines/8/retry") for r in gitlab.requests)
    cancel = run_cli("pipelines", "cancel", "7", "--yes", "--config", config, env=ENV)
    assert cancel.code == 4 and "already ended (success)" in cancel.stderr
    assert not any(r.path.endswith("/pipelines/7/cancel") for r in gitlab.requests)
    results = [(e.action, e.result) for e in Journal(tmp_path / "journal.db").entries()]
    assert ("retry", "ok") in results


def test_local_retrain_runs_the_trainer_and_registers_a_version(config: Path) -> None:
    done = run_cli("--env", "lab", "retrain", "churn", "--yes", "--config", config)
    assert done.code == 0, done.stderr
    assert "pipeline L1 success" in done.stderr
    versions = run_cli("--env", "lab", "models", "show", "churn", "--json", "--config", config).json()
    newest = versions["versions"][0]
    assert newest["version"] == "5" and newest["tags"]["trained_by"] == "mlops-tui-local"
    trace = run_cli("--env", "lab", "pipelines", "trace", "L1-1", "--config", config)
    assert "registered churn version 5" in trace.stdout
    qualified = run_cli("--env", "lab", "pipelines", "trace", "local:L1-1", "--config", config)
    assert qualified.stdout == trace.stdout


def test_no_pipelines_configured_is_a_clear_usage_error(tmp_path: Path, demo_store: MlflowSettings) -> None:
    config = write_config(tmp_path / "c.toml", {"dev": {"mlflow": {"tracking_uri": demo_store.tracking_uri}}})
    result = run_cli("pipelines", "list", "--config", config)
    assert result.code == 2 and "has no [gitlab]" in result.stderr
