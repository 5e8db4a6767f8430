"""`markers test`: post a test marker to every destination of the environment's deploy markers."""

from __future__ import annotations

import click
from msgspec import structs

from mlops_tui.cli.helpers import common_options, emit, with_hub
from mlops_tui.domain import DeployMarker
from mlops_tui.errors import ExitCode, UsageError
from mlops_tui.hub import Hub

__all__ = ["markers"]

TEST_ACTION = "test"
"""The action a test marker names (dashboards filtering on promotions do not show it)."""


@click.group()
def markers() -> None:
    """Deploy markers: check where they go."""


@markers.command("test", short_help="Post a test marker to every destination of the environment.")
@common_options
@with_hub
async def markers_test(hub: Hub, as_json: bool) -> None:
    """Post a test marker (action `test`, model `mlops-tui`) to every destination of the
    environment's `[markers]` table, and say how each took it: exit 0 when all did, 1 when one
    failed. Nothing is journaled and no slot changes."""
    sinks = hub.markers
    if not sinks.destinations:
        raise UsageError(
            f"{hub.env_name} has no deploy markers: add [environments.{hub.env_name}.markers.grafana] "
            "or .pushgateway"
        )
    marker = DeployMarker(
        environment=hub.env_name,
        action=TEST_ACTION,
        target="mlops-tui markers test",
        model="mlops-tui",
        version=TEST_ACTION,
        previous=None,
        operator=hub.settings.operator_name,
        time=hub.clock(),
    )
    results = await sinks.send(marker)
    emit(
        {"environment": hub.env_name, "markers": [structs.asdict(r) for r in results]},
        ("DESTINATION", "RESULT", "DETAIL"),
        ((r.destination, "ok" if r.ok else "failed", r.detail) for r in results),
        as_json,
    )
    if not all(r.ok for r in results):
        raise SystemExit(ExitCode.FAILED)
