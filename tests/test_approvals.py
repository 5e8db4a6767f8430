"""Four-eyes approvals on a real `mlflow server` and a real PostgreSQL journal, through the installed
command: a promotion in an environment with `approvals = N` becomes a request; the requester cannot
approve it; another operator's approval plans it again and makes it under the slot's lock; a target
changed meanwhile closes it as stale; rejections and expiry close it; two approvers released
together make exactly one write."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mlops_tui.config import load_settings
from mlops_tui.errors import ConfigError, ExitCode
from tests.helpers import CliResult, Registry, mlops_tui_command, run_cli, write_config
from tests.helpers.postgres import PASSWORD_ENV

OPERATORS = ("ana", "ben", "cat")


def configs(tmp_path: Path, server: str, journal: str, **dev: Any) -> dict[str, Path]:
    """A config per operator, all on one MLflow server and one shared journal; `dev`: keys of the
    environment (approvals = 1 unless given)."""
    environment = {"mlflow": {"tracking_uri": server}, "approvals": 1, **dev}
    return {
        name: write_config(
            tmp_path / name / "mlops-tui.toml",
            {"dev": environment},
            journal=journal,
            journal_password_env=PASSWORD_ENV,
            operator=name,
        )
        for name in OPERATORS
    }


def as_op(config: Path, *args: str) -> CliResult:
    return run_cli("--config", config, *args)


def code(result: CliResult, expected: ExitCode, *fragments: str) -> CliResult:
    assert result.code == expected, result
    for fragment in fragments:
        assert fragment in result.stderr + result.stdout, (fragment, result)
    if expected != ExitCode.OK:
        assert len(result.stderr.strip().splitlines()) == 1, result
    return result


def request_promotion(config: Path, version: str, *extra: str) -> int:
    done = code(as_op(config, "models", "promote", "churn", version, "--yes", "--json", *extra), ExitCode.OK)
    data = done.json()
    assert data["result"] == "requested" and data["needed"] >= 1, data
    return int(data["request"])


def pending(config: Path) -> list[dict[str, Any]]:
    return list(as_op(config, "approvals", "list", "--json").json()["requests"])


def every_request(config: Path) -> dict[int, dict[str, Any]]:
    listed = as_op(config, "approvals", "list", "--all", "--json").json()["requests"]
    return {r["id"]: r for r in listed}


def test_another_operator_approves_and_the_approval_makes_the_write(
    tmp_path: Path, writable_server: str, shared_journal_url: str
) -> None:
    ops = configs(tmp_path, writable_server, shared_journal_url)
    registry = Registry(writable_server)
    before = registry.aliases("churn")["champion"]
    version = "4" if before != "4" else "2"

    request = request_promotion(ops["ana"], version)
    assert registry.aliases("churn")["champion"] == before  # a request writes nothing
    (waiting,) = pending(ops["ben"])
    assert (waiting["id"], waiting["requester"], waiting["status"]) == (request, "ana", "pending")
    assert (waiting["before"], waiting["after"], waiting["approvers"]) == (f"v{before}", f"v{version}", [])
    table = as_op(ops["ben"], "approvals", "list").stdout
    assert f"#{request}" in table and "0/1" in table and "pending" in table

    code(as_op(ops["ana"], "approvals", "approve", str(request), "--yes"), ExitCode.REFUSED, "is yours")
    code(as_op(ops["ben"], "approvals", "approve", str(request)), ExitCode.REFUSED, "pass --yes")
    assert registry.aliases("churn")["champion"] == before

    done = code(
        as_op(ops["ben"], "approvals", "approve", str(request), "--yes", "--json"), ExitCode.OK
    ).json()
    assert (done["result"], done["request"], done["status"]) == ("ok", request, "performed")
    assert registry.aliases("churn")["champion"] == version
    assert pending(ops["cat"]) == []
    closed = every_request(ops["cat"])[request]
    assert closed["status"] == "performed" and closed["approvers"] == ["ben"]
    (entry, *_) = as_op(ops["cat"], "history", "--json").json()["entries"]
    assert (entry["operator"], entry["result"], entry["after"]) == ("ben", "ok", f"v{version}")
    assert f"approval #{request}: requested by ana, approved by ben" in entry["message"]

    again = as_op(ops["cat"], "approvals", "approve", str(request), "--yes")
    code(again, ExitCode.REFUSED, f"#{request} is performed by ben")


def test_a_target_changed_since_the_request_closes_it_as_stale(
    tmp_path: Path, writable_server: str, shared_journal_url: str
) -> None:
    ops = configs(tmp_path, writable_server, shared_journal_url)
    registry = Registry(writable_server)
    registry.client.set_registered_model_alias("churn", "champion", "3")
    request = request_promotion(ops["ana"], "4")
    registry.client.set_registered_model_alias("churn", "champion", "2")  # someone, in the MLflow UI

    stale = as_op(ops["ben"], "approvals", "approve", str(request), "--yes")
    code(stale, ExitCode.REFUSED, f"#{request} is stale", "v2 -> v4 now, not v3 -> v4")
    assert registry.aliases("churn")["champion"] == "2"
    assert every_request(ops["ben"])[request]["status"] == "stale"
    code(
        as_op(ops["cat"], "approvals", "approve", str(request), "--yes"), ExitCode.REFUSED, "is stale by ben"
    )


def test_rejected_and_expired_requests_are_closed(
    tmp_path: Path, writable_server: str, shared_journal_url: str
) -> None:
    ops = configs(tmp_path, writable_server, shared_journal_url)
    registry = Registry(writable_server)
    before = registry.aliases("churn")["champion"]
    request = request_promotion(ops["ana"], "1")
    code(as_op(ops["ben"], "approvals", "reject", str(request)), ExitCode.USAGE, "--reason")
    done = code(
        as_op(ops["ben"], "approvals", "reject", str(request), "--reason", "v1 is older"), ExitCode.OK
    )
    assert f"rejected #{request}" in done.stdout
    refused = as_op(ops["cat"], "approvals", "approve", str(request), "--yes")
    code(refused, ExitCode.REFUSED, f"#{request} is rejected by ben: v1 is older")

    withdrawn = request_promotion(ops["ana"], "1")
    code(as_op(ops["ana"], "approvals", "reject", str(withdrawn), "--reason", "wrong version"), ExitCode.OK)
    assert every_request(ops["ana"])[withdrawn]["status"] == "rejected"

    quick = configs(tmp_path / "quick", writable_server, shared_journal_url, approval_expiry_hours=1e-9)
    expired = request_promotion(quick["ana"], "1")
    assert pending(quick["ben"]) == []
    assert every_request(quick["ben"])[expired]["status"] == "expired"
    code(as_op(quick["ben"], "approvals", "approve", str(expired), "--yes"), ExitCode.REFUSED, "is expired")
    assert registry.aliases("churn")["champion"] == before
    code(
        as_op(ops["ben"], "approvals", "approve", "999999", "--yes"),
        ExitCode.FAILED,
        "no approval request #999999",
    )


def test_two_approvals_need_two_other_operators(
    tmp_path: Path, writable_server: str, shared_journal_url: str
) -> None:
    ops = configs(tmp_path, writable_server, shared_journal_url, approvals=2)
    registry = Registry(writable_server)
    registry.client.set_registered_model_alias("churn", "champion", "3")
    request = request_promotion(ops["ana"], "4")
    first = code(as_op(ops["ben"], "approvals", "approve", str(request), "--yes"), ExitCode.OK)
    assert "1 more approval needed" in first.stdout
    code(
        as_op(ops["ben"], "approvals", "approve", str(request), "--yes"), ExitCode.REFUSED, "already approved"
    )
    assert registry.aliases("churn")["champion"] == "3"
    code(as_op(ops["cat"], "approvals", "approve", str(request), "--yes"), ExitCode.OK, "done: ")
    assert registry.aliases("churn")["champion"] == "4"
    assert every_request(ops["ana"])[request]["approvers"] == ["ben", "cat"]


def test_rollbacks_stay_one_persons_act_unless_configured(
    tmp_path: Path, writable_server: str, shared_journal_url: str
) -> None:
    registry = Registry(writable_server)
    registry.client.set_registered_model_alias("churn", "champion", "3")
    open_config = write_config(
        tmp_path / "open.toml",
        {"dev": {"mlflow": {"tracking_uri": writable_server}}},
        journal=shared_journal_url,
        journal_password_env=PASSWORD_ENV,
        operator="ana",
    )
    code(as_op(open_config, "models", "promote", "churn", "4", "--yes"), ExitCode.OK)
    ops = configs(tmp_path, writable_server, shared_journal_url)
    code(as_op(ops["ana"], "models", "rollback", "churn", "--yes"), ExitCode.OK, "done: ")
    assert registry.aliases("churn")["champion"] == "3"

    code(as_op(open_config, "models", "promote", "churn", "4", "--yes"), ExitCode.OK)
    strict = configs(tmp_path / "strict", writable_server, shared_journal_url, rollback_approvals=1)
    requested = code(
        as_op(strict["ana"], "models", "rollback", "churn", "--yes", "--json"), ExitCode.OK
    ).json()
    assert requested["result"] == "requested" and requested["after"] == "v3"
    assert registry.aliases("churn")["champion"] == "4"
    code(as_op(strict["ben"], "approvals", "approve", str(requested["request"]), "--yes"), ExitCode.OK)
    assert registry.aliases("churn")["champion"] == "3"


def test_two_approvers_released_together_make_one_write(
    tmp_path: Path, writable_server: str, shared_journal_url: str
) -> None:
    ops = configs(tmp_path, writable_server, shared_journal_url)
    registry = Registry(writable_server)
    current = "3"
    registry.client.set_registered_model_alias("churn", "champion", current)
    for round_number in range(5):
        version = ("4", "2", "1", "4", "2")[round_number]
        if version == current:
            continue
        request = request_promotion(ops["ana"], version)
        processes = [
            subprocess.Popen(
                [
                    "sh",
                    "-c",
                    'read go && exec "$@"',
                    "barrier",
                    *mlops_tui_command(),
                    "--config",
                    str(ops[name]),
                    "approvals",
                    "approve",
                    str(request),
                    "--yes",
                    "--json",
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=dict(os.environ),
            )
            for name in ("ben", "cat")
        ]
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        outcomes = [(p.communicate(timeout=120), p.returncode) for p in processes]
        assert sorted(c for _, c in outcomes) == [ExitCode.OK, ExitCode.REFUSED], (round_number, outcomes)
        ((_, loser_err),) = [out for out, c in outcomes if c == ExitCode.REFUSED]
        assert "nothing" in loser_err and len(loser_err.strip().splitlines()) == 1, loser_err
        assert registry.aliases("churn")["champion"] == version
        closed = every_request(ops["ana"])[request]
        assert closed["status"] == "performed" and len(closed["approvers"]) == 1, closed
        performed = [d for d in closed["decisions"] if d["decision"] == "performed"]
        assert len(performed) == 1, closed
        current = version


def test_approvals_need_a_shared_journal(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "mlops-tui.toml",
        {"prd": {"mlflow": {"tracking_uri": "http://127.0.0.1:1"}, "protected": True, "approvals": 1}},
    )
    with pytest.raises(ConfigError) as refused:
        load_settings(str(path))
    message = refused.value.message
    assert str(path) in message and "key environments.prd.approvals" in message
    assert "shared journal" in message and refused.value.problems[0].line is not None


def test_config_check_warns_of_a_protected_environment_on_a_journal_of_ones_own(
    tmp_path: Path, shared_journal_url: str
) -> None:
    environments = {"prd": {"mlflow": {"tracking_uri": "http://127.0.0.1:1"}, "protected": True}}
    alone = write_config(tmp_path / "alone.toml", environments)
    checked = run_cli("config", "check", "--config", alone)
    assert checked.code == ExitCode.OK, checked
    (warning,) = checked.stderr.splitlines()
    assert warning.startswith(
        "mlops-tui: warning: prd is protected but the audit journal is this machine's file"
    )
    shared = write_config(
        tmp_path / "shared.toml", environments, journal=shared_journal_url, journal_password_env=PASSWORD_ENV
    )
    checked = run_cli("config", "check", "--config", shared)
    assert checked.code == ExitCode.OK and checked.stderr == "", checked
