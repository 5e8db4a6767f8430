"""A throwaway PostgreSQL cluster of Debian's PostgreSQL for the test session.

`initdb` refuses to run as root, and the tests run as root in CI: the cluster belongs to the
unprivileged `nobody`, in a directory of its own under /tmp (pytest's own temp dirs are root's,
mode 700). It listens on 127.0.0.1 and a socket in that directory; the superuser `mlops` logs in
with a password over TCP (scram-sha-256), as a team's server would ask.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PASSWORD", "PASSWORD_ENV", "Postgres", "running_postgres"]

USER = "nobody"
PASSWORD = "s3cret-journal-pw"
PASSWORD_ENV = "MLOPS_TUI_TEST_JOURNAL_PASSWORD"


@dataclass(frozen=True)
class Postgres:
    """A running cluster: its URL without password, and how to stop and start it again."""

    directory: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://mlops@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        options = f"-k {self.directory} -c listen_addresses=127.0.0.1 -p {self.port}"
        subprocess.run(
            _as_user("pg_ctl", "-D", str(self.directory / "data"), "-o", options, "-w", *args),
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        self._pg_ctl("-l", str(self.directory / "server.log"), "start")

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "stop")


def _binary(name: str) -> str:
    """Debian keeps PostgreSQL's programs in /usr/lib/postgresql/VERSION/bin, off the PATH."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None)
    if found is None:
        raise RuntimeError(f"{name} not found: install Debian's postgresql (scripts/test does, as root)")
    return found


def _as_user(program: str, *args: str) -> list[str]:
    command = [_binary(program), *args]
    return ["runuser", "-u", USER, "--", *command] if os.geteuid() == 0 else command


@contextmanager
def running_postgres(port: int) -> Iterator[Postgres]:
    """A fresh cluster on `port`, stopped and deleted on exit."""
    directory = Path(tempfile.mkdtemp(prefix="mlops-tui-pg-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(directory, USER)
        (directory / "pw").write_text(PASSWORD + "\n")
        if os.geteuid() == 0:
            shutil.chown(directory / "pw", USER)
        subprocess.run(
            _as_user(
                "initdb",
                "-D",
                str(directory / "data"),
                "-U",
                "mlops",
                f"--pwfile={directory / 'pw'}",
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "-E",
                "UTF8",
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        server = Postgres(directory, port)
        server.start()
        try:
            yield server
        finally:
            subprocess.run(
                _as_user("pg_ctl", "-D", str(directory / "data"), "-m", "immediate", "stop"),
                capture_output=True,
                timeout=60,
                check=False,
            )
    finally:
        shutil.rmtree(directory, ignore_errors=True)
