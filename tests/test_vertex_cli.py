"""Vertex AI headless: `endpoints ...`, `vertex jobs`, and `retrain` with `kind = "vertex"`, through
the installed console script against the fake Vertex AI v1 REST server (real aiplatform_v1 clients)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops_tui.errors import ExitCode
from mlops_tui.ops.journal import Journal
from tests.fakes.vertex_server import PIPELINE_SPEC, FakeVertex, seed_churn
from tests.helpers import CliResult, closed_port, run_cli, write_config

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def fake() -> Iterator[FakeVertex]:
    with FakeVertex("acme-ml", "us-central1") as server:
        seed_churn(server)
        yield server


def vertex_table(url: str, template: Path) -> dict[str, Any]:
    return {
        "project": "acme-ml",
        "location": "us-central1",
        "endpoints": ["churn-endpoint"],
        "api_endpoint": url,
        "credentials": "anonymous",
        "pipeline_template": str(template),
        "pipeline_root": "gs://acme-ml/pipeline-root",
        "parameters": {"model_name": "{model}", "target_env": "{env}"},
    }


@pytest.fixture
def config(tmp_path: Path, fake: FakeVertex) -> Path:
    template = tmp_path / "churn-train.json"
    template.write_text(json.dumps(PIPELINE_SPEC))
    table = vertex_table(fake.url, template)
    return write_config(
        tmp_path / "mlops-tui.toml",
        {
            "dev": {"vertex": table, "retrain": {"kind": "vertex"}},
            "prd": {"protected": True, "vertex": table},
        },
        default_env="dev",
        journal=str(tmp_path / "journal.db"),
    )


def check(result: CliResult, code: ExitCode = ExitCode.OK) -> CliResult:
    assert result.code == code, result
    return result


def golden(name: str, data: Any) -> None:
    path = GOLDEN / name
    if os.environ.get("MLOPS_TUI_UPDATE_GOLDEN"):
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    assert data == json.loads(path.read_text())


def test_endpoints_list_and_show(config: Path, fake: FakeVertex) -> None:
    listed = check(run_cli("endpoints", "list", "--json", "--config", config)).json()
    golden("endpoints_list.json", listed)
    assert [d["mlflow_version"] for d in listed["endpoints"][0]["deployed_models"]] == ["3", "4"]
    table = check(run_cli("endpoints", "list", "--config", config)).stdout
    assert "churn-endpoint" in table and "churn v4" in table and "10%" in table
    shown = check(run_cli("endpoints", "show", "1001", "--json", "--config", config)).json()
    assert shown["endpoint"] == listed["endpoints"][0]
    missing = check(run_cli("endpoints", "show", "nope", "--config", config), ExitCode.FAILED)
    assert (
        missing.stderr == "mlops-tui: vertex: no endpoint 'nope' in projects/acme-ml/locations/us-central1\n"
    )


def test_traffic_shift_then_rollback_through_the_journal(
    config: Path, fake: FakeVertex, tmp_path: Path
) -> None:
    plan = check(
        run_cli(
            "endpoints",
            "traffic",
            "churn-endpoint",
            "--split",
            "11=50",
            "--split",
            "12=50",
            "--config",
            config,
        ),
        ExitCode.REFUSED,
    )
    assert plan.stdout == "plan: traffic endpoint churn-endpoint (1001) in dev: 11=90 12=10 -> 11=50 12=50\n"
    assert fake.writes() == []
    done = check(
        run_cli(
            "endpoints",
            "traffic",
            "churn-endpoint",
            "--split",
            "11=50,12=50",
            "--yes",
            "--json",
            "--config",
            config,
        )
    ).json()
    assert (done["before"], done["after"], done["result"]) == ("11=90 12=10", "11=50 12=50", "ok")
    assert any(
        "12 churn-endpoint-12 (churn-model version 2 = MLflow churn v4): 10% -> 50%" == d
        for d in done["details"]
    )
    assert fake.endpoints["1001"]["trafficSplit"] == {"11": 50, "12": 50}
    check(run_cli("endpoints", "traffic", "1001", "--split", "12=100", "--yes", "--config", config))
    assert fake.endpoints["1001"]["trafficSplit"] == {"11": 0, "12": 100}

    back = check(
        run_cli("endpoints", "rollback", "churn-endpoint", "--yes", "--json", "--config", config)
    ).json()
    assert (back["before"], back["after"]) == ("12=100", "11=50 12=50")
    assert fake.endpoints["1001"]["trafficSplit"] == {"11": 50, "12": 50}
    check(run_cli("endpoints", "rollback", "churn-endpoint", "--yes", "--config", config))
    assert fake.endpoints["1001"]["trafficSplit"] == {"11": 90, "12": 10}
    nothing = check(
        run_cli("endpoints", "rollback", "churn-endpoint", "--yes", "--config", config), ExitCode.REFUSED
    )
    assert "no traffic history for endpoint churn-endpoint (1001) in dev" in nothing.stderr
    journal = Journal(tmp_path / "journal.db")
    assert [(e.action, e.before, e.after, e.result) for e in journal.entries()][:4] == [
        ("traffic-rollback", "11=50 12=50", "11=90 12=10", "ok"),
        ("traffic-rollback", "12=100", "11=50 12=50", "ok"),
        ("traffic", "11=50 12=50", "12=100", "ok"),
        ("traffic", "11=90 12=10", "11=50 12=50", "ok"),
    ]


@pytest.mark.parametrize(
    ("split", "message"),
    [
        (["11=60", "12=30"], "the traffic split must sum to 100, not 90 (11=60 12=30)"),
        (["11=ninety"], "--split takes DEPLOYED_MODEL_ID=PERCENT (0-100), not '11=ninety'"),
        (["13=100"], "13 is not deployed on churn-endpoint (deployed models: 11, 12)"),
    ],
)
def test_a_bad_split_is_a_usage_error(config: Path, fake: FakeVertex, split: list[str], message: str) -> None:
    args = [a for item in split for a in ("--split", item)]
    result = check(
        run_cli("endpoints", "traffic", "churn-endpoint", *args, "--yes", "--config", config), ExitCode.USAGE
    )
    assert result.stderr == f"mlops-tui: {message}\n"
    assert fake.writes() == []


def test_a_split_changed_meanwhile_is_a_conflict(config: Path, fake: FakeVertex, tmp_path: Path) -> None:
    # Someone moves the traffic between the plan (the first read) and the write.
    def another_operator(request: Any) -> None:
        reads = [r for r in fake.requests if r.method == "GET" and "/endpoints" in r.path]
        if len(reads) > 1:
            fake.endpoints["1001"]["trafficSplit"] = {"11": 70, "12": 30}

    fake.before_request = another_operator
    result = check(
        run_cli("endpoints", "traffic", "churn-endpoint", "--split", "12=100", "--yes", "--config", config),
        ExitCode.REFUSED,
    )
    assert (
        "changed meanwhile: endpoint churn-endpoint (1001) is now 11=70 12=30, not 11=90 12=10"
        in result.stderr
    )
    assert [r for r in fake.writes()] == []
    assert [e.result for e in Journal(tmp_path / "journal.db").entries()] == ["refused"]


def test_undeploy_gives_its_traffic_to_the_others(config: Path, fake: FakeVertex) -> None:
    fake.operation_polls = 2
    result = check(
        run_cli("endpoints", "undeploy", "churn-endpoint", "11", "--yes", "--json", "--config", config)
    )
    assert (result.json()["before"], result.json()["after"]) == ("11=90 12=10", "12=100")
    assert [d["id"] for d in fake.endpoints["1001"]["deployedModels"]] == ["12"]
    rollback = check(
        run_cli("endpoints", "rollback", "churn-endpoint", "--yes", "--config", config), ExitCode.REFUSED
    )
    assert "sends traffic to deployed model 11, no longer on churn-endpoint" in rollback.stderr


def test_an_endpoint_with_an_id_of_its_own(tmp_path: Path, fake: FakeVertex) -> None:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform_v1

    client = aiplatform_v1.EndpointServiceClient(
        transport="rest",
        client_options=ClientOptions(api_endpoint=fake.url),
        credentials=AnonymousCredentials(),
    )
    created = client.create_endpoint(
        parent=fake.parent,
        endpoint=aiplatform_v1.Endpoint(display_name="churn-serving"),
        endpoint_id="churn-prd",
    ).result(timeout=30)
    assert created.name == f"{fake.parent}/endpoints/churn-prd"
    with pytest.raises(Exception, match="Invalid endpoint id"):
        client.create_endpoint(
            parent=fake.parent, endpoint=aiplatform_v1.Endpoint(display_name="x"), endpoint_id="Churn_PRD"
        )
    # What a deployment of two versions leaves on it.
    fake.add_endpoint(
        "churn-prd", "churn-serving", [("31", "501", "1"), ("32", "501", "2")], {"31": 90, "32": 10}
    )
    template = tmp_path / "t.json"
    template.write_text(json.dumps(PIPELINE_SPEC))
    config = write_config(
        tmp_path / "c.toml",
        {"prd": {"vertex": {**vertex_table(fake.url, template), "endpoints": ["churn-prd"]}}},
        journal=str(tmp_path / "journal.db"),
    )

    listed = check(run_cli("endpoints", "list", "--json", "--config", config)).json()
    assert [e["id"] for e in listed["endpoints"]] == ["churn-prd"]
    shown = check(run_cli("endpoints", "show", "churn-prd", "--json", "--config", config)).json()
    assert shown["endpoint"]["display_name"] == "churn-serving"
    shifted = check(
        run_cli(
            "endpoints",
            "traffic",
            "churn-prd",
            "--split",
            "31=50,32=50",
            "--yes",
            "--json",
            "--config",
            config,
        )
    ).json()
    assert (shifted["before"], shifted["after"], shifted["result"]) == ("31=90 32=10", "31=50 32=50", "ok")
    assert fake.endpoints["churn-prd"]["trafficSplit"] == {"31": 50, "32": 50}
    back = check(
        run_cli("endpoints", "rollback", "churn-serving", "--yes", "--json", "--config", config)
    ).json()
    assert (back["after"], back["result"]) == ("31=90 32=10", "ok")
    assert fake.endpoints["churn-prd"]["trafficSplit"] == {"31": 90, "32": 10}
    gone = check(
        run_cli("endpoints", "undeploy", "churn-prd", "32", "--yes", "--json", "--config", config)
    ).json()
    assert (gone["after"], gone["result"]) == ("31=100", "ok")
    assert [d["id"] for d in fake.endpoints["churn-prd"]["deployedModels"]] == ["31"]


def test_a_failed_undeploy_operation_shows_its_error(config: Path, fake: FakeVertex, tmp_path: Path) -> None:
    fake.operation_error = ("FAILED_PRECONDITION", "Deployed model 11 is in use by a batch job.")
    result = check(
        run_cli("endpoints", "undeploy", "churn-endpoint", "11", "--yes", "--config", config), ExitCode.FAILED
    )
    assert result.stderr.startswith(
        "mlops-tui: vertex: undeploy of 11 from projects/acme-ml/locations/us-central1/endpoints/1001: "
        "operation "
    )
    assert result.stderr.rstrip().endswith("failed: Deployed model 11 is in use by a batch job.")
    assert [e.result for e in Journal(tmp_path / "journal.db").entries()] == ["failed"]


def test_protected_needs_the_endpoint_name_typed(config: Path, fake: FakeVertex) -> None:
    args = (
        "endpoints",
        "traffic",
        "churn-endpoint",
        "--split",
        "12=100",
        "--env",
        "prd",
        "--yes",
        "--config",
        config,
    )
    refused = check(run_cli(*args), ExitCode.REFUSED)
    assert "prd is protected: confirm by typing the model name 'churn-endpoint'" in refused.stderr
    assert fake.writes() == []
    check(run_cli(*args, "--confirm", "churn-endpoint"))
    assert fake.endpoints["1001"]["trafficSplit"] == {"11": 0, "12": 100}


def test_vertex_jobs(config: Path, fake: FakeVertex) -> None:
    data = check(run_cli("vertex", "jobs", "--json", "--config", config)).json()
    running = data["pipeline_jobs"][0]
    assert running["finished"] is None and running["duration_seconds"] > 0
    running["duration_seconds"] = None  # still running: grows with the clock
    golden("vertex_jobs.json", data)
    table = check(run_cli("vertex", "jobs", "--config", config)).stdout
    assert "churn-retrain-20261126090000" in table and "monitor-1001" in table


def test_retrain_creates_a_vertex_pipeline_job_listed_with_the_others(config: Path, fake: FakeVertex) -> None:
    started = check(
        run_cli("retrain", "churn", "--var", "epochs=3", "--yes", "--json", "--config", config)
    ).json()
    assert started["target"] == "churn (vertex)" and started["after"].startswith(
        "vertex pipeline churn-retrain-"
    )
    job_id = started["after"].removeprefix("vertex pipeline ")
    job = fake.pipeline_jobs[job_id]
    assert job["runtimeConfig"]["parameterValues"] == {
        "model_name": "churn",
        "target_env": "dev",
        "epochs": 3,
    }
    listed = check(run_cli("pipelines", "list", "--json", "--config", config)).json()
    assert listed["pipelines"][0]["id"] == job_id and listed["pipelines"][0]["source"] == "vertex"
    shown = check(
        run_cli("pipelines", "show", "churn-retrain-20261125090000", "--json", "--config", config)
    ).json()
    assert [j["id"] for j in shown["jobs"]] == [
        "churn-retrain-20261125090000/1000",
        "churn-retrain-20261125090000/1001",
    ]
    cancel = check(
        run_cli("pipelines", "cancel", "churn-retrain-20261126090000", "--yes", "--config", config)
    )
    assert "done: cancel vertex pipeline churn-retrain-20261126090000 in dev: running ->" in cancel.stdout
    retry = check(
        run_cli("pipelines", "retry", "churn-retrain-20261125090000", "--yes", "--config", config),
        ExitCode.USAGE,
    )
    assert "vertex pipelines cannot be retried" in retry.stderr


def test_unreachable_exits_3(tmp_path: Path, fake: FakeVertex) -> None:
    table = vertex_table(f"http://127.0.0.1:{closed_port()}", tmp_path / "t.json")
    config = write_config(tmp_path / "c.toml", {"dev": {"vertex": table}})
    result = check(run_cli("endpoints", "list", "--config", config), ExitCode.UNREACHABLE)
    assert "cannot reach http://127.0.0.1:" in result.stderr and "connection refused" in result.stderr
