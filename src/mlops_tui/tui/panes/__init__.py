"""The dashboard's panes: `ResourcePane`, the titled, polled, filterable table each is, and one
module per pane."""

from mlops_tui.tui.panes.alerts import AlertsPane
from mlops_tui.tui.panes.base import ResourcePane
from mlops_tui.tui.panes.endpoints import EndpointsPane
from mlops_tui.tui.panes.models import ModelsPane
from mlops_tui.tui.panes.not_configured import NotConfiguredPane
from mlops_tui.tui.panes.pipelines import PipelinesPane
from mlops_tui.tui.panes.runs import RunsPane

__all__ = [
    "AlertsPane",
    "EndpointsPane",
    "ModelsPane",
    "NotConfiguredPane",
    "PipelinesPane",
    "ResourcePane",
    "RunsPane",
]
