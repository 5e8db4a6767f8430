"""Headless commands stay light: no Textual outside the TUI, no Vertex SDK, no MLflow on the HTTP
path, and not httpx's own command-line client (rich, pygments). Checked in fresh interpreters, by
what ends up in `sys.modules`."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import mlops_tui
from tests.fakes.vertex_server import FakeVertex, seed_churn
from tests.helpers import write_config

HEAVY = ("textual", "mlflow", "google.cloud.aiplatform")
HTTPX_CLI = ("rich", "pygments")
"""What `import httpx` pulls in through its command-line client when they are installed."""
TUI = "mlops_tui.tui"


def _core_modules() -> tuple[str, ...]:
    """Every module of the package but the TUI's, found by walking it (no hand-kept list to miss
    one); `__main__` runs the CLI when imported."""
    found = [m.name for m in pkgutil.walk_packages(mlops_tui.__path__, "mlops_tui.")]
    return tuple(
        name
        for name in found
        if name != TUI and not name.startswith(f"{TUI}.") and name != "mlops_tui.__main__"
    )


CORE_MODULES = _core_modules()

# Runs one command in-process through the click group, then reports which watched packages the
# interpreter has loaded. stdout carries the command's own output; the report goes to a file.
PROBE = """
import json, sys
from mlops_tui.cli.app import root

report, args = sys.argv[1], sys.argv[2:]
root.main(args=args, prog_name="mlops-tui", standalone_mode=False)
watched = ("textual", "mlflow", "google.cloud.aiplatform", "sqlalchemy", "rich", "pygments", "httpx")
loaded = sorted(
    name for name in sys.modules
    if any(name == w or name.startswith(w + ".") or name.startswith(w + "_") for w in watched)
)
with open(report, "w") as out:
    json.dump(loaded, out)
"""


def probe(tmp_path: Path, *args: str | Path) -> tuple[object, list[str]]:
    report = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(report), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), json.loads(report.read_text())


def heavy(loaded: list[str], packages: tuple[str, ...] = HEAVY) -> list[str]:
    return [
        m for m in loaded if any(m == h or m.startswith(h + ".") or m.startswith(h + "_") for h in packages)
    ]


@pytest.mark.parametrize(
    ("args", "key"),
    [(["models", "list", "--json"], "models"), (["runs", "list", "--json"], "runs")],
)
def test_http_commands_import_no_textual_vertex_or_mlflow(
    mlflow_server: str, tmp_path: Path, args: list[str], key: str
) -> None:
    config = write_config(tmp_path / "c.toml", {"remote": {"mlflow": {"tracking_uri": mlflow_server}}})
    output, loaded = probe(tmp_path, *args, "--config", config)
    assert isinstance(output, dict) and output[key], "the command produced no data"
    assert heavy(loaded) == []
    assert not any(m.startswith("sqlalchemy") for m in loaded)
    assert "httpx" in loaded  # the HTTP path was taken, without httpx's command-line client
    assert heavy(loaded, HTTPX_CLI) == []


def test_maturity_over_http_imports_no_textual_vertex_or_mlflow(mlflow_server: str, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", {"remote": {"mlflow": {"tracking_uri": mlflow_server}}})
    output, loaded = probe(tmp_path, "maturity", "--json", "--config", config)
    assert isinstance(output, dict) and output["models"], "the command produced no data"
    assert heavy(loaded) == []


def test_sql_store_commands_import_mlflow_but_not_textual(demo_store_template: Path, tmp_path: Path) -> None:
    """The probe sees MLflow where it is needed (a filter is MLflow's to evaluate, on a SQLite
    store too): the check above is not vacuous."""
    uri = f"sqlite:///{demo_store_template / 'mlflow.db'}"
    config = write_config(tmp_path / "c.toml", {"local": {"mlflow": {"tracking_uri": uri}}})
    output, loaded = probe(tmp_path, "models", "list", "--json", "--config", config)
    assert isinstance(output, dict) and [m["name"] for m in output["models"]] == ["churn", "demand", "fraud"]
    assert "mlflow" not in loaded  # a SQLite store's reads are answered in SQL
    output, loaded = probe(
        tmp_path, "runs", "list", "--filter", "metrics.val_auc > 0.5", "--json", "--config", config
    )
    assert isinstance(output, dict) and output["runs"]
    assert "mlflow" in loaded
    assert not any(m == "textual" or m.startswith("textual.") for m in loaded)
    assert not any(m.startswith("google.cloud.aiplatform") for m in loaded)


def test_core_modules_import_no_textual_vertex_or_mlflow() -> None:
    script = (
        "import importlib, json, sys\n"
        f"for name in {CORE_MODULES!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    command = [sys.executable, "-c", script]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert set(CORE_MODULES) <= set(loaded)
    assert heavy(loaded) == []


def test_the_walk_finds_every_layer() -> None:
    layers = {name.split(".")[1] for name in CORE_MODULES}
    assert layers >= {"cli", "config", "demo", "domain", "errors", "hub", "ops", "sources", "text", "views"}
    assert "mlops_tui.sources.local.runner" in CORE_MODULES and "mlops_tui.ops.shared_journal" in CORE_MODULES


@pytest.mark.parametrize("module", CORE_MODULES)
def test_exported_names_exist(module: str) -> None:
    imported = importlib.import_module(module)
    if not hasattr(imported, "__all__"):
        # A package whose `__init__` only describes its modules: it offers no names of its own.
        assert hasattr(imported, "__path__"), f"{module} has no __all__"
        assert [
            name for name in vars(imported) if not name.startswith("_") and name not in _submodules(module)
        ] == []
        return
    exported = imported.__all__
    assert exported and len(set(exported)) == len(exported)
    assert [name for name in exported if not hasattr(imported, name)] == []


def _submodules(package: str) -> set[str]:
    return {name.rpartition(".")[2] for name in CORE_MODULES if name.rpartition(".")[0] == package}


VERTEX_SDK = "google.cloud.aiplatform"


def test_commands_that_do_not_touch_vertex_never_import_its_sdk(mlflow_server: str, tmp_path: Path) -> None:
    """With a [vertex] table configured, the registry and runs commands still leave the SDK alone;
    `endpoints list` imports it (the probe can see it)."""
    with FakeVertex("acme-ml", "us-central1") as fake:
        seed_churn(fake)
        vertex = {
            "project": "acme-ml",
            "location": "us-central1",
            "api_endpoint": fake.url,
            "credentials": "anonymous",
        }
        config = write_config(
            tmp_path / "c.toml", {"prd": {"mlflow": {"tracking_uri": mlflow_server}, "vertex": vertex}}
        )
        for args, key in ((["models", "list", "--json"], "models"), (["runs", "list", "--json"], "runs")):
            output, loaded = probe(tmp_path, *args, "--config", config)
            assert isinstance(output, dict) and output[key]
            assert not any(m.startswith(VERTEX_SDK) for m in loaded), args
        output, loaded = probe(tmp_path, "endpoints", "list", "--json", "--config", config)
        assert isinstance(output, dict) and output["endpoints"]
        assert "google.cloud.aiplatform_v1" in loaded
        # The four services it calls, not the package's forty (0.7 s more).
        services = {m.split(".")[4] for m in loaded if m.startswith("google.cloud.aiplatform_v1.services.")}
        assert services == {"endpoint_service", "model_service", "pipeline_service", "job_service"}
        # The low-level clients only: never the high-level SDK (2-3 s more, and GCS probes).
        assert "google.cloud.aiplatform" not in loaded
        assert fake.requests, "the Vertex command reached the fake"


def test_a_command_imports_its_own_noun_alone() -> None:
    """The root group imports a noun's module when that noun is asked for: `history --help` loads
    the history commands and no other noun's; the TUI (no command) loads none."""
    code = """
import sys
from mlops_tui.cli.app import NOUNS, root
def nouns():
    loaded = {m.rpartition(".")[2] for m in sys.modules if m.startswith("mlops_tui.cli.")}
    return sorted(set(NOUNS.values()) & loaded)
print(nouns())
root.main(args=["history", "--help"], prog_name="mlops-tui", standalone_mode=False)
print(nouns())
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    lines = done.stdout.splitlines()
    assert lines[0] == "[]"
    assert "Usage: mlops-tui history" in done.stdout
    assert lines[-1] == "['history']"
