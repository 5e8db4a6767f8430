"""The TUI's write actions: what to change asked in a dialog, then the one write flow (plan, policy,
confirmation, journal, write), its outcome told in a notification.

Each action runs as the app's one `write` worker: starting another cancels the one still asking.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial, update_wrapper
from typing import TYPE_CHECKING, Concatenate, ParamSpec

from textual.worker import WorkType

from mlops_tui.domain import Alert, Change, ModelVersion, Pipeline
from mlops_tui.errors import MlopsError
from mlops_tui.hub import Hub
from mlops_tui.ops.alerts import plan_expiry, plan_silence
from mlops_tui.ops.approvals import approve, find_request, reject
from mlops_tui.ops.endpoints import plan_traffic, plan_traffic_rollback, plan_undeploy
from mlops_tui.ops.flow import Written, run_write
from mlops_tui.ops.markers import failure_text
from mlops_tui.ops.pipelines import plan_pause, plan_pipeline_change, plan_retrain
from mlops_tui.ops.policy import Approval, WriteAction
from mlops_tui.ops.registry import plan_cross_env_promotion, plan_promotion, plan_rollback

if TYPE_CHECKING:
    from mlops_tui.tui.app import MlopsApp

__all__ = ["FOLLOW_SECONDS", "WriteActions"]

# The dialogs and screens are imported where first used: the dashboard's first frame needs none.

FOLLOW_SECONDS = 2.0
"""How often a pipeline started from the TUI is looked at until it ends."""

P = ParamSpec("P")


def _write_worker(
    action: Callable[Concatenate[WriteActions, P], Coroutine[None, None, None]],
) -> Callable[Concatenate[WriteActions, P], None]:
    """Make `action` start as the app's exclusive `write` worker when called."""

    def start(self: WriteActions, /, *args: P.args, **kwargs: P.kwargs) -> None:
        self.app.run_worker(
            _work(partial(action, self, *args, **kwargs)),
            name=action.__name__,
            group="write",
            exclusive=True,
            exit_on_error=False,
        )

    update_wrapper(start, action)
    return start


class WriteActions:
    """The write actions of one app, on any of its environments (each call names its hub)."""

    def __init__(self, app: MlopsApp) -> None:
        self.app = app

    @_write_worker
    async def promote(
        self, hub: Hub, model: str, versions: list[ModelVersion] | None, selected: str | None
    ) -> None:
        """Ask what to promote, then plan, confirm and perform it."""
        from mlops_tui.tui.screens.dialogs import PromoteDialog

        app = self.app
        try:
            if versions is None:
                _, versions = await hub.model(model)
        except MlopsError as exc:
            app.notify(exc.message, title=exc.title, severity="error")
            return
        mode = hub.env.mlflow.promotion if hub.env.mlflow else "alias"
        choice = await app.push_screen_wait(
            PromoteDialog(
                model,
                versions,
                selected=selected,
                mode=mode,
                environment=hub.env_name,
                environments=list(app.settings.environments),
                hub=hub,
            )
        )
        if choice is None:
            return
        name, operator = hub.model_name(model), app.settings.operator_name
        if choice.to_env:
            target = app.hub_for(choice.to_env)
            await self._write(
                target,
                lambda: plan_cross_env_promotion(
                    hub, target, name, choice.version, alias=None, operator=operator
                ),
            )
            return
        alias, stage = (choice.slot, None) if mode == "alias" else (None, choice.slot)
        await self._write(
            hub,
            lambda: plan_promotion(hub, name, choice.version, alias=alias, stage=stage, operator=operator),
        )

    @_write_worker
    async def rollback(self, hub: Hub, model: str) -> None:
        """Plan the rollback of the environment's default slot, confirm it, perform it."""
        name = hub.model_name(model)
        await self._write(
            hub,
            lambda: plan_rollback(hub, self.app.journal, name, operator=self.app.settings.operator_name),
        )

    @_write_worker
    async def retrain(self, hub: Hub, model: str) -> None:
        """Plan the environment's retraining of `model`, confirm it, start it."""
        name = hub.model_name(model)
        await self._write(hub, lambda: _ready(plan_retrain(hub, name, {})))

    @_write_worker
    async def change_pipeline(
        self, hub: Hub, item_id: str, verb: str, job: bool = False, whole: bool = False
    ) -> None:
        """Cancel or retry a pipeline (or one of its jobs; or, `whole`, every job), confirmed first."""
        await self._write(
            hub,
            lambda: plan_pipeline_change(hub, item_id, verb=verb, job=job, whole=whole),  # type: ignore[arg-type]
        )

    @_write_worker
    async def pause(self, hub: Hub, item_id: str, paused: bool) -> None:
        """Pause or unpause the Airflow DAG of a pipeline, confirmed first."""
        await self._write(hub, lambda: plan_pause(hub, item_id, paused=paused))

    @_write_worker
    async def silence(self, hub: Hub, alert: Alert) -> None:
        """Ask for the silence's matchers, duration and comment, then plan, confirm and create it."""
        from mlops_tui.tui.screens.dialogs import SilenceDialog

        operator = self.app.settings.operator_name
        request = await self.app.push_screen_wait(SilenceDialog(alert, author=operator))
        if request is None:
            return
        await self._write(
            hub,
            lambda: _ready(
                plan_silence(
                    hub,
                    alert.source,
                    request.matchers,
                    duration=request.duration,
                    comment=request.comment,
                    operator=operator,
                )
            ),
        )

    @_write_worker
    async def expire_silence(self, hub: Hub, silence_id: str) -> None:
        """End a silence now, confirmed first."""
        await self._write(hub, lambda: plan_expiry(hub, silence_id))

    @_write_worker
    async def shift_traffic(self, hub: Hub, endpoint_id: str) -> None:
        """Ask for the new traffic split of an endpoint, then plan, confirm and perform it."""
        from mlops_tui.tui.screens.dialogs import TrafficDialog

        try:
            endpoint = await hub.endpoint(endpoint_id)
        except MlopsError as exc:
            self.app.notify(exc.message, title=exc.title, severity="error")
            return
        split = await self.app.push_screen_wait(TrafficDialog(endpoint))
        if split is not None:
            await self._write(hub, lambda: plan_traffic(hub, endpoint_id, split))

    @_write_worker
    async def rollback_traffic(self, hub: Hub, endpoint_id: str) -> None:
        """Plan the return to the split before the endpoint's last change, confirm it, perform it."""
        await self._write(hub, lambda: plan_traffic_rollback(hub, self.app.journal, endpoint_id))

    @_write_worker
    async def undeploy(self, hub: Hub, endpoint_id: str, deployed_model_id: str) -> None:
        """Plan undeploying one model from an endpoint, confirm it, perform it."""
        await self._write(hub, lambda: plan_undeploy(hub, endpoint_id, deployed_model_id))

    @_write_worker
    async def approve(self, hub: Hub, request_id: int) -> None:
        """Approve a request: its write planned again in its environment, confirmed, and made
        when this is the last approval it needs."""
        from mlops_tui.tui.screens.dialogs import ConfirmDialog

        app = self.app
        try:
            request = find_request(app.journal, request_id)
            scope = app.hub_for(request.environment)

            async def ask(change: Change, typed: str | None) -> Approval | None:
                approval: Approval | None = await app.push_screen_wait(
                    ConfirmDialog(change, typed=typed, protected=scope.env.protected, approving=request_id)
                )
                return approval

            done = await approve(
                request,
                hub=scope,
                policy=scope.policy,
                journal=app.journal,
                operator=app.settings.operator_name,
                ask=ask,
                markers=scope.markers,
            )
        except MlopsError as exc:
            app.notify(exc.message, title=exc.title, severity="error", timeout=10)
            self._after_write()
            return
        if done.result == "cancelled":
            app.notify("Cancelled: nothing changed", timeout=3)
        elif done.result == "approved":
            more = "1 more approval" if done.remaining == 1 else f"{done.remaining} more approvals"
            app.notify(f"Approved #{request_id}: {more} needed", title="Recorded in the journal")
        elif done.written is not None:
            app.notify(
                f"Approved and done #{request_id}: {done.written.change.summary()}",
                title="Recorded in the journal",
            )
            self._say_markers(done.written)
        self._after_write()

    @_write_worker
    async def reject(self, hub: Hub, request_id: int) -> None:
        """Reject a request, with a reason asked in a dialog."""
        from mlops_tui.tui.screens.dialogs import ReasonDialog

        app = self.app
        reason = await app.push_screen_wait(ReasonDialog(f"Reject request #{request_id}", action="Reject"))
        if reason is None:
            return
        try:
            request = find_request(app.journal, request_id)
            reject(
                request,
                policy=app.hub_for(request.environment).policy,
                journal=app.journal,
                operator=app.settings.operator_name,
                reason=reason,
                now=hub.clock(),
            )
        except MlopsError as exc:
            app.notify(exc.message, title=exc.title, severity="error", timeout=10)
        else:
            app.notify(f"Rejected #{request_id}", title="Recorded in the journal")
        self._after_write()

    def _after_write(self) -> None:
        """Show what a write changed: the panes polled, open detail screens reloaded."""
        from mlops_tui.tui.screens.base import DetailScreen

        app = self.app
        app.action_refresh()
        app.refresh_approvals()
        for screen in app.screen_stack[1:]:
            if isinstance(screen, DetailScreen):
                screen.refresh_after_write()

    async def _write(self, hub: Hub, plan: Callable[[], Awaitable[WriteAction]]) -> None:
        from mlops_tui.tui.screens.dialogs import ConfirmDialog

        app = self.app

        async def ask(change: Change, typed: str | None) -> Approval | None:
            approval: Approval | None = await app.push_screen_wait(
                ConfirmDialog(
                    change,
                    typed=typed,
                    protected=hub.env.protected,
                    approvals=hub.policy.approvals_needed(change),
                )
            )
            return approval

        try:
            action = await plan()
        except MlopsError as exc:
            app.notify(exc.message, title=exc.title, severity="error")
            return
        try:
            written = await run_write(
                action,
                policy=hub.policy,
                journal=app.journal,
                operator=app.settings.operator_name,
                ask=ask,
                now=hub.clock,
                markers=hub.markers,
            )
        except MlopsError as exc:
            app.notify(exc.message, title=exc.title, severity="error", timeout=10)
        else:
            if written.result == "requested":
                app.notify(
                    f"Approval requested #{written.request}: {written.change.summary()}. Another operator "
                    "approves it (A: approvals); nothing changed yet",
                    title="Recorded in the journal",
                    timeout=10,
                )
                app.refresh_approvals()
                return
            if written.result == "unchanged":
                app.notify(f"{written.change.target} is already {written.change.after}")
                return
            if written.result == "cancelled":
                app.notify("Cancelled: nothing changed", timeout=3)
                return
            started = getattr(action, "started", None)
            if isinstance(started, Pipeline):
                app.notify(
                    f"Started {written.change.after} for {written.change.target}: its live log is open",
                    title="Recorded in the journal",
                )
                app.run_worker(
                    _work(partial(self._follow, hub, started)),
                    name="follow",
                    group="follow",
                    exit_on_error=False,
                )
                app.run_worker(
                    _work(partial(self._open_log, hub, started)),
                    name="open_log",
                    group="open-log",
                    exclusive=True,
                    exit_on_error=False,
                )
            else:
                app.notify(f"Done: {written.change.summary()}", title="Recorded in the journal")
            self._say_markers(written)
        self._after_write()

    def _say_markers(self, written: Written) -> None:
        """A notification for the deploy markers of a write that failed (the write was made)."""
        if failed := written.failed_markers:
            self.app.notify(
                f"{failure_text(list(failed))}. {written.change.summary()} is made and journaled.",
                title="Deploy marker failed",
                severity="warning",
                timeout=15,
            )

    async def _follow(self, hub: Hub, pipeline: Pipeline) -> None:
        """Watch a pipeline this app started and say how it ended."""
        while not pipeline.done:
            await asyncio.sleep(FOLLOW_SECONDS)
            try:
                pipeline, _ = await hub.pipeline(pipeline.id)
            except MlopsError:
                continue  # the pane shows the outage; keep following
        self.app.notify(
            f"{pipeline.source} pipeline {pipeline.id} ended {pipeline.status}"
            + (f" ({pipeline.model})" if pipeline.model else ""),
            severity="information" if pipeline.status == "success" else "error",
            timeout=15,
        )
        self.app.action_refresh()

    async def _open_log(self, hub: Hub, pipeline: Pipeline) -> None:
        """Open the live log of a pipeline just started (its first job's), or the pipeline while
        it has no job yet."""
        from mlops_tui.tui.screens.details import PipelineScreen, TraceScreen

        try:
            pipeline, jobs = await hub.pipeline(pipeline.id)
        except MlopsError:
            jobs = []
        if jobs:
            self.app.push_screen(TraceScreen(hub, jobs[0].id, job=jobs[0], pipeline=pipeline))
        else:
            self.app.push_screen(PipelineScreen(hub, pipeline.id))


async def _ready(action: WriteAction) -> WriteAction:
    return action


def _work(call: Callable[[], Coroutine[None, None, None]]) -> WorkType[None]:
    """`call` as work of a worker: the type `run_worker` can tell a coroutine function by."""
    return call
