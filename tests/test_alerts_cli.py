"""`alerts ...` and `status` through the installed console script, on local rules over a real
`mlflow server` (the demo registry, put back before each test) and the GitLab test server.

The rules are the built-in `local` environment's: on the demo data churn's champion fires a
critical alert and fraud's a warning.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from mlops_tui.config import LOCAL_RULES
from mlops_tui.domain import utcnow
from mlops_tui.errors import ExitCode
from mlops_tui.ops.journal import Journal
from tests.fakes.gitlab_server import TOKEN, FakeGitlab
from tests.helpers import closed_port, run_cli, write_config

RULES = [msgspec.to_builtins(rule) for rule in LOCAL_RULES]
QUIET_RULES = [{"name": "Never", "metric": "val_auc", "op": "<", "threshold": 0.0}]


def config(tmp_path: Path, uri: str, **environments: dict[str, Any]) -> Path:
    tables = {"dev": {"mlflow": {"tracking_uri": uri}, "rules": RULES}}
    for name, table in environments.items():
        tables[name] = {"mlflow": {"tracking_uri": uri}, **table}
    return write_config(tmp_path / "mlops-tui.toml", tables, default_env="dev", operator="priya")


@pytest.fixture
def dev(tmp_path: Path, writable_server: str) -> Path:
    return config(
        tmp_path,
        writable_server,
        prd={"protected": True, "rules": RULES},
        ro={"read_only": True, "rules": RULES},
    )


def test_alerts_list_as_a_table_and_json(dev: Path) -> None:
    table = run_cli("alerts", "list", "--config", dev)
    assert table.code == ExitCode.OK, table
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["SEVERITY", "ALERT", "MODEL", "STATE", "SOURCE", "STARTED", "SUMMARY"]
    assert [line.split()[:5] for line in lines[1:]] == [
        ["critical", "ChampionAucLow", "churn", "active", "rules"],
        ["warning", "FeatureDrift", "fraud", "active", "rules"],
    ]
    found = run_cli("alerts", "list", "--json", "--filter", 'severity="critical"', "--config", dev).json()
    assert found["environment"] == "dev"
    [alert] = found["alerts"]
    assert {k: alert[k] for k in ("name", "severity", "state", "source", "model")} == {
        "name": "ChampionAucLow",
        "severity": "critical",
        "state": "active",
        "source": "rules",
        "model": "churn",
    }
    assert alert["labels"]["version"] == "3"
    assert alert["runbook_url"] == "https://runbooks.example.com/models/auc-low"
    regex = run_cli("alerts", "list", "--json", "--filter", 'model=~"fr.*"', "--config", dev).json()
    assert [a["model"] for a in regex["alerts"]] == ["fraud"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["alerts", "list", "--filter", "severity"], "matcher: 'severity' does not parse"),
        (["alerts", "list", "--filter", 'model=~"("'], "bad regular expression"),
        (["alerts", "silence", 'a="b"', "--duration", "soon", "--comment", "x"], "'soon' is not a duration"),
        (["alerts", "silence", 'a="b"', "--duration", "2h", "--comment", " "], "needs a comment"),
    ],
)
def test_bad_input_is_a_usage_error_with_one_line(dev: Path, args: list[str], message: str) -> None:
    result = run_cli(*args, "--config", dev)
    assert result.code == ExitCode.USAGE, result
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert message in line


def test_silence_then_expire_through_the_policy_and_the_journal(dev: Path, tmp_path: Path) -> None:
    silence = ["alerts", "silence", 'alertname="ChampionAucLow"', "--duration", "2h"]
    planned = run_cli(*silence, "--comment", "retraining", "--config", dev)
    assert planned.code == ExitCode.REFUSED
    assert 'plan: silence rules alerts {alertname="ChampionAucLow"} in dev' in planned.stdout
    assert run_cli("alerts", "silences", "--json", "--config", dev).json()["silences"] == []

    done = run_cli(*silence, "--comment", "retraining", "--yes", "--json", "--config", dev)
    assert done.code == ExitCode.OK, done
    silence_id = done.json()["after"].removeprefix("silence ")
    [listed] = run_cli("alerts", "silences", "--json", "--config", dev).json()["silences"]
    assert (listed["id"], listed["state"], listed["created_by"], listed["comment"]) == (
        silence_id,
        "active",
        "priya",
        "retraining",
    )
    assert listed["matchers"] == ['alertname="ChampionAucLow"']
    active = run_cli("alerts", "list", "--json", "--config", dev).json()["alerts"]
    assert [a["name"] for a in active] == ["FeatureDrift"]
    everything = run_cli("alerts", "list", "--silenced", "--json", "--config", dev).json()["alerts"]
    assert {a["name"]: a["silenced_by"] for a in everything} == {
        "ChampionAucLow": [silence_id],
        "FeatureDrift": [],
    }

    expired = run_cli("alerts", "expire", silence_id, "--yes", "--config", dev)
    assert expired.code == ExitCode.OK, expired
    assert run_cli("alerts", "silences", "--json", "--config", dev).json()["silences"] == []
    [gone] = run_cli("alerts", "silences", "--all", "--json", "--config", dev).json()["silences"]
    assert gone["state"] == "expired"
    again = run_cli("alerts", "expire", silence_id, "--yes", "--config", dev)
    assert again.code == ExitCode.REFUSED and "already expired" in again.stderr

    journal = Journal(tmp_path / "xdg_state_home" / "mlops-tui" / "journal.sqlite3")
    entries = [(e.action, e.before, e.after, e.result) for e in journal.entries()]
    journal.close()
    assert entries == [
        ("expire", "active", "expired", "ok"),
        ("silence", None, f"silence {silence_id}", "ok"),
    ]


def test_silence_in_a_protected_environment_needs_the_name_typed(dev: Path) -> None:
    args = ["alerts", "silence", 'model="churn"', "--duration", "1h", "--comment", "x", "--env", "prd"]
    refused = run_cli(*args, "--yes", "--config", dev)
    assert refused.code == ExitCode.REFUSED
    assert "prd is protected: confirm by typing the model name 'churn'" in refused.stderr
    assert run_cli(*args, "--yes", "--confirm", "churn", "--config", dev).code == ExitCode.OK


def test_expire_of_an_unknown_silence_is_not_found(dev: Path) -> None:
    result = run_cli("alerts", "expire", "nope", "--yes", "--config", dev)
    assert result.code == ExitCode.FAILED
    assert "no silence 'nope' in dev" in result.stderr


# -- status -------------------------------------------------------------------------------------


def test_status_is_degraded_by_a_critical_alert_and_healthy_once_silenced(dev: Path) -> None:
    result = run_cli("status", "--json", "--config", dev)
    assert result.code == ExitCode.FAILED, result
    report = result.json()
    assert (report["state"], report["exit_code"]) == ("degraded", 1)
    [env] = report["environments"]
    assert env["alerts"] == {"firing": {"critical": 1, "warning": 1}, "muted": 0}
    assert env["serving"] == {
        "slot": "champion",
        "versions": {"churn": "v3", "demand": "v2", "fraud": "v2"},
    }  # demand: kept in stages
    assert env["sources"]["mlflow"]["state"] == "ok" and env["sources"]["rules"]["state"] == "ok"
    assert env["problems"] == ["1 critical alert(s) firing"]
    assert result.stderr == "mlops-tui: dev: 1 critical alert(s) firing\n"

    silenced = run_cli(
        "alerts",
        "silence",
        'severity="critical"',
        "--duration",
        "1h",
        "--comment",
        "x",
        "--yes",
        "--config",
        dev,
    )
    assert silenced.code == ExitCode.OK, silenced
    healthy = run_cli("status", "--config", dev)
    assert healthy.code == ExitCode.OK, healthy
    assert healthy.stderr == ""
    assert healthy.stdout.splitlines()[1].split()[:2] == ["dev", "healthy"]


def test_status_of_every_environment_reports_the_worst(tmp_path: Path, writable_server: str) -> None:
    path = config(
        tmp_path,
        writable_server,
        qa={"rules": QUIET_RULES},
        prd={"mlflow": {"tracking_uri": f"http://127.0.0.1:{closed_port()}", "timeout_seconds": 2}},
    )
    result = run_cli("status", "--all", "--json", "--config", path)
    assert result.code == ExitCode.UNREACHABLE, result
    states = {e["environment"]: e["state"] for e in result.json()["environments"]}
    assert states == {"dev": "degraded", "qa": "healthy", "prd": "unreachable"}
    assert result.json()["state"] == "unreachable"
    assert "mlops-tui: prd: mlflow unreachable:" in result.stderr
    only_qa = run_cli("status", "--env", "qa", "--config", path)
    assert only_qa.code == ExitCode.OK, only_qa
    both = run_cli("status", "--all", "--env", "qa", "--config", path)
    assert both.code == ExitCode.USAGE


def test_status_of_every_environment_survives_one_environments_missing_token(
    tmp_path: Path, writable_server: str
) -> None:
    path = config(
        tmp_path,
        writable_server,
        qa={"rules": QUIET_RULES},
        prd={
            "alertmanager": {"url": f"http://127.0.0.1:{closed_port()}", "token_env": "GRAFANA_TOKEN_UNSET"},
            "rules": QUIET_RULES,
        },
        stg={"mlflow": {"tracking_uri": f"http://127.0.0.1:{closed_port()}", "token_env": "STG_TOKEN_UNSET"}},
    )
    result = run_cli("status", "--all", "--config", path)
    assert result.code == ExitCode.FAILED, result
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert sorted(rows) == ["dev", "prd", "qa", "stg"]
    assert rows["qa"].split()[1] == "healthy" and "churn v3" in rows["qa"]
    assert rows["prd"].split()[1] == "degraded" and "alertmanager degraded" in rows["prd"]
    assert "churn v3" in rows["prd"]  # the registry still answered
    assert "mlflow degraded" in rows["stg"]
    assert "mlops-tui: prd: alertmanager degraded: environment variable GRAFANA_TOKEN_UNSET is not set" in (
        result.stderr
    )
    assert "mlops-tui: stg: mlflow degraded: environment variable STG_TOKEN_UNSET is not set" in result.stderr
    for leak in ("Warning", "Traceback", "never awaited"):
        assert leak not in result.stderr
    log = tmp_path / "xdg_state_home" / "mlops-tui" / "mlops-tui.log"
    assert not log.exists() or "never awaited" not in log.read_text()


def test_status_counts_pipelines_failed_in_the_last_day(tmp_path: Path, writable_server: str) -> None:
    with FakeGitlab() as gitlab:
        project = gitlab.add_project("ml/models")
        gitlab.add_pipeline(
            project["id"], status="failed", created=utcnow() - timedelta(hours=2), pipeline_id=7
        )
        gitlab.add_pipeline(
            project["id"], status="failed", created=utcnow() - timedelta(days=3), pipeline_id=3
        )
        gitlab.add_pipeline(project["id"], status="success", pipeline_id=8)
        path = config(
            tmp_path,
            writable_server,
            qa={
                "rules": QUIET_RULES,
                "gitlab": {"url": gitlab.url, "project": "ml/models", "token_env": "GITLAB_TOKEN"},
            },
        )
        result = run_cli("status", "--env", "qa", "--json", "--config", path, env={"GITLAB_TOKEN": TOKEN})
    assert result.code == ExitCode.FAILED, result
    [env] = result.json()["environments"]
    assert [p["id"] for p in env["failed_pipelines"]] == ["7"]
    assert env["problems"] == ["gitlab pipeline 7 failed (main)"]
