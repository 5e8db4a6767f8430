"""MLOps maturity: the judgement over plain facts (levels, unknowns, thresholds, next steps), then
every criterion judged on real stores and the test servers (the demo's MLflow store, the journal,
the GitLab, Vertex AI and Airflow 2 test servers, a metrics backend declared in the registry), and
the command's output, golden-tested on the demo as `mlops-tui demo` seeds it."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mlops_tui.config import (
    LOCAL_RULES,
    AirflowSettings,
    EnvironmentSettings,
    GateSettings,
    GitlabSettings,
    MaturitySettings,
    MlflowSettings,
    RetrainSettings,
    Settings,
    VertexSettings,
)
from mlops_tui.domain import Change
from mlops_tui.errors import ExitCode
from mlops_tui.hub import Hub
from mlops_tui.ops.journal import Journal
from mlops_tui.sources import registry
from mlops_tui.sources.registry import Backend, Role
from mlops_tui.views.maturity import (
    CRITERIA,
    Assessment,
    Maturity,
    ModelFacts,
    Promotion,
    assess,
    is_automation,
    read_maturity,
)
from tests.conftest import DemoCommandRun
from tests.fakes.airflow_v1_server import FakeAirflowV1
from tests.fakes.gitlab_server import TOKEN, FakeGitlab
from tests.fakes.vertex_server import FakeVertex, seed_churn
from tests.helpers import closed_port, run_cli, write_config
from tests.test_cli import assert_golden

DEFAULTS = MaturitySettings()
VALIDATED = GateSettings(required_tags={"validation_status": "passed"})


def statuses(assessment: Assessment) -> dict[str, str]:
    return {j.criterion.id: j.status for j in assessment.judgements}


def evidence(assessment: Assessment, criterion: str) -> str:
    return next(j.evidence for j in assessment.judgements if j.criterion.id == criterion)


def by_model(found: Maturity, environment: str = "dev") -> dict[str, Assessment]:
    return {a.model: a for a in found.assessments if a.environment == environment}


# -- the judgement, over plain facts --------------------------------------------------------------

LEVEL_TWO = ModelFacts(
    "churn",
    "dev",
    runs=10,
    runs_with_commit=10,
    versions=4,
    versions_read=4,
    versions_by_pipeline={"gitlab": 4},
    slots=("champion",),
    runners=("gitlab",),
    pipelines=3,
)
"""A model trained and registered by pipelines, promoted by nobody yet."""


def test_with_nothing_known_a_model_is_at_level_zero_and_every_unknown_says_why() -> None:
    found = assess(ModelFacts("churn", "dev"), DEFAULTS)
    assert found.level == 0 and found.level_name == "No MLOps"
    assert [j.criterion.id for j in found.judgements] == [c.id for c in CRITERIA]
    assert statuses(found)["code_versioned"] == "unknown"
    assert statuses(found)["serving_metrics"] == "unknown"
    assert evidence(found, "serving_metrics") == "no metrics source configured"
    assert evidence(found, "controlled_release") == "no serving platform configured"
    # The next steps are level 1's: what to set up first.
    assert [s.criterion.id for s in found.next_steps] == ["code_versioned", "pipelines"]


def test_a_level_holds_when_nothing_of_it_or_below_is_unmet_and_something_of_it_is_met() -> None:
    found = assess(LEVEL_TWO, DEFAULTS)
    # Level 3: no promotion recorded (unknown), no gates (not met), no serving (unknown).
    assert found.level == 2
    assert statuses(found)["automated_deployment"] == "unknown"
    assert statuses(found)["promotion_gates"] == "not_met"
    # Not met first, then unknown; two at most.
    assert [s.criterion.id for s in found.next_steps] == ["promotion_gates", "automated_deployment"]

    gated = assess(replace(LEVEL_TWO, gates={"prd": "tag a = b"}), DEFAULTS)
    assert gated.level == 3  # the unknowns of level 3 neither prove nor refute it
    by_hand = replace(LEVEL_TWO, gates={"prd": "tag a = b"}, promotions=(Promotion("ana", "journal"),))
    assert assess(by_hand, DEFAULTS).level == 2
    assert evidence(assess(by_hand, DEFAULTS), "automated_deployment") == (
        "0/1 (0 %) of the promotions made by CI (journal); by hand: ana"
    )


def test_most_means_the_configured_share() -> None:
    facts = replace(LEVEL_TWO, runs_with_commit=7)
    assert statuses(assess(facts, DEFAULTS))["code_versioned"] == "not_met"
    assert assess(facts, DEFAULTS).level == 0
    assert statuses(assess(facts, MaturitySettings(share=0.7)))["code_versioned"] == "met"
    assert evidence(assess(facts, DEFAULTS), "code_versioned") == (
        "7/10 (70 %) of the newest runs carry a git commit"
    )


def test_automation_is_told_from_people_by_the_configured_patterns() -> None:
    patterns = DEFAULTS.automation
    for who in (
        "gitlab-ci",
        "deploy-ci",
        "ci@example.com",
        "renovate[bot]",
        "sa@acme.iam.gserviceaccount.com",
    ):
        assert is_automation(who, patterns), who
    for who in ("ana@example.com", "priya", "circleci-fan"):
        assert not is_automation(who, patterns), who
    assert is_automation("release-robot", ["*-robot"]) and not is_automation("gitlab-ci", ["*-robot"])


def test_the_last_level_asks_for_monitoring_handled_alerts_and_automated_retraining() -> None:
    facts = replace(
        LEVEL_TWO,
        gates={"prd": "tag a = b"},
        promotions=(Promotion("gitlab-ci", "journal"),),
        rules=("FeatureDrift",),
        alert_sources=("rules",),
        handled={"silence": 1},
        retrainers=("priya",),
    )
    found = assess(facts, DEFAULTS)
    assert found.level == 3
    assert (
        evidence(found, "automated_retraining")
        == "1 retraining(s) in the journal, all started by hand (priya)"
    )
    assert [s.criterion.id for s in found.next_steps] == ["automated_retraining", "serving_metrics"]
    scheduled = assess(replace(facts, scheduled=1), DEFAULTS)
    assert scheduled.level == 4 and scheduled.next_steps == ()
    assert statuses(scheduled)["serving_metrics"] == "unknown"


# -- on the demo's MLflow store and the journal ---------------------------------------------------


def demo_settings(store: MlflowSettings, tmp_path: Path, **dev: Any) -> Settings:
    """dev on the demo store with the shipped local rules; prd (the same store) gates promotions
    of churn and fraud as the built-in local-prd does."""
    return Settings(
        {
            "dev": EnvironmentSettings(mlflow=store, rules=list(LOCAL_RULES), **dev),
            "prd": EnvironmentSettings(
                mlflow=store, protected=True, models=["churn", "fraud"], gates=VALIDATED
            ),
        },
        "dev",
        journal=tmp_path / "journal.db",
    )


async def maturity(settings: Settings, *envs: str, model: str | None = None) -> Maturity:
    hubs = {name: Hub(settings, name) for name in envs or ("dev",)}
    journal = Journal(settings.journal)
    try:
        return await read_maturity(hubs, journal, model=model)
    finally:
        journal.close()
        for hub in hubs.values():
            await hub.aclose()


def journaled(
    settings: Settings, action: str, operator: str, subject: str, target: str = "", after: str = ""
) -> None:
    journal = Journal(settings.journal)
    change = Change(action, "dev", target or f"{subject}@champion", subject, None, after or "v1")
    journal.outcome(journal.intent(change, operator), "ok")
    journal.close()


async def test_the_demo_store_puts_its_models_at_levels_one_two_and_three(
    demo_store: MlflowSettings, tmp_path: Path
) -> None:
    found = by_model(await maturity(demo_settings(demo_store, tmp_path)))
    assert {m: a.level for m, a in found.items()} == {"churn": 3, "fraud": 2, "demand": 1}
    churn, fraud, demand = found["churn"], found["fraud"], found["demand"]
    assert evidence(churn, "code_versioned") == "18/18 (100 %) of the newest runs carry a git commit"
    assert evidence(churn, "tracking") == "18 run(s), 4 registered version(s), challenger, champion in use"
    assert evidence(churn, "automated_deployment") == "1/1 (100 %) of the promotions made by CI (registry)"
    assert evidence(churn, "promotion_gates") == "prd: tag validation_status = passed"
    assert evidence(churn, "monitoring") == "alert rules watch the model: ChampionAucLow, FeatureDrift"
    assert evidence(fraud, "automated_deployment") == (
        "0/1 (0 %) of the promotions made by CI (registry); by hand: amira"
    )
    assert evidence(demand, "automated_training").startswith("1/3 (33 %) of the versions made by a pipeline")
    assert evidence(demand, "tracking").endswith("Production, Staging in use")
    # prd's models of interest leave demand out: its gates are not demand's.
    assert statuses(demand)["promotion_gates"] == "not_met"
    # No serving platform, no metrics source, no alert handled, no retraining here.
    for assessment in found.values():
        judged = statuses(assessment)
        assert judged["controlled_release"] == judged["serving_metrics"] == "unknown"
        assert judged["alerts_handled"] == judged["automated_retraining"] == "not_met"
        assert evidence(assessment, "serving_metrics") == "no metrics source configured"


async def test_the_journal_says_who_promoted_what_was_handled_and_who_retrained(
    demo_store: MlflowSettings, tmp_path: Path
) -> None:
    settings = demo_settings(demo_store, tmp_path)
    # fraud promoted by CI, twice, as the journal records it: the journal is preferred to the registry.
    journaled(settings, "promote", "gitlab-ci", "fraud")
    journaled(settings, "promote", "deploy@acme.iam.gserviceaccount.com", "fraud")
    # churn: an alert silenced, a rollback, a retraining started by an alert's hook in CI.
    journaled(settings, "silence", "ana@example.com", "churn", target="alertname=ChampionAucLow")
    journaled(settings, "rollback", "ana@example.com", "churn")
    journaled(settings, "retrain", "ci-alert-hook", "churn", target="churn", after="L1")
    # demand: retrained by hand only.
    journaled(settings, "retrain", "priya", "demand", target="demand", after="L2")
    found = by_model(await maturity(settings))
    fraud, churn, demand = found["fraud"], found["churn"], found["demand"]
    assert fraud.level == 3
    assert evidence(fraud, "automated_deployment") == "2/2 (100 %) of the promotions made by CI (journal)"
    assert evidence(churn, "alerts_handled") == "1 rollback(s), 1 silence(s) in the journal"
    assert evidence(churn, "automated_retraining") == "1 retraining(s) started by ci-alert-hook"
    # Level 4 with serving metrics unknown: nothing refutes it, and the rest shows it.
    assert churn.level == 4 and churn.next_steps == ()
    assert evidence(demand, "automated_retraining") == (
        "1 retraining(s) in the journal, all started by hand (priya)"
    )
    assert statuses(demand)["automated_retraining"] == "not_met"


async def test_thresholds_come_from_the_config(demo_store: MlflowSettings, tmp_path: Path) -> None:
    settings = dataclasses.replace(
        demo_settings(demo_store, tmp_path), maturity=MaturitySettings(share=0.3, automation=["amira"])
    )
    found = by_model(await maturity(settings))
    # A third of demand's versions came from a pipeline: "most" is now 30 %.
    assert statuses(found["demand"])["automated_training"] == "met"
    # amira is automation now; gitlab-ci is not.
    assert statuses(found["fraud"])["automated_deployment"] == "met"
    assert statuses(found["churn"])["automated_deployment"] == "not_met"


@pytest.fixture
def metrics_backend() -> Iterator[str]:
    """A backend playing the metrics role, configured wherever MLflow is (declared only: the
    criterion asks the registry, it reads no series)."""
    name = "series"
    registry.register(
        Backend[MlflowSettings](
            name=name,
            roles=frozenset({Role.METRICS}),
            settings=MlflowSettings,
            configured=lambda env: env.mlflow,
            factory=lambda settings, context: pytest.fail("a metrics source is never built to judge"),
            refresh=lambda settings, env: 30.0,
            panes=(),
            table="[series] table",
            hint="a metrics source",
        )
    )
    try:
        yield name
    finally:
        registry.unregister(name)


async def test_serving_metrics_are_judged_once_a_metrics_backend_is_configured(
    demo_store: MlflowSettings, tmp_path: Path, metrics_backend: str
) -> None:
    churn = by_model(await maturity(demo_settings(demo_store, tmp_path), model="churn"))["churn"]
    assert statuses(churn)["serving_metrics"] == "met"
    assert evidence(churn, "serving_metrics") == f"metrics source configured: {metrics_backend}"


async def test_an_environment_that_cannot_be_read_is_a_problem_and_the_others_are_assessed(
    demo_store: MlflowSettings, tmp_path: Path
) -> None:
    dead = MlflowSettings(tracking_uri=f"http://127.0.0.1:{closed_port()}", timeout_seconds=2)
    settings = Settings(
        {"dev": EnvironmentSettings(mlflow=demo_store), "dead": EnvironmentSettings(mlflow=dead)},
        "dev",
        journal=tmp_path / "journal.db",
    )
    found = await maturity(settings, "dev", "dead")
    assert set(by_model(found)) == {"churn", "fraud", "demand"}
    assert list(found.problems) == ["dead"] and "cannot reach" in found.problems["dead"]
    # Named models of an environment without a tracking store: every tracking criterion unknown.
    bare = Settings({"bare": EnvironmentSettings(models=["churn"])}, "bare", journal=tmp_path / "journal.db")
    churn = by_model(await maturity(bare, "bare"), "bare")["churn"]
    assert churn.level == 0
    assert {statuses(churn)[c] for c in ("code_versioned", "tracking", "automated_training")} == {"unknown"}
    assert evidence(churn, "tracking") == "the registry could not be read"


# -- on the GitLab and Vertex AI test servers -----------------------------------------------------


async def test_gitlab_schedules_count_as_automated_retraining(
    demo_store: MlflowSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
    with FakeGitlab() as gitlab:
        project = gitlab.add_project("ml/models")
        gitlab.add_pipeline(project["id"], source="schedule", name="retrain churn")
        gitlab.add_pipeline(project["id"], source="push", name="retrain fraud")
        table = GitlabSettings(
            url=gitlab.url, project="ml/models", token_env="GITLAB_TOKEN", pipeline_name="retrain {model}"
        )
        found = by_model(await maturity(demo_settings(demo_store, tmp_path, gitlab=table)))
    churn, fraud = found["churn"], found["fraud"]
    assert (
        evidence(churn, "pipelines")
        == "1 recent pipeline(s) of the model (gitlab); 4 version(s) made by gitlab pipelines"
    )
    assert evidence(churn, "automated_retraining") == "1 scheduled pipeline(s) of the model"
    assert evidence(churn, "automated_training").endswith("; 1 scheduled pipeline(s) seen")
    assert statuses(fraud)["automated_retraining"] == "not_met"
    assert evidence(fraud, "automated_training").endswith("; no scheduled pipeline seen")


async def test_a_scheduled_airflow_dag_run_counts_as_automated_retraining(
    demo_store: MlflowSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Airflow 2's API (its test server): the DAG `retrain_churn` names its model."""
    monkeypatch.setenv("AIRFLOW_PASSWORD", "secret")
    with FakeAirflowV1(username="admin", password="secret") as airflow:
        airflow.add_dag("retrain_churn")
        airflow.add_run("retrain_churn", "scheduled__2026-12-04T10:00:00+00:00")["run_type"] = "scheduled"
        airflow.add_run("retrain_churn", "manual__2026-12-04T11:00:00+00:00")
        table = AirflowSettings(
            url=airflow.url,
            api_version="v1",
            dags=["retrain_churn"],
            username="admin",
            password_env="AIRFLOW_PASSWORD",
        )
        retrain = RetrainSettings(kind="airflow", dag="retrain_{model}")
        found = by_model(await maturity(demo_settings(demo_store, tmp_path, airflow=table, retrain=retrain)))
    churn = found["churn"]
    assert evidence(churn, "pipelines").startswith("2 recent pipeline(s) of the model (airflow)")
    assert evidence(churn, "automated_retraining") == "1 scheduled pipeline(s) of the model"
    assert statuses(found["fraud"])["automated_retraining"] == "not_met"


async def test_vertex_traffic_splits_are_a_controlled_release(
    demo_store: MlflowSettings, tmp_path: Path
) -> None:
    with FakeVertex("acme-ml", "us-central1") as vertex:
        seed_churn(vertex)  # churn-endpoint: churn v3 at 90 %, v4 at 10 %
        # A second endpoint serving churn alone now, whose canary the journal remembers.
        vertex.add_endpoint("1003", "churn-batch", [("31", "501", "1"), ("32", "501", "2")], {"31": 100})
        table = VertexSettings(
            project="acme-ml", location="us-central1", api_endpoint=vertex.url, credentials="anonymous"
        )
        settings = demo_settings(demo_store, tmp_path, vertex=table)
        journaled(
            settings,
            "traffic",
            "ana",
            "churn-batch",
            target="endpoint churn-batch (1003)",
            after="31=90 32=10",
        )
        found = by_model(await maturity(settings))
    churn, fraud = found["churn"], found["fraud"]
    assert statuses(churn)["controlled_release"] == "met"
    assert evidence(churn, "controlled_release") == (
        "churn-endpoint: 11=90 12=10 (now); churn-batch: 1 split(s) in the journal, last 31=90 32=10"
    )
    # fraud's endpoint serves a model that names no MLflow model.
    assert evidence(fraud, "controlled_release") == "no endpoint serves the model"
    assert statuses(fraud)["controlled_release"] == "not_met"
    # Vertex's pipeline jobs name churn: pipelines of the model were seen.
    assert evidence(churn, "pipelines").startswith("2 recent pipeline(s) of the model (vertex)")


# -- the command ----------------------------------------------------------------------------------


def test_over_a_real_mlflow_server_the_demo_has_the_same_spread(mlflow_server: str, tmp_path: Path) -> None:
    server = {"tracking_uri": mlflow_server}
    gated = {
        "mlflow": server,
        "models": ["churn", "fraud"],
        "gates": {"required_tags": {"validation_status": "passed"}},
    }
    config = write_config(
        tmp_path / "server.toml", {"demo": {"mlflow": server}, "prd": gated}, journal=str(tmp_path / "j.db")
    )
    result = run_cli("maturity", "--env", "demo", "--json", "--config", config)
    assert result.code == ExitCode.OK, result
    models = {m["model"]: m for m in result.json()["models"]}
    assert {name: m["level"] for name, m in models.items()} == {"churn": 3, "fraud": 2, "demand": 1}
    churn = {c["id"]: c for c in models["churn"]["criteria"]}
    assert churn["automated_deployment"]["evidence"] == "1/1 (100 %) of the promotions made by CI (registry)"
    assert churn["monitoring"] == {
        "id": "monitoring",
        "level": 4,
        "title": "Monitoring and alerting",
        "status": "not_met",
        "evidence": "no alert source configured",
    }


def test_maturity_json_on_the_demo_is_golden(demo_command_seeded: DemoCommandRun) -> None:
    result = run_cli("maturity", "--all", "--json")
    assert result.code == ExitCode.OK, result
    assert result.stderr == ""
    data = result.json()
    levels = {(m["environment"], m["model"]): m["level"] for m in data["models"]}
    assert levels == {
        ("local", "churn"): 3,
        ("local", "fraud"): 2,
        ("local", "demand"): 1,
        ("local-prd", "churn"): 3,
        ("local-prd", "fraud"): 2,
    }
    assert_golden("maturity_demo", data)


def test_maturity_table_and_exit_codes(demo_command_seeded: DemoCommandRun, tmp_path: Path) -> None:
    shown = run_cli("maturity", "--model", "demand")
    assert shown.code == ExitCode.OK, shown
    lines = shown.stdout.splitlines()
    assert lines[0].split() == ["MODEL", "ENV", "LEVEL", "NEXT", "STEP"]
    assert lines[1].split()[:3] == ["demand", "local", "1"]
    assert "demand in local: level 1 (DevOps but no MLOps)" in shown.stdout
    assert any(line.split()[:4] == ["2", "Automated", "training", "not"] for line in lines)

    both = run_cli("maturity", "--all", "--env", "local")
    assert both.code == ExitCode.USAGE and "give --env or --all, not both" in both.stderr

    dead = write_config(
        tmp_path / "dead.toml",
        {"dead": {"mlflow": {"tracking_uri": f"http://127.0.0.1:{closed_port()}", "timeout_seconds": 2}}},
        journal=str(tmp_path / "journal.db"),
    )
    failed = run_cli("maturity", "--json", "--config", dead)
    assert failed.code == 1, failed
    assert json.loads(failed.stdout)["models"] == []
    assert failed.stderr.startswith("mlops-tui: dead: ") and "cannot reach" in failed.stderr
