"""Operator comforts: binding ids and the [keymap], themes, NO_COLOR, the palette, any terminal size,
and refreshes that redraw only what changed."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from textual.binding import Binding
from textual.color import Color
from textual.command import CommandList, CommandPalette
from textual.dom import DOMNode
from textual.widgets import Footer

import mlops_tui.tui
from mlops_tui.config import EnvironmentSettings, MlflowSettings, Settings, load_settings
from mlops_tui.errors import ConfigError
from mlops_tui.tui import MlopsApp, make_app
from mlops_tui.tui.bindings import KEYS, keys_table
from mlops_tui.tui.header import EnvBar
from mlops_tui.tui.screens.compare import CompareScreen
from mlops_tui.tui.screens.details import ModelScreen
from mlops_tui.tui.screens.fleet import FleetScreen
from tests.conftest import DEMO_NOW
from tests.helpers import run_cli, write_config
from tests.helpers.tui import SIZE, demo_app, loaded, pane, rows, shown, until

KEYS_PAGE = Path(__file__).resolve().parent.parent / "docs" / "keys.md"


def declared_bindings() -> list[tuple[type[DOMNode], Binding]]:
    found = []
    for info in pkgutil.walk_packages(mlops_tui.tui.__path__, "mlops_tui.tui."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, DOMNode) and cls.__module__ == module.__name__:
                found.extend((cls, b) for b in cls.__dict__.get("BINDINGS", []) if isinstance(b, Binding))
    return found


# -- binding ids and the keymap -----------------------------------------------------------------


def test_every_binding_has_a_catalogued_id_and_the_readme_lists_them() -> None:
    declared = declared_bindings()
    assert declared
    assert {b.id for _, b in declared} <= set(KEYS), "a binding without a catalogued id"
    assert {b.id for _, b in declared} == set(KEYS), "a catalogued id no class uses"
    for cls, binding in declared:
        spec = KEYS[binding.id or ""]
        if binding.action == "dismiss(None)":  # a dialog's back: closes it, on escape only
            assert (binding.id, binding.key) == ("back", "escape"), cls
            continue
        assert (binding.key, binding.action, binding.description) == (
            spec.keys,
            spec.action,
            spec.description,
        ), cls
    assert keys_table() in KEYS_PAGE.read_text(encoding="utf-8"), "docs/keys.md's table of keys is stale"


@pytest.mark.parametrize(
    ("keymap", "message"),
    [
        ({"nope": "x"}, "key keymap.nope: unknown key binding id; expected one of: quit, help"),
        ({"refresh": "ctrl+"}, "key keymap.refresh: 'ctrl+' is not a key"),
        ({"refresh": "r,hyperdrive"}, "key keymap.refresh: 'hyperdrive' is not a key"),
        ({"fleet": "cmd+f"}, "key keymap.fleet: 'cmd+f' is not a key"),
    ],
)
def test_a_bad_keymap_is_a_config_error_naming_file_and_key(
    tmp_path: Path, keymap: dict[str, str], message: str
) -> None:
    path = write_config(tmp_path / "c.toml", {"dev": {}}, keymap=keymap)
    with pytest.raises(ConfigError) as caught:
        make_app(load_settings(path))
    assert f"{path}, {message}" in str(caught.value.message)


@pytest.mark.parametrize("command", [(), ("config", "check")], ids=["tui", "config-check"])
def test_the_command_and_config_check_exit_2_on_a_bad_keymap_or_theme(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    path = write_config(tmp_path / "c.toml", {"dev": {}}, theme="no-such-theme")
    done = run_cli(*command, "--config", path)
    assert done.code == 2 and done.stdout == ""
    assert done.stderr.startswith(f"mlops-tui: {path}:1, key theme: unknown theme 'no-such-theme'; one of:")
    path = write_config(tmp_path / "c.toml", {"dev": {}}, theme="nord", keymap={"fleet": "cmd+f"})
    done = run_cli(*command, "--config", path)
    assert done.code == 2 and done.stdout == ""
    line = path.read_text().splitlines().index('fleet = "cmd+f"') + 1
    assert done.stderr == f"mlops-tui: {path}:{line}, key keymap.fleet: 'cmd+f' is not a key; " + (
        "write keys as Textual names them, comma-separated: `r`, `R`, `f5`, `ctrl+r`, `space`, "
        "`escape`, `question_mark`\n"
    )


async def test_keymap_overrides_keys_by_id(demo_store: MlflowSettings) -> None:
    settings = Settings(
        {"local": EnvironmentSettings(mlflow=demo_store)},
        "local",
        keymap={"fleet": "F,f2", "mark": "space", "compare": "ctrl+k"},
    )
    app = demo_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, loaded(app))
        await pilot.press("f")  # the default key no longer opens the fleet
        await pilot.pause()
        assert not isinstance(app.screen, FleetScreen)
        await pilot.press("F")
        await shown(pilot, FleetScreen)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, FleetScreen))
        await pilot.press("f2")
        await shown(pilot, FleetScreen)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, FleetScreen))
        pane(app, "runs").table.focus()
        await pilot.press("space", "space", "ctrl+k")  # mark two runs, compare
        await shown(pilot, CompareScreen)
        assert not app.polling_paused  # space marked, it did not pause


# -- themes and NO_COLOR --------------------------------------------------------------------------


async def test_protected_environment_stands_out_in_every_theme(demo_store: MlflowSettings) -> None:
    settings = Settings(
        {
            "dev": EnvironmentSettings(mlflow=demo_store),
            "prd": EnvironmentSettings(mlflow=demo_store, protected=True),
        },
        "prd",
    )
    app = demo_app(settings)
    async with app.run_test(size=SIZE) as pilot:
        themes = sorted(app.available_themes)
        assert len(themes) > 5
        for theme in themes:
            app.theme = theme
            await pilot.pause()
            bar = app.query_one(EnvBar)
            panel = Color.parse(app.get_css_variables()["panel"])
            tinted = bar.styles.background
            # The protected bar is tinted red against the theme's panel, in every theme.
            assert tinted.r > tinted.g and tinted.r > tinted.b, theme
            assert tinted != panel, theme
            badge = bar.render()
            assert "PRD · PROTECTED" in str(badge)


async def test_no_color_draws_in_grey_and_keeps_every_meaning(
    demo_store: MlflowSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    settings = Settings({"prd": EnvironmentSettings(mlflow=demo_store, protected=True)}, "prd")
    app = demo_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, loaded(app))
        assert app.no_color
        svg = app.export_screenshot()
        colours = set(re.findall(r"#([0-9a-f]{6})\b", svg))
        assert colours
        channels = {c: [int(c[i : i + 2], 16) for i in (0, 2, 4)] for c in colours}
        greys = {c for c, rgb in channels.items() if max(rgb) - min(rgb) <= 8}
        # The window chrome of the SVG (its three buttons) is the only colour left.
        assert colours - greys <= {"ff5f57", "febc2e", "28c840"}
        assert len(greys) > 3
        assert "PROTECTED" in svg.replace("&#160;", " ")


# -- the palette ----------------------------------------------------------------------------------


async def test_palette_offers_every_action_and_navigation_target(demo_settings: Settings) -> None:
    app = demo_app(demo_settings)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, loaded(app))
        titles = {c.title for c in app.get_system_commands(app.screen)}
        expected = {
            "Theme",
            "Quit",
            "Keys",
            "Fleet",
            "Env",
            "Refresh",
            "Pause",
            "Filter (Runs)",
            "Filter (Models)",
            "Mark (Runs)",
            "Open model churn",
            "History of churn",
            "Promote churn",
            "Roll back churn",
            "Promote (Models)",
        }
        assert expected <= titles
        runs = [r.name for _, r in pane(app, "runs").shown()]  # type: ignore[attr-defined]
        assert {f"Open run {name}" for name in runs} <= titles
        assert "Compare (Runs)" not in titles  # nothing marked yet

        # Through the palette itself: it is a modal, so polling pauses while it is open.
        await pilot.press("ctrl+p")
        await shown(pilot, CommandPalette)
        assert pane(app, "runs").paused and pane(app, "models").paused
        await pilot.press(*"open model demand")
        await until(pilot, palette_highlights(app, "Open model demand"))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ModelScreen) and bool(app.screen.versions))
        assert app.screen.model_name == "demand"


def palette_highlights(app: MlopsApp, title: str) -> Callable[[], bool]:
    """Whether the palette's highlighted command is `title` (its matches arrive in batches)."""

    def check() -> bool:
        commands = app.screen.query_one(CommandList)
        index = commands.highlighted
        return index is not None and title in str(commands.get_option_at_index(index).prompt)

    return check


# -- sizes ----------------------------------------------------------------------------------------


async def test_no_crash_at_any_size_and_key_hints_stay_visible(demo_settings: Settings) -> None:
    app = demo_app(demo_settings)
    sizes = [(1, 1), (12, 4), (30, 8), (80, 24), (200, 60), (40, 100)]
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, loaded(app))
        pane(app, "runs").table.focus()
        await pilot.press("m", "m", "c")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen) and bool(app.screen.details))
        await pilot.press("f")
        await shown(pilot, FleetScreen)
        for screen in (app.screen, *app.screen_stack[-2:0:-1], app.screen_stack[0]):
            while app.screen is not screen:
                app.pop_screen()
            for width, height in sizes:
                await pilot.resize_terminal(width, height)
                await pilot.pause()
            await pilot.resize_terminal(80, 24)
            await until(pilot, lambda: app.screen.query_one(Footer).region.y == 23)
            footer = app.screen.query_one(Footer)
            assert footer.region.height == 1
            visible = [k for k in footer.query("FooterKey") if k.region.right <= 80 and k.region.width]
            assert {k.description for k in visible} >= {"Quit", "Keys"}, type(screen).__name__
    assert app.return_code in (None, 0)


async def test_the_key_bar_is_built_again_only_when_its_keys_change(demo_settings: Settings) -> None:
    app = demo_app(demo_settings)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, loaded(app))
        pane(app, "runs").table.focus()
        await until(pilot, lambda: "Mark" in keys_shown(app))
        built = list(app.screen.query("FooterKey"))
        app.screen.refresh_bindings()  # what Textual does on focus, mount, a key typed...
        await pilot.pause()
        await pilot.pause()
        assert list(app.screen.query("FooterKey")) == built  # the same widgets, not new ones
        pane(app, "models").table.focus()  # another pane, other keys
        await until(pilot, lambda: "Promote" in keys_shown(app))
        assert "Mark" not in keys_shown(app)
        pane(app, "runs").table.focus()
        await until(pilot, lambda: "Mark" in keys_shown(app))
        assert not set(app.screen.query("FooterKey")) & set(built)


def keys_shown(app: MlopsApp) -> set[str]:
    return {key.description for key in app.screen.query("FooterKey")}


# -- refreshes ------------------------------------------------------------------------------------


async def test_a_refresh_updates_changed_cells_in_place(demo_settings: Settings) -> None:
    now = [DEMO_NOW]
    app = make_app(demo_settings, clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, loaded(app))
        table = pane(app, "runs").table
        table.move_cursor(row=5)
        rows_before = table.rows
        at = table.get_column_index("Started")
        started = [str(table.get_row_at(i)[at]) for i in range(rows(app, "runs"))]
        now[0] = DEMO_NOW + timedelta(days=30)  # every "Started" age changes, nothing else
        app.action_refresh()
        await until(pilot, lambda: str(table.get_row_at(0)[at]) != started[0])
        assert table.rows is rows_before  # not rebuilt: the changed cells were updated in place
        assert table.cursor_row == 5
        assert all(str(table.get_row_at(i)[at]).endswith("d ago") for i in range(rows(app, "runs")))
