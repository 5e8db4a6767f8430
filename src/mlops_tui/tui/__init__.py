"""The Textual front end. The only package of mlops-tui that imports Textual."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_tui.tui.app import MlopsApp, make_app

__all__ = ["MlopsApp", "make_app"]


def __getattr__(name: str) -> Any:
    # The app and its screens load on first use: `config check` needs only the key catalogue.
    if name in __all__:
        from mlops_tui.tui import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
