"""What panes and screens ask of the app: messages up, grouped by what they act on.

A pane or a screen mixes in the groups it posts (`class ModelsPane(ResourcePane[...], ModelRequests)`),
so `ModelsPane.PromoteRequested` and `ModelScreen.PromoteRequested` are the same message, which the
app handles once with `@on(ModelRequests.PromoteRequested)`. Declared here, apart from the screens,
so that the app can handle a screen's messages without importing the screen before it is opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

from mlops_tui.domain import Alert, ModelVersion

if TYPE_CHECKING:
    from mlops_tui.hub import Hub

__all__ = [
    "AlertRequests",
    "ApprovalRequests",
    "EndpointRequests",
    "FleetRequests",
    "ModelRequests",
    "PipelineRequests",
    "SilenceRequests",
    "WebRequests",
    "pipeline_action_possible",
    "write_possible",
]


def write_possible(hub: Hub, *, chosen: bool) -> bool | None:
    """`check_action`'s answer for a write key: possible (True), or shown greyed out (None) in a
    read-only environment or while there is nothing to act on."""
    return None if hub.policy.read_only or not chosen else True


class _Request(Message):
    """A request about something of one environment (its hub)."""

    def __init__(self, hub: Hub) -> None:
        super().__init__()
        self.hub = hub


class _ModelRequest(_Request):
    def __init__(self, hub: Hub, model: str) -> None:
        super().__init__(hub)
        self.model = model
        """The model's name as the environment shows it."""


class ModelRequests:
    """Mixed into what shows models: the requests about one model."""

    class PromoteRequested(_ModelRequest):
        """Promote a version of the model (asked in a dialog)."""

        def __init__(
            self,
            hub: Hub,
            model: str,
            versions: list[ModelVersion] | None = None,
            selected: str | None = None,
        ) -> None:
            super().__init__(hub, model)
            self.versions = versions
            """The model's versions when already read (None: read them first)."""
            self.selected = selected
            """The version the dialog starts on."""

    class RollbackRequested(_ModelRequest):
        """Roll the model back to its previous version."""

    class RetrainRequested(_ModelRequest):
        """Start the environment's retraining of the model."""

    class HistoryRequested(_ModelRequest):
        """Show the model's audit journal."""


class _AlertRequest(_Request):
    def __init__(self, hub: Hub, alert: Alert) -> None:
        super().__init__(hub)
        self.alert = alert


class AlertRequests:
    """Mixed into what shows alerts: the requests about one alert."""

    class SilenceRequested(_AlertRequest):
        """Silence the alert (matchers, duration and comment asked in a dialog)."""

    class ModelRequested(_AlertRequest):
        """Open the versions of the model the alert concerns."""


class PipelineRequests:
    """Mixed into what shows pipelines: cancelling or retrying one, or one of its jobs, and
    pausing what schedules it."""

    class ChangeRequested(_Request):
        """Cancel or retry a pipeline, or a job with `job`; `whole`: retry every job."""

        def __init__(
            self, hub: Hub, item_id: str, verb: str, *, job: bool = False, whole: bool = False
        ) -> None:
            super().__init__(hub)
            self.item_id = item_id
            self.verb = verb
            """`cancel` or `retry`."""
            self.job = job
            self.whole = whole

    class PauseRequested(_Request):
        """Pause (or unpause) what schedules a pipeline: its Airflow DAG."""

        def __init__(self, hub: Hub, item_id: str, *, paused: bool) -> None:
            super().__init__(hub)
            self.item_id = item_id
            """The pipeline, qualified by its runner (`airflow:DAG/RUN`)."""
            self.paused = paused


def pipeline_action_possible(hub: Hub, action: str, source: str | None) -> bool | None:
    """`check_action`'s answer for a pipeline write key on a pipeline of runner `source` (None:
    nothing chosen): greyed out (None) too where the runner cannot pause or run a whole pipeline
    again."""
    possible = write_possible(hub, chosen=source is not None)
    if not possible or source is None or action not in _CAPABILITY:
        return possible
    runner = hub.pipeline_sources.get(source)
    return True if runner is not None and getattr(runner, _CAPABILITY[action]) else None


_CAPABILITY = {"pause_dag": "can_pause", "unpause_dag": "can_pause", "retry_all": "can_rerun"}


class SilenceRequests:
    """Mixed into what shows silences."""

    class ExpireRequested(_Request):
        """End a silence now."""

        def __init__(self, hub: Hub, silence_id: str) -> None:
            super().__init__(hub)
            self.silence_id = silence_id


class _EndpointRequest(_Request):
    def __init__(self, hub: Hub, endpoint_id: str) -> None:
        super().__init__(hub)
        self.endpoint_id = endpoint_id


class EndpointRequests:
    """Mixed into what shows Vertex AI endpoints: the requests about one endpoint."""

    class ShiftTrafficRequested(_EndpointRequest):
        """Change the endpoint's traffic split (asked in a dialog)."""

    class RollbackTrafficRequested(_EndpointRequest):
        """Return to the split before the endpoint's last change."""

    class UndeployRequested(_EndpointRequest):
        """Undeploy one model from the endpoint."""

        def __init__(self, hub: Hub, endpoint_id: str, deployed_model_id: str) -> None:
            super().__init__(hub, endpoint_id)
            self.deployed_model_id = deployed_model_id


class ApprovalRequests:
    """Mixed into what shows approval requests: deciding one."""

    class ApproveRequested(_Request):
        """Approve a request (its write planned again and confirmed first)."""

        def __init__(self, hub: Hub, request_id: int) -> None:
            super().__init__(hub)
            self.request_id = request_id

    class RejectRequested(_Request):
        """Reject a request (a reason asked in a dialog)."""

        def __init__(self, hub: Hub, request_id: int) -> None:
            super().__init__(hub)
            self.request_id = request_id


class FleetRequests:
    """Mixed into what shows every environment at once."""

    class ModelRequested(Message):
        """Switch to an environment and open one of its models there."""

        def __init__(self, environment: str, model: str) -> None:
            super().__init__()
            self.environment = environment
            self.model = model


class WebRequests:
    """Mixed into what has rows or subjects with a page in a web UI."""

    class WebPageRequested(Message):
        """Offer a web page (copied, opened where there is a display, shown); None: there is none."""

        def __init__(self, url: str | None) -> None:
            super().__init__()
            self.url = url
