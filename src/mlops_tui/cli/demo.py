"""`demo`: fill the built-in environments with demo data made through the real MLflow API, then
open the TUI on `local`."""

from __future__ import annotations

from pathlib import Path

import click

from mlops_tui.cli.helpers import open_tui
from mlops_tui.config import LOCAL_ENV, LOCAL_PRD_ENV, MlflowSettings, local_settings

__all__ = ["demo"]


@click.command(short_help="Fill the local environment with demo data; open the TUI.")
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
        metrics = settings.environments[name].metrics
        if metrics is not None and metrics.kind == "mlflow":
            monitoring = MlflowSettings(tracking_uri=metrics.tracking_uri or mlflow_settings.tracking_uri)
            if reset and metrics.tracking_uri:
                demo_data.reset_store(monitoring)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                logged = demo_data.seed_monitoring(
                    monitoring, plans=plans, experiment=metrics.experiment, registry=mlflow_settings
                )
            if logged:
                click.echo(
                    f"Logged {logged} monitoring runs of serving metrics for {name} "
                    f"({monitoring.tracking_uri}, experiment {metrics.experiment}).",
                    err=True,
                )
    if not seed_only:
        open_tui(settings, "local")
