"""Writes serialized across operators, with real processes: two `mlops-tui models promote` of the
installed console script, released together, race for `churn@champion` on a real `mlflow server`,
20 rounds per set-up. Every round exactly one wins (exit 0) and the other exits 4 having written
nothing; MLflow's alias ends as the winner's journaled outcome; the history tag loses no entry.

Both processes of a round start blocked reading their stdin (a pipe) and are released by one write
to each, back to back; both act with `--expect-current` on the state the round starts from, so the
one that comes second, however late, must find the slot changed, under the lock or before it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlops_tui.errors import ExitCode
from tests.helpers import Registry, mlops_tui_command, write_config
from tests.helpers.postgres import PASSWORD_ENV

ROUNDS = 20
VERSIONS = ("1", "2", "3", "4")
HISTORY_TAG = "mlops_tui.history.alias.champion"


@dataclass(frozen=True)
class Operator:
    name: str
    config: Path
    state: Path
    """Its XDG_STATE_HOME: where its journal lives unless the config names a shared one."""


@dataclass(frozen=True)
class Outcome:
    operator: str
    version: str
    code: int
    stdout: str
    stderr: str


def operators(tmp_path: Path, uri: str, journal: str | None, **shared: str) -> list[Operator]:
    """Two operators, each with a config and a state dir of their own (two machines, as far as
    mlops-tui can tell); `journal` (and the top-level keys `shared`) the same for both if given."""
    made = []
    for name in ("ana", "ben"):
        top = {"default_env": "dev", "operator": name, **shared}
        if journal is not None:
            top["journal"] = journal
        config = write_config(
            tmp_path / name / "mlops-tui.toml", {"dev": {"mlflow": {"tracking_uri": uri}}}, **top
        )
        made.append(Operator(name, config, tmp_path / name / "state"))
    return made


def race(pair: Sequence[Operator], current: str, versions: Sequence[str]) -> list[Outcome]:
    """One round: each operator promotes its version, both released at once."""
    processes = []
    for operator, version in zip(pair, versions, strict=True):
        command = [
            *mlops_tui_command(),
            "--config",
            str(operator.config),
            "models",
            "promote",
            "churn",
            version,
            "--alias",
            "champion",
            "--expect-current",
            current,
            "--yes",
            "--json",
        ]
        environment = {**os.environ, "XDG_STATE_HOME": str(operator.state)}
        barrier = ["sh", "-c", 'read go && exec "$@"', "barrier", *command]
        processes.append(
            subprocess.Popen(
                barrier,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=environment,
            )
        )
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(b"go\n")
        process.stdin.flush()
    outcomes = []
    for operator, version, process in zip(pair, versions, processes, strict=True):
        stdout, stderr = process.communicate(timeout=120)
        outcomes.append(Outcome(operator.name, version, process.returncode, stdout.decode(), stderr.decode()))
    return outcomes


def run_rounds(pair: Sequence[Operator], registry: Registry) -> dict[str, int]:
    """ROUNDS races; returns how often each operator won. Asserts every round's outcome."""
    registry.client.delete_registered_model_tag("churn", HISTORY_TAG)
    current = registry.aliases("churn")["champion"]
    replaced: list[str] = []
    wins = {operator.name: 0 for operator in pair}
    for round_number in range(ROUNDS):
        candidates = [v for v in VERSIONS if v != current]
        versions = (candidates[round_number % 3], candidates[(round_number + 1) % 3])
        tags = {v: registry.version("churn", v).tags for v in versions}
        outcomes = race(pair, current, versions)
        codes = sorted(o.code for o in outcomes)
        assert codes == [ExitCode.OK, ExitCode.REFUSED], (round_number, outcomes)
        (winner,) = (o for o in outcomes if o.code == ExitCode.OK)
        (loser,) = (o for o in outcomes if o.code == ExitCode.REFUSED)
        assert "changed meanwhile" in loser.stderr and loser.stdout == "", loser
        assert f"is now v{winner.version} (by {winner.operator} at " in loser.stderr, loser
        done = json.loads(winner.stdout)
        assert (done["result"], done["before"], done["after"]) == ("ok", f"v{current}", f"v{winner.version}")
        assert registry.aliases("churn")["champion"] == winner.version
        assert registry.version("churn", loser.version).tags == tags[loser.version]  # wrote nothing
        replaced.append(current)
        wins[winner.operator] += 1
        current = winner.version
    assert registry.history("churn") == replaced  # no entry lost
    return wins


def journal_of(operator: Operator) -> list[dict[str, object]]:
    """The operator's `history --json` (the shared journal, if any, else its own)."""
    done = subprocess.run(
        [*mlops_tui_command(), "--config", str(operator.config), "history", "--json", "--limit", "1000"],
        capture_output=True,
        text=True,
        env={**os.environ, "XDG_STATE_HOME": str(operator.state)},
        check=True,
        timeout=120,
    )
    entries: list[dict[str, object]] = json.loads(done.stdout)["entries"]
    return entries


def check_journal(entries: list[dict[str, object]], registry: Registry) -> int:
    """The newest ok outcome is what MLflow holds; each round journaled once ok, once refused.
    Returns: the rounds whose loser had planned on the same state as the winner (both passed the
    plan, and the lock decided)."""
    assert not [e for e in entries if e["result"] == "external"]  # one journal misses nothing
    ok = [e for e in entries if e["result"] == "ok"]
    refused = [e for e in entries if e["result"] == "refused"]
    assert len(ok) == len(refused) == ROUNDS, [(e["operator"], e["result"]) for e in entries]
    assert ok[0]["after"] == f"v{registry.aliases('churn')['champion']}"
    # Rounds do not overlap: the i-th ok and the i-th refusal, oldest first, are one round's.
    return sum(
        1 for won, lost in zip(ok[::-1], refused[::-1], strict=True) if won["before"] == lost["before"]
    )


@pytest.mark.e2e
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_two_operators_sharing_one_journal(
    kind: str, tmp_path: Path, writable_server: str, request: pytest.FixtureRequest
) -> None:
    """sqlite: two processes on one host sharing the journal file; postgresql: two operators with
    state dirs of their own (two machines) sharing a PostgreSQL journal."""
    if kind == "sqlite":
        pair = operators(tmp_path, writable_server, str(tmp_path / "shared" / "journal.sqlite3"))
    else:
        url = request.getfixturevalue("shared_journal_url")
        pair = operators(tmp_path, writable_server, url, journal_password_env=PASSWORD_ENV)
    registry = Registry(writable_server)
    started = time.monotonic()
    wins = run_rounds(pair, registry)
    print(f"{kind} shared: {ROUNDS} rounds, wins {wins}, {time.monotonic() - started:.1f} s")
    entries = journal_of(pair[0])
    contested = check_journal(entries, registry)
    print(f"{kind} shared: {contested} of {ROUNDS} losers had planned on the winner's state")
    assert journal_of(pair[1]) == entries  # one journal: both see everyone's actions
    assert not (pair[0].state / "mlops-tui" / "journal.sqlite3").exists()  # none of their own


def test_two_operators_sharing_nothing_but_the_mlflow_server(tmp_path: Path, writable_server: str) -> None:
    """Each on the default SQLite journal of its own state dir: the registry's lock serializes them."""
    pair = operators(tmp_path, writable_server, None)
    registry = Registry(writable_server)
    started = time.monotonic()
    wins = run_rounds(pair, registry)
    print(f"nothing shared: {ROUNDS} rounds, wins {wins}, {time.monotonic() - started:.1f} s")
    journals = [journal_of(operator) for operator in pair]
    for operator, entries in zip(pair, journals, strict=True):
        # Each journal holds its operator's own actions, and the teammate's moves as it found them.
        own = [e for e in entries if e["action"] != "external"]
        assert {e["operator"] for e in own} == {operator.name}
        assert sum(1 for e in own if e["result"] == "ok") == wins[operator.name]
        assert len(own) == ROUNDS
    assert sum(len(entries) for entries in journals) >= 2 * ROUNDS
    assert not [m for m in registry.client.search_registered_models() if m.name.startswith("mlops_tui.lock.")]


HOLD_THE_REGISTRY_LOCK = """
import asyncio, sys
from mlops_tui.config import MlflowSettings
from mlops_tui.domain import utcnow
from mlops_tui.ops.lease import RegistryLease
from mlops_tui.sources.mlflow import open_mlflow

async def main():
    lease = RegistryLease(
        open_mlflow(MlflowSettings(tracking_uri=sys.argv[1])), "churn@champion",
        holder="ana", lease_seconds=float(sys.argv[2]), clock=utcnow,
    )
    await lease.acquire()
    print(lease.held, flush=True)
    sys.stdin.read()

asyncio.run(main())
"""


def test_a_registry_lock_holder_killed_mid_write_is_overtaken_once_its_lease_ends(
    tmp_path: Path, writable_server: str
) -> None:
    registry = Registry(writable_server)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_REGISTRY_LOCK, writable_server, "2"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        left_behind = holder.stdout.readline().strip()
        assert left_behind.startswith("mlops_tui.lock.")
        holder.kill()
        holder.wait(timeout=30)
        config = write_config(
            tmp_path / "mlops-tui.toml",
            {"dev": {"mlflow": {"tracking_uri": writable_server, "lock_lease_seconds": 2}}},
            operator="ben",
        )
        done = subprocess.run(
            [*mlops_tui_command(), "--config", str(config), "models", "promote", "churn", "4", "--yes"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == ExitCode.OK, done
        assert registry.aliases("churn")["champion"] == "4"
        locks = [
            m.name for m in registry.client.search_registered_models() if m.name.startswith("mlops_tui.lock.")
        ]
        assert locks == []  # the stale lock cleared, ben's released
        assert left_behind.endswith(".1")
    finally:
        holder.kill()
        holder.wait(timeout=30)
