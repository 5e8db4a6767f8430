"""What one invocation does (`Plan`) and where it does it (`Workspace`): the temporary directory, the
environments of the commands under test, and the config files they read."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from common import isolated_env

ENV_NAME = "bench"
"""The environment of every config written here (the TUI header shows it: the first-frame marker)."""


@dataclass(frozen=True)
class Plan:
    """How much work one invocation does."""

    quick: bool
    repeat: int
    runs_list: int
    """Runs in the experiment of the headless `runs list` measure."""
    scale_runs: int
    """Runs in the experiment of the scale measures (100,000)."""
    scale_models: int
    """Registered models of the scale measures (1,000)."""
    idle_seconds: float
    """How long idle CPU is sampled."""
    pipelines: int = 40
    """Pipelines in the GitLab fake's project."""
    page_size: int = 100
    limit: int = 1000
    slow_seconds: float = 3.0
    """How late the slow backend of the isolation measure answers."""

    @property
    def warmup(self) -> bool:
        """One untimed run before the timed ones of each subprocess measure (not in quick mode)."""
        return not self.quick


@dataclass(frozen=True)
class Backends:
    """The URLs of the services the full environment uses."""

    mlflow: str
    gitlab: str
    alertmanager: str | None


@dataclass(frozen=True)
class Workspace:
    """The temporary directory's layout and the environments of the commands run in it."""

    root: Path
    cli_env: dict[str, str]
    tui_env: dict[str, str]
    configs: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def create(cls, root: Path, extra_env: dict[str, str]) -> Workspace:
        for name in ("server", "scale", "cwd", "logs", "configs"):
            (root / name).mkdir()
        return cls(
            root=root,
            cli_env=isolated_env(root / "cli-home", extra_env),
            tui_env=isolated_env(root / "tui-home", extra_env),
        )

    @property
    def db(self) -> Path:
        """The main store: the demo registry and the `runs list` experiment."""
        return self.root / "server" / "mlflow.db"

    @property
    def artifacts(self) -> Path:
        return self.root / "server" / "artifacts"

    @property
    def scale_db(self) -> Path:
        """The scale store: a 100,000-run experiment and a 1,000-model registry."""
        return self.root / "scale" / "mlflow.db"

    @property
    def scale_artifacts(self) -> Path:
        return self.root / "scale" / "artifacts"

    @property
    def cwd(self) -> Path:
        """An empty working directory: no `./mlops-tui.toml` can be picked up."""
        return self.root / "cwd"

    def log(self, name: str) -> Path:
        return self.root / "logs" / name

    def write_config(
        self,
        name: str,
        mlflow: str,
        *,
        experiment: str | None = None,
        gitlab: str | None = None,
        gitlab_project: str = "",
        gitlab_token_env: str = "",
        alertmanager: str | None = None,
        rules: str = "",
    ) -> Path:
        """A config file with one environment `bench`, default refresh intervals; returns its path.

        `rules`: TOML of `[[environments.bench.rules]]` tables, as is."""
        lines = [f'default_env = "{ENV_NAME}"', "", f"[environments.{ENV_NAME}.mlflow]"]
        lines.append(f'tracking_uri = "{mlflow}"')
        if experiment:
            lines.append(f'experiments = ["{experiment}"]')
        if gitlab:
            lines += ["", f"[environments.{ENV_NAME}.gitlab]", f'url = "{gitlab}"']
            lines += [f'project = "{gitlab_project}"', f'token_env = "{gitlab_token_env}"']
        if alertmanager:
            lines += ["", f"[environments.{ENV_NAME}.alertmanager]", f'url = "{alertmanager}"']
        if rules:
            lines += ["", rules.strip()]
        path = self.root / "configs" / f"{name}.toml"
        path.write_text("\n".join(lines) + "\n")
        self.configs[name] = path
        return path
