"""The root group `mlops-tui`: its options, the TUI when no command is given, and every noun's
commands registered on it. A new noun is one module, imported here and registered with one
`root.add_command` line; it imports `cli.helpers`, never this module."""

from __future__ import annotations

import dataclasses
import os

import click

from mlops_tui.cli import (
    alerts,
    approvals,
    config,
    demo,
    endpoints,
    history,
    markers,
    maturity,
    metrics,
    models,
    pipelines,
    runs,
    status,
    triage,
    vertex,
)
from mlops_tui.cli.helpers import load_and_warn, open_tui
from mlops_tui.config.libraries import DEBUG_ENV_VAR, debugging, route_library_output

__all__ = ["root"]


def _debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        os.environ[DEBUG_ENV_VAR] = "1"
    if debugging():
        route_library_output(to_terminal=True)


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", type=click.Path(dir_okay=False), help="Config file to use.")
@click.option("--env", metavar="NAME", help="Environment to open.")
@click.option("--read-only", is_flag=True, help="Refuse every write action, in every environment.")
@click.option(
    "--no-mouse", is_flag=True, help="TUI: leave the mouse to the terminal (its own text selection works)."
)
@click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_debug,
    help=f"Show the traceback of an internal error, secrets redacted (also: {DEBUG_ENV_VAR}=1).",
)
@click.version_option(package_name="mlops-tui")
@click.pass_context
def root(ctx: click.Context, config: str | None, env: str | None, read_only: bool, no_mouse: bool) -> None:
    """Operate MLflow runs and registry, pipelines, serving and alerts across environments.

    With no command, opens the terminal UI on the default environment.
    """
    if ctx.invoked_subcommand is None:
        from mlops_tui.tui.bindings import check_ui

        settings = dataclasses.replace(load_and_warn(config, check_ui=check_ui), read_only=read_only)
        if env is not None:
            settings.environment(env)
        open_tui(settings, env, mouse=not no_mouse)


root.add_command(demo.demo)
root.add_command(config.config)
root.add_command(runs.runs)
root.add_command(models.models)
root.add_command(history.history)
root.add_command(approvals.approvals)
root.add_command(pipelines.pipelines)
root.add_command(pipelines.retrain)
root.add_command(alerts.alerts)
root.add_command(status.status)
root.add_command(triage.triage)
root.add_command(maturity.maturity)
root.add_command(metrics.metrics)
root.add_command(endpoints.endpoints)
root.add_command(vertex.vertex)
root.add_command(markers.markers)
