"""The Quick start's scripts as a newcomer runs them: each install step says what it does, and
`./scripts/demo` says how to put `mlops-tui` on PATH."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_setup_says_each_step_on_stderr() -> None:
    # The suite's own venv, set up as scripts/test does: compiled as the suite imports it, not at
    # install (the demo script's test below installs and compiles a venv of its own).
    done = subprocess.run(
        ["bash", "-c", "compile_dependencies=no; . scripts/_setup.sh .venv"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    steps = [line for line in done.stderr.splitlines() if line != "setup: installing uv with pip"]
    assert steps == ["setup: syncing .venv with uv.lock", "setup: compiling mlops-tui", "setup: .venv ready"]


@pytest.mark.e2e
def test_the_demo_script_says_how_to_put_the_command_on_path() -> None:
    done = subprocess.run(
        [str(REPO / "scripts" / "demo"), "--seed-only"], cwd=REPO, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert "setup: syncing .venv-app with uv.lock" in lines and "setup: .venv-app ready" in lines
    assert f'export PATH="{REPO}/.venv-app/bin:$PATH"' in done.stderr
    assert "mlops-tui: filling local with demo data (the first time only)" in lines
    assert any(line.startswith("Seeded local (") for line in lines)
    assert (REPO / ".venv-app" / "bin" / "mlops-tui").exists()
