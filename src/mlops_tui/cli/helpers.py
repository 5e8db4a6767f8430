"""What every command module shares: the common options, the hub of the chosen environment, one
JSON-or-table output, and the tail of every write command (plan, approval, the one write flow).

A noun's module imports this one and never `cli.app`, which imports every noun to register it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

import click
from msgspec import structs

from mlops_tui.cli import render
from mlops_tui.config import Settings, UiCheck, load_settings
from mlops_tui.config.libraries import route_library_output
from mlops_tui.domain import Change
from mlops_tui.errors import JournalError, UsageError
from mlops_tui.hub import Hub
from mlops_tui.ops.flow import AskApproval, Written, run_write
from mlops_tui.ops.gates import plan_notes, refusal
from mlops_tui.ops.journal import open_journal
from mlops_tui.ops.markers import failure_text
from mlops_tui.ops.policy import Approval, WriteAction
from mlops_tui.ops.registry import recover_interrupted
from mlops_tui.text import humanize

__all__ = [
    "Table",
    "apply",
    "common_options",
    "emit",
    "environments_chosen",
    "expected_state",
    "headless_ask",
    "load_and_warn",
    "open_tui",
    "override_reason",
    "say_written",
    "with_hub",
    "write_options",
]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


# -- options and the hub ------------------------------------------------------------------------


def common_options(command: F) -> F:
    """`--env`, `--config` and `--json` on every leaf command, overriding the root's."""
    command = click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")(command)
    command = click.option("--env", "env", metavar="NAME", help="Environment to use.")(command)
    command = click.option("--config", "config", type=click.Path(dir_okay=False), help="Config file to use.")(
        command
    )
    return command


def with_hub(run: Callable[..., Awaitable[T]]) -> Callable[..., T]:
    """Run an async command body with the hub of the chosen environment, closed afterwards."""

    @functools.wraps(run)
    @click.pass_context
    def command(ctx: click.Context, /, config: str | None, env: str | None, **kwargs: Any) -> T:
        root_options = ctx.find_root().params
        settings = load_and_warn(config or root_options.get("config"))
        if kwargs.pop("read_only", False) or root_options.get("read_only"):
            settings = dataclasses.replace(settings, read_only=True)
        hub = Hub(settings, env or root_options.get("env"))

        async def body() -> T:
            try:
                return await run(hub, **kwargs)
            finally:
                await hub.aclose()

        return asyncio.run(body())

    return command


def environments_chosen(
    ctx: click.Context, every: bool, env: str | None, config: str | None
) -> tuple[Settings, list[str]]:
    """The settings, and the environments a command with `--env NAME | --all` acts on (the root's
    `--env` and `--config` count too).

    Raises:
        UsageError: both `--env` and `--all`, or no such environment.
    """
    root_options = ctx.find_root().params
    if every and (env or root_options.get("env")):
        raise UsageError("give --env or --all, not both")
    settings = load_and_warn(config or root_options.get("config"))
    if every:
        return settings, list(settings.environments)
    return settings, [settings.environment(env or root_options.get("env"))[0]]


def load_and_warn(path: str | None, *, check_ui: UiCheck | None = None) -> Settings:
    """The settings, their warnings (a config file others can read) said on stderr."""
    settings = load_settings(path, check_ui=check_ui)
    for warning in settings.warnings:
        render.say(f"mlops-tui: warning: {warning}", err=True)
    return settings


def open_tui(settings: Settings, env: str | None, *, mouse: bool = True) -> None:
    """Run the terminal UI on `env` until the operator quits it."""
    # Nothing but the TUI draws on the terminal, --debug or not.
    route_library_output()
    # Textual costs ~0.4 s to import: only the TUI pays for it.
    from mlops_tui.tui import make_app

    make_app(settings, env).run(mouse=mouse)


# -- output -------------------------------------------------------------------------------------


class Table(NamedTuple):
    """A table printed after the first one of a command's table output."""

    columns: Sequence[str]
    rows: Iterable[Sequence[str]]
    title: str | None = None


def emit(
    data: Mapping[str, Any],
    columns: Sequence[str],
    rows: Iterable[Sequence[str]],
    as_json: bool,
    *,
    title: str | None = None,
    more: Iterable[Table] = (),
) -> None:
    """A command's answer on stdout: `data` as JSON with `--json`, else the table of `columns` and
    `rows` (titled `title`), then the `more` tables. Rows are read only when printed: pass
    generators to build no row `--json` leaves out."""
    if as_json:
        render.emit_json(data)
        return
    render.emit_table(columns, rows, title=title)
    for table in more:
        render.emit_table(table.columns, table.rows, title=table.title)


def _say(as_json: bool, data: dict[str, Any], text: str) -> None:
    """`data` as JSON with `--json`, else `text` for a person, line by line."""
    if as_json:
        render.emit_json(data)
    else:
        for line in text.splitlines():
            render.say(line)


# -- write actions ------------------------------------------------------------------------------


_EXPECT_CURRENT = "mlops_tui.expect_current"


def write_options(body: F) -> F:
    """The approval flags every write command takes, the same everywhere. `--expect-current` is
    kept in the click context, where `apply` reads it, so no command body has to pass it on."""

    @functools.wraps(body)
    def keeping_expectation(*args: Any, expect_current: str | None, **kwargs: Any) -> Any:
        click.get_current_context().meta[_EXPECT_CURRENT] = expect_current
        return body(*args, **kwargs)

    command: F = keeping_expectation  # type: ignore[assignment]
    for option in reversed(
        (
            click.option("--yes", is_flag=True, help="Apply; without it the plan is printed, exit 4."),
            click.option("--confirm", metavar="NAME", help="Protected environments: the model name."),
            click.option("--dry-run", is_flag=True, help="Print the plan and change nothing."),
            click.option("--read-only", is_flag=True, help="Refuse (exit 4): a guard for scripts."),
            click.option(
                "--expect-current",
                metavar="STATE",
                help="Act only if the target still holds STATE (e.g. v3); else exit 4, nothing written.",
            ),
        )
    ):
        command = option(command)
    return command


def override_reason(override_gates: bool, reason: str | None) -> str | None:
    """The reason failed gates are overridden for, or None.

    Raises:
        UsageError: one of `--override-gates` and `--reason` without the other.
    """
    reason = (reason or "").strip() or None
    if override_gates and reason is None:
        raise UsageError("--override-gates needs --reason TEXT: the journal records why")
    if reason is not None and not override_gates:
        raise UsageError("--reason goes with --override-gates")
    return reason


def _change_json(change: Change, result: str) -> dict[str, Any]:
    gates = None if not change.checks else "failed" if change.failed_checks else "passed"
    return {
        "environment": change.environment,
        "action": change.action,
        "target": change.target,
        "before": change.before,
        "after": change.after,
        "details": list(change.details),
        "metrics": [structs.asdict(m) for m in change.metrics],
        "warnings": list(change.warnings),
        "gates": gates,
        "checks": [structs.asdict(c) for c in change.checks],
        "result": result,
    }


_NOTE_LABELS = {"metric": "metric", "warning": "warning", "passed": "gate ok", "failed": "gate FAILED"}


def _plan_text(lead: str, change: Change) -> str:
    """`lead` and the change's summary, then its metrics, warnings and gates one per line."""
    notes = [f"\n  {_NOTE_LABELS[kind]}: {text}" for kind, text in plan_notes(change)]
    return f"{lead}{change.summary()}{''.join(notes)}"


async def apply(
    hub: Hub,
    action: WriteAction,
    *,
    yes: bool,
    confirm: str | None,
    dry_run: bool,
    as_json: bool,
    override: str | None = None,
) -> None:
    """Print the plan or perform it through the one policy; the shared tail of every write command."""
    journal = open_journal(hub.settings)
    change = action.change
    try:
        closed = await recover_interrupted(hub, journal)
    except JournalError as exc:
        journal.close()
        raise JournalError(f"{exc.message}; not performed: {change.summary()}") from None
    if closed:
        click.echo(f"mlops-tui: closed {closed} interrupted action(s) as unknown; see `history`", err=True)

    try:
        written = await run_write(
            action,
            policy=hub.policy,
            journal=journal,
            operator=hub.settings.operator_name,
            ask=headless_ask(yes=yes, confirm=confirm, dry_run=dry_run, as_json=as_json, override=override),
            expected=expected_state(change),
            now=hub.clock,
            markers=hub.markers,
        )
    finally:
        journal.close()
    if dry_run and change.failed_checks and override is None:
        raise refusal(change)  # a dry run says whether the write would pass its gates
    say_written(hub, written, as_json)


def headless_ask(
    *, yes: bool, confirm: str | None, dry_run: bool, as_json: bool, override: str | None = None
) -> AskApproval:
    """How a headless write approves its plan: `--dry-run` prints it and stops, no `--yes` prints
    it (the policy then refuses), `--yes` and `--confirm` approve."""

    async def ask(planned: Change, typed: str | None) -> Approval | None:
        if dry_run:
            _say(as_json, _change_json(planned, "dry-run"), _plan_text("would ", planned))
            return None
        if not yes:
            _say(as_json, _change_json(planned, "planned"), _plan_text("plan: ", planned))
        return Approval(approved=yes, typed=confirm, override=override)

    return ask


def say_written(hub: Hub, written: Written, as_json: bool, **extra: Any) -> None:
    """What a write command prints once the flow ran: done, unchanged or requested (`extra`: more
    JSON fields)."""
    change = written.change
    if written.result == "unchanged":
        _say(
            as_json,
            {**_change_json(change, "unchanged"), **extra},
            f"{change.target} is already {change.after}",
        )
    elif written.result == "ok":
        if written.markers:
            extra = {"markers": [structs.asdict(m) for m in written.markers], **extra}
        _say(as_json, {**_change_json(change, "ok"), **extra}, f"done: {change.summary()}")
        if failed := written.failed_markers:
            render.say(
                f"mlops-tui: warning: {failure_text(list(failed))} (journaled; the change is made)", err=True
            )
    elif written.result == "requested":
        needed = hub.policy.approvals_needed(change)
        _say(
            as_json,
            {**_change_json(change, "requested"), "request": written.request, "needed": needed, **extra},
            f"requested approval #{written.request}: {change.summary()}; it needs "
            f"{humanize.count(needed, 'approval')} by another operator: "
            f"mlops-tui approvals approve {written.request}",
        )


def expected_state(change: Change) -> str | None:
    """The state `--expect-current` says the command acts on, spelled as `change` spells its states
    (`--expect-current 3` for a version slot means `v3`); None without it."""
    expect_current = click.get_current_context().meta.get(_EXPECT_CURRENT)
    if expect_current is None:
        return None
    versioned = (change.before or change.after).startswith("v")
    return f"v{expect_current}" if versioned and expect_current.isdigit() else str(expect_current)
