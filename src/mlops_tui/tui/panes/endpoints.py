"""The Endpoints pane: Vertex AI endpoints, what each deployed model serves, and its traffic."""

from __future__ import annotations

from collections.abc import Sequence

from mlops_tui.domain import DeployedModel, Endpoint, Page
from mlops_tui.tui.bindings import ENDPOINT_ACTIONS, WRITE_ACTIONS
from mlops_tui.tui.panes.base import ResourcePane, Row
from mlops_tui.tui.requests import EndpointRequests, write_possible
from mlops_tui.tui.styles import traffic_bar

__all__ = ["EndpointsPane", "Serving"]


Serving = tuple[Endpoint, DeployedModel | None]
"""One row of the Endpoints pane: a deployed model on its endpoint (None: nothing deployed)."""


class EndpointsPane(ResourcePane[Serving], EndpointRequests):
    """Vertex AI endpoints of interest: each deployed model, what it serves, and its traffic."""

    title = "Endpoints"
    BINDINGS = ENDPOINT_ACTIONS

    async def fetch(self, filter_text: str, page_token: str | None) -> Page[Serving]:
        rows: list[Serving] = []
        for endpoint in await self.hub.endpoints():
            if filter_text and filter_text.lower() not in endpoint.display_name.lower():
                continue
            rows.extend((endpoint, d) for d in endpoint.deployed_models or (None,))
        return Page(tuple(rows))

    def columns_for(self, items: Sequence[Serving]) -> tuple[str, ...]:
        return ("Endpoint", "Deployed", "Model", "MLflow", "Traffic")

    def row(self, item: Serving) -> Row:
        endpoint, deployed = item
        if deployed is None:
            return Row(endpoint.id, (endpoint.display_name, "", "(nothing deployed)", "", ""))
        model = deployed.model_display_name or deployed.model.rsplit("/", 1)[-1]
        return Row(
            f"{endpoint.id}/{deployed.id}",
            (
                endpoint.display_name,
                deployed.id,
                f"{model} v{deployed.model_version}",
                f"{deployed.mlflow_model} v{deployed.mlflow_version}" if deployed.mlflow_model else "",
                traffic_bar(endpoint.traffic_split.get(deployed.id, 0)),
            ),
        )

    def web_item(self, item: Serving) -> object:
        return item[0]  # the endpoint

    def serving(self) -> tuple[str, str | None] | None:
        """The endpoint id and deployed model id of the row under the cursor."""
        key = self.selected()
        if key is None:
            return None
        endpoint, _, deployed = key.partition("/")
        return endpoint, deployed or None

    def action_shift_traffic(self) -> None:
        if chosen := self.serving():
            self.post_message(self.ShiftTrafficRequested(self.hub, chosen[0]))

    def action_rollback_traffic(self) -> None:
        if chosen := self.serving():
            self.post_message(self.RollbackTrafficRequested(self.hub, chosen[0]))

    def action_undeploy(self) -> None:
        chosen = self.serving()
        if chosen and chosen[1]:
            self.post_message(self.UndeployRequested(self.hub, chosen[0], chosen[1]))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in WRITE_ACTIONS:
            chosen = self.serving()
            possible = chosen is not None and (action != "undeploy" or chosen[1] is not None)
            return write_possible(self.hub, chosen=possible)
        return super().check_action(action, parameters)
