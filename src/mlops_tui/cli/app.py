"""The root group `mlops-tui`: its options, the TUI when no command is given, and every noun's
commands registered on it. A new noun is one module, named in `NOUNS` with the command it defines;
it imports `cli.helpers`, never this module."""

from __future__ import annotations

import dataclasses
import importlib
import os

import click

from mlops_tui.cli.helpers import load_and_warn, open_tui
from mlops_tui.config.libraries import DEBUG_ENV_VAR, debugging, route_library_output

__all__ = ["NOUNS", "root"]

NOUNS = {
    "demo": "demo",
    "config": "config",
    "runs": "runs",
    "models": "models",
    "history": "history",
    "approvals": "approvals",
    "pipelines": "pipelines",
    "retrain": "pipelines",
    "alerts": "alerts",
    "status": "status",
    "triage": "triage",
    "maturity": "maturity",
    "metrics": "metrics",
    "endpoints": "endpoints",
    "vertex": "vertex",
    "markers": "markers",
}
"""Each command of the root group, and the module of `mlops_tui.cli` defining it under that name."""


class _Nouns(click.Group):
    """The root group, which imports a noun's module when that noun is asked for: a command pays for
    its own module alone, and the TUI for none. The help, and `commands` read from outside (which
    walks the tree), import them all."""

    @property  # type: ignore[override]
    def commands(self) -> dict[str, click.Command]:
        for name in NOUNS:
            self._command(name)
        return self._loaded

    @commands.setter
    def commands(self, value: dict[str, click.Command]) -> None:
        self._loaded = dict(value)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(NOUNS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._command(cmd_name) if cmd_name in NOUNS else None

    def _command(self, name: str) -> click.Command:
        if name not in self._loaded:
            module = importlib.import_module(f"mlops_tui.cli.{NOUNS[name]}")
            self._loaded[name] = getattr(module, name)
        return self._loaded[name]


def _debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        os.environ[DEBUG_ENV_VAR] = "1"
    if debugging():
        route_library_output(to_terminal=True)


@click.group(
    cls=_Nouns, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]}
)
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
