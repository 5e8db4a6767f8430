"""The command tree. Each leaf takes `--env`, `--config` and `--json`; data on stdout only."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from mlops_tui.cli import render
from mlops_tui.config import (
    LOCAL_ENV,
    LOCAL_PRD_ENV,
    Settings,
    UiCheck,
    load_settings,
    local_settings,
    locate_config,
    redacted,
    starter_config,
)
from mlops_tui.config.libraries import DEBUG_ENV_VAR, debugging, route_library_output
from mlops_tui.domain import Change, Job, tags_in_order, utcnow
from mlops_tui.errors import ExitCode, MlopsError, UsageError
from mlops_tui.hub import Hub
from mlops_tui.ops.flow import AskApproval, Written, run_write
from mlops_tui.ops.gates import plan_notes, refusal
from mlops_tui.ops.journal import JournalError, open_journal
from mlops_tui.ops.pipelines import plan_pipeline_change, plan_retrain
from mlops_tui.ops.policy import Approval, WriteAction
from mlops_tui.ops.registry import (
    plan_cross_env_promotion,
    plan_promotion,
    plan_rollback,
    recover_interrupted,
)
from mlops_tui.text import humanize
from mlops_tui.text.sanitize import terminal_log

__all__ = ["root"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def _common(command: F) -> F:
    """`--env`, `--config` and `--json` on every leaf command, overriding the root's."""
    command = click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")(command)
    command = click.option("--env", "env", metavar="NAME", help="Environment to use.")(command)
    command = click.option("--config", "config", type=click.Path(dir_okay=False), help="Config file to use.")(
        command
    )
    return command


def _with_hub(run: Callable[..., Awaitable[T]]) -> Callable[..., T]:
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


def load_and_warn(path: str | None, *, check_ui: UiCheck | None = None) -> Settings:
    """The settings, their warnings (a config file others can read) said on stderr."""
    settings = load_settings(path, check_ui=check_ui)
    for warning in settings.warnings:
        render.say(f"mlops-tui: warning: {warning}", err=True)
    return settings


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
        _open_tui(settings, env, mouse=not no_mouse)


def _open_tui(settings: Any, env: str | None, *, mouse: bool = True) -> None:
    # Nothing but the TUI draws on the terminal, --debug or not.
    route_library_output()
    # Textual costs ~0.4 s to import: only the TUI pays for it.
    from mlops_tui.tui import make_app

    make_app(settings, env).run(mouse=mouse)


# -- demo ---------------------------------------------------------------------------------------


@root.command(short_help="Fill the local environment with demo data; open the TUI.")
@click.option("--seed-only", is_flag=True, help="Fill the built-in stores and exit.")
@click.option("--reset", is_flag=True, help="Delete the built-in stores first and start over.")
def demo(seed_only: bool, reset: bool) -> None:
    """Fill the built-in `local` and `local-prd` environments with demo data, then open the TUI on
    `local`."""
    import warnings

    from mlops_tui.demo import seed as demo_data

    settings = local_settings()
    for name, plans in ((LOCAL_ENV, demo_data.DEMO_MODELS), (LOCAL_PRD_ENV, demo_data.PRD_MODELS)):
        mlflow_settings = settings.environments[name].mlflow
        assert mlflow_settings is not None
        if reset:
            demo_data.reset_store(mlflow_settings)
        if not Path(mlflow_settings.tracking_uri.removeprefix("sqlite:///")).exists():
            click.echo(f"mlops-tui: filling {name} with demo data (the first time only)", err=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report = demo_data.seed(mlflow_settings, plans=plans)
        if report.created:
            click.echo(
                f"Seeded {name} ({mlflow_settings.tracking_uri}): {report.experiments} experiments, "
                f"{report.runs} runs, {report.versions} model versions.",
                err=True,
            )
        else:
            click.echo(f"Demo data already in {name} ({mlflow_settings.tracking_uri}).", err=True)
    if not seed_only:
        _open_tui(settings, "local")


# -- config -------------------------------------------------------------------------------------


@root.group()
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


# -- runs ---------------------------------------------------------------------------------------


@root.group()
def runs() -> None:
    """Experiment runs."""


@runs.command("list")
@click.option("--experiment", metavar="NAME", help="Only this experiment.")
@click.option(
    "--filter",
    "filter_string",
    default="",
    metavar="EXPR",
    help='MLflow search filter, e.g. "metrics.val_auc > 0.8".',
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 50_000))
@_common
@_with_hub
async def runs_list(hub: Hub, experiment: str | None, filter_string: str, limit: int, as_json: bool) -> None:
    """Recent runs, newest first."""
    page = await hub.runs(filter_string, experiment=experiment, max_results=limit)
    if as_json:
        render.emit_json(
            {
                "environment": hub.env_name,
                "runs": [render.run_json(r, hub.experiment_name(r.experiment_id)) for r in page.items],
                "next_page_token": page.next_token,
            }
        )
        return
    now = utcnow()
    metrics = hub.key_metrics(page.items)
    render.emit_table(
        ("RUN ID", "NAME", "EXPERIMENT", "STATUS", "STARTED", "DURATION", *metrics),
        (
            (
                r.id,
                r.name,
                hub.experiment_name(r.experiment_id),
                r.status.lower(),
                humanize.age(r.start_time, now),
                humanize.duration(r.duration),
                *(humanize.metric(r.metrics.get(key)) for key in metrics),
            )
            for r in page.items
        ),
    )


@runs.command("show", short_help="One run: params, metrics, tags, model versions.")
@click.argument("run_id")
@_common
@_with_hub
async def runs_show(hub: Hub, run_id: str, as_json: bool) -> None:
    """One run: params, metrics with their history, tags, and the model versions made from it."""
    detail = await hub.run_detail(run_id)
    if as_json:
        render.emit_json({"environment": hub.env_name, **render.run_detail_json(detail)})
        return
    run = detail.run
    render.emit_table(
        ("FIELD", "VALUE"),
        render.kv_table(
            {
                "run": f"{run.name} ({run.id})",
                "experiment": detail.experiment,
                "status": f"{run.status.lower()} (deleted)" if run.deleted else run.status.lower(),
                "user": run.user,
                "started": humanize.timestamp(run.start_time),
                "duration": humanize.duration(run.duration),
            }
        ),
    )
    render.emit_table(("PARAM", "VALUE"), sorted(run.params.items()), title="Parameters")
    render.emit_table(
        ("METRIC", "LAST", "STEPS"),
        (
            (k, humanize.metric(v), str(len(detail.history.get(k, ()))))
            for k, v in sorted(run.metrics.items())
        ),
        title="Metrics",
    )
    if detail.versions:
        render.emit_table(
            ("MODEL", "VERSION", "ALIASES", "STAGE"),
            ((v.name, v.version, ", ".join(v.aliases), v.stage) for v in detail.versions),
            title="Model versions",
        )


# -- models -------------------------------------------------------------------------------------


@root.group()
def models() -> None:
    """Registered models."""


@models.command("list", short_help="Registered models, their aliases or stages.")
@click.option(
    "--filter",
    "name_filter",
    default="",
    metavar="TEXT",
    help="Part of the name, or a registry filter such as \"name LIKE 'ch%'\".",
)
@_common
@_with_hub
async def models_list(hub: Hub, name_filter: str, as_json: bool) -> None:
    """Registered models with their aliases or stages and latest version."""
    page = await hub.models(name_filter)
    if as_json:
        render.emit_json(
            {
                "environment": hub.env_name,
                "models": [render.model_json(m) for m in page.items],
                "next_page_token": page.next_token,
            }
        )
        return
    now = utcnow()
    render.emit_table(
        ("NAME", "ALIASES", "STAGES", "LATEST", "UPDATED"),
        (
            (
                m.name,
                " ".join(f"{a}=v{v}" for a, v in sorted(m.aliases.items())),
                " ".join(f"{s}=v{v}" for s, v in m.stages().items()),
                f"v{m.latest_version}" if m.latest_version else "",
                humanize.age(m.updated, now),
            )
            for m in page.items
        ),
    )


@models.command("show")
@click.argument("name")
@_common
@_with_hub
async def models_show(hub: Hub, name: str, as_json: bool) -> None:
    """A registered model and its versions."""
    model, versions = await hub.model(name)
    if as_json:
        render.emit_json(
            {
                "environment": hub.env_name,
                "model": render.model_json(model),
                "versions": [render.version_json(v) for v in versions],
            }
        )
        return
    now = utcnow()
    render.emit_table(
        ("VERSION", "ALIASES", "STAGE", "STATUS", "RUN ID", "CREATED", "TAGS"),
        (
            (
                v.version,
                ", ".join(v.aliases),
                v.stage,
                v.status.lower(),
                v.run_id or "",
                humanize.age(v.created, now),
                " ".join(f"{k}={val}" for k, val in tags_in_order(v.tags)),
            )
            for v in versions
        ),
        title=f"{model.name}: {model.description}" if model.description else model.name,
    )


# -- write actions ------------------------------------------------------------------------------


_EXPECT_CURRENT = "mlops_tui.expect_current"


def _write_options(body: F) -> F:
    """The approval flags every write command takes, the same everywhere. `--expect-current` is
    kept in the click context, where `_apply` reads it, so no command body has to pass it on."""

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


def _change_json(change: Change, result: str) -> dict[str, Any]:
    gates = None if not change.checks else "failed" if change.failed_checks else "passed"
    return {
        "environment": change.environment,
        "action": change.action,
        "target": change.target,
        "before": change.before,
        "after": change.after,
        "details": list(change.details),
        "metrics": [dataclasses.asdict(m) for m in change.metrics],
        "warnings": list(change.warnings),
        "gates": gates,
        "checks": [dataclasses.asdict(c) for c in change.checks],
        "result": result,
    }


_NOTE_LABELS = {"metric": "metric", "warning": "warning", "passed": "gate ok", "failed": "gate FAILED"}


def _plan_text(lead: str, change: Change) -> str:
    """`lead` and the change's summary, then its metrics, warnings and gates one per line."""
    notes = [f"\n  {_NOTE_LABELS[kind]}: {text}" for kind, text in plan_notes(change)]
    return f"{lead}{change.summary()}{''.join(notes)}"


async def _apply(
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
            expected=_expected(change, click.get_current_context().meta.get(_EXPECT_CURRENT)),
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
        _say(as_json, {**_change_json(change, "ok"), **extra}, f"done: {change.summary()}")
    elif written.result == "requested":
        needed = hub.policy.approvals_needed(change)
        _say(
            as_json,
            {**_change_json(change, "requested"), "request": written.request, "needed": needed, **extra},
            f"requested approval #{written.request}: {change.summary()}; it needs "
            f"{humanize.count(needed, 'approval')} by another operator: "
            f"mlops-tui approvals approve {written.request}",
        )


def _expected(change: Change, expect_current: str | None) -> str | None:
    """`--expect-current 3` for a version slot means `v3`, as the change spells its states."""
    if expect_current is None:
        return None
    versioned = (change.before or change.after).startswith("v")
    return f"v{expect_current}" if versioned and expect_current.isdigit() else expect_current


def _say(as_json: bool, data: dict[str, Any], text: str) -> None:
    if as_json:
        render.emit_json(data)
    else:
        for line in text.splitlines():
            render.say(line)


@models.command("promote", short_help="Point an alias or stage at VERSION, or copy it across.")
@click.argument("name")
@click.argument("version")
@click.option("--alias", metavar="ALIAS", help="Alias to move (alias mode; default champion).")
@click.option("--stage", metavar="STAGE", help="Stage to move to (stage mode; default Production).")
@click.option("--archive-existing", is_flag=True, help="Stage mode: archive versions already there.")
@click.option("--to-env", metavar="ENV", help="Copy the version into another environment's registry.")
@click.option("--override-gates", is_flag=True, help="Go through failed promotion gates (needs --reason).")
@click.option("--reason", metavar="TEXT", help="Why the gates are overridden; the journal records it.")
@_write_options
@_common
@_with_hub
async def models_promote(
    hub: Hub,
    name: str,
    version: str,
    alias: str | None,
    stage: str | None,
    archive_existing: bool,
    to_env: str | None,
    override_gates: bool,
    reason: str | None,
    yes: bool,
    confirm: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Point an alias (or stage) at VERSION, or copy VERSION into another environment.

    The target environment's promotion gates are checked in the plan; a failed one refuses
    (exit 4) unless `--override-gates --reason TEXT`."""
    operator = hub.settings.operator_name
    override = _override(override_gates, reason)
    action: WriteAction
    if to_env:
        if stage:
            raise UsageError("--to-env sets an alias in the target environment; --stage does not apply")
        target = Hub(hub.settings, to_env, clock=hub.clock)
        try:
            action = await plan_cross_env_promotion(
                hub, target, name, version, alias=alias, operator=operator
            )
            await _apply(
                target, action, yes=yes, confirm=confirm, dry_run=dry_run, as_json=as_json, override=override
            )
        finally:
            await target.aclose()
        return
    action = await plan_promotion(
        hub,
        name,
        version,
        alias=alias,
        stage=stage,
        archive_existing=archive_existing,
        operator=operator,
    )
    await _apply(hub, action, yes=yes, confirm=confirm, dry_run=dry_run, as_json=as_json, override=override)


def _override(override_gates: bool, reason: str | None) -> str | None:
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


@models.command("rollback", short_help="Move an alias or stage back to its previous version.")
@click.argument("name")
@click.option("--alias", metavar="ALIAS", help="Alias to move back (alias mode; default champion).")
@click.option("--stage", metavar="STAGE", help="Stage to restore (stage mode; default Production).")
@_write_options
@_common
@_with_hub
async def models_rollback(
    hub: Hub,
    name: str,
    alias: str | None,
    stage: str | None,
    yes: bool,
    confirm: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Move an alias (or stage) back to the version it held before its last change."""
    journal = open_journal(hub.settings)
    try:
        action = await plan_rollback(
            hub, journal, name, alias=alias, stage=stage, operator=hub.settings.operator_name
        )
    finally:
        journal.close()
    await _apply(hub, action, yes=yes, confirm=confirm, dry_run=dry_run, as_json=as_json)


@root.command("history")
@click.option("--model", metavar="NAME", help="Only actions on this model.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--all-envs", is_flag=True, help="Every environment, not only --env's.")
@_common
@_with_hub
async def history(hub: Hub, model: str | None, limit: int, all_envs: bool, as_json: bool) -> None:
    """Write actions from the audit journal, newest first."""
    journal = open_journal(hub.settings)
    try:
        await recover_interrupted(hub, journal)
        subject = hub.model_name(model) if model else None
        entries = journal.entries(
            environment=None if all_envs else hub.env_name, subject=subject, limit=limit
        )
    finally:
        journal.close()
    if as_json:
        render.emit_json({"entries": [render.audit_json(e) for e in entries]})
        return
    render.emit_table(
        ("TIME (UTC)", "OPERATOR", "ENV", "ACTION", "TARGET", "FROM", "TO", "RESULT", "MESSAGE"),
        (
            (
                humanize.timestamp(e.time),
                e.operator,
                e.environment,
                e.action,
                e.target,
                e.before or "",
                e.after or "",
                e.result,
                e.message,
            )
            for e in entries
        ),
    )


# -- pipelines ----------------------------------------------------------------------------------

POLL_SECONDS = 2.0
"""How often `trace --follow` and `retrain --wait` ask the runner again."""


@root.group()
def pipelines() -> None:
    """GitLab CI/CD pipelines and local training runs."""


@pipelines.command("list")
@click.option("--ref", metavar="REF", help="Only pipelines of this ref.")
@click.option("--status", metavar="STATUS", help="Only pipelines in this status (failed, running, ...).")
@click.option("--limit", default=30, show_default=True, type=click.IntRange(1, 1000))
@_common
@_with_hub
async def pipelines_list(hub: Hub, ref: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """Recent pipelines of every runner of the environment, newest first."""
    answer = await hub.pipelines(ref=ref, status=status, limit=limit)
    found = answer.items
    if as_json:
        render.emit_json({"environment": hub.env_name, "pipelines": [render.pipeline_json(p) for p in found]})
        answer.raise_failures()
        return
    now = utcnow()
    render.emit_table(
        ("ID", "RUNNER", "STATUS", "REF", "TRIGGER", "USER", "CREATED", "DURATION"),
        (
            (
                p.id,
                p.source,
                p.status,
                p.ref,
                p.trigger,
                p.user or "",
                humanize.age(p.created, now),
                humanize.duration(p.duration),
            )
            for p in found
        ),
    )
    answer.raise_failures()


@pipelines.command("show")
@click.argument("pipeline_id")
@_common
@_with_hub
async def pipelines_show(hub: Hub, pipeline_id: str, as_json: bool) -> None:
    """A pipeline and its jobs by stage."""
    pipeline, jobs = await hub.pipeline(pipeline_id)
    if as_json:
        render.emit_json(
            {
                "environment": hub.env_name,
                "pipeline": render.pipeline_json(pipeline),
                "jobs": [render.job_json(j) for j in jobs],
            }
        )
        return
    render.emit_table(
        ("FIELD", "VALUE"),
        render.kv_table(
            {
                "pipeline": f"{pipeline.id} ({pipeline.source})",
                "status": pipeline.status,
                "ref": pipeline.ref,
                "trigger": pipeline.trigger,
                "user": pipeline.user,
                "created": humanize.timestamp(pipeline.created),
                "duration": humanize.duration(pipeline.duration),
                "url": pipeline.web_url,
            }
        ),
    )
    _jobs_table(jobs)


@pipelines.command("jobs")
@click.argument("pipeline_id")
@_common
@_with_hub
async def pipelines_jobs(hub: Hub, pipeline_id: str, as_json: bool) -> None:
    """A pipeline's jobs, in stage order."""
    _, jobs = await hub.pipeline(pipeline_id)
    if as_json:
        render.emit_json({"environment": hub.env_name, "jobs": [render.job_json(j) for j in jobs]})
        return
    _jobs_table(jobs)


def _jobs_table(jobs: list[Job]) -> None:
    render.emit_table(
        ("JOB ID", "STAGE", "NAME", "STATUS", "DURATION"),
        ((j.id, j.stage, j.name, j.status, humanize.duration(j.duration)) for j in jobs),
    )


@pipelines.command("trace", short_help="A job's log; --follow keeps reading until it ends.")
@click.argument("job_id")
@click.option("--follow", "-f", is_flag=True, help="Keep printing while the job runs.")
@click.option("--env", "env", metavar="NAME", help="Environment to use.")
@click.option("--config", "config", type=click.Path(dir_okay=False), help="Config file to use.")
@_with_hub
async def pipelines_trace(hub: Hub, job_id: str, follow: bool) -> None:
    """A job's log (GitLab's section markers stripped, colours kept); --follow reads only the new
    part each time until the job ends."""
    offset = 0
    while True:
        chunk = await hub.trace(job_id, offset)
        if chunk.text:
            # Its colours and nothing else; click leaves the colours out too when writing to a pipe.
            click.echo(terminal_log(humanize.clean_trace(chunk.text)), nl=False)
        offset = chunk.next_offset
        if chunk.complete or not follow:
            return
        await asyncio.sleep(POLL_SECONDS)


def _pipeline_write(verb: str) -> Callable[..., Any]:
    @click.argument("item_id", metavar="ID")
    @click.option("--job", is_flag=True, help="ID is a job, not a pipeline.")
    @_write_options
    @_common
    @_with_hub
    async def command(
        hub: Hub, item_id: str, job: bool, yes: bool, confirm: str | None, dry_run: bool, as_json: bool
    ) -> None:
        action = await plan_pipeline_change(hub, item_id, verb=verb, job=job)  # type: ignore[arg-type]
        await _apply(hub, action, yes=yes, confirm=confirm, dry_run=dry_run, as_json=as_json)

    command.__doc__ = f"{verb.capitalize()} a pipeline (or, with --job, one job)."
    return command


pipelines.command("retry")(_pipeline_write("retry"))
pipelines.command("cancel")(_pipeline_write("cancel"))


@root.command("retrain", short_help="Start the retraining pipeline of MODEL.")
@click.argument("model")
@click.option("--var", "variables", multiple=True, metavar="KEY=VALUE", help="Extra pipeline variable.")
@click.option("--wait", is_flag=True, help="Wait for the pipeline: exit 0 if it succeeds, 1 if not.")
@_write_options
@_common
@_with_hub
async def retrain(
    hub: Hub,
    model: str,
    variables: tuple[str, ...],
    wait: bool,
    yes: bool,
    confirm: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Start the environment's retraining pipeline for MODEL (GitLab or the local runner)."""
    extra = {}
    for item in variables:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--var takes KEY=VALUE, not {item!r}")
        extra[key] = value
    action = plan_retrain(hub, model, extra)
    await _apply(hub, action, yes=yes, confirm=confirm, dry_run=dry_run, as_json=as_json)
    started = action.started
    # A local run is a child of this process and ends with it: always wait for it.
    if started is None or not (wait or started.source == "local"):
        return
    while not started.done:
        await asyncio.sleep(POLL_SECONDS)
        started, _ = await hub.pipeline(started.id)
    render.say(f"mlops-tui: pipeline {started.id} {started.status}", err=True)
    if started.status != "success":
        raise MlopsError(f"pipeline {started.id} ended {started.status}")


# Registers `endpoints ...` and `vertex ...` on `root`; last, as it imports the helpers above.
from mlops_tui.cli import vertex as _vertex  # noqa: E402,F401
