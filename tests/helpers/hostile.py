"""Hostile backend data, planted through every backend the tests run, and what a terminal is sent.

Each value carries a marker (`RUNPWN`, `MODPWN`, ...) inside an escape sequence that would set the
terminal's title, clear the screen, write the clipboard (OSC 52), make a hyperlink (OSC 8) or
reverse the line (a bidi override) if it reached the terminal as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_tui.config import (
    AlertmanagerSettings,
    AlertRule,
    EnvironmentSettings,
    GitlabSettings,
    MlflowSettings,
    Settings,
    VertexSettings,
)
from tests.fakes.gitlab_server import FakeGitlab
from tests.fakes.vertex_server import FakeVertex, seed_churn
from tests.helpers.alertmanager import AlertmanagerTestbed

__all__ = [
    "HOSTILE_MODEL",
    "JOB_LOG",
    "RUN_NAME",
    "Planted",
    "plant",
    "plant_alert",
    "plant_gitlab",
    "plant_mlflow",
    "terminal_output",
    "title",
    "unsafe_in_output",
]


def title(marker: str) -> str:
    """Sets the terminal's title to `marker` (OSC 0) and clears the screen (CSI 2J)."""
    return f"\x1b]0;{marker}\x07\x1b[2J"


CLIPBOARD = "\x1b]52;c;cHduZWQ=\x07"
HYPERLINK = "\x1b]8;;javascript:alert(1)\x1b\\click\x1b]8;;\x1b\\"
BIDI = "\u202etxt.exe"
C1 = "\x9b2J"

HOSTILE_MODEL = f"evil{title('MODNAME')}model"
RUN_NAME = f"run{title('RUNPWN')}name"
JOB_LOG = f"start\n\x1b[31mred and kept\x1b[0m\n{title('LOGPWN')}{CLIPBOARD}{HYPERLINK}\nbell\x07 c1{C1}\n"


@dataclass(frozen=True)
class Planted:
    """Where the hostile data sits."""

    settings: Settings
    run_id: str
    other_run_id: str
    pipeline_id: str
    job_id: str


def plant_mlflow(store: MlflowSettings) -> tuple[str, str]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=store.tracking_uri)
    experiment = client.get_experiment_by_name("churn-training")
    assert experiment is not None
    run = client.create_run(
        experiment.experiment_id,
        run_name=RUN_NAME,
        tags={"note": f"tag{CLIPBOARD}{BIDI}", "gitlab.pipeline_id": "4242", "mlflow.user": f"u{C1}"},
    )
    client.log_param(run.info.run_id, "evil_param", f"v{title('PARAMPWN')}x")
    client.log_param(run.info.run_id, "markup", "[@click=app.quit]click me[/]")
    for step, value in enumerate((0.70, 0.60, 0.50)):
        client.log_metric(run.info.run_id, "val_auc", value, step=step)
    client.set_terminated(run.info.run_id)
    other = client.search_runs([experiment.experiment_id], max_results=1)[0].info.run_id
    client.create_registered_model(HOSTILE_MODEL, description=f"desc{title('MODPWN')}d{HYPERLINK}")
    version = client.create_model_version(
        HOSTILE_MODEL,
        f"runs:/{run.info.run_id}/model",
        run_id=run.info.run_id,
        description=f"version{title('VERPWN')}",
        tags={"validation_status": f"passed{CLIPBOARD}"},
    )
    client.set_registered_model_alias(HOSTILE_MODEL, "champion", version.version)
    return run.info.run_id, other


def plant_gitlab(gitlab: FakeGitlab) -> tuple[str, str]:
    project = gitlab.add_project("ml/models")
    pipeline = gitlab.add_pipeline(
        project["id"], ref=f"main{title('REFPWN')}", status="failed", pipeline_id=4242, user="mallory"
    )
    pipeline["user"]["username"] = f"mallory{title('USERPWN')}"
    job = gitlab.add_job(
        4242,
        f"train{title('JOBPWN')}",
        f"stage{BIDI}",
        status="failed",
        trace=(
            f"start\n\x1b[31mred and kept\x1b[0m\n{title('LOGPWN')}{CLIPBOARD}{HYPERLINK}\nbell\x07 c1{C1}\n"
        ),
    )
    return "4242", str(job["id"])


def _plant_vertex(vertex: FakeVertex) -> None:
    seed_churn(vertex)
    vertex.pipeline_jobs.pop("churn-retrain-20261126090000")  # running: its duration would grow
    endpoint = vertex.endpoints["1001"]
    endpoint["displayName"] = f"churn-endpoint{title('VTXPWN')}"
    endpoint["deployedModels"][0]["displayName"] = f"deployed{CLIPBOARD}[reverse]markup[/reverse]"


def plant_alert(alertmanager: AlertmanagerTestbed) -> None:
    """A critical alert on the hostile model, hostile in its summary, labels and annotations."""
    alertmanager.post(
        "EvilAlert",
        {
            "summary": f"{title('AMPWN')} and more",
            "description": f"description{CLIPBOARD}{BIDI}",
            "runbook_url": "javascript:alert(1)",
            "note": f"annotation{title('ANNPWN')}",
        },
        model=HOSTILE_MODEL,
        severity="critical",
        team=f"ml{title('LABELPWN')}",
    )


def plant(
    store: MlflowSettings,
    gitlab: FakeGitlab,
    alertmanager: AlertmanagerTestbed,
    vertex: FakeVertex,
    tmp_path: Path,
) -> Planted:
    """Hostile values in every backend, and the settings of one environment reading them all."""
    run_id, other_run_id = plant_mlflow(store)
    pipeline_id, job_id = plant_gitlab(gitlab)
    _plant_vertex(vertex)
    plant_alert(alertmanager)
    rule = AlertRule(
        name="EvilRule",
        metric="val_auc",
        op="<",
        threshold=0.9,
        models=[HOSTILE_MODEL],
        severity="warning",
        summary="{model} v{version} below {threshold}",
        runbook_url="file:///etc/passwd",
    )
    environment = EnvironmentSettings(
        mlflow=store,
        gitlab=GitlabSettings(url=gitlab.url, project="ml/models", token_env="GITLAB_TOKEN"),
        alertmanager=AlertmanagerSettings(url=alertmanager.url, filters=[str(alertmanager.matcher)]),
        vertex=VertexSettings(
            project="acme-ml", location="us-central1", api_endpoint=vertex.url, credentials="anonymous"
        ),
        rules=[rule],
        models=[HOSTILE_MODEL, "churn"],
    )
    settings = Settings({"dev": environment}, "dev", journal=tmp_path / "journal.db", operator="priya")
    return Planted(settings, run_id, other_run_id, pipeline_id, job_id)


def terminal_output(app: Any) -> str:
    """What the app would send the terminal to draw its current screen (and those under a modal)
    from scratch: the same escape sequences Textual writes to a real terminal."""
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    return str(update.render_segments(app.console))


# What Textual itself writes: CSI sequences (cursor moves, colours, modes) and OSC 8 hyperlinks.
_CSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
_OSC8 = re.compile(r"\x1b\]8;[^;\x07\x1b]*;(?P<url>[^\x07\x1b]*)\x1b\\")
UNSAFE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def unsafe_in_output(output: str) -> list[str]:
    """What in `output` is neither Textual's own sequences nor text safe to show: control
    characters, OSC sequences other than http(s) hyperlinks, bidi overrides (empty when safe)."""
    problems = [
        f"link to {m.group('url')!r}"
        for m in _OSC8.finditer(output)
        if m.group("url") and not re.match(r"https?://", m.group("url"))
    ]
    rest = _OSC8.sub("", _CSI.sub("", output))
    problems += [repr(rest[max(0, m.start() - 20) : m.end() + 20]) for m in UNSAFE.finditer(rest)]
    return problems
