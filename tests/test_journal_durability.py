"""The audit journal survives: a killed command, concurrent writers, a full disk, an unwritable path
and a damaged file. Every write goes through the installed console script against a real `mlflow
server` (`writable_server`); what the registry holds is read back through MLflow's own client.

Honest faults, all of which work as root (CI runs as root, and root ignores file permissions):
- killed: SIGKILL of the command while its registry write hangs at a proxy in front of the server;
- full disk: the command runs with RLIMIT_FSIZE at the journal's current size and SIGXFSZ ignored,
  so growing the journal fails with EFBIG, as writing to a full disk fails with ENOSPC (SQLite
  reports the first as a disk I/O error, the second as "database or disk is full");
- unwritable path: the journal's directory is a regular file (ENOTDIR, whoever runs);
- damaged file: bytes that are not a database, and a database with a page overwritten.
"""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mlops_tui.domain import Change
from mlops_tui.errors import ExitCode
from mlops_tui.ops.journal import Journal
from tests.helpers import CliResult, Registry, mlops_tui_command, run_cli, write_config
from tests.helpers.fault_proxy import Fault, FaultProxy

PROMOTE = ("models", "promote", "churn", "4", "--yes")
WRITERS = 2
ACTIONS_PER_WRITER = 60


def config_for(tmp_path: Path, uri: str, journal: Path) -> Path:
    return write_config(
        tmp_path / "mlops-tui.toml",
        {"dev": {"mlflow": {"tracking_uri": uri, "timeout_seconds": 30}}},
        journal=str(journal),
        operator="ops",
    )


def one_line(result: CliResult, code: ExitCode, *fragments: str) -> str:
    assert result.code == code, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlops-tui: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], result.stderr
    return lines[0]


# -- killed mid-action ----------------------------------------------------------------------------


def test_a_command_killed_while_writing_leaves_its_intent_and_the_next_start_closes_it(
    writable_server: str, tmp_path: Path
) -> None:
    url = urlsplit(writable_server)
    journal = tmp_path / "journal.sqlite3"
    registry = Registry(writable_server)
    with FaultProxy(url.hostname or "127.0.0.1", url.port or 80) as proxy:
        config = config_for(tmp_path, proxy.url, journal)
        proxy.inject(Fault.hang(path="registered-models/alias"))
        process = subprocess.Popen(
            [*mlops_tui_command(), *PROMOTE, "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 120
            while proxy.counters.faults == 0:  # the alias write is in flight, held at the proxy
                assert process.poll() is None, "the command ended before writing"
                assert time.monotonic() < deadline, "the command never wrote"
                time.sleep(0.02)
        finally:
            process.kill()
            process.wait()
        assert process.returncode == -signal.SIGKILL
        proxy.inject(None)
        with closing(Journal(journal)) as kept:
            (entry,) = kept.entries()
        assert (entry.action, entry.target, entry.result) == ("promote", "churn@champion", "pending")

        history = run_cli("history", "--json", "--config", config)
        assert history.code == ExitCode.OK, history
        (closed,) = history.json()["entries"]
        assert closed["result"] == "unknown" and closed["finished"] is not None
        assert "the process ended before recording the outcome" in closed["message"]
        assert "re-read: churn@champion is v3" in closed["message"]  # the write never reached it
    assert registry.aliases("churn")["champion"] == "3"


# -- two writers at once --------------------------------------------------------------------------

WRITER = """
import sys
from pathlib import Path
from mlops_tui.domain import Change
from mlops_tui.ops.journal import Journal

journal = Journal(Path(sys.argv[1]))
for n in range(int(sys.argv[3])):
    change = Change("promote", "dev", f"m{sys.argv[2]}-{n}@champion", "m", "v1", "v2")
    journal.outcome(journal.intent(change, f"writer-{sys.argv[2]}"), "ok")
journal.close()
"""


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    Journal(path).close()  # created once, as the first command of a fresh machine does
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(n), str(ACTIONS_PER_WRITER)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(WRITERS)
    ]
    for writer in writers:
        _, stderr = writer.communicate(timeout=120)
        assert writer.returncode == 0, stderr
    with closing(Journal(path)) as journal:
        entries = journal.entries(limit=-1)
    assert len(entries) == WRITERS * ACTIONS_PER_WRITER
    assert all(e.result == "ok" and e.finished is not None for e in entries)
    assert {e.target for e in entries} == {
        f"m{w}-{n}@champion" for w in range(WRITERS) for n in range(ACTIONS_PER_WRITER)
    }
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        # Each outcome points at its own writer's intent.
        mismatched = db.execute(
            "SELECT COUNT(*) FROM journal o JOIN journal i ON o.intent_id = i.id WHERE o.pid != i.pid"
        ).fetchone()
        assert mismatched == (0,)


# -- a journal that cannot be written ------------------------------------------------------------


def limited_file_size(limit: int) -> None:
    """In the child: files may not grow past `limit`; growing one fails with EFBIG."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))


def test_a_full_disk_refuses_the_action_with_a_clear_error(writable_server: str, tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    config = config_for(tmp_path, writable_server, path)
    registry = Registry(writable_server)
    # An earlier action, its write-ahead log kept open (a held connection), so that opening and
    # reading the journal need no file to grow: only recording a new intent does.
    holder = Journal(path)
    holder._connect().execute("PRAGMA wal_autocheckpoint=0")
    holder.outcome(
        holder.intent(Change("promote", "dev", "fraud@champion", "fraud", "v2", "v3"), "ops"), "ok"
    )
    try:
        limit = max(f.stat().st_size for f in tmp_path.glob("journal.sqlite3*"))
        before = registry.snapshot()
        done = subprocess.run(
            [*mlops_tui_command(), *PROMOTE, "--config", str(config)],
            capture_output=True,
            text=True,
            preexec_fn=lambda: limited_file_size(limit),
            timeout=120,
            check=False,
        )
        assert "Traceback" not in done.stderr
        line = one_line(
            CliResult(done.returncode, done.stdout, done.stderr),
            ExitCode.FAILED,
            f"cannot write the audit journal {path}: disk I/O error",
            "check that its disk has space",
            "not performed: promote churn@champion in dev: v3 -> v4",
        )
        assert done.stdout == "", line
        assert registry.snapshot() == before
        assert [e.target for e in holder.entries()] == ["fraud@champion"]
    finally:
        holder.close()


def test_an_unwritable_journal_path_refuses_the_action(writable_server: str, tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the journal's directory should be\n")
    config = config_for(tmp_path, writable_server, blocker / "journal.sqlite3")
    registry = Registry(writable_server)
    before = registry.snapshot()
    one_line(
        run_cli(*PROMOTE, "--config", config),
        ExitCode.FAILED,
        f"cannot open the audit journal {blocker / 'journal.sqlite3'}",
    )
    assert registry.snapshot() == before
    # Reads need no journal.
    assert run_cli("models", "list", "--json", "--config", config).code == ExitCode.OK


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_a_read_only_directory_refuses_the_action(writable_server: str, tmp_path: Path) -> None:
    directory = tmp_path / "state"
    directory.mkdir(mode=0o500)
    config = config_for(tmp_path, writable_server, directory / "journal.sqlite3")
    registry = Registry(writable_server)
    before = registry.snapshot()
    one_line(run_cli(*PROMOTE, "--config", config), ExitCode.FAILED, "audit journal")
    assert registry.snapshot() == before


# -- a damaged journal ----------------------------------------------------------------------------


def damage(path: Path, how: str) -> None:
    if how == "not a database":
        path.write_bytes(b"this is not an SQLite database\n" * 200)
        return
    with closing(Journal(path)) as journal:
        for n in range(30):
            change = Change("promote", "dev", f"m{n}@champion", "m", "v1", "v2")
            journal.outcome(journal.intent(change, "ops"), "ok", "x" * 300)
    with closing(sqlite3.connect(path)) as db:
        (root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'journal'").fetchone()
    data = bytearray(path.read_bytes())
    page = 4096
    start = (root - 1) * page
    data[start : start + 2 * page] = b"\xff" * (2 * page)  # the table's pages, overwritten
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["not a database", "pages overwritten"])
def test_a_damaged_journal_is_reported_and_left_untouched(
    how: str, writable_server: str, tmp_path: Path
) -> None:
    path = tmp_path / "journal.sqlite3"
    damage(path, how)
    kept = path.read_bytes()
    config = config_for(tmp_path, writable_server, path)
    registry = Registry(writable_server)
    before = registry.snapshot()

    expected = ("audit journal", str(path), "the file is left untouched: move it aside")
    one_line(run_cli("history", "--config", config), ExitCode.FAILED, *expected)
    one_line(run_cli(*PROMOTE, "--config", config), ExitCode.FAILED, *expected)
    assert registry.snapshot() == before
    assert run_cli("models", "list", "--json", "--config", config).code == ExitCode.OK
    assert path.read_bytes() == kept  # nothing rewrote or truncated it
    assert not (tmp_path / "journal.sqlite3-wal").exists() or how != "not a database"

    path.rename(tmp_path / "journal.damaged")  # as the message says: a new journal starts
    assert run_cli(*PROMOTE, "--config", config).code == ExitCode.OK
    assert registry.aliases("churn")["champion"] == "4"
