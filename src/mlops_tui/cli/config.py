"""`config ...`: find, check and create the config file."""

from __future__ import annotations

from pathlib import Path

import click

from mlops_tui.cli import render
from mlops_tui.cli.helpers import load_and_warn
from mlops_tui.config import locate_config, redacted, starter_config
from mlops_tui.errors import ExitCode, UsageError

__all__ = ["config"]


@click.group()
def config() -> None:
    """Find, check and create the config file."""


@config.command("locate", short_help="Print the path of the config file in effect.")
@click.option("--config", "path", type=click.Path(dir_okay=False), help="Config file to use.")
def config_locate(path: str | None) -> None:
    """Print the path of the config file in effect (nothing and exit 1 when none is)."""
    found = locate_config(path)
    if found is None:
        click.echo("no config file: the built-in `local` environment serves", err=True)
        raise SystemExit(ExitCode.FAILED)
    click.echo(str(found))


@config.command("check", short_help="Validate the config and print it resolved.")
@click.option("--config", "path", type=click.Path(dir_okay=False), help="Config file to check.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
def config_check(path: str | None, as_json: bool) -> None:
    """Validate the config and print it resolved, as TOML; secrets appear only by the name of their
    source. Every error is reported, each with its line."""
    # The TUI's own settings are checked as the TUI reads them, by the module that declares the keys.
    from mlops_tui.tui.bindings import check_ui

    settings = load_and_warn(path, check_ui=check_ui)
    for name in settings.environments:
        if warning := settings.unshared_protection(name):
            render.say(f"mlops-tui: warning: {warning}", err=True)
    data = redacted(settings)
    if as_json:
        render.emit_json(data)
        return
    click.echo(f"# {data.pop('path') or 'built-in local environment (no config file)'}: valid")
    for line in render.toml_lines(data):
        click.echo(line)


@config.command("init", short_help="Write a commented starter config.")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def config_init(path: str | None, force: bool) -> None:
    """Write a commented starter config (default: the XDG config location)."""
    from mlops_tui.config import locations

    target = Path(path) if path else locations.config_dir() / "config.toml"
    if target.exists() and not force:
        raise UsageError(f"{target} exists; pass --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(starter_config(), encoding="utf-8")
    click.echo(str(target))
    click.echo(
        "mlops-tui: the built-in `local` environment stays (builtin_local = true) and is the default; "
        "edit the dev, qa and prd examples for your servers, then set default_env",
        err=True,
    )
