"""Where deploy markers go: a destination per module (`grafana`, `pushgateway`), each behind
`MarkerSink`. `ops.markers` builds an environment's sinks from its `[markers]` table and posts every
marker to all of them once a change is made."""

from __future__ import annotations

from abc import ABC, abstractmethod

from mlops_tui.domain import DeployMarker

__all__ = ["MarkerSink"]


class MarkerSink(ABC):
    """One destination of deploy markers: a dashboard's annotations, a metrics store."""

    name: str
    """How results and messages name it: `grafana`, `pushgateway`."""

    @abstractmethod
    async def post(self, marker: DeployMarker) -> str:
        """Tell the destination of `marker`.

        Returns: where the marker went, in a few words (`annotation 17 on URL`).

        Raises:
            BackendUnreachable: the destination cannot be reached or did not answer in time.
            BackendError: it refused the credentials or the marker; the message quotes its words
                and names the setting to check, never a secret.
        """

    @abstractmethod
    async def aclose(self) -> None:
        """Release the connections."""
