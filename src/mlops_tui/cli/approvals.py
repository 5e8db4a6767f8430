"""`approvals list|approve|reject`: four-eyes requests in the shared journal."""

from __future__ import annotations

import click

from mlops_tui.cli import render
from mlops_tui.cli.helpers import (
    common_options,
    expected_state,
    headless_ask,
    say_written,
    with_hub,
    write_options,
)
from mlops_tui.domain import Change
from mlops_tui.errors import Refused
from mlops_tui.hub import Hub, policy_of
from mlops_tui.ops.approvals import approve, find_request, reject
from mlops_tui.ops.journal import open_journal
from mlops_tui.text import humanize

__all__ = ["approvals"]


@click.group()
def approvals() -> None:
    """Four-eyes: promotions another operator must approve."""


@approvals.command("list", short_help="Requests waiting for approval (--all: closed ones too).")
@click.option("--all", "show_all", is_flag=True, help="Closed and expired requests too.")
@click.option("--all-envs", is_flag=True, help="Every environment, not only --env's.")
@common_options
@with_hub
async def approvals_list(hub: Hub, show_all: bool, all_envs: bool, as_json: bool) -> None:
    """Approval requests of the shared journal, newest first."""
    journal = open_journal(hub.settings)
    try:
        requests = journal.approval_requests(environment=None if all_envs else hub.env_name, limit=-1)
    finally:
        journal.close()
    now = hub.clock()
    shown = [(r, r.status(now)) for r in requests if show_all or r.status(now) == "pending"]
    if as_json:
        render.emit_json({"requests": [render.request_json(r, status) for r, status in shown]})
        return
    render.emit_table(
        ("ID", "REQUESTED", "BY", "ENV", "ACTION", "TARGET", "FROM", "TO", "APPROVALS", "STATUS", "EXPIRES"),
        (
            (
                f"#{r.id}",
                humanize.age(r.time, now),
                r.requester,
                r.environment,
                r.action,
                r.target,
                r.before or "",
                r.after or "",
                f"{len(r.approvers)}/{r.needed}",
                status,
                humanize.timestamp(r.expires),
            )
            for r, status in shown
        ),
    )


@approvals.command("approve", short_help="Approve a request; the last approval makes the write.")
@click.argument("request_id", metavar="ID", type=click.IntRange(1))
@write_options
@common_options
@with_hub
async def approvals_approve(
    hub: Hub, request_id: int, yes: bool, confirm: str | None, dry_run: bool, as_json: bool
) -> None:
    """Approve request ID as this operator; the last approval needed makes the write. Refused for
    the requester (four eyes). The write is planned again first: a target changed since the
    request closes it as stale, and the gates are checked again."""
    journal = open_journal(hub.settings)
    try:
        request = find_request(journal, request_id)
        asked = Change(
            request.action, request.environment, request.target, request.subject, request.before, ""
        )
        expected = expected_state(asked)
        if expected is not None and expected != request.before:
            raise Refused(
                f"approval request #{request_id} acts on {request.target} {request.before or '(unset)'}, "
                f"not {expected}: nothing changed"
            )
        scope = hub if request.environment == hub.env_name else Hub(hub.settings, request.environment)
        try:
            done = await approve(
                request,
                hub=scope,
                policy=scope.policy,
                journal=journal,
                operator=hub.settings.operator_name,
                ask=headless_ask(yes=yes, confirm=confirm, dry_run=dry_run, as_json=as_json),
                markers=scope.markers,
            )
        finally:
            if scope is not hub:
                await scope.aclose()
    finally:
        journal.close()
    if done.result == "cancelled":
        return
    status = done.request.status(hub.clock())
    if done.written is not None:
        say_written(scope, done.written, as_json, request=request_id, status=status)
    elif as_json:
        render.emit_json(render.request_json(done.request, status))
    else:
        render.say(
            f"approved #{request_id}: {done.request.action} {done.request.target} "
            f"{done.request.change_text()}; {humanize.count(done.remaining, 'more approval')} needed"
        )


@approvals.command("reject", short_help="Reject (or, as its requester, withdraw) a request.")
@click.argument("request_id", metavar="ID", type=click.IntRange(1))
@click.option("--reason", metavar="TEXT", help="Why (required); the journal records it.")
@common_options
@with_hub
async def approvals_reject(hub: Hub, request_id: int, reason: str | None, as_json: bool) -> None:
    """Close request ID as rejected, with a reason."""
    journal = open_journal(hub.settings)
    try:
        request = find_request(journal, request_id)
        done = reject(
            request,
            policy=policy_of(hub.settings, request.environment),
            journal=journal,
            operator=hub.settings.operator_name,
            reason=reason or "",
            now=hub.clock(),
        )
    finally:
        journal.close()
    if as_json:
        render.emit_json(render.request_json(done, done.status(hub.clock())))
    else:
        render.say(f"rejected #{request_id}: {done.action} {done.target} {done.change_text()}")
