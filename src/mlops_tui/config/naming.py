"""How an environment names its registered models: `registered_model = "prod.{name}"` maps the
model `churn` to `prod.churn`, and every read and write of the environment goes through it.

Environments may share one tracking server, each with its own template; a registered model belongs
to the environment whose template matches it most specifically, so `dev` ("{name}") does not list
`prod.churn`, which `prd` ("prod.{name}") owns.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlops_tui.config import EnvironmentSettings, Settings

__all__ = ["ModelNames", "LOCK_PREFIX"]

PLACEHOLDER = "{name}"
LOCK_PREFIX = "mlops_tui.lock."
"""Registered models that are the registry's write locks (ops.lease), nobody's models."""


@dataclass(frozen=True)
class _Template:
    prefix: str
    suffix: str

    @classmethod
    def parse(cls, template: str) -> _Template:
        prefix, _, suffix = template.partition(PLACEHOLDER)
        return cls(prefix, suffix)

    @property
    def specificity(self) -> int:
        return len(self.prefix) + len(self.suffix)

    def matches(self, registered: str) -> bool:
        return (
            len(registered) > self.specificity
            and registered.startswith(self.prefix)
            and registered.endswith(self.suffix)
        )


@dataclass(frozen=True)
class ModelNames:
    """One environment's mapping between model names and registered model names."""

    template: str = PLACEHOLDER
    others: tuple[str, ...] = ()
    """Templates of the other environments on the same tracking server."""

    @classmethod
    def of(cls, settings: Settings, env: EnvironmentSettings) -> ModelNames:
        """The mapping of `env`, aware of the environments of `settings` that share its server."""
        if env.mlflow is None:
            return cls()
        uri = env.mlflow.tracking_uri
        others = tuple(
            other.mlflow.registered_model
            for other in settings.environments.values()
            if other is not env
            and other.mlflow is not None
            and other.mlflow.tracking_uri == uri
            and other.mlflow.registered_model != env.mlflow.registered_model
        )
        return cls(env.mlflow.registered_model, others)

    @property
    def _own(self) -> _Template:
        return _Template.parse(self.template)

    def registered(self, model: str) -> str:
        """The registered model holding `model`; a name already mapped is returned as it is
        (`prod.churn` stays `prod.churn`, never `prod.prod.churn`)."""
        own = self._own
        if own.specificity and own.matches(model):
            return model
        return f"{own.prefix}{model}{own.suffix}"

    def model(self, registered: str) -> str:
        """The model a registered model holds: `prod.churn` -> `churn`."""
        own = self._own
        if own.matches(registered):
            return registered[len(own.prefix) : len(registered) - len(own.suffix)]
        return registered

    def owns(self, registered: str) -> bool:
        """Whether `registered` is one of this environment's models, not a neighbour's on the
        same server with a more specific template."""
        own = self._own
        if not own.matches(registered) or registered.startswith(LOCK_PREFIX):
            return False
        return not any(
            other.specificity > own.specificity and other.matches(registered)
            for other in map(_Template.parse, self.others)
        )

    def server_filter(self, name_filter: str) -> str:
        """A registry search filter that narrows `name_filter` to this environment's prefix."""
        prefix = self._own.prefix
        if not prefix:
            return name_filter
        scope = f"name LIKE '{_escape_like(prefix)}%'"
        return f"{scope} AND {name_filter}" if name_filter else scope


def _escape_like(text: str) -> str:
    # MLflow's filter parser takes a quoted string; `%` and `_` are rare in prefixes and would only
    # widen the server's answer, which owns() narrows again.
    return text.replace("'", "\\'")
