"""The Textual front end. The only package of mlops-tui that imports Textual."""

from mlops_tui.tui.app import MlopsApp, make_app

__all__ = ["MlopsApp", "make_app"]
