"""End to end in a real terminal, as an operator over SSH: the installed `mlops-tui` in tmux at
80x24, driven with send-keys and read with capture-pane, against a real `mlflow server` and a real
Alertmanager. A critical alert fires on churn's champion; the operator goes from the alert to its
triage and rolls back in the protected environment; the registry and the journal say so after.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import msgspec
import pytest

from mlops_tui.config import LOCAL_RULES, MlflowSettings
from mlops_tui.ops.journal import Journal
from tests.helpers import CI_VARIABLES, Registry, mlflow_telemetry_file, mlops_tui_command, write_config
from tests.helpers.airflow import ADMIN_PASSWORD_ENV, AirflowServer
from tests.helpers.alertmanager import AlertmanagerTestbed
from tests.test_airflow import held_paused

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is installed by scripts/test"),
]


class Terminal:
    """One tmux session on a private server socket: keys in, screen text out."""

    def __init__(self, socket: str, session: str) -> None:
        self.socket = socket
        self.session = session

    def tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True)
        return done.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.session)

    def alive(self) -> bool:
        """The session is there: the command in it has not exited."""
        done = subprocess.run(
            ["tmux", "-L", self.socket, "has-session", "-t", self.session], capture_output=True
        )
        return done.returncode == 0

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.session, *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", self.session, "-l", text)

    def wait_for(self, condition: Callable[[str], bool], what: str, seconds: float = 60) -> str:
        """Poll the screen until `condition` holds; fail with the last screen."""
        deadline = time.monotonic() + seconds
        while True:
            screen = self.screen()
            if condition(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the screen:\n{screen}")
            time.sleep(0.1)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Callable[..., Terminal]]:
    socket = f"mlops-tui-test-{uuid.uuid4().hex[:8]}"
    started: list[Terminal] = []

    def start(
        command: list[str], size: tuple[int, int] = (80, 24), env: dict[str, str] | None = None
    ) -> Terminal:
        width, height = (str(n) for n in size)
        subprocess.run(
            ["tmux", "-L", socket, "-f", "/dev/null", "new-session", "-d", "-s", "ops", "-x", width, "-y", height,  # noqa: E501
             *command],
            check=True,
            env={**os.environ, "TERM": "xterm-256color", **(env or {})},
            cwd=tmp_path,
        )  # fmt: skip
        term = Terminal(socket, "ops")
        started.append(term)
        return term

    yield start
    for _ in started:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, check=False)


def test_from_a_critical_alert_to_a_rollback_over_tmux(
    tmp_path: Path,
    writable_server: str,
    alertmanager: AlertmanagerTestbed,
    terminal: Callable[[list[str]], Terminal],
) -> None:
    registry = Registry(writable_server)
    assert registry.aliases("churn")["champion"] == "3"
    alertmanager.post(
        "ChampionDegraded",
        {"summary": "churn v3 loses AUC in production"},
        severity="critical",
        model="churn",
    )
    journal_path = tmp_path / "journal.sqlite3"
    config = write_config(
        tmp_path / "mlops-tui.toml",
        {
            "prd": {
                "protected": True,
                "mlflow": {"tracking_uri": writable_server, "refresh_seconds": 2},
                "alertmanager": {
                    "url": alertmanager.url,
                    "filters": [str(alertmanager.matcher)],
                    "refresh_seconds": 1,
                },
            }
        },
        operator="oncall",
        journal=str(journal_path),
    )
    term = terminal([*mlops_tui_command(), "--config", str(config)])

    term.wait_for(lambda s: "ChampionDegraded" in s, "the alert in the Alerts pane")
    screen = term.screen()
    assert "PRD" in screen and "PROTECTED" in screen  # the header says where we are
    term.keys("a")  # the most severe alert: the Alerts pane's keys show
    term.wait_for(lambda s: "Silence" in s.splitlines()[-1], "the Alerts pane focused")
    term.keys("Enter")  # its triage
    screen = term.wait_for(lambda s: "serving v3" in s and "previous v2" in s, "the triage screen")
    assert "churn v3 loses AUC in production" in screen

    term.keys("b")  # roll back, from the triage screen
    term.wait_for(lambda s: "type churn to confirm" in s.replace("\n", " "), "the typed confirmation")
    screen = term.screen()
    assert "v3" in screen and "v2" in screen
    term.type("churn")
    term.keys("Enter")
    term.wait_for(lambda s: "Done: rollback churn@champion" in s.replace("\n", " "), "the rollback done")

    assert registry.aliases("churn")["champion"] == "2"
    journal = Journal(journal_path)
    try:
        [entry] = journal.entries()
        assert (entry.operator, entry.environment, entry.action, entry.target) == (
            "oncall",
            "prd",
            "rollback",
            "churn@champion",
        )
        assert (entry.before, entry.after, entry.result) == ("v3", "v2", "ok")
    finally:
        journal.close()
    term.keys("escape")  # alone: an escape followed at once by a key reads as alt+key
    term.wait_for(lambda s: "Runs" in s and "Models" in s, "the dashboard")
    term.keys("q")
    deadline = time.monotonic() + 20
    while term.alive():
        assert time.monotonic() < deadline, "the app did not quit"
        time.sleep(0.1)


def test_the_tui_on_a_new_store_shows_no_library_output_and_writes_no_telemetry(
    tmp_path: Path, terminal: Callable[[list[str]], Terminal]
) -> None:
    store = tmp_path / "new.db"
    config = write_config(
        tmp_path / "c.toml", {"dev": {"mlflow": {"tracking_uri": f"sqlite:///{store}", "refresh_seconds": 1}}}
    )
    # As a user starts it: MLflow would write its installation id and log the new store's tables.
    as_a_user = ["env", *(f"--unset={name}" for name in CI_VARIABLES)]
    term = terminal([*as_a_user, *mlops_tui_command(), "--config", str(config)])
    term.wait_for(
        lambda s: "Aliases / stages" in s and store.exists(), "the Models pane read from the new store"
    )
    screen = term.screen()
    assert store.exists()
    for leak in ("INFO", "alembic", "Creating initial", "Warning", "Traceback"):
        assert leak not in screen, screen
    assert not mlflow_telemetry_file().exists()


def written(settings: msgspec.Struct) -> dict[str, object]:
    """Settings as a config file's table holds them."""
    return {k: v for k, v in msgspec.structs.asdict(settings).items() if v is not None}


def quit_app(term: Terminal) -> None:
    term.keys("q")
    deadline = time.monotonic() + 20
    while term.alive():
        assert time.monotonic() < deadline, "the app did not quit"
        time.sleep(0.1)


@pytest.mark.parametrize("size", [(80, 24), (60, 20)], ids=["80x24", "60x20"])
def test_on_call_without_colour_in_a_small_terminal(
    tmp_path: Path, demo_store: MlflowSettings, terminal: Callable[..., Terminal], size: tuple[int, int]
) -> None:
    """NO_COLOR, TERM=screen: the header on every screen, a burst of keys stacks nothing, the
    dialogs' buttons are in view and Tab's focus shows in the characters themselves."""
    config = write_config(
        tmp_path / "mlops-tui.toml",
        {
            "prd": {
                "protected": True,
                "mlflow": written(demo_store),
                "rules": [written(rule) for rule in LOCAL_RULES],
            }
        },
        operator="oncall",
        journal=str(tmp_path / "journal.sqlite3"),
    )
    term = terminal(
        [*mlops_tui_command(), "--config", str(config)], size, {"NO_COLOR": "1", "TERM": "screen"}
    )
    term.wait_for(lambda s: "ChampionAucLow" in s, "the alert in the Alerts pane")
    assert "PRD · PROTECTED" in term.screen()

    term.keys("a", "Enter", "Escape", "a", "Enter")  # at once, as a hurried person types them
    screen = term.wait_for(lambda s: "serving v3" in s, "the triage screen")
    assert "PRD · PROTECTED" in screen  # the header on triage too
    term.keys("Escape")
    term.wait_for(lambda s: "serving v3" not in s and "Runs" in s, "the dashboard, no triage left under it")

    term.keys("a")
    term.wait_for(lambda s: "Silence" in s.splitlines()[-1], "the Alerts pane focused")
    term.keys("Enter")
    term.wait_for(lambda s: "serving v3" in s, "the triage screen")
    term.keys("b")  # roll back: the typed confirmation
    screen = term.wait_for(lambda s: "Cancel" in s and "Rollback" in s, "the confirmation's buttons")
    assert "type churn" in screen  # the placeholder says what to do
    focused_input = screen
    term.keys("Tab")
    on_button = term.wait_for(lambda s: s != focused_input, "focus moving without colour")
    term.keys("Tab")
    term.wait_for(lambda s: s != on_button, "focus moving on to Cancel")
    term.keys("Escape")
    term.wait_for(lambda s: "Cancelled" in s or "serving v3" in s, "the triage screen again")

    term.keys("s")
    term.wait_for(lambda s: "Plan" in s and "Cancel" in s and "Silence" in s, "the silence dialog's buttons")
    term.keys("Escape")
    term.wait_for(lambda s: "Plan" not in s, "the dialog closed")
    term.keys("Escape")
    term.wait_for(lambda s: "Runs" in s and "Models" in s, "the dashboard")
    quit_app(term)


@pytest.mark.parametrize("size", [(80, 24), (60, 20)], ids=["80x24", "60x20"])
def test_approving_and_rejecting_without_colour_in_a_small_terminal(
    tmp_path: Path,
    demo_store: MlflowSettings,
    shared_journal_url: str,
    terminal: Callable[..., Terminal],
    size: tuple[int, int],
) -> None:
    """Four eyes over SSH: the header says a request waits, the approvals screen lists it, the
    approval's confirmation (typed, in a protected environment) and the rejection's reason dialog
    keep their buttons in view, and Tab's focus shows without colour."""
    from datetime import UTC, datetime, timedelta

    from mlops_tui.domain import Change, PlanArguments
    from mlops_tui.ops.shared_journal import SharedJournal
    from tests.helpers.postgres import PASSWORD, PASSWORD_ENV

    journal = SharedJournal(shared_journal_url, password=PASSWORD)
    request_id = journal.request(
        Change("promote", "prd", "churn@champion", "churn", "v3", "v4"),
        "ana",
        PlanArguments("promote", "churn", "4", alias="champion"),
        needed=1,
        expires=datetime.now(UTC) + timedelta(hours=1),
    )
    config = write_config(
        tmp_path / "mlops-tui.toml",
        {"prd": {"protected": True, "approvals": 1, "mlflow": written(demo_store)}},
        operator="ben",
        journal=shared_journal_url,
        journal_password_env=PASSWORD_ENV,
    )
    term = terminal(
        [*mlops_tui_command(), "--config", str(config)], size, {"NO_COLOR": "1", "TERM": "screen"}
    )
    term.wait_for(lambda s: "1 to approve (A)" in s, "the header counting the request")
    term.keys("A")
    screen = term.wait_for(lambda s: f"#{request_id}" in s and "pending" in s, "the approvals screen")
    assert "PRD · PROTECTED" in screen and "ana" in screen

    term.keys("y")
    screen = term.wait_for(lambda s: "Approve" in s and "Cancel" in s, "the approval's buttons")
    assert "type churn" in screen and f"request #{request_id}" in screen
    focused_input = screen
    term.keys("Tab")
    on_button = term.wait_for(lambda s: s != focused_input, "focus moving without colour")
    term.keys("Tab")
    term.wait_for(lambda s: s != on_button, "focus moving on to Cancel")
    term.keys("Escape")
    term.wait_for(lambda s: "Cancelled" in s or "Approve" not in s, "the approvals screen again")

    term.keys("n")
    term.wait_for(
        lambda s: "Reject" in s and "Cancel" in s and "why:" in s and "┏" in s,
        "the reason dialog's buttons, its input focused (heavy lines: no colour needed)",
    )
    term.type("not before the freeze ends")
    term.keys("Enter")
    term.wait_for(lambda s: "rejected" in s, "the request rejected")
    (closed,) = journal.approval_requests(request_id=request_id)
    assert [(d.operator, d.decision, d.reason) for d in closed.decisions] == [
        ("ben", "rejected", "not before the freeze ends")
    ]
    journal.close()
    term.keys("Escape")
    term.wait_for(lambda s: "Runs" in s and "Models" in s, "the dashboard")
    quit_app(term)


@pytest.mark.parametrize("size", [(80, 24), (60, 20)], ids=["80x24", "60x20"])
def test_maturity_without_colour_in_a_small_terminal(
    tmp_path: Path, demo_store: MlflowSettings, terminal: Callable[..., Terminal], size: tuple[int, int]
) -> None:
    """`L` from the dashboard and from the fleet view: the levels, and the criteria in words (met,
    not met, unknown), not in colours alone."""
    config = write_config(
        tmp_path / "mlops-tui.toml",
        {
            "dev": {"mlflow": written(demo_store), "rules": [written(rule) for rule in LOCAL_RULES]},
            "prd": {
                "protected": True,
                "mlflow": written(demo_store),
                "models": ["churn", "fraud"],
                "gates": {"required_tags": {"validation_status": "passed"}},
            },
        },
        journal=str(tmp_path / "journal.sqlite3"),
    )
    term = terminal(
        [*mlops_tui_command(), "--config", str(config)], size, {"NO_COLOR": "1", "TERM": "screen"}
    )
    term.wait_for(lambda s: "Runs" in s and "Models" in s and "churn" in s, "the dashboard")
    term.keys("L")
    screen = term.wait_for(lambda s: "churn in dev: L3" in s, "the maturity screen")
    assert "DEV" in screen.splitlines()[0]  # the header on the maturity screen too
    assert "L3 Automated" in screen and "L1 DevOps" in screen
    assert "L1 met      Code versioned" in screen
    term.keys("Down")
    term.wait_for(lambda s: "demand in dev: L1" in s, "the criteria of the next row")
    term.keys("Escape")
    term.wait_for(lambda s: "Runs" in s and "Models" in s, "the dashboard")
    term.keys("f")
    term.wait_for(lambda s: "Fleet" in s and "v3 champion" in s, "the fleet view")
    term.keys("L")
    term.wait_for(lambda s: "churn in dev: L3" in s, "the maturity screen over the fleet view")
    term.keys("Escape")
    term.wait_for(lambda s: "v3 champion" in s and "churn in dev" not in s, "the fleet view again")
    term.keys("Escape")
    term.wait_for(lambda s: "Runs" in s and "Models" in s, "the dashboard")


def _until(condition: Callable[[], bool], what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not reached in {seconds} s: {what}"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def retried_flaky_run(airflow_server: AirflowServer) -> str:
    """A run of the `flaky` DAG whose first task failed its try 1 and succeeded as try 2."""
    with airflow_server.client() as client:
        started = client.post("dags/flaky/dagRuns", json={"logical_date": None})
        started.raise_for_status()
        run_id = started.json()["dag_run_id"]
        path = f"dags/flaky/dagRuns/{quote(run_id, safe='')}"

        def state() -> str:
            try:
                answer = client.get(path)
            except httpx.TimeoutException:
                return "unknown"  # a loaded machine: ask again
            answer.raise_for_status()
            return str(answer.json()["state"])

        _until(lambda: state() == "failed", "the flaky run failed")
        cleared = client.post(
            "dags/flaky/clearTaskInstances",
            json={"dry_run": False, "dag_run_id": run_id, "only_failed": True, "reset_dag_runs": True},
        )
        cleared.raise_for_status()
        _until(lambda: state() == "success", "the flaky run retried to success")
    return f"flaky/{run_id}"


def _flat(screen: str) -> str:
    """The screen's words on one line: a narrow terminal wraps a heading."""
    return " ".join(screen.split())


@pytest.mark.airflow
@pytest.mark.parametrize("size", [(80, 24), (60, 20)], ids=["80x24", "60x20"])
def test_airflow_pause_unpause_and_tries_without_colour_in_a_small_terminal(
    tmp_path: Path,
    airflow_server: AirflowServer,
    retried_flaky_run: str,
    terminal: Callable[..., Terminal],
    size: tuple[int, int],
) -> None:
    """Over SSH with NO_COLOR: P and U on an Airflow run ask first, then pause and unpause its DAG
    in Airflow; the task log's heading says which try it shows, and [ and ] step between tries."""
    config = write_config(
        tmp_path / "mlops-tui.toml",
        {
            "af": {
                "airflow": {
                    "url": airflow_server.url,
                    "dags": ["flaky"],
                    "username": "admin",
                    "password_env": ADMIN_PASSWORD_ENV,
                    "timeout_seconds": 30,
                }
            }
        },
        operator="oncall",
        journal=str(tmp_path / "journal.sqlite3"),
    )
    term = terminal(
        [*mlops_tui_command(), "--config", str(config)],
        size,
        {"NO_COLOR": "1", "TERM": "screen", ADMIN_PASSWORD_ENV: airflow_server.passwords["admin"]},
    )
    term.wait_for(lambda s: "flaky/" in s, "the Airflow run in the Pipelines pane", seconds=120)
    try:
        term.keys("P")
        screen = term.wait_for(
            lambda s: "Pause" in s and "Cancel" in s and "airflow DAG flaky" in _flat(s), "the pause's dialog"
        )
        assert "active → paused" in _flat(screen)
        term.keys("Enter")
        _until(lambda: held_paused(airflow_server, "flaky"), "the DAG paused in Airflow")
        term.wait_for(lambda s: "target" not in s, "the dialog closed")
        term.keys("U")
        term.wait_for(lambda s: "Unpause" in s and "paused → active" in _flat(s), "the unpause's dialog")
        term.keys("Enter")
        _until(lambda: not held_paused(airflow_server, "flaky"), "the DAG active again in Airflow")
        term.wait_for(lambda s: "target" not in s, "the dialog closed")
    finally:
        with airflow_server.client() as client:
            client.patch("dags/flaky", params={"update_mask": "is_paused"}, json={"is_paused": False})

    term.keys("Enter")  # the run's tasks
    term.wait_for(lambda s: "prepare" in s and "report" in s, "the run's tasks")
    term.keys("Enter")  # prepare's log: its latest try (the log's end in view: no words of ours)
    # (At 60 columns the heading's end, the run and its status, is cut: the try is before them.)
    term.wait_for(lambda s: "try 2 of 2" in _flat(s) and "INFO" in s, "try 2's log, named in the heading")
    term.type("[")
    term.wait_for(lambda s: "try 1 of 2" in _flat(s) and "INFO" in s, "try 1's log")
    term.type("]")
    term.wait_for(lambda s: "try 2 of 2" in _flat(s) and "INFO" in s, "try 2's log again")
    term.keys("Escape")
    term.keys("Escape")
    term.wait_for(lambda s: "flaky/" in s and "prepare" not in s, "the dashboard")
    quit_app(term)


@pytest.mark.parametrize("size", [(80, 24), (60, 20)], ids=["80x24", "60x20"])
def test_serving_metrics_without_colour_in_a_small_terminal(
    tmp_path: Path, monitored_until_now: Path, terminal: Callable[..., Terminal], size: tuple[int, int]
) -> None:
    """The demo's monitoring runs read as the `mlflow` kind: churn's regressed latency marked `!`
    in the Models pane, the model screen's series and window, triage's serving metrics; the
    header's metrics source polled, and the header in one line."""
    store = {"tracking_uri": f"sqlite:///{monitored_until_now / 'mlflow.db'}"}
    config = write_config(
        tmp_path / "mlops-tui.toml",
        {
            "local": {
                "mlflow": store,
                "rules": [written(rule) for rule in LOCAL_RULES],
                "metrics": {"kind": "mlflow", "step_seconds": 3600},
            }
        },
        journal=str(tmp_path / "journal.sqlite3"),
    )
    term = terminal(
        [*mlops_tui_command(), "--config", str(config)], size, {"NO_COLOR": "1", "TERM": "screen"}
    )
    screen = term.wait_for(lambda s: "mlflow-metrics ●" in s and " ms !" in s, "churn's headline marked")
    # The header: one line, the metrics source polled (`● ok`, or `●` alone where room is short).
    header = screen.splitlines()[0]
    assert header.startswith("  LOCAL") and header.rstrip().endswith(
        ("mlflow-metrics ● ok", "mlflow-metrics ●")
    )
    churn = next(line for line in screen.splitlines() if line.lstrip().startswith("churn"))
    assert " ms !" in churn
    # Triage of churn's alert: its serving metrics beside the rest, the rollback key at hand.
    term.keys("a")
    term.wait_for(lambda s: "Silence" in s.splitlines()[-1], "the Alerts pane focused")
    term.keys("Enter")
    screen = term.wait_for(lambda s: "ChampionAucLow" in s and ": now " in s, "triage's serving series")
    assert "Serving metrics" in screen and "Roll back" in screen.splitlines()[-1]
    # The model screen from there: every series, the charted one's window cycled with `v`.
    term.keys("m")
    screen = term.wait_for(lambda s: "latency_p95 over 24h: now" in s, "churn's serving series charted")
    assert "error_rate" in screen and "requests" in screen
    term.keys("v")
    term.wait_for(lambda s: "latency_p95 over 7d: now" in s, "the 7d window")
    quit_app(term)
